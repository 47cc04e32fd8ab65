"""Prometheus metrics of the service: one registry, the instruments, and the HTTP endpoint.

Created once by `reconciler run` and handed to the parts that count: the
control loop (passes, durations, queue depth), the runtime driver (Docker call
latency and errors per host), the proxy (connections, bytes), and the fluentd
shipper (`on_drop=metrics.fluentd_dropped.inc`). Pods by phase, and the
per-object series in kube-state-metrics' names (reconciler.service.kube_metrics),
are read from callbacks at scrape time, so nothing has to keep them up to date.
`reconciler_build_info` and `reconciler_leader` say what runs and who acts.
"""

from __future__ import annotations

import platform
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from reconciler.service.kube_metrics import ClusterView

NAMESPACE = "reconciler"
PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")

# Reconcile passes range from a no-op (sub-ms) to a converge that creates containers (seconds).
RECONCILE_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
DOCKER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# Steps of a pod's first start (runtime/spans.py) run from a dict lookup to a Docker start.
SPAN_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class _PodsByPhase(Collector):
    """`reconciler_pods{phase}` from a callback, evaluated at each scrape."""

    def __init__(self, source: Callable[[], Mapping[str, int]]) -> None:
        self.source = source

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            f"{NAMESPACE}_pods", "Pods recorded in the store, by phase", labels=["phase"]
        )
        try:
            counts = dict(self.source())
        except Exception:
            # A store hiccup must not break the whole scrape; the series just goes missing.
            return
        for phase in PHASES:
            family.add_metric([phase], counts.get(phase, 0))
        yield family


@dataclass(frozen=True)
class ProxyCounts:
    """One service port's counters; bytes are None where the kernel forwards (iptables)."""

    connections: int
    bytes_in: int | None = None  # client -> backend
    bytes_out: int | None = None
    capped: int | None = None  # refused at the service's cap (userspace mode only)


class _ProxyStats(Collector):
    """`reconciler_proxy_connections_total{service,protocol}`, `..._bytes_total{direction}`
    and `..._capped_total` (refused at a service's cap).

    Keys are "ns/name:port/PROTO" as the proxy names service ports.
    """

    def __init__(self, source: Callable[[], Mapping[str, ProxyCounts]]) -> None:
        self.source = source

    def collect(self) -> Iterator[CounterMetricFamily]:
        conns = CounterMetricFamily(
            f"{NAMESPACE}_proxy_connections",
            "Connections (TCP) or flows (UDP) the service proxy handled",
            labels=["service", "protocol"],
        )
        data = CounterMetricFamily(
            f"{NAMESPACE}_proxy_bytes", "Bytes relayed by the userspace service proxy",
            labels=["service", "protocol", "direction"],
        )
        capped = CounterMetricFamily(
            f"{NAMESPACE}_proxy_capped",
            "Connections (TCP) or flows (UDP) refused: the service was at its userspace cap",
            labels=["service", "protocol"],
        )
        try:
            stats = dict(self.source())
        except Exception:
            return
        for key, c in sorted(stats.items()):
            service, _, proto = key.rpartition("/")
            conns.add_metric([service, proto], c.connections)
            if c.bytes_in is not None:
                data.add_metric([service, proto, "in"], c.bytes_in)
            if c.bytes_out is not None:
                data.add_metric([service, proto, "out"], c.bytes_out)
            if c.capped is not None:
                capped.add_metric([service, proto], c.capped)
        yield conns
        yield data
        yield capped


