"""Container lifecycle hooks (postStart, preStop) and the graceful stop that runs them.

Used by agent.py: after a container starts (`post_start`), and wherever it stops a
container gracefully (`stop`: a liveness or spec-change kill, `kill_pod`). The
order is kubelet's `killContainer`: the preStop hook first, its time counted
against terminationGracePeriodSeconds, then SIGTERM with what is left of the grace
(at least 2 s, kubelet's minimum), then SIGKILL when that runs out (Docker's stop
does these two). A grace of 0 (a forced removal) skips the hook, as kubelet does.

The preStop handler travels in a label of the container it belongs to, so a stop
runs the hook of the container as it was created (not of an edited spec), also
after a service restart. httpGet hooks go where probes go (probes.py: the node
address and a published port, else `nc` inside the pod's infrastructure container).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

from docker.errors import APIError, NotFound

from reconciler.api.records import PodRecord
from reconciler.runtime import naming
from reconciler.runtime.engine import Engine
from reconciler.runtime.probes import Prober, Target
from reconciler.runtime.types import PodEvent

log = logging.getLogger(__name__)

PRE_STOP = naming.L + "lifecycle.pre-stop"  # the container's preStop handler, as JSON
MIN_GRACE = 2  # kubelet's minimumGracePeriodInSeconds after a hook that used up the grace
_POLL = 0.2  # seconds between looks at a running exec hook
_HTTP_TIMEOUT = 5.0  # an HTTP hook is one request; a hung server must not hold a stop


def _resolve_port(handler: dict[str, Any], container: Mapping[str, Any]) -> dict[str, Any]:
    """A named httpGet port as its number: the label must not depend on the spec later."""
    get = handler.get("httpGet")
    if not isinstance(get, dict) or not isinstance(get.get("port"), str):
        return handler
    port = str(get["port"])
    if port.isdigit():
        return {**handler, "httpGet": {**get, "port": int(port)}}
    named = {str(p.get("name")): int(p["containerPort"]) for p in container.get("ports") or []
             if p.get("name")}
    return {**handler, "httpGet": {**get, "port": named.get(port, port)}}


def hook_labels(container: Mapping[str, Any]) -> dict[str, str]:
    """The labels that carry a container's preStop handler (none without one)."""
    handler = (container.get("lifecycle") or {}).get("preStop")
    if not handler:
        return {}
    resolved = _resolve_port(dict(handler), container)
    return {PRE_STOP: json.dumps(resolved, sort_keys=True, separators=(",", ":"))}


def pre_stop_from_labels(labels: Mapping[str, str]) -> dict[str, Any] | None:
    """The preStop handler a container was created with; None without one (or unreadable)."""
    text = labels.get(PRE_STOP)
    if not text:
        return None
    try:
        handler = json.loads(text)
    except ValueError:
        return None
    return handler if isinstance(handler, dict) else None


def target(uid: str, container: Mapping[str, Any], container_id: str, infra_id: str,
           published: Mapping[str, int]) -> Target:
    """Where a hook of this container goes (its named ports, the pod's published ones)."""
    named = {str(p["name"]): int(p["containerPort"]) for p in container.get("ports") or []
             if p.get("name")}
    return Target(uid, str(container.get("name", "")), container_id, infra_id, time.time(),
                  dict(published), named)


def remaining_grace(grace: int, elapsed: float) -> int:
    """Seconds between SIGTERM and SIGKILL once a hook took `elapsed` of the `grace`."""
    return max(MIN_GRACE, math.ceil(grace - elapsed))


def describe(handler: Mapping[str, Any]) -> tuple[str, str]:
    """(kind, what) in kubelet's words: ("Exec", "[sh -c x]"), ("HTTP", "/path")."""
    if "exec" in handler:
        cmd = [str(c) for c in (handler["exec"] or {}).get("command") or []]
        return "Exec", "[" + " ".join(cmd) + "]"
    if "httpGet" in handler:
        return "HTTP", str((handler["httpGet"] or {}).get("path") or "/")
    if "sleep" in handler:
        return "Sleep", str((handler["sleep"] or {}).get("seconds", 0))
    return "Unknown", ""


