"""Unit tests of cluster DNS name resolution and the store feed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.api.types import Key
from reconciler.network.dnsnames import Resolution, resolve
from reconciler.network.feed import build_table, pod_namespaces
from reconciler.network.model import Endpoint, ServiceEntry, ServicePort, ServiceTable

EP = Endpoint("172.17.0.5", 6379, "local", hostname="redis-0")
TABLE = ServiceTable.of(
    [
        ServiceEntry(
            "default",
            "web",
            cluster_ip="10.96.0.20",
            ports=(ServicePort(80, "TCP", "http", 0, (Endpoint("172.17.0.2", 8080, "local"),)),),
        ),
        ServiceEntry(
            "default",
            "redis",
            cluster_ip="None",
            ports=(ServicePort(6379, "TCP", "redis", 0, (EP,)),),
            addresses=(EP,),
        ),
        ServiceEntry("prod", "ext", "ExternalName", external_name="db.example.org"),
    ]
)


class TestResolve:
    @pytest.mark.parametrize(
        "name",
        ["web", "web.default", "web.default.svc.cluster.local", "WEB.default.svc.cluster.local."],
    )
    def test_a_for_cluster_ip(self, name: str) -> None:
        """Short and full names of a service give its cluster IP."""
        res = resolve(TABLE, name, "A")
        assert res.outcome == "answer" and [r.value for r in res.answers] == ["10.96.0.20"]

    def test_headless_gives_pod_ips(self) -> None:
        """A headless service answers with its ready pods' addresses."""
        res = resolve(TABLE, "redis.default.svc.cluster.local", "A")
        assert [r.value for r in res.answers] == ["172.17.0.5"]

    def test_headless_pod_name(self) -> None:
        """HOSTNAME.headless-service resolves to that pod."""
        res = resolve(TABLE, "redis-0.redis.default.svc.cluster.local", "A")
        assert [r.value for r in res.answers] == ["172.17.0.5"]

    def test_short_headless_pod_name(self) -> None:
        """HOSTNAME.SVC without the search list (busybox nslookup) answers that pod in default."""
        res = resolve(TABLE, "redis-0.redis.", "A")
        assert res.outcome == "answer" and [r.value for r in res.answers] == ["172.17.0.5"]
        assert resolve(TABLE, "redis-0.redis", "AAAA") == Resolution("answer")

    def test_short_headless_pod_name_in_the_askers_namespace(self) -> None:
        """HOSTNAME.SVC from a pod of namespace db answers db's pod, not default's."""
        ep = Endpoint("172.17.0.9", 80, "local", hostname="redis-0")
        db = ServiceEntry("db", "redis", cluster_ip="None", addresses=(ep,))
        table = ServiceTable.of([*TABLE.services, db], (),
                                {"172.17.0.3": "db", "172.17.0.4": "default"})
        asked = {ip: [r.value for r in resolve(table, "redis-0.redis", "A",
                                                client_ip=ip).answers]
                 for ip in ("172.17.0.3", "172.17.0.4", "10.250.0.1")}
        assert asked == {"172.17.0.3": ["172.17.0.9"], "172.17.0.4": ["172.17.0.5"],
                         "10.250.0.1": ["172.17.0.5"]}

    @pytest.mark.parametrize("name", ["redis-9.redis", "web-0.web", "redis-0.nope"])
    def test_short_name_not_a_headless_pod_is_forwarded(self, name: str) -> None:
        """An unknown pod, a service that is not headless, or no such service: not ours."""
        assert resolve(TABLE, name, "A").outcome == "forward"

    def test_srv_for_named_port(self) -> None:
        """_http._tcp.NAME gives the port and the service name as target."""
        res = resolve(TABLE, "_http._tcp.web.default.svc.cluster.local", "SRV")
        assert [(r.type, r.value, r.port) for r in res.answers] == [
            ("SRV", "web.default.svc.cluster.local.", 80)
        ]
        assert [r.value for r in res.additional] == ["10.96.0.20"]

    def test_cname_for_external_name(self) -> None:
        """ExternalName gives a CNAME, whatever the query type."""
        res = resolve(TABLE, "ext.prod.svc.cluster.local", "A")
        assert [(r.type, r.value) for r in res.answers] == [("CNAME", "db.example.org.")]

    @pytest.mark.parametrize(
        "name",
        [
            "nope.default.svc.cluster.local",
            "web.other.svc.cluster.local",
            "x.y.cluster.local",
            "_nope._tcp.web.default.svc.cluster.local",
        ],
    )
    def test_nxdomain_inside_cluster_domain(self, name: str) -> None:
        """Unknown names under cluster.local are NXDOMAIN, never forwarded."""
        assert resolve(TABLE, name, "SRV" if name.startswith("_") else "A").outcome == "nxdomain"

    @pytest.mark.parametrize("name", ["example.org", "www.example.org", "nope"])
    def test_outside_is_forwarded(self, name: str) -> None:
        """Names outside the cluster are forwarded to the host's resolver."""
        assert resolve(TABLE, name, "A").outcome == "forward"

    @pytest.mark.parametrize(("address", "target"), [
        ("20.0.96.10.in-addr.arpa.", "web.default.svc.cluster.local."),
        ("5.0.17.172.in-addr.arpa", "redis-0.redis.default.svc.cluster.local."),
    ])
    def test_ptr_of_cluster_ip_and_headless_pod(self, address: str, target: str) -> None:
        """A cluster IP names its service, a headless service's pod its per-pod name."""
        res = resolve(TABLE, address, "PTR")
        assert [(r.type, r.value) for r in res.answers] == [("PTR", target)]
        assert resolve(TABLE, address, "A") == Resolution("answer")

    def test_ptr_of_other_addresses_is_forwarded(self) -> None:
        """A non-headless pod's or an unknown address's reverse name is not ours."""
        for address in ("2.0.17.172.in-addr.arpa", "1.1.168.192.in-addr.arpa"):
            assert resolve(TABLE, address, "PTR").outcome == "forward"

    def test_pod_address_records_of_known_pods_only(self) -> None:
        """A-B-C-D.NS.pod answers when a pod of NS has the address (CoreDNS' pods verified)."""
        table = ServiceTable.of(list(TABLE.services), (), {"172.17.0.3": "db"})
        res = resolve(table, "172-17-0-3.db.pod.cluster.local", "A")
        assert [(r.type, r.value) for r in res.answers] == [("A", "172.17.0.3")]
        for name in ("172-17-0-3.default.pod.cluster.local", "172-17-0-4.db.pod.cluster.local"):
            assert resolve(table, name, "A").outcome == "nxdomain"

    def test_aaaa_is_nodata(self) -> None:
        """An existing name asked for AAAA: no records, but no NXDOMAIN either."""
        res = resolve(TABLE, "web.default.svc.cluster.local", "AAAA")
        assert res.outcome == "answer" and res.answers == ()


