"""The service as a user runs it: `reconciler run` in a subprocess, and the CLI beside it.

`ServiceRun` starts the real service on a test's own desired folder and state
file, listens on a NOTIFY_SOCKET for systemd's READY=1, and offers the CLI as
subprocesses (`cli`), JSON views of the store (`pods`), and `wait_until`.
Each run uses its own container-name prefix so that tests never adopt (or
remove as orphans) each other's containers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.api import k8s
from reconciler.store.opener import open_reader
from reconciler.views import output
from reconciler.views.listings import LISTINGS, Query
from tests.support import machine_lock
from tests.support.fluent_receiver import free_port

ROOT = Path(__file__).resolve().parents[2]
RECONCILER = str(Path(sys.executable).with_name("reconciler"))


def cli(
    *args: str,
    state: Path,
    check: bool = True,
    timeout: float = 30,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `reconciler ARGS --state STATE` as a user would.

    `--state` goes before a `--`: after it, it would be part of an exec'd command.
    """
    at = args.index("--") if "--" in args else len(args)
    run = subprocess.run(
        [RECONCILER, *args[:at], "--state", str(state), *args[at:]],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )
    if check and run.returncode != 0:
        raise AssertionError(
            f"reconciler {' '.join(args)} failed ({run.returncode}):\n{run.stdout}\n{run.stderr}"
        )
    return run


def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 30.0,
    interval: float = 0.2,
    what: str = "condition",
) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


