"""Startup, liveness and readiness probes of one host's containers, on the agent's own threads.

Beside `sync_pod` (agent.py), never inside it: `sync_pod` registers each running
container's probes with `Prober.track` and reads the verdicts back with
`Prober.verdict`; a scheduler thread runs due probes on a small pool, keeps the
results in memory and calls `on_change(pod_uid)` when a result flips, so the
control loop requeues the pod. Pod IPs of a host in another network namespace are
not reachable from here: httpGet and tcpSocket go to the node address and the
published port when the port is published, and otherwise run `nc` inside the
pod's infrastructure container (which has busybox for that; see docs/runtime.md).
A probe the engine did not take (unreachable, not answering) has no result: only a
probe that ran counts towards a failure threshold.
"""

from __future__ import annotations

import http.client
import logging
import shlex
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.runtime.engine import Engine
from reconciler.runtime.types import HostUnreachable, PodEvent

log = logging.getLogger(__name__)

Kind = Literal["startup", "liveness", "readiness"]
KINDS: tuple[Kind, ...] = ("startup", "liveness", "readiness")
_MAX_EVENTS = 50  # per pod, until sync_pod drains them


@dataclass(frozen=True)
class Target:
    """Where one container is probed: its ids, its pod's published ports, its named ports."""

    uid: str
    container: str
    container_id: str
    infra_id: str
    started_at: float  # unix seconds
    published: dict[str, int] = field(default_factory=dict)  # "8080/TCP" -> host port
    named: dict[str, int] = field(default_factory=dict)  # port name -> containerPort


@dataclass(frozen=True)
class Verdict:
    """What the probes say about one container right now."""

    ready: bool
    started: bool
    unhealthy: str = ""  # "liveness" or "startup" when that probe has failed


@dataclass
class _State:
    kind: Kind
    spec: dict[str, Any]
    due: float
    result: bool | None = None
    successes: int = 0
    failures: int = 0
    running: bool = False