@dataclass
class _Obj:
    key: Key
    body: dict[str, Any]
    status: dict[str, Any] | None


@dataclass
class _Ep:
    namespace: str
    name: str
    subsets: list[dict[str, Any]]


@dataclass
class FakeStore:
    """Just the four reads `build_table` makes."""

    services: list[_Obj] = field(default_factory=list)
    endpoints: list[_Ep] = field(default_factory=list)
    pods: list[PodRecord] = field(default_factory=list)
    nodes: list[NodeRecord] = field(default_factory=list)

    def objects(self, kind: str) -> list[_Obj]:
        return self.services

    def list_endpoints(self) -> list[_Ep]:
        return self.endpoints

    def list_pods(self) -> list[PodRecord]:
        return self.pods

    def list_nodes(self) -> list[NodeRecord]:
        return self.nodes


class TestFeed:
    def test_joins_status_endpoints_and_published_ports(self) -> None:
        """Cluster IP and nodePort from status, endpoints from subsets, host ports from pods."""
        now = datetime(2024, 1, 1)
        body = {
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "type": "NodePort",
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
                "sessionAffinity": "ClientIP",
            },
        }
        status = {
            "clusterIP": "10.96.0.20",
            "type": "NodePort",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}],
        }
        subsets = [
            {
                "addresses": [
                    {
                        "ip": "172.30.0.2",
                        "nodeName": "b",
                        "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "default"},
                    }
                ],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            }
        ]
        pod = PodRecord(
            "u1",
            "default",
            "web-1",
            {},
            "h",
            now,
            node_name="b",
            pod_ip="172.30.0.2",
            host_ip="10.250.0.2",
            ports={"8080/TCP": 32101},
        )
        store = FakeStore(
            [_Obj(Key("Service", "default", "web"), body, status)],
            [_Ep("default", "web", subsets)],
            [pod],
        )
        table = build_table(store, "a", "10.96.0.10")
        svc = table.get("default", "web")
        assert (
            svc is not None
            and svc.cluster_ip == "10.96.0.20"
            and svc.session_affinity == "ClientIP"
        )
        port = svc.ports[0]
        assert port.node_port == 30080
        assert port.endpoints == (Endpoint("172.30.0.2", 8080, "b", "10.250.0.2", 32101, "web-1"),)
        assert str(port.backends("a")[0]) == "10.250.0.2:32101"
        assert table.extra_addresses == ("10.96.0.10",)
        assert table.pod_namespaces == (("172.30.0.2", "default"),)

    def test_pod_namespaces_leave_out_shared_addresses(self) -> None:
        """An address two hosts gave pods of two namespaces maps to neither."""
        now = datetime(2024, 1, 1)
        pods = [PodRecord("u1", "a", "p", {}, "h", now, pod_ip="172.17.0.2"),
                PodRecord("u2", "b", "q", {}, "h", now, pod_ip="172.17.0.2"),
                PodRecord("u3", "b", "r", {}, "h", now, pod_ip="172.17.0.3"),
                PodRecord("u4", "b", "s", {}, "h", now)]
        assert pod_namespaces(pods) == {"172.17.0.3": "b"}
