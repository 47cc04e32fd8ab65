"""Crash-point harness: a real control plane with a fault at the Nth store write or Docker call.

Used by tests/faults/test_crash_points.py. `Plane` is what `reconciler run`
builds after a start or a crash (a fresh Store on the same state.db, a fresh
Context and every controller, the real Docker driver on the local engine): a
first pass (desired state, node registration, heartbeat and adoption from
Docker), then every key, drained until the invariants hold. `Faults` counts the
store writes (`StoreBase._write`, and `StoreBase.batch` opened directly) and
Docker calls (`Engine.call_unbounded`, which every call, probe and stop goes
through) made while a controller of its scope is reconciling, and at the Nth
one raises `InjectedFault` or SIGKILLs the process. Patching is test-side
only: production code has no hooks.

Run as a module it is the kill variant's fork server (`Forker`): each child,
forked with everything imported, runs `STATE DESIRED PREFIX SCOPE N` and is
either SIGKILLed at point N or exits 0 when N was not reached.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import docker
from sqlalchemy.orm import Session

from reconciler.control.context import (
    DESIRED,
    NODE,
    NODE_GC,
    Context,
    Settings,
)
from reconciler.control.loop import Loop, Reconciler, WorkKey
from reconciler.control.nodes import NodeController
from reconciler.control.queue import WorkQueue
from reconciler.control.registry import REGISTRY
from reconciler.runtime.engine import Engine
from reconciler.runtime.port import docker_agent
from reconciler.runtime.types import RuntimeConfig
from reconciler.service.app import enqueue_everything
from reconciler.store import Store
from reconciler.store.base import StoreBase
from tests.faults.invariants import Violation, check

TEST_LABEL = "reconciler.test"
Mode = Literal["raise", "kill"]


class InjectedFault(Exception):
    """The fault a crash point raises (the exception variant)."""


class Faults:
    """Counts the fault points reached inside `scope`; fires at point `at` (1-based)."""

    def __init__(self, scope: str, at: int | None = None, mode: Mode = "raise") -> None:
        self.scope = scope
        self.at = at
        self.mode = mode
        self.count = 0
        self.fired = ""
        self._local = threading.local()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def active(self, controller: str) -> Iterator[None]:
        """Faults apply while `controller` (when it is the scope) reconciles in this thread."""
        self._local.on = controller == self.scope
        try:
            yield
        finally:
            self._local.on = False

    def hit(self, what: str) -> None:
        if not getattr(self._local, "on", False) or self.fired:
            return
        with self._lock:
            self.count += 1
            if self.count != self.at:
                return
            self.fired = f"{self.scope} point {self.count}: {what}"
        if self.mode == "kill":
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        raise InjectedFault(self.fired)

    @contextlib.contextmanager
    def installed(self) -> Iterator[Faults]:
        """Patch the store's write paths and the engine's call path for the block."""
        write, batch, call = StoreBase._write, StoreBase.batch, Engine.call_unbounded
        faults, local = self, threading.local()

        @contextlib.contextmanager
        def _write(store: StoreBase) -> Iterator[Session]:
            faults.hit("store write")
            local.inner = True  # the batch `_write` opens is the same point
            try:
                with write(store) as session:
                    yield session
            finally:
                local.inner = False

        @contextlib.contextmanager
        def _batch(store: StoreBase) -> Iterator[Session]:
            if not getattr(local, "inner", False):
                faults.hit("store batch")
            with batch(store) as session:
                yield session

        def _call(engine: Engine, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            faults.hit(f"docker {getattr(fn, '__name__', fn)}")
            return call(engine, fn, *args, **kwargs)

        patched = [(StoreBase, "_write", _write, write), (StoreBase, "batch", _batch, batch),
                   (Engine, "call_unbounded", _call, call)]
        for owner, name, new, _ in patched:
            setattr(owner, name, new)
        try:
            yield self
        finally:
            for owner, name, _, old in patched:
                setattr(owner, name, old)


class Plane:
    """The control plane as `reconciler run` builds it, on the local engine; see the docstring."""

    def __init__(self, state: Path, desired: Path, prefix: str,
                 faults: Faults | None = None) -> None:
        self.desired = desired
        self.prefix = prefix
        self.faults = faults or Faults("")
        self.store = Store.open(str(state))
        self.queue: WorkQueue[WorkKey] = WorkQueue()
        self.ctx = Context(
            store=self.store, queue=self.queue,
            runtime=RuntimeConfig(prefix=prefix, extra_labels={TEST_LABEL: "1"}, stop_timeout=0,
                                  unreachable_cooldown=0.2),
            settings=Settings(desired=str(desired), heartbeat_interval=0.5),
            agent_factory=docker_agent,
        )
        # Every controller of the service, as `reconciler run` builds them (one registry).
        self.controllers: dict[str, Reconciler] = REGISTRY.build(self.ctx)
        nodes = self.controllers[NODE]
        assert isinstance(nodes, NodeController)
        self.nodes = nodes
        self.loop = Loop(self.queue, self.controllers)

    def close(self) -> None:
        for agent in self.ctx.agents().values():
            agent.close()
        self.store.close()

    def _run(self, controller: str, fn: Callable[[], object]) -> None:
        with self.faults.active(controller):
            try:
                fn()
            except InjectedFault:
                raise
            except Exception:  # the service logs a failed first pass and retries in the loop
                if self.faults.fired:
                    raise InjectedFault(self.faults.fired) from None

    def start(self) -> None:
        """The service's first pass: desired state, registrations, heartbeat and adoption."""
        desired = self.controllers[DESIRED]
        self._run(DESIRED, lambda: desired.reconcile(WorkKey(DESIRED, "all")))
        names: list[str] = []
        self._run(NODE, lambda: names.extend(self.nodes.sync_registrations()))
        for name in names:
            self._run(NODE, functools.partial(self.nodes.reconcile, WorkKey(NODE, name)))
            self._run(NODE, functools.partial(self.nodes.reconcile, WorkKey(NODE_GC, name)))
        enqueue_everything(self.ctx, all_pods=True)

    def drain(self) -> None:
        """Reconcile every key due now; a fired fault ends the run (the process 'crashed')."""
        for _ in range(2000):
            key = self.queue.get(timeout=0)
            if key is None:
                return
            try:
                with self.faults.active(key.controller):
                    self.loop.process(key)
            finally:
                self.queue.done(key)
            if self.faults.fired:
                raise InjectedFault(self.faults.fired)

    def converge(self, until: Callable[[], bool], timeout: float = 60.0) -> bool:
        """Drain, then every key again (the resync), until `until()` or `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            self.drain()
            if until():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
            enqueue_everything(self.ctx, all_pods=True)

    def violations(self, client: docker.DockerClient) -> list[Violation]:
        return check(self.store, client, self.prefix, self.desired)


def run(state: Path, desired: Path, prefix: str, faults: Faults,
        client: docker.DockerClient, timeout: float = 60.0) -> bool:
    """Start a plane with `faults` installed and converge; False when the fault fired."""
    with faults.installed():
        plane = Plane(state, desired, prefix, faults)
        try:
            plane.start()

            def settled() -> bool:
                if plane.violations(client):
                    return False
                faults.scope = ""  # converged: the resyncs after are not the scenario's points
                return True

            plane.converge(settled, timeout)
            return True
        except InjectedFault:
            return False
        finally:
            plane.close()


def child(argv: list[str]) -> int:
    """The kill variant's child: run until point N kills it; exit 0 when N was not reached."""
    state, desired, prefix, scope, at = argv
    client = docker.DockerClient(base_url="unix:///var/run/docker.sock", version="1.41")
    faults = Faults(scope, int(at), "kill")
    run(Path(state), Path(desired), prefix, faults, client, timeout=30.0)
    return 0


def serve() -> int:
    """A fork server: each stdin line is a child's arguments; answers its wait status.

    Everything is imported once here and each child is a fork of this still
    single-threaded process, so a kill point costs no Python start-up.
    """
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = child(line.split())
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status),
              flush=True)
    return 0


class Forker:
    """The test's end of `serve`: runs one kill-variant child per call."""

    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.crash_harness"], cwd=root, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(root)})

    def run(self, *args: str) -> int:
        """Run a child with `args`; its exit status, or minus the signal that ended it."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(" ".join(args) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        assert answer, "the fork server died"
        return int(answer)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(serve())
