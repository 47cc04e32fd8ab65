"""The service's handle on the detached DNS server (dnsd.py): adopt it, start it, feed it, stop it.

Used by the embedded proxy (embedded.py) in place of an in-process `DnsServer`.
One server per network namespace, address and port; its pidfile and the table
snapshot it serves live in the run folder (`RECONCILER_RUN_DIR`, default
/run/reconciler). A successor (the service restarted, killed -9, or another
instance that took the lease) finds the running server through the pidfile and
adopts it when it runs the same code; a server of other code is replaced without
a gap (the new one binds beside it with SO_REUSEPORT, then the old one is
stopped). `close()` leaves the server running; `stop()` ends it (`reconciler
proxy --cleanup`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from reconciler.network import dnsd, snapshot
from reconciler.network.hostnet import netns_id, run_dir
from reconciler.network.model import ServiceTable

log = logging.getLogger(__name__)

START_TIMEOUT = 15.0
_SOURCES = ("dns.py", "dnsd.py", "dnsguard.py", "dnsnames.py", "model.py", "snapshot.py")


def code_version() -> str:
    """A digest of the code the server runs: the same digest is adopted, another replaced."""
    here = Path(__file__).parent
    h = hashlib.sha256()
    for name in _SOURCES:
        with contextlib.suppress(OSError):
            h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def alive(pid: int) -> bool:
    """True for a running process that is our DNS server (not a zombie, not a reused pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X") and b"reconciler.network.dnsd" in cmdline


class DetachedDns:
    """The DNS server of this host on address:port, in a process that outlives ours."""

    def __init__(self, address: str, port: int = 53, domain: str = "cluster.local",
                 folder: Path | None = None) -> None:
        self.address = address
        self.requested_port = port
        self.domain = domain
        folder = folder or run_dir()
        base = f"dns-{netns_id()}-{address}-{port}"
        self.pidfile = folder / f"{base}.pid"
        self.snapshot = folder / f"{base}.json"
        self.logfile = folder / f"{base}.log"
        # A server of other code or another domain is replaced, never adopted.
        self.version = f"{code_version()}-{domain}"
        self.pid = 0
        self.port = port
        self.adopted = False
        self._child: subprocess.Popen[bytes] | None = None
        self.ensure()

    def ensure(self) -> None:
        """Adopt the running server, or start one (replacing a server of other code)."""
        self._reap()
        data = dnsd.read_pidfile(self.pidfile)
        old = data.pid if data is not None and alive(data.pid) else 0
        if data is not None and old and data.version == self.version:
            if old != self.pid:
                log.info("DNS on %s: adopted the running server (pid %d)", self.address, old)
                self.adopted = True
            self.pid, self.port = old, data.port
            return
        if not old:
            # A pidfile lost (a run folder wiped) must not leave an unknown server
            # answering beside ours from a stale table: replace it like any other.
            old = next(iter(servers_of(self.pidfile)), 0)
        self._spawn(old)

    def update(self, table: ServiceTable) -> None:
        """Serve `table` from now on: the server reloads the snapshot at this signal."""
        snapshot.write(self.snapshot, table)
        if not alive(self.pid):
            log.warning("DNS on %s: the server (pid %d) is gone; starting one", self.address,
                        self.pid)
            self.ensure()
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGHUP)

    def close(self) -> None:
        """Leave the server answering (a successor adopts it)."""
        self._reap()

    def stop(self) -> None:
        """End the server and forget its files."""
        if self.pid and alive(self.pid):
            terminate(self.pid)
        self._reap()
        for path in (self.pidfile, self.snapshot):
            with contextlib.suppress(OSError):
                path.unlink()

    def _reap(self) -> None:
        # A server we started and that ended is our child: collect it (no zombie).
        if self._child is not None and self._child.poll() is not None:
            self._child = None

    def _spawn(self, replacing: int) -> None:
        cmd = [sys.executable, "-m", "reconciler.network.dnsd", "--address", self.address,
               "--port", str(self.requested_port), "--domain", self.domain,
               "--snapshot", str(self.snapshot), "--pidfile", str(self.pidfile),
               "--version", self.version]
        if _under_systemd():
            # KillMode=mixed would end every process of the service's cgroup with it: a
            # transient unit of its own keeps the server out of that cgroup.
            unit = f"reconciler-{self.pidfile.stem}".replace(".", "_")
            cmd = ["systemd-run", "--quiet", "--collect", f"--unit={unit}", *cmd]
        with open(self.logfile, "ab") as out:
            self._child = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd="/", start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            data = dnsd.read_pidfile(self.pidfile)
            pid = data.pid if data is not None else 0
            if data is not None and pid != replacing and alive(pid) \
                    and data.version == self.version:
                self.pid, self.port = pid, data.port
                self.adopted = False
                if replacing:
                    # The new server is bound beside the old one: stopping it loses nothing.
                    terminate(replacing)
                log.info("DNS on %s:%d: server started (pid %d)", self.address, self.port, pid)
                return
            if self._child.poll() is not None and not _under_systemd():
                if replacing and alive(replacing):
                    # An old server without SO_REUSEPORT holds the port: a short gap it is.
                    log.warning("DNS on %s: replacing pid %d with a gap", self.address,
                                replacing)
                    terminate(replacing)
                    self._spawn(0)
                    return
                raise OSError(f"DNS server did not start: {_tail(self.logfile)}")
            time.sleep(0.05)
        raise OSError(f"DNS server did not start within {START_TIMEOUT}s: {_tail(self.logfile)}")


def terminate(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM, wait, SIGKILL: the server drains its queue and exits within a moment."""
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if alive(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def servers_of(pidfile: Path) -> list[int]:
    """Running DNS servers of this network namespace started for `pidfile` (from /proc)."""
    return _servers(lambda arg: arg == str(pidfile))


def _servers(match: Callable[[str], bool]) -> list[int]:
    ns = netns_id()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            same_ns = os.stat(entry / "ns" / "net").st_ino == ns
        except OSError:
            continue
        if same_ns and "--pidfile" in args and any(match(a) for a in args) \
                and alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def stop_all(folder: Path | None = None) -> list[int]:
    """End every DNS server of this network namespace with its files in `folder` (cleanup),
    found by their command lines (a lost pidfile hides none); the pids ended."""
    folder = folder or run_dir()
    prefix = f"{folder}/dns-"
    ended = _servers(lambda arg: arg.startswith(prefix))
    for pid in ended:
        terminate(pid)
    for path in folder.glob(f"dns-{netns_id()}-*"):
        if path.suffix in (".pid", ".json"):
            with contextlib.suppress(OSError):
                path.unlink()
    return ended


def _under_systemd() -> bool:
    return bool(os.environ.get("INVOCATION_ID")) and Path("/run/systemd/system").is_dir() \
        and shutil.which("systemd-run") is not None


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