class Prober:
    """Runs the probes of every tracked container; results live in memory only."""

    def __init__(self, engine: Engine, on_change: Callable[[str], None], workers: int = 4) -> None:
        self._engine = engine
        self._on_change = on_change
        self._lock = threading.Lock()
        self._targets: dict[str, Target] = {}
        self._states: dict[str, dict[Kind, _State]] = {}
        self._events: dict[str, list[PodEvent]] = defaultdict(list)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=f"probe-{engine.node.name}")
        self._exec_pool = ThreadPoolExecutor(workers, thread_name_prefix="probe-exec")
        self._stop = threading.Event()
        # Set while any container is tracked (and at close): with none, the loop sleeps on
        # it instead of waking ten times a second for nothing.
        self._tracking = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"prober-{engine.node.name}",
                                        daemon=True)
        self._thread.start()

    def track(self, target: Target, probes: dict[Kind, dict[str, Any]],
              recorded: Verdict | None = None) -> None:
        """Probe this container (idempotent per container id).

        `recorded`: what the store last said of this very container (same id, running),
        when a restarted service adopts it. Its startup and readiness results start from
        there instead of "no result": otherwise every adopted pod with a readiness probe
        turned not ready until its first probe ran, its Endpoints emptied and the
        successor's proxy refused service traffic for a moment (issue 14's restart under
        load; kubelet's #78733, kept until probed again as in #84104). The probes run at
        once and a wrong seed is corrected as any result is: after failureThreshold.
        """
        with self._lock:
            if target.container_id in self._targets or not probes:
                return
            self._targets[target.container_id] = target
            states = {
                kind: _State(kind, spec,
                             target.started_at + int(spec.get("initialDelaySeconds", 0)))
                for kind, spec in probes.items()
            }
            if recorded is not None:
                if "startup" in states and recorded.started:
                    states["startup"].result = True
                if "readiness" in states and recorded.ready:
                    states["readiness"].result = True
            self._states[target.container_id] = states
            self._tracking.set()

    def forget(self, container_id: str) -> None:
        with self._lock:
            self._targets.pop(container_id, None)
            self._states.pop(container_id, None)

    def forget_pod(self, uid: str) -> None:
        with self._lock:
            for cid in [cid for cid, t in self._targets.items() if t.uid == uid]:
                self._targets.pop(cid, None)
                self._states.pop(cid, None)
            self._events.pop(uid, None)

    def verdict(self, container_id: str) -> Verdict:
        """Ready, started and unhealthy for a container (no probes: ready and started)."""
        with self._lock:
            states = self._states.get(container_id, {})
            startup = states.get("startup")
            started = startup is None or startup.result is True
            readiness = states.get("readiness")
            ready = started and (readiness is None or readiness.result is True)
            unhealthy = ""
            if startup is not None and startup.result is False:
                unhealthy = "startup"
            liveness = states.get("liveness")
            if started and liveness is not None and liveness.result is False:
                unhealthy = "liveness"
            return Verdict(ready=ready, started=started, unhealthy=unhealthy)

    def drain_events(self, uid: str) -> list[PodEvent]:
        with self._lock:
            return self._events.pop(uid, [])

    def close(self) -> None:
        with self._lock:  # as `_run` clears `_tracking` under it: the wake-up is never lost
            self._stop.set()
            self._tracking.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._exec_pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._states and not self._stop.is_set():
                    self._tracking.clear()  # `track` sets it again under the same lock
            self._tracking.wait()
            if self._stop.wait(0.1):
                return
            now = time.time()
            with self._lock:
                due = [(cid, st) for cid, states in self._states.items()
                       for st in self._runnable(states, now)]
                for _, st in due:
                    st.running = True
            for cid, st in due:
                try:
                    self._pool.submit(self._probe, cid, st)
                except RuntimeError:
                    return

    @staticmethod
    def _runnable(states: dict[Kind, _State], now: float) -> list[_State]:
        startup = states.get("startup")
        gated = startup is not None and startup.result is not True
        out = []
        for kind, st in states.items():
            if st.running or st.due > now:
                continue
            if kind == "startup" and st.result is True:
                continue  # a startup probe stops once it has succeeded
            if kind != "startup" and gated:
                continue
            out.append(st)
        return out

    def _probe(self, cid: str, st: _State) -> None:
        with self._lock:
            target = self._targets.get(cid)
        if target is None:
            return
        timeout = float(st.spec.get("timeoutSeconds", 1))
        accepted = threading.Event()
        try:
            future = self._exec_pool.submit(self.run_once, target, st.spec, timeout, accepted)
            ok, detail = future.result(timeout=timeout + 2)
        except (FutureTimeout, HostUnreachable) as e:
            if not accepted.is_set():
                # The engine did not take the probe (unreachable, or not answering): that
                # says nothing of the container, which keeps running meanwhile. As kubelet
                # throws away the result of a probe that errored, this is no failure: an
                # engine restart or outage must not have every live container killed.
                self._discard(cid, st, e)
                return
            ok, detail = False, (f"timeout after {timeout:g}s" if isinstance(e, FutureTimeout)
                                 else str(e))
        except Exception as e:  # a probe that ran and broke is a failed probe
            ok, detail = False, str(e)
        flipped = self._record(cid, target, st, ok, detail)
        if flipped:
            self._on_change(target.uid)

    def _discard(self, cid: str, st: _State, why: Exception) -> None:
        """No result this period: the probe comes back after its period, counts unchanged."""
        log.debug("%s probe of %s not run: %s", st.kind, cid[:12], str(why) or "no answer")
        with self._lock:
            st.running = False
            st.due = time.time() + int(st.spec.get("periodSeconds", 10))

    def _record(self, cid: str, target: Target, st: _State, ok: bool, detail: str) -> bool:
        with self._lock:
            st.running = False
            if cid not in self._states:
                return False
            st.due = time.time() + int(st.spec.get("periodSeconds", 10))
            before = st.result
            if ok:
                st.successes, st.failures = st.successes + 1, 0
                threshold = 1 if st.kind != "readiness" else int(st.spec.get("successThreshold", 1))
                if st.successes >= threshold:
                    st.result = True
            else:
                st.successes, st.failures = 0, st.failures + 1
                events = self._events[target.uid]
                if len(events) < _MAX_EVENTS:
                    events.append(PodEvent("Warning", "Unhealthy",
                                           f"{st.kind.capitalize()} probe failed: {detail}"))
                if st.failures >= int(st.spec.get("failureThreshold", 3)):
                    st.result = False
            return st.result != before and (st.result is not None)

    def run_once(self, target: Target, spec: dict[str, Any], timeout: float,
                 accepted: threading.Event | None = None) -> tuple[bool, str]:
        """Run one probe now: (success, detail in Kubernetes' words).

        `accepted` is set once the probe really runs: the engine created its exec, or
        it goes to a published port without the engine. Until then a failure is the
        engine's, not the container's.
        """
        accepted = accepted or threading.Event()
        if "exec" in spec:
            cmd = [str(c) for c in (spec["exec"] or {}).get("command") or []]
            code, out = self._exec(target.container_id, cmd, accepted)
            return code == 0, out.strip() or f"command exited with {code}"
        if "httpGet" in spec:
            return self._http(target, spec["httpGet"] or {}, timeout, accepted)
        if "tcpSocket" in spec:
            return self._tcp(target, spec["tcpSocket"] or {}, timeout, accepted)
        accepted.set()
        return False, "no probe handler (exec, httpGet or tcpSocket)"

    def _exec(self, container_id: str, cmd: list[str],
              accepted: threading.Event) -> tuple[int, str]:
        api = self._engine.api
        exec_id = self._engine.call(api.exec_create, container_id, cmd)["Id"]
        accepted.set()
        out = self._engine.call(api.exec_start, exec_id)
        code = self._engine.call(api.exec_inspect, exec_id).get("ExitCode")
        return int(code if code is not None else -1), bytes(out).decode(errors="replace")

    def _port(self, target: Target, port: Any) -> int:
        if isinstance(port, str) and not port.isdigit():
            if port not in target.named:
                raise ValueError(f"port {port!r} is not a named port of {target.container}")
            return target.named[port]
        return int(port)

    def _http(self, target: Target, get: dict[str, Any], timeout: float,
              accepted: threading.Event) -> tuple[bool, str]:
        port = self._port(target, get.get("port"))
        path = str(get.get("path") or "/")
        headers = {str(h["name"]): str(h["value"]) for h in get.get("httpHeaders") or []}
        host_port = target.published.get(f"{port}/TCP")
        if host_port is not None:
            accepted.set()
            conn = http.client.HTTPConnection(self._engine.address, host_port, timeout=timeout)
            try:
                conn.request("GET", path, headers={"User-Agent": "kube-probe/1.0", **headers})
                code = conn.getresponse().status
            except OSError as e:
                return False, f'Get "http://{self._engine.address}:{host_port}{path}": {e}'
            finally:
                conn.close()
        else:
            lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            request = f"GET {path} HTTP/1.0\r\nUser-Agent: kube-probe/1.0\r\n{lines}\r\n"
            script = (f"printf %s {shlex.quote(request)} | nc -w {max(1, int(timeout))} "
                      f"127.0.0.1 {port} | head -n 1")
            _, out = self._exec(target.infra_id, ["sh", "-c", script], accepted)
            parts = out.split()
            if len(parts) < 2 or not parts[1].isdigit():
                return False, f'Get "http://127.0.0.1:{port}{path}": no HTTP response'
            code = int(parts[1])
        if 200 <= code < 400:
            return True, ""
        return False, f"HTTP probe failed with statuscode: {code}"

    def _tcp(self, target: Target, tcp: dict[str, Any], timeout: float,
             accepted: threading.Event) -> tuple[bool, str]:
        port = self._port(target, tcp.get("port"))
        host_port = target.published.get(f"{port}/TCP")
        if host_port is not None:
            accepted.set()
            try:
                socket.create_connection((self._engine.address, host_port), timeout).close()
                return True, ""
            except OSError as e:
                return False, f"dial tcp {self._engine.address}:{host_port}: {e}"
        code, out = self._exec(target.infra_id, ["sh", "-c",
                               f"nc -w {max(1, int(timeout))} 127.0.0.1 {port} </dev/null"],
                               accepted)
        return code == 0, "" if code == 0 else f"dial tcp 127.0.0.1:{port}: {out.strip()}"

