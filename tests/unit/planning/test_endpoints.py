"""Endpoints: ready pods by selector, per port, named target ports, subsets, manual objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.api.records import Condition, PodRecord
from reconciler.planning.endpoints import (
    EndpointPort,
    compute_endpoints,
    endpoints_from_object,
    from_subsets,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def service(selector: dict[str, str] | None = None, ports: list[dict[str, Any]] | None = None,
            **spec: Any) -> dict[str, Any]:
    return {"kind": "Service", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"} if selector is None else selector,
                     "ports": [{"name": "http", "port": 80, "targetPort": "http",
                                "protocol": "TCP"}] if ports is None else ports, **spec}}


def pod(name: str, ip: str, *, ready: bool = True, labels: dict[str, str] | None = None,
        port_name: str = "http", container_port: int = 5000, host_port: int | None = 32000,
        phase: str = "Running", deleting: bool = False, namespace: str = "default",
        spec: dict[str, Any] | None = None) -> PodRecord:
    ports = {f"{container_port}/TCP": host_port} if host_port else {}
    return PodRecord(
        uid=f"uid-{name}", namespace=namespace, name=name,
        spec={"containers": [{"name": "web", "ports": [
            {"name": port_name, "containerPort": container_port, "protocol": "TCP"}]}],
              **(spec or {})},
        spec_hash="h", created_at=T0, labels={"app": "web"} if labels is None else labels,
        node_name="n1", phase=phase, pod_ip=ip, host_ip="192.168.1.10",  # type: ignore[arg-type]
        ports=ports, conditions=[Condition("Ready", ready)],
        deletion_timestamp=T0 if deleting else None)


class TestComputeEndpoints:
    def test_ready_and_not_ready(self) -> None:
        """Ready pods are addresses, others notReadyAddresses; named port resolved per pod."""
        eps = compute_endpoints(service(), [pod("b", "172.17.0.3", ready=False),
                                            pod("a", "172.17.0.2")])
        assert eps.to_subsets() == [{
            "addresses": [{"ip": "172.17.0.2", "nodeName": "n1", "targetRef": {
                "kind": "Pod", "namespace": "default", "name": "a", "uid": "uid-a"}}],
            "notReadyAddresses": [{"ip": "172.17.0.3", "nodeName": "n1", "targetRef": {
                "kind": "Pod", "namespace": "default", "name": "b", "uid": "uid-b"}}],
            "ports": [{"name": "http", "port": 5000, "protocol": "TCP"}],
        }]
        ready = eps.for_port("http")
        assert [(e.ip, e.host_ip, e.host_port) for e in ready] == [
            ("172.17.0.2", "192.168.1.10", 32000)]

    def test_publish_not_ready(self) -> None:
        """publishNotReadyAddresses makes every pod, even one being deleted, an address."""
        eps = compute_endpoints(service(publishNotReadyAddresses=True),
                                [pod("a", "10.0.0.1", ready=False),
                                 pod("b", "10.0.0.2", deleting=True)])
        assert [a["ip"] for a in eps.to_subsets()[0]["addresses"]] == ["10.0.0.1", "10.0.0.2"]

    def test_excluded_pods(self) -> None:
        """No IP, finished, deleting, other namespace, or not selected: left out."""
        pods = [pod("a", ""), pod("b", "10.0.0.2", phase="Succeeded"),
                pod("c", "10.0.0.3", deleting=True), pod("d", "10.0.0.4", namespace="prod"),
                pod("e", "10.0.0.5", labels={"app": "db"})]
        assert compute_endpoints(service(), pods).to_subsets() == []

    def test_named_port_missing(self) -> None:
        """A pod without the named port is left out of that port only (subsets per address set)."""
        svc = service(ports=[{"name": "http", "port": 80, "targetPort": "http"},
                             {"name": "raw", "port": 81, "targetPort": 9000}])
        eps = compute_endpoints(svc, [pod("a", "10.0.0.1"),
                                      pod("b", "10.0.0.2", port_name="web")])
        subsets = eps.to_subsets()
        assert [([a["ip"] for a in s["addresses"]], [p["port"] for p in s["ports"]])
                for s in subsets] == [(["10.0.0.1"], [5000]), (["10.0.0.1", "10.0.0.2"], [9000])]

    def test_target_port_defaults_to_port(self) -> None:
        """Without targetPort the service port is the target, and a numeric string is a number."""
        eps = compute_endpoints(service(ports=[{"port": 8080}, {"name": "b", "port": 1,
                                                                "targetPort": "6000"}]),
                                [pod("a", "10.0.0.1")])
        assert eps.ports() == [EndpointPort("", 8080, "TCP"), EndpointPort("b", 6000, "TCP")]

    def test_selectorless_gives_nothing(self) -> None:
        """A service without a selector gets no computed endpoints."""
        assert compute_endpoints(service(selector={}), [pod("a", "10.0.0.1")]).endpoints == ()

    def test_headless_without_ports(self) -> None:
        """A headless service with no ports still lists its pods' addresses."""
        eps = compute_endpoints(service(ports=[], clusterIP="None"), [pod("a", "10.0.0.1")])
        assert eps.to_subsets() == [{"addresses": [eps.endpoints[0].address_json()]}]

    def test_hostname_for_subdomain(self) -> None:
        """A pod with hostname and subdomain equal to the service name gets a hostname."""
        p = pod("a", "10.0.0.1", spec={"hostname": "web-0", "subdomain": "web"})
        assert compute_endpoints(service(), [p]).to_subsets()[0]["addresses"][0][
            "hostname"] == "web-0"

    def test_host_fields_round_trip(self) -> None:
        """With host fields, subsets read back into the same endpoints."""
        eps = compute_endpoints(service(), [pod("a", "10.0.0.1"), pod("b", "10.0.0.2",
                                                                      ready=False)])
        subsets = eps.to_subsets(with_hosts=True)
        assert subsets[0]["addresses"][0]["hostPorts"] == {"5000/TCP": 32000}
        assert from_subsets("default", "web", subsets) == eps