class Metrics:
    """The service's instruments, on a registry of their own (tests can make many)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.reconcile_passes = Counter(
            "reconcile_passes", "Reconcile calls, by controller and result",
            ["controller", "result"], namespace=NAMESPACE, registry=r,
        )
        self.reconcile_duration = Histogram(
            "reconcile_duration_seconds", "Duration of one reconcile call, by controller",
            ["controller"], namespace=NAMESPACE, registry=r, buckets=RECONCILE_BUCKETS,
        )
        self.queue_depth = Gauge(
            "workqueue_depth", "Keys waiting in the work queue", namespace=NAMESPACE, registry=r,
        )
        self.docker_latency = Histogram(
            "docker_call_duration_seconds", "Docker API call latency, by host and operation",
            ["host", "operation"], namespace=NAMESPACE, registry=r, buckets=DOCKER_BUCKETS,
        )
        self.docker_errors = Counter(
            "docker_call_errors", "Docker API calls that failed, by host and operation",
            ["host", "operation"], namespace=NAMESPACE, registry=r,
        )
        self.pod_start_span = Histogram(
            "pod_start_span_seconds", "Steps of a pod's first start (runtime/spans.py), by span",
            ["span"], namespace=NAMESPACE, registry=r, buckets=SPAN_BUCKETS,
        )
        self.fluentd_dropped = Counter(
            "fluentd_dropped_records", "Log and event records dropped while fluentd was away",
            namespace=NAMESPACE, registry=r,
        )
        self.build_info = Gauge(
            "build_info", "The running build: version and Python", ["version", "python_version"],
            namespace=NAMESPACE, registry=r,
        )
        self.build_info.labels(_version(), platform.python_version()).set(1)
        self.leader = Gauge(
            "leader", "1 while this instance holds the store's lease and acts", ["holder"],
            namespace=NAMESPACE, registry=r,
        )
        self._phase_collector: _PodsByPhase | None = None
        self._proxy_collector: _ProxyStats | None = None
        self._kube_collector: Collector | None = None

    def kube_state(self, source: Callable[[], ClusterView]) -> None:
        """Serve kube-state-metrics' series from `source()` (a kube_metrics.ClusterView)."""
        from reconciler.service.kube_metrics import KubeState

        if self._kube_collector is not None:
            self.registry.unregister(self._kube_collector)
        self._kube_collector = KubeState(source)
        self.registry.register(self._kube_collector)

    def proxy_stats(self, source: Callable[[], Mapping[str, ProxyCounts]]) -> None:
        """Serve the proxy's connections and bytes from `source()`, read at each scrape."""
        if self._proxy_collector is not None:
            self.registry.unregister(self._proxy_collector)
        self._proxy_collector = _ProxyStats(source)
        self.registry.register(self._proxy_collector)

    def pods_by_phase(self, source: Callable[[], Mapping[str, int]]) -> None:
        """Serve `reconciler_pods{phase}` from `source()` (e.g. a store count query)."""
        if self._phase_collector is not None:
            self.registry.unregister(self._phase_collector)
        self._phase_collector = _PodsByPhase(source)
        self.registry.register(self._phase_collector)

    @contextmanager
    def reconcile(self, controller: str) -> Iterator[None]:
        """Time one reconcile call; an exception counts as result="error" and propagates."""
        start = time.perf_counter()
        result = "error"
        try:
            yield
            result = "ok"
        finally:
            self.reconcile_duration.labels(controller).observe(time.perf_counter() - start)
            self.reconcile_passes.labels(controller, result).inc()

    @contextmanager
    def docker_call(self, host: str, operation: str) -> Iterator[None]:
        """Time one Docker API call on `host`; an exception is counted as an error."""
        start = time.perf_counter()
        try:
            yield
        except Exception:
            self.docker_errors.labels(host, operation).inc()
            raise
        finally:
            self.docker_latency.labels(host, operation).observe(time.perf_counter() - start)


def _version() -> str:
    try:
        return version("reconciler")
    except PackageNotFoundError:
        return "unknown"


# First path segments whose second segment names an object (an id or image name).
_OBJECT_COLLECTIONS = {"containers", "images", "exec", "networks", "volumes"}
_COLLECTION_VERBS = {"json", "create", "prune", "load", "get", "search", "build"}


def docker_operation(method: str, path: str) -> str:
    """"POST /containers/{id}/start" from a request path: ids would explode the label set."""
    parts = path.strip("/").split("/")
    if parts and parts[0].startswith("v1."):
        parts = parts[1:]
    if len(parts) >= 2 and parts[0] in _OBJECT_COLLECTIONS and parts[1] not in _COLLECTION_VERBS:
        # Image names hold slashes: keep only the verb after the name, if any.
        tail = [parts[-1]] if parts[0] == "images" and len(parts) > 2 else parts[2:]
        parts = [parts[0], "{id}", *tail]
    return f"{method} /{'/'.join(parts)}"


def observe_docker_response(metrics: Metrics) -> Callable[[str, Any], None]:
    """An observer for reconciler.runtime.engine.RESPONSE_OBSERVERS: latency and errors.

    A response's `elapsed` runs from sending to the headers, which is the call's
    latency for everything but streams; 404 and 304 are answers, not failures.
    """

    def observe(host: str, response: Any) -> None:
        request = response.request
        operation = docker_operation(request.method or "", urlsplit(request.url or "").path)
        metrics.docker_latency.labels(host, operation).observe(response.elapsed.total_seconds())
        if response.status_code >= 400 and response.status_code not in (404, 304):
            metrics.docker_errors.labels(host, operation).inc()

    return observe


class MetricsServer:
    """A running /metrics endpoint; `port` is the bound port (useful with port 0)."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        host, port = server.socket.getsockname()[:2]
        self.host: str = host
        self.port: int = port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(address: str, metrics: Metrics) -> MetricsServer | None:
    """Serve `metrics` on "host:port" (port 0 picks one); None when the address is empty."""
    if not address:
        return None
    host, _, port = address.rpartition(":")
    server, thread = start_http_server(int(port), addr=host.strip("[]"), registry=metrics.registry)
    return MetricsServer(server, thread)
