"""Tests of reading the proxy's own counters back from iptables-save."""

from __future__ import annotations

from reconciler.network.rules import connection_counts


class TestConnectionCounts:
    def test_sums_the_jump_rules_of_each_service_port(self) -> None:
        """Cluster IP and NodePort jumps of one port add up; other chains are ignored."""
        save = (
            '[7:420] -A RECONCILER-SERVICES -d 10.96.0.5/32 -p tcp -m comment --comment '
            '"default/web:80/TCP" -m tcp --dport 80 -j RECONCILER-SVC-ABC\n'
            "[2:120] -A RECONCILER-NODEPORTS -p tcp -m comment --comment default/web:80/TCP "
            "-m tcp --dport 30080 -j RECONCILER-SVC-ABC\n"
            "[5:300] -A RECONCILER-SVC-ABC -m statistic --mode random -j RECONCILER-SEP-X\n"
            "[1:60] -A PREROUTING -j DOCKER\n"
        )
        assert connection_counts(save) == {"default/web:80/TCP": 9}