class TestEndpointsFromObject:
    def test_external_addresses(self) -> None:
        """A manual Endpoints object (external-service shape) is used as is, reached directly."""
        body = {"kind": "Endpoints", "metadata": {"name": "external-service"},
                "subsets": [{"addresses": [{"ip": "11.11.11.11"}, {"ip": "22.22.22.22"}],
                             "ports": [{"port": 80}]}]}
        eps = endpoints_from_object(body)
        assert (eps.namespace, eps.name) == ("default", "external-service")
        assert [(e.ip, e.host_ip, e.host_port, e.ready) for e in eps.for_port("")] == [
            ("11.11.11.11", "11.11.11.11", 80, True), ("22.22.22.22", "22.22.22.22", 80, True)]
        assert eps.to_subsets() == [{"addresses": [{"ip": "11.11.11.11"}, {"ip": "22.22.22.22"}],
                                     "ports": [{"port": 80, "protocol": "TCP"}]}]


pods_strategy = st.lists(
    st.builds(lambda i, ready, named, app: pod(
        f"p{i}", f"10.0.{i // 250}.{i % 250 + 1}", ready=ready,
        port_name="http" if named else "other", labels={"app": app}),
        st.integers(0, 500), st.booleans(), st.booleans(), st.sampled_from(["web", "db"])),
    max_size=12, unique_by=lambda p: p.name)


class TestProperties:
    @settings(max_examples=150, deadline=None)
    @given(pods_strategy, st.randoms(use_true_random=False))
    def test_order_independent(self, pods: list[PodRecord], rnd: Any) -> None:
        """The same pods in any order give the same subsets."""
        shuffled = list(pods)
        rnd.shuffle(shuffled)
        assert compute_endpoints(service(), pods).to_subsets() == \
            compute_endpoints(service(), shuffled).to_subsets()

    @settings(max_examples=150, deadline=None)
    @given(pods_strategy)
    def test_members_are_exactly_selected_pods_with_the_port(self, pods: list[PodRecord]) -> None:
        """Addresses are the ready selected pods that have the named port; sorted by IP."""
        subsets = compute_endpoints(service(), pods).to_subsets()
        ready = [a["ip"] for s in subsets for a in s.get("addresses", [])]
        not_ready = [a["ip"] for s in subsets for a in s.get("notReadyAddresses", [])]
        wanted = [p for p in pods if p.labels["app"] == "web"
                  and p.spec["containers"][0]["ports"][0]["name"] == "http"]
        assert sorted(ready) == sorted(p.pod_ip for p in wanted if p.ready)
        assert sorted(not_ready) == sorted(p.pod_ip for p in wanted if not p.ready)
        assert ready == sorted(ready)
