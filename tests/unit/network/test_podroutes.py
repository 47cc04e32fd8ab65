"""wanted_routes and pod_hosts: which other hosts' pods a host routes to, and via where."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

from reconciler.api.records import PodRecord
from reconciler.network.feed import pod_hosts
from reconciler.network.podroutes import wanted_routes

DIRECT = [ipaddress.IPv4Network("172.17.0.0/16"), ipaddress.IPv4Network("10.250.0.0/24")]
LOCAL = {"127.0.0.1", "172.17.0.1", "10.250.0.1"}


def pod(name: str, ip: str, node: str, deleting: bool = False) -> PodRecord:
    return PodRecord(uid=f"uid-{name}", namespace="default", name=name, spec={}, spec_hash="h",
                     created_at=datetime(2024, 1, 1, tzinfo=UTC), node_name=node, pod_ip=ip,
                     deletion_timestamp=datetime(2024, 1, 2, tzinfo=UTC) if deleting else None)


class TestWantedRoutes:
    def test_remote_pods_via_their_host(self) -> None:
        """A pod on hostb is routed via hostb's address; a pod here is not routed."""
        pods = [("172.30.0.3", "hostb", "10.250.0.2"), ("172.17.0.5", "local", "10.250.0.1")]
        assert wanted_routes(pods, "local", DIRECT, LOCAL) == {"172.30.0.3": "10.250.0.2"}

    def test_overlapping_subnet_is_skipped(self) -> None:
        """A remote pod inside a subnet this host reaches directly would shadow a local pod."""
        pods = [("172.17.0.9", "hostc", "10.251.0.2")]
        assert wanted_routes(pods, "local", DIRECT, LOCAL) == {}

    def test_node_without_address_or_with_ours(self) -> None:
        """No gateway, or a gateway that is this host itself: nothing to route."""
        pods = [("172.30.0.3", "hostb", ""), ("172.31.0.3", "other", "10.250.0.1")]
        assert wanted_routes(pods, "local", DIRECT, LOCAL) == {}

    def test_the_other_way_round(self) -> None:
        """Seen from hostb, the local pods are routed via the local host's address."""
        pods = [("172.30.0.3", "hostb", "10.250.0.2"), ("172.17.0.5", "local", "10.250.0.1")]
        direct = [ipaddress.IPv4Network("172.30.0.0/24"), ipaddress.IPv4Network("10.250.0.0/24")]
        assert wanted_routes(pods, "hostb", direct, {"10.250.0.2", "172.30.0.1"}) == {
            "172.17.0.5": "10.250.0.1"}


class TestPodHosts:
    def test_placed_pods_with_their_node_address(self) -> None:
        """Each placed pod with an address names its node and the node's address."""
        pods = [pod("a", "172.30.0.3", "hostb"), pod("b", "", "hostb"), pod("d", "172.17.0.2", "")]
        assert pod_hosts(pods, {"hostb": "10.250.0.2"}) == [("172.30.0.3", "hostb", "10.250.0.2")]

    def test_terminating_pod_keeps_its_route(self) -> None:
        """A pod marked for deletion still runs and may be served until the proxies drop it."""
        pods = [pod("c", "172.30.0.4", "hostb", deleting=True)]
        assert pod_hosts(pods, {"hostb": "10.250.0.2"}) == [("172.30.0.4", "hostb", "10.250.0.2")]

    def test_live_pod_wins_an_address_over_a_terminating_one(self) -> None:
        """An address handed out again on another node goes to the live pod's node."""
        pods = [pod("old", "172.30.0.4", "hostb", deleting=True),
                pod("new", "172.30.0.4", "hostc")]
        assert pod_hosts(pods, {"hostb": "10.250.0.2", "hostc": "10.251.0.2"}) == [
            ("172.30.0.4", "hostc", "10.251.0.2")]

    def test_address_on_two_nodes_is_left_out(self) -> None:
        """Two hosts with the same bridge subnet may hand out one address twice: no route."""
        pods = [pod("a", "172.17.0.2", "local"), pod("b", "172.17.0.2", "hostc")]
        assert pod_hosts(pods, {"local": "10.250.0.1", "hostc": "10.251.0.2"}) == []