def failure_message(handler: Mapping[str, Any], container: str, pod: str, error: str) -> str:
    """kubelet's FailedPostStartHook/FailedPreStopHook wording; `pod` as name_ns(uid)."""
    kind, what = describe(handler)
    return (f'{kind} lifecycle hook ({what}) for Container "{container}" in Pod "{pod}" '
            f'failed - error: {error}, message: ""')


class Hooks:
    """Runs lifecycle handlers of one host's containers (in the calling thread)."""

    def __init__(self, engine: Engine, prober: Prober) -> None:
        self._engine = engine
        self._prober = prober

    def run(self, target: Target, handler: Mapping[str, Any], timeout: float) -> str | None:
        """Run one handler to completion or `timeout`; the error, or None on success."""
        try:
            if "exec" in handler:
                cmd = [str(c) for c in (handler["exec"] or {}).get("command") or []]
                return self._exec(target.container_id, cmd, timeout)
            if "httpGet" in handler:
                ok, detail = self._prober.run_once(target, {"httpGet": handler["httpGet"]},
                                                   min(timeout, _HTTP_TIMEOUT))
                return None if ok else detail
            if "sleep" in handler:
                time.sleep(max(0.0, min(float((handler["sleep"] or {}).get("seconds", 0)),
                                        timeout)))
                return None
        except (APIError, OSError, ValueError) as e:
            return str(e)
        return "Cannot run handler: unknown type"

    def post_start(self, pod: PodRecord, container: Mapping[str, Any], target: Target,
                   grace: int) -> list[PodEvent]:
        """Run the container's postStart hook, bounded by the grace period; a failure kills
        the container (kubelet's FailedPostStartHook) and the restart policy takes over.
        The events to record."""
        handler = (container.get("lifecycle") or {}).get("postStart")
        if not handler:
            return []
        error = self.run(target, handler, max(grace, 1))
        if error is None:
            return []
        message = failure_message(handler, target.container,
                                  f"{pod.name}_{pod.namespace}({pod.uid})", error)
        self.stop(target, grace)
        return [PodEvent("Warning", "FailedPostStartHook", message),
                PodEvent("Normal", "Killing", "FailedPostStartHook")]

    def _exec(self, container_id: str, cmd: list[str], timeout: float) -> str | None:
        """An exec hook, detached and polled: a hook may outlast one API call's timeout."""
        api = self._engine.api
        exec_id = self._engine.call(api.exec_create, container_id, cmd)["Id"]
        self._engine.call(api.exec_start, exec_id, detach=True)
        deadline = time.monotonic() + timeout
        while True:
            info = self._engine.call(api.exec_inspect, exec_id)
            if not info.get("Running"):
                code = info.get("ExitCode")
                if code == 0:
                    return None
                return f"command '{' '.join(cmd)}' exited with {code}: "
            if time.monotonic() >= deadline:
                return f"command '{' '.join(cmd)}' did not finish in {timeout:g}s"
            time.sleep(_POLL)

    def stop(self, target: Target, grace: int,
             labels: Mapping[str, str] | None = None) -> str | None:
        """preStop (when the container has one and `grace` > 0), SIGTERM, SIGKILL after the
        rest of the grace. Returns the hook's failure message, if it failed; the stop goes
        on regardless, as in Kubernetes."""
        api = self._engine.api
        cid = target.container_id
        failure = None
        if grace > 0:
            if labels is None:
                try:
                    data = self._engine.call(api.inspect_container, cid)
                except NotFound:
                    return None
                labels = (data.get("Config") or {}).get("Labels") or {}
            handler = pre_stop_from_labels(labels)
            if handler is not None:
                started = time.monotonic()
                error = self.run(target, handler, grace)
                if error is not None:
                    pod = (f"{labels.get(naming.POD_NAME, '')}_"
                           f"{labels.get(naming.POD_NAMESPACE, '')}({target.uid})")
                    failure = failure_message(handler, target.container, pod, error)
                    log.warning("preStop hook failed: %s", failure)
                grace = remaining_grace(grace, time.monotonic() - started)
        with contextlib.suppress(NotFound):
            self._engine.call_unbounded(api.stop, cid, timeout=max(grace, 0))
        return failure
