"""Pulling images on one Docker host: one pull in flight per image, credentials, progress.

Below the sandbox builder (sandbox.py), which decides per imagePullPolicy whether a
container's image is pulled and turns a `PullResult` into the pod's events; one
`Puller` per host (one per `NodeAgent`). It talks to the engine's
`POST /images/create` through the host's `Engine` (so the lease guard applies),
streams the engine's progress (per layer, at debug level, in the service log) and
returns the totals for the pod's `Pulled` event. Pods needing the same image at
once share one pull; a registry that does not answer is remembered for
`UNREACHABLE_FOR` seconds and said once in the log, not on every pod.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import requests
from docker.errors import APIError, ImageNotFound, NotFound

from reconciler.runtime import pullrules
from reconciler.runtime.engine import Engine
from reconciler.runtime.pullrules import Credential
from reconciler.runtime.types import RuntimeConfig

log = logging.getLogger(__name__)

UNREACHABLE_FOR = 60.0  # seconds a registry that did not answer is not asked again
_PROGRESS_EVERY = 1.0  # seconds between debug lines of one layer's download


@dataclass(frozen=True)
class PullResult:
    """What one pull did; `error` is "" on success."""

    ref: str
    error: str = ""
    unreachable: bool = False  # no registry answered (or it was recently unreachable)
    seconds: float = 0.0  # the pull itself
    waited: float = 0.0  # including waiting for a pull of the same image already in flight
    size: int = 0  # bytes of the image, from the engine, after the pull
    layers: int = 0
    shared: bool = False  # another pod's pull of this image served this one

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass
class _Flight:
    """A pull in progress that others wait for."""

    fingerprints: frozenset[tuple[str, str, str]]
    started: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    result: PullResult | None = None
    waiters: int = 0  # callers waiting for it (under the puller's lock)


class _Progress:
    """The engine's pull stream, folded: debug lines per layer and the layer count."""

    def __init__(self, node: str, ref: str) -> None:
        self.node, self.ref = node, ref
        self.layers: dict[str, str] = {}  # layer id -> last status
        self._logged: dict[str, float] = {}
        self.error = ""

    def feed(self, msg: dict[str, Any]) -> None:
        if msg.get("error"):
            self.error = str((msg.get("errorDetail") or {}).get("message") or msg["error"])
            return
        layer, status = str(msg.get("id") or ""), str(msg.get("status") or "")
        if not layer or layer == self.ref.rsplit(":", 1)[-1] or status.startswith("Pulling from"):
            log.debug("pull %s on %s: %s", self.ref, self.node, status)
            return
        detail = msg.get("progressDetail") or {}
        now = time.monotonic()
        changed = self.layers.get(layer) != status
        self.layers[layer] = status
        if changed or now - self._logged.get(layer, 0.0) >= _PROGRESS_EVERY:
            self._logged[layer] = now
            amount = (f" {detail.get('current', 0)}/{detail['total']} bytes"
                      if detail.get("total") else "")
            log.debug("pull %s on %s: layer %s %s%s", self.ref, self.node, layer, status, amount)


