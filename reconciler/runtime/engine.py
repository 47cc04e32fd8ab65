"""One Docker host's client: built from a NodeRecord, every call bounded and timed out.

The lowest layer of the driver: agent.py, sandbox.py and probes.py call Docker
only through `Engine.call`, which holds the host's semaphore (so many worker
threads share a bounded number of calls in flight) and turns connection errors
into `HostUnreachable`. Each host has its own Engine, so a slow or dead host
only ties up its own callers.

Every mutating request (POST, PUT, DELETE) of every Engine asks the
`ACTION_GUARDS` the composition root registered; the service registers its
lease's local clock, so a leader paused past its lease (SIGSTOP, a VM freeze)
sends nothing to any engine when it resumes. The check is in-memory: no store
round trip per Docker call. It is made again right before each write to the
connection's socket, not only when the request is handed to the HTTP stack:
a pause that lands inside that stack (a pool, a lock, the GIL) would otherwise
let a request checked before the pause go out after it.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import docker
import requests
import urllib3.connection
from docker.errors import DockerException
from docker.tls import TLSConfig

from reconciler.api.records import NodeRecord
from reconciler.runtime.agent_node import local_url
from reconciler.runtime.types import HostUnreachable, RuntimeConfig

T = TypeVar("T")

DEFAULT_URL = "unix:///var/run/docker.sock"
MUTATING = frozenset({"POST", "PUT", "DELETE", "PATCH"})

# Asked before every mutating request to any engine; one saying False refuses it.
ACTION_GUARDS: list[Callable[[], bool]] = []


class ActionRefused(RuntimeError):
    """A Docker action refused by a guard: this instance may not act now (its lease)."""


def _allowed() -> bool:
    return all(guard() for guard in ACTION_GUARDS)


# The mutating request this thread is sending through an Engine, if any: the socket-level
# check below applies to it alone, never to other HTTP clients of the process.
_sending = threading.local()


def _guard_socket_writes() -> None:
    """Check the guards before each socket write of a mutating Engine request.

    Every transport docker-py has (unix, tcp/TLS, ssh) is a urllib3 HTTPConnection, and
    http.client writes the head and each body chunk through its `send`. A refusal closes
    the connection: a head already written without its body is never acted on.
    """
    connection = urllib3.connection.HTTPConnection
    original = connection.send
    if getattr(original, "guarded", False):
        return

    def send(self: urllib3.connection.HTTPConnection, data: Any) -> None:
        refusal = getattr(_sending, "refusal", "")
        if refusal and not _allowed():
            self.close()
            raise ActionRefused(refusal)
        original(self, data)

    send.guarded = True  # type: ignore[attr-defined]
    connection.send = send  # type: ignore[method-assign,assignment]


_guard_socket_writes()

# Observers of every Docker API response: (node name, response), e.g. the service's
# latency metrics. Registered by the composition root before any Engine is built.
RESPONSE_OBSERVERS: list[Callable[[str, requests.Response], None]] = []


def client_for(
    node: NodeRecord, *, timeout: float | None = 10.0, api_version: str = "1.41",
    pool: int = 8,
) -> docker.DockerClient:
    """A Docker SDK client for the node's engine URL (unix://, tcp:// with TLS, ssh://).

    A fixed API version keeps construction free of calls to the engine, so a dead
    host costs nothing until it is used.
    """
    url = local_url(node) or DEFAULT_URL  # an `agent: true` node: as its machine reaches it
    kwargs: dict[str, Any] = {"base_url": url, "version": api_version, "timeout": timeout,
                              "max_pool_size": pool}
    if url.startswith("ssh://"):
        kwargs["use_ssh_client"] = True
    tls = node.tls or {}
    if url.startswith(("tcp://", "https://")) and tls:
        cert = (tls["cert"], tls["key"]) if tls.get("cert") and tls.get("key") else None
        verify = bool(tls.get("verify", True))
        # docker-py switches tcp:// to https:// itself when given a TLSConfig.
        kwargs["tls"] = TLSConfig(client_cert=cert, ca_cert=tls.get("ca") if verify else None,
                                  verify=verify)
    client = docker.DockerClient(**kwargs)
    if "tls" in kwargs or not url.startswith(("tcp://", "http://", "https://")):
        # requests lets REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE from the environment replace a
        # session's own CA (psf/requests#3829): the node's CA (or verify=False) was ignored.
        # A unix socket or ssh never goes through an HTTP proxy, and reading the proxy
        # variables of the whole environment on every request was a third of the CPU of
        # each Docker call.
        client.api.trust_env = False
    return client


def _tls_reason(e: Exception) -> str:
    """What went wrong in a TLS handshake with an engine, in words an operator can act on."""
    found = re.findall(r"\[SSL: ([A-Z0-9_]+)\] ([^'\")(]+)", str(e))
    code, text = found[-1] if found else ("", str(e))
    if "VERIFY_FAILED" in code:
        hint = "the engine's certificate does not verify against the node's tls.ca"
    elif "CERTIFICATE" in code:
        hint = "the engine refused the client certificate (tls.cert/tls.key missing or not " \
               "signed by the engine's CA)"
    else:
        hint = "handshake failed"
    return f"TLS: {hint}: {text.strip()}"


class Engine:
    """The Docker client of one host behind a semaphore; counts the HTTP requests it makes."""

    def __init__(self, node: NodeRecord, config: RuntimeConfig) -> None:
        self.node = node
        self.address = node.address or "127.0.0.1"
        self._gate = threading.BoundedSemaphore(max(1, config.concurrency))
        self._config = config
        self.client = client_for(node, timeout=config.api_timeout,
                                 api_version=config.api_version, pool=config.concurrency)
        self.api = self.client.api
        self.requests: Counter[str] = Counter()  # "GET /containers/json" -> count
        # After a connection failure, calls fail fast until this monotonic time, so the
        # reconcile workers do not each wait out a timeout on a dead host.
        self._down_until = 0.0
        self._down_reason = ""
        self._count_lock = threading.Lock()
        self.api.hooks["response"].append(self._count)
        # Guarded at the last step before the socket, so no SDK helper can go around it.
        self.api.send = self._guarded(self.api.send)  # type: ignore[method-assign]
        for observer in RESPONSE_OBSERVERS:
            self.api.hooks["response"].append(
                lambda response, *a, _o=observer, **k: _o(node.name, response))

    def _guarded(self, send: Callable[..., requests.Response]) -> Callable[..., requests.Response]:
        def guarded_send(request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            if request.method not in MUTATING:
                return send(request, **kwargs)
            refusal = (f"{self.node.name}: {request.method} {urlsplit(request.url or '').path} "
                       "refused: this instance's lease is not confirmed")
            if not _allowed():
                raise ActionRefused(refusal)
            _sending.refusal = refusal
            try:
                return send(request, **kwargs)
            finally:
                _sending.refusal = ""

        return guarded_send

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        path = urlsplit(response.request.url or "").path
        # Strip the API version so counts read like the API docs: "GET /containers/json".
        parts = path.split("/", 2)
        if len(parts) == 3 and parts[1].startswith("v1."):
            path = "/" + parts[2]
        with self._count_lock:
            self.requests[f"{response.request.method} {path}"] += 1

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One Docker SDK call inside this host's bound; connection failures: HostUnreachable.

        Within `unreachable_cooldown` seconds of a failure the call is not tried at all.
        """
        if time.monotonic() < self._down_until:
            raise HostUnreachable(f"{self._down_reason} (failing fast after a recent failure)")
        with self._gate:
            return self.call_unbounded(fn, *args, **kwargs)

    def probe(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A call that always reaches the engine (the heartbeat); success closes the breaker."""
        with self._gate:
            result = self.call_unbounded(fn, *args, **kwargs)
        self._down_until = 0.0
        return result

    def call_unbounded(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A call that mostly waits (a graceful stop), outside the bound: holding a slot for
        a grace period would stall every other call to this host."""
        try:
            return fn(*args, **kwargs)
        except requests.exceptions.SSLError as e:
            raise self._unreachable(f"{self.node.name}: {_tls_reason(e)}") from e
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
            raise self._unreachable(f"{self.node.name}: {type(e).__name__}: {e}") from e
        except DockerException as e:
            if "HTTP request to an HTTPS server" in str(e):
                # A --tlsverify engine answers plain HTTP with a 400: not an API error.
                raise self._unreachable(f"{self.node.name}: TLS: the engine requires TLS; give the "
                                    "node tls (ca, cert, key)") from e
            if "Connection" in str(e) or "Error while fetching server API" in str(e):
                raise self._unreachable(f"{self.node.name}: {e}") from e
            raise

    def _unreachable(self, reason: str) -> HostUnreachable:
        self._down_reason = reason
        self._down_until = time.monotonic() + self._config.unreachable_cooldown
        return HostUnreachable(reason)

    def streaming_client(self) -> docker.DockerClient:
        """A client without a read timeout, for log follows and the event stream."""
        return client_for(self.node, timeout=None, api_version=self._config.api_version, pool=2)

    def close(self) -> None:
        self.client.close()
