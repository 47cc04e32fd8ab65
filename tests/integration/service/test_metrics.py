"""The metrics endpoint scraped over HTTP on 127.0.0.1, as Prometheus would."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.service.fluent import FluentShipper
from reconciler.service.metrics import (
    Metrics,
    MetricsServer,
    ProxyCounts,
    start_metrics_server,
)
from tests.support.fluent_receiver import free_port


@pytest.fixture
def served() -> Iterator[tuple[Metrics, MetricsServer]]:
    metrics = Metrics()
    server = start_metrics_server("127.0.0.1:0", metrics)
    assert server is not None
    yield metrics, server
    server.close()


def scrape(server: MetricsServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(server.url, timeout=5) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


class TestMetricsEndpoint:
    def test_instruments_are_scraped(self, served: tuple[Metrics, MetricsServer]) -> None:
        """Reconcile passes, queue depth, pods by phase, Docker calls and proxy bytes are served."""
        metrics, server = served
        with metrics.reconcile("replication"):
            pass
        with pytest.raises(RuntimeError), metrics.reconcile("replication"):
            raise RuntimeError("docker down")
        metrics.queue_depth.set(7)
        metrics.pods_by_phase(lambda: {"Running": 3, "Pending": 1})
        with pytest.raises(OSError), metrics.docker_call("hostb", "create"):
            raise OSError("unreachable")
        with metrics.docker_call("local", "create"):
            pass
        metrics.proxy_stats(lambda: {"default/redis:6379/TCP": ProxyCounts(3, 512, 100, 4),
                                     "default/dns:53/UDP": ProxyCounts(2)})

        got = scrape(server)
        rp = "reconciler_reconcile_passes_total"
        assert got[(rp, (("controller", "replication"), ("result", "ok")))] == 1
        assert got[(rp, (("controller", "replication"), ("result", "error")))] == 1
        count = "reconciler_reconcile_duration_seconds_count"
        assert got[(count, (("controller", "replication"),))] == 2
        assert got[("reconciler_workqueue_depth", ())] == 7
        assert got[("reconciler_pods", (("phase", "Running"),))] == 3
        assert got[("reconciler_pods", (("phase", "Failed"),))] == 0
        errors = "reconciler_docker_call_errors_total"
        assert got[(errors, (("host", "hostb"), ("operation", "create")))] == 1
        assert (errors, (("host", "local"), ("operation", "create"))) not in got
        latency = "reconciler_docker_call_duration_seconds_count"
        assert got[(latency, (("host", "local"), ("operation", "create")))] == 1
        key = (("direction", "in"), ("protocol", "TCP"), ("service", "default/redis:6379"))
        assert got[("reconciler_proxy_bytes_total", key)] == 512
        conns = (("protocol", "UDP"), ("service", "default/dns:53"))
        assert got[("reconciler_proxy_connections_total", conns)] == 2
        capped = (("protocol", "TCP"), ("service", "default/redis:6379"))
        assert got[("reconciler_proxy_capped_total", capped)] == 4
        assert ("reconciler_proxy_capped_total", conns) not in got  # iptables: not known

    def test_fluentd_drops_are_counted(self, served: tuple[Metrics, MetricsServer]) -> None:
        """A shipper wired with on_drop feeds reconciler_fluentd_dropped_records_total."""
        metrics, server = served
        shipper = FluentShipper(f"127.0.0.1:{free_port()}", bound=5, timeout=0.2,
                                on_drop=metrics.fluentd_dropped.inc)
        for i in range(12):  # never started: nothing drains, every record past 5 drops one
            shipper.emit("log", {"i": i})
        assert scrape(server)[("reconciler_fluentd_dropped_records_total", ())] == 7
        assert shipper.dropped == 7

    def test_failing_phase_source_keeps_scrape_working(
        self, served: tuple[Metrics, MetricsServer]
    ) -> None:
        """A pods-by-phase callback that raises only hides that series."""
        metrics, server = served

        def broken() -> dict[str, int]:
            raise RuntimeError("database is locked")

        metrics.pods_by_phase(broken)
        metrics.queue_depth.set(1)
        got = scrape(server)
        assert got[("reconciler_workqueue_depth", ())] == 1
        assert not any(name == "reconciler_pods" for name, _ in got)

    def test_empty_address_disables(self) -> None:
        """An empty metrics address serves nothing."""
        assert start_metrics_server("", Metrics()) is None
