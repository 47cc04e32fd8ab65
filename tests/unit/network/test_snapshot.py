"""The service table's JSON snapshot (what the detached DNS server reads) round-trips exactly."""

from __future__ import annotations

import pytest

from reconciler.network import snapshot
from reconciler.network.model import Endpoint, ServiceEntry, ServicePort, ServiceTable

EP = Endpoint("172.17.0.9", 6379, "hostb", "10.250.0.2", 32001, "redis-0")
TABLE = ServiceTable.of(
    [
        ServiceEntry("default", "web", "NodePort", "10.96.0.20",
                     (ServicePort(80, "TCP", "http", 30080, (EP,)),
                      ServicePort(53, "UDP", "dns", 0, ())),
                     external_ips=("10.250.0.1",), session_affinity="ClientIP",
                     affinity_timeout=60, addresses=(EP,)),
        ServiceEntry("db", "redis", cluster_ip="None", addresses=(EP,)),
        ServiceEntry("default", "ext", "ExternalName", external_name="db.example.org"),
    ],
    ("10.96.0.10",),
    {"172.17.0.9": "db"},
    [("172.17.0.9", "hostb", "10.250.0.2")],
)


class TestSnapshot:
    def test_round_trip(self) -> None:
        """Every field of every service, port and endpoint comes back equal."""
        assert snapshot.from_json(snapshot.to_json(TABLE)) == TABLE

    def test_empty_table(self) -> None:
        """An empty table round-trips too (a cluster with no services)."""
        assert snapshot.from_json(snapshot.to_json(ServiceTable())) == ServiceTable()

    @pytest.mark.parametrize("text", ['{"format": 99, "services": []}', "[]", "{}"])
    def test_unknown_format_is_refused(self, text: str) -> None:
        """A file of another format is an error, never an empty table."""
        with pytest.raises(ValueError):
            snapshot.from_json(text)
