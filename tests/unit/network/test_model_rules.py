"""Unit tests of the service table model and the iptables ruleset rendering."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.network import rules
from reconciler.network.model import Backend, Endpoint, ServiceEntry, ServicePort, ServiceTable

EMPTY = rules.parse_save("*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n*filter\nCOMMIT\n")


def web(*eps: Endpoint, node_port: int = 0, affinity: bool = False, **kw: object) -> ServiceTable:
    port = ServicePort(80, "TCP", "http", node_port, tuple(eps))
    svc = ServiceEntry(
        "default",
        "web",
        "NodePort" if node_port else "ClusterIP",
        "10.96.0.5",
        (port,),
        session_affinity="ClientIP" if affinity else "None",
        **kw,
    )  # type: ignore[arg-type]
    return ServiceTable.of([svc])


class TestEndpointBackend:
    @pytest.mark.parametrize(
        ("ep", "expected"),
        [
            (Endpoint("172.17.0.2", 8080, "a", "10.250.0.1", 32001), Backend("172.17.0.2", 8080)),
            (Endpoint("172.30.0.2", 8080, "b", "10.250.0.2", 32001), Backend("10.250.0.2", 32001)),
            (Endpoint("172.30.0.2", 8080, "b", "10.250.0.2", 0), None),
            (Endpoint("192.0.2.1", 80), Backend("192.0.2.1", 80)),
        ],
    )
    def test_backend_by_node(self, ep: Endpoint, expected: Backend | None) -> None:
        """A pod on this node is reached directly, one elsewhere at its node's published port."""
        assert ep.backend("a") == expected

    def test_headless_and_external_name_not_proxied(self) -> None:
        """Headless and ExternalName services get no cluster IP on lo."""
        t = ServiceTable.of(
            [
                ServiceEntry("default", "h", cluster_ip="None"),
                ServiceEntry("default", "x", "ExternalName", external_name="example.org"),
                ServiceEntry("default", "w", cluster_ip="10.96.0.7"),
            ],
            ("10.96.0.10",),
        )
        assert t.cluster_ips() == {"10.96.0.7", "10.96.0.10"}


class TestRender:
    def test_two_endpoints_split_evenly(self) -> None:
        """Two endpoints: the first with probability 0.5, the second as the fall-through."""
        text = rules.render(
            web(Endpoint("172.17.0.2", 8080, "a"), Endpoint("172.17.0.3", 8080, "a")),
            "a",
            [],
            EMPTY,
        )
        assert "--probability 0.5000000000" in text
        assert text.count("-j DNAT") == 2
        assert "--to-destination 172.17.0.2:8080" in text

    @given(st.integers(min_value=1, max_value=12))
    def test_probabilities_give_uniform_choice(self, n: int) -> None:
        """The statistic chain picks each of n endpoints with probability 1/n."""
        eps = [Endpoint(f"172.17.0.{i + 2}", 80, "a") for i in range(n)]
        text = rules.render(web(*eps), "a", [], EMPTY)
        probs = [float(p) for p in re.findall(r"--probability ([\d.]+)", text)]
        assert len(probs) == n - 1
        remaining, shares = 1.0, []
        for p in probs:
            shares.append(remaining * p)
            remaining *= 1 - p
        shares.append(remaining)
        assert all(abs(s - 1 / n) < 1e-6 for s in shares)

    def test_remote_endpoint_uses_node_port_and_masquerades(self) -> None:
        """A pod on another node: DNAT to the node's published port, with masquerade."""
        text = rules.render(
            web(Endpoint("172.30.0.2", 8080, "b", "10.250.0.2", 32005)), "a", [], EMPTY
        )
        assert "--to-destination 10.250.0.2:32005" in text
        sep = re.search(r"-A (RECONCILER-SEP-\w+) -j RECONCILER-MARK-MASQ", text)
        assert sep is not None

    def test_hairpin_masquerade_for_local_pod(self) -> None:
        """A local pod reaching itself through the service is masqueraded."""
        text = rules.render(web(Endpoint("172.17.0.2", 8080, "a")), "a", [], EMPTY)
        assert "-s 172.17.0.2/32 -j RECONCILER-MARK-MASQ" in text

    def test_node_port_and_affinity(self) -> None:
        """NodePort jumps from RECONCILER-NODEPORTS; ClientIP affinity uses the recent module."""
        text = rules.render(
            web(
                Endpoint("172.17.0.2", 8080, "a"),
                node_port=30080,
                affinity=True,
                affinity_timeout=60,
            ),
            "a",
            [],
            EMPTY,
        )
        assert re.search(
            r"-A RECONCILER-NODEPORTS -p tcp -m tcp --dport 30080 .* -j RECONCILER-EXT-", text
        )
        assert "--rcheck --seconds 60 --reap" in text
        assert "--rsource --set -m tcp -j DNAT" in text

    def test_external_ips_only_when_local(self) -> None:
        """An externalIP is served only when it is one of this host's addresses."""
        t = web(Endpoint("172.17.0.2", 8080, "a"), external_ips=("10.250.0.1", "10.250.0.9"))
        text = rules.render(t, "a", ["10.250.0.1"], EMPTY)
        assert "-d 10.250.0.1/32" in text
        assert "10.250.0.9" not in text

    def test_jumps_inserted_once(self) -> None:
        """Jump rules already present are not inserted again."""
        first = rules.render(web(), "a", [], EMPTY)
        assert first.count("-I PREROUTING 1") == 1
        present = rules.parse_save(
            "*nat\n:PREROUTING ACCEPT [0:0]\n:RECONCILER-SERVICES - [0:0]\n"
            '-A PREROUTING -m comment --comment "reconciler service portals" '
            "-j RECONCILER-SERVICES\n"
            "COMMIT\n"
        )
        assert "-I PREROUTING" not in rules.render(web(), "a", [], present)

    def test_stale_chains_flushed_and_deleted(self) -> None:
        """Chains of a removed service are flushed and deleted; others' chains untouched."""
        saved = rules.parse_save("*nat\n:RECONCILER-SVC-OLD - [0:0]\n:DOCKER - [0:0]\nCOMMIT\n")
        text = rules.render(web(), "a", [], saved)
        assert "-X RECONCILER-SVC-OLD" in text
        assert "DOCKER" not in text

    def test_cleanup_removes_only_ours(self) -> None:
        """Cleanup deletes every RECONCILER-* chain and our jumps, nothing else."""
        saved = rules.parse_save(
            "*nat\n:PREROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n:RECONCILER-SERVICES - [0:0]\n"
            '-A PREROUTING -m comment --comment "reconciler service portals" '
            "-j RECONCILER-SERVICES\n"
            "COMMIT\n"
        )
        text, jumps = rules.render_cleanup(saved)
        assert "-X RECONCILER-SERVICES" in text and "DOCKER" not in text
        assert [(t, c) for t, c, _ in jumps] == [("nat", "PREROUTING")]

    def test_udp_port(self) -> None:
        """UDP service ports render with -p udp."""
        port = ServicePort(53, "UDP", "dns", 0, (Endpoint("172.17.0.2", 5353, "a"),))
        t = ServiceTable.of(
            [ServiceEntry("kube-system", "dns", cluster_ip="10.96.0.10", ports=(port,))]
        )
        text = rules.render(t, "a", [], EMPTY)
        assert "-p udp -m udp --dport 53" in text