class ServiceRun:
    """One `reconciler run` subprocess on `desired` and `state`."""

    def __init__(
        self,
        tmp: Path,
        desired: Path | None = None,
        *,
        prefix: str | None = None,
        extra_env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        ui: bool = False,
        api: bool = False,
    ) -> None:
        self.tmp = tmp
        self.desired = desired or tmp / "desired"
        self.desired.mkdir(parents=True, exist_ok=True)
        self.state = tmp / "state.db"
        self.prefix = prefix or f"e2e{uuid.uuid4().hex[:6]}"
        self.log = tmp / f"service-{uuid.uuid4().hex[:4]}.log"
        self.args = args
        self.env = {
            **os.environ,
            "RECONCILER_RUNTIME_NAME_PREFIX": self.prefix,
            "RECONCILER_METRICS_ADDRESS": "",
            # Off unless asked for, else on a port of its own: parallel runs never collide.
            "RECONCILER_UI_ADDRESS": f"127.0.0.1:{free_port()}" if ui else "",
            # The Kubernetes API (reconciler/kubeapi) likewise: off unless asked for.
            "RECONCILER_API_ADDRESS": f"127.0.0.1:{free_port()}" if api else "",
            # Plain HTTP on loopback, where the tests are the machine's one user: callers
            # without credentials may write (docs/kubectl.md); tests of roles use TLS.
            "RECONCILER_API_ANONYMOUS_WRITE": "true",
            "RECONCILER_RESYNC_INTERVAL": "5s",
            "RECONCILER_HEARTBEAT_INTERVAL": "1s",
            # Pulls only from the test suite's own loopback registry (tests/support/registry.py),
            # never off the machine (the service's default is any registry).
            "RECONCILER_RUNTIME_PULL_FROM": "127.0.0.1",
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.notify_path = tmp / f"notify-{uuid.uuid4().hex[:6]}.sock"
        self.notify: socket.socket | None = None
        self.messages: list[str] = []
        self._lock: tuple[int, machine_lock.Hold] | None = None

    @property
    def uses_proxy(self) -> bool:
        # "agents": the machine's `reconciler agent` runs the data plane, not the service.
        args = " ".join(self.args)
        return (
            self.env.get("RECONCILER_NETWORK_PROXY_MODE", "iptables") not in ("off", "agents")
            and "--proxy-mode off" not in args and "--proxy-mode agents" not in args
        )

    def _take_machine_lock(self) -> None:
        """One service with a proxy per machine: its chains and DNS address are machine-wide."""
        if not self.uses_proxy or self._lock is not None:
            return
        self._lock = machine_lock.acquire()

    def _release_machine_lock(self) -> None:
        if self._lock is not None:
            machine_lock.release(*self._lock)
            self._lock = None

    @property
    def ui_url(self) -> str:
        """The dashboard's base URL (a run started with ui=True)."""
        return f"http://{self.env['RECONCILER_UI_ADDRESS']}"

    @property
    def api_url(self) -> str:
        """The Kubernetes API's base URL (a run started with api=True)."""
        return f"http://{self.env['RECONCILER_API_ADDRESS']}"

    # -- lifecycle --
    def start(self, wait_ready: bool = True, timeout: float = 60) -> ServiceRun:
        self._take_machine_lock()
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.notify_path))
        self.notify.settimeout(0.2)
        env = {**self.env, "NOTIFY_SOCKET": str(self.notify_path)}
        cmd = [
            RECONCILER,
            "run",
            "--desired",
            str(self.desired),
            "--state",
            str(self.state),
            *self.args,
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.tmp
            )
        if wait_ready:
            self.wait_notify("READY=1", timeout)
        return self

    def wait_notify(self, field: str, timeout: float = 60) -> str:
        """Wait for a notify datagram containing `field` (e.g. READY=1)."""
        assert self.notify is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                code = self.proc.returncode
                raise AssertionError(f"service exited with {code}:\n{self.output()}")
            try:
                data = self.notify.recv(4096).decode()
            except TimeoutError:
                continue
            self.messages.append(data)
            if field in data.split("\n"):
                return data
        raise AssertionError(f"no {field} within {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30,
             keep_network: bool = False) -> int:
        """Stop the service. Its rules, cluster IPs and DNS server outlive it (as in
        production); unless `keep_network`, they are removed before the machine lock
        is released, so the next test starts clean."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._lock is not None and not keep_network:
            subprocess.run([RECONCILER, "proxy", "--cleanup"], capture_output=True,
                           timeout=60, check=False)
        if not keep_network:
            self._release_machine_lock()
        if self.notify is not None:
            self.notify.close()
            self.notify = None
            with contextlib.suppress(FileNotFoundError):
                self.notify_path.unlink()
        return self.proc.returncode

    def kill9(self, keep_network: bool = False) -> None:
        self.stop(signal.SIGKILL, keep_network=keep_network)

    # -- the CLI beside it --
    def cli(
        self, *args: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return cli(*args, state=self.state, check=check, timeout=timeout)

    def get_json(self, *args: str) -> Any:
        return json.loads(self.cli("get", *args, "-o", "json").stdout)

    def pods(self, namespace: str = "default") -> list[dict[str, Any]]:
        """What `reconciler get pods -n NAMESPACE -o json` prints, read in this process
        by the same code (the store's reader and the views): tests poll this many times
        a second, and a CLI process per poll kept the machine's two cores busy. Empty
        when the store cannot be read yet, as the CLI's exit code 1 was."""
        try:
            store = open_reader(str(self.state))
        except Exception:  # missing, or being created by the service right now
            return []
        try:
            query = Query(namespace, None, datetime.now(UTC))
            rows = LISTINGS["Pod"].load(store, query)
            listed = json.loads(output.dump(k8s.as_list([r.build() for r in rows]), "json"))
        except Exception:  # a store mid-migration or busy: the next poll reads it
            return []
        finally:
            store.close()
        items: list[dict[str, Any]] = listed.get("items", [])
        return items

    def running(self, namespace: str = "default") -> list[dict[str, Any]]:
        """Pods that run, are ready and are not being deleted."""
        return [
            p
            for p in self.pods(namespace)
            if p["status"].get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")
            and all(c.get("ready") for c in p["status"].get("containerStatuses", []))
        ]

    def write(self, name: str, text: str) -> Path:
        path = self.desired / name
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        return path


def containers(prefix: str, docker_host: str | None = None) -> list[str]:
    """Names of the containers a service with `prefix` created on an engine."""
    cmd = (
        ["docker"]
        + (["-H", docker_host] if docker_host else [])
        + ["ps", "-a", "--filter", f"label=io.reconciler.prefix={prefix}", "--format", "{{.Names}}"]
    )
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [n for n in out.split() if n]


def remove_all(prefix: str, docker_host: str | None = None) -> None:
    base = ["docker"] + (["-H", docker_host] if docker_host else [])
    ids = subprocess.run(
        [*base, "ps", "-aq", "--filter", f"label=io.reconciler.prefix={prefix}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if ids:
        subprocess.run([*base, "rm", "-f", "-v", *ids], capture_output=True, check=False)


@contextlib.contextmanager
def service(tmp: Path, **kwargs: Any) -> Iterator[ServiceRun]:
    """A started service, stopped and cleaned up (its containers removed) afterwards."""
    run = ServiceRun(tmp, **kwargs)
    try:
        yield run.start()
    finally:
        if run.proc is not None:
            run.stop()
        remove_all(run.prefix)