class Puller:
    """Pulls for one host; thread-safe, as every pod worker of the host may call it."""

    def __init__(self, engine: Engine, config: RuntimeConfig) -> None:
        self.engine = engine
        self.config = config
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}
        self._unreachable: dict[str, tuple[float, str]] = {}  # registry -> (until, reason)
        self.pulls = 0  # pulls sent to the engine (tests and metrics read it)

    def allowed(self, ref: str) -> bool:
        """Whether `runtime.pull_from` lets this service pull `ref` at all."""
        return pullrules.pull_allowed(pullrules.parse_ref(ref).registry, self.config.pull_from)

    def waiting(self, ref: str) -> int:
        """How many callers wait for the pull of `ref` in flight (0: none in flight)."""
        with self._lock:
            flight = self._flights.get(ref)
            return flight.waiters if flight is not None else 0

    def unreachable(self, registry: str) -> str:
        """Why `registry` is taken as not answering now; "" when it may be asked."""
        until, reason = self._unreachable.get(registry, (0.0, ""))
        return reason if time.monotonic() < until else ""

    def node_credentials(self) -> list[Credential]:
        """The node's Docker config file (`runtime.docker_config`, "{node}" = the node's name)."""
        if not self.config.docker_config:
            return []
        path = Path(self.config.docker_config.replace("{node}", self.engine.node.name))
        try:
            data = path.read_bytes()
        except OSError as e:
            log.debug("docker config %s of %s: %s", path, self.engine.node.name, e)
            return []
        return pullrules.parse_docker_config(data, f"docker config {path}")

    def pull(self, ref: str, credentials: list[Credential]) -> PullResult:
        """Pull `ref`, trying each matching credential in order; wait for a pull already running.

        A pull in flight with the same credentials serves every waiter; one with other
        credentials is waited for and then this caller pulls with its own, so nobody
        gets an image through someone else's credentials by luck of timing.
        """
        registry = pullrules.parse_ref(ref).registry
        creds = pullrules.matching(credentials, registry)
        prints = frozenset(c.fingerprint for c in creds)
        asked = time.monotonic()
        while True:
            with self._lock:
                flight = self._flights.get(ref)
                if flight is None:
                    mine = self._flights[ref] = _Flight(prints)
                else:
                    flight.waiters += 1
            if flight is None:
                break
            flight.done.wait(self.config.pull_timeout)
            if flight.result is not None and flight.fingerprints == prints:
                return replace(flight.result, shared=True, waited=time.monotonic() - asked)
        try:
            result = self._pull(ref, registry, creds)
            mine.result = replace(result, waited=time.monotonic() - asked)
            return mine.result
        finally:
            with self._lock:
                del self._flights[ref]
            mine.done.set()

    def _pull(self, ref: str, registry: str, creds: list[Credential]) -> PullResult:
        reason = self.unreachable(registry)
        if reason:
            return PullResult(ref, reason, unreachable=True)
        started = time.monotonic()
        error, layers = "", 0
        attempts: list[Credential | None] = list(creds) or [None]
        for cred in attempts:
            error, layers = self._send(ref, cred)
            if not error or not pullrules.is_auth_error(error):
                break
        seconds = time.monotonic() - started
        if error and pullrules.is_unreachable(error):
            self._mark_unreachable(registry, error)
            return PullResult(ref, error, unreachable=True, seconds=seconds)
        if registry in self._unreachable:
            self._unreachable.pop(registry, None)
            log.info("node %s: registry %s answers again", self.engine.node.name, registry)
        if error:
            return PullResult(ref, error, seconds=seconds)
        return PullResult(ref, seconds=seconds, size=self._size(ref), layers=layers)

    def _mark_unreachable(self, registry: str, error: str) -> None:
        first = registry not in self._unreachable
        self._unreachable[registry] = (time.monotonic() + UNREACHABLE_FOR, error)
        # Said once per host and registry (until it answers again), not once per pod.
        (log.warning if first else log.debug)(
            "node %s: registry %s does not answer (%s): pods use the images the host has; "
            "asking again every %gs", self.engine.node.name, registry, error, UNREACHABLE_FOR)

    def _send(self, ref: str, cred: Credential | None) -> tuple[str, int]:
        """One POST /images/create, its stream read to the end: (error or "", layer count)."""
        # The SDK's pull() would read the service user's ~/.docker/config.json and apply the
        # API timeout to the whole stream: its building blocks are used instead.
        api: Any = self.engine.api
        headers = {"X-Registry-Auth": cred.header()} if cred is not None else {}
        params = pullrules.parse_ref(ref).pull_params
        progress = _Progress(self.engine.node.name, ref)
        self.pulls += 1
        log.debug("pull %s on %s (%s)", ref, self.engine.node.name,
                  cred.source if cred is not None else "no credentials")
        # The engine answers as the registry does and streams while it downloads: the read
        # timeout bounds a silence, not the pull, and is the pull's own, not the API's.
        response = self.engine.call_unbounded(
            api._post, api._url("/images/create"), params=params, headers=headers,
            stream=True, timeout=(self.config.api_timeout, self.config.pull_timeout))
        try:
            api._raise_for_status(response)
            for msg in api._stream_helper(response, decode=True):
                progress.feed(msg)
        except APIError as e:
            return str(e.explanation or e), 0
        except (requests.exceptions.RequestException, ValueError) as e:
            return f"pull stream broke: {e}", 0
        finally:
            response.close()
        return progress.error, len(progress.layers)

    def _size(self, ref: str) -> int:
        try:
            return int(self.engine.call(self.engine.api.inspect_image, ref).get("Size") or 0)
        except (ImageNotFound, NotFound):
            return 0
