"""PodRoutes on the real kernel: host routes to other hosts' pods, added, moved and removed."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from reconciler.network.podroutes import PROTO, PodRoutes
from tests.support.machine_lock import MACHINE_NETWORK, proxy_lock

pytestmark = MACHINE_NETWORK

LINK = "rtest0"  # one end of a veth pair, whose subnet stands in for the link to other hosts


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


def ours() -> dict[str, str]:
    return {r["dst"]: r.get("gateway", "")
            for r in json.loads(ip("-j", "route", "show", "proto", PROTO) or "[]")}


@pytest.fixture
def link() -> Iterator[None]:
    with proxy_lock():
        subprocess.run(["ip", "link", "del", LINK], capture_output=True, check=False)
        ip("link", "add", LINK, "type", "veth", "peer", "name", "rtest1")
        ip("addr", "add", "10.254.0.1/24", "dev", LINK)
        ip("link", "set", "rtest1", "up")
        ip("link", "set", LINK, "up")
        try:
            yield
        finally:
            PodRoutes("local").cleanup()
            subprocess.run(["ip", "link", "del", LINK], capture_output=True, check=False)


class TestPodRoutes:
    def test_add_move_remove(self, link: None) -> None:
        """Routes follow the pods: added via their host, moved, removed; others never touched."""
        routes = PodRoutes("local")
        local = {"127.0.0.1", "10.254.0.1"}
        routes.sync([("10.253.0.3", "hostb", "10.254.0.2"), ("10.253.0.4", "hostb", "10.254.0.2"),
                     ("10.254.0.9", "hostb", "10.254.0.2"),  # inside our own subnet: skipped
                     ("172.17.0.5", "local", "10.254.0.1")], local)
        assert ours() == {"10.253.0.3": "10.254.0.2", "10.253.0.4": "10.254.0.2"}
        assert "via 10.254.0.2" in ip("route", "get", "10.253.0.3")
        routes.sync([("10.253.0.3", "hostc", "10.254.0.3")], local)
        assert ours() == {"10.253.0.3": "10.254.0.3"}
        kernel_routes = ip("route", "show")
        routes.cleanup()
        assert ours() == {}
        assert "10.254.0.0/24 dev rtest0" in kernel_routes  # the link's own route stays

    def test_unreachable_gateway_is_skipped(self, link: None) -> None:
        """A host whose address is not reachable from here: a warning, the others still go in."""
        routes = PodRoutes("local")
        routes.sync([("10.253.0.3", "hostb", "10.252.9.9"), ("10.253.0.4", "hostb", "10.254.0.2")],
                    {"10.254.0.1"})
        assert ours() == {"10.253.0.4": "10.254.0.2"}
