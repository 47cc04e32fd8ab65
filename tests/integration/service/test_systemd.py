"""systemd integration: notify datagrams on a real socket, and `systemd-analyze verify`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.service.systemd import Notifier, unit_text

REPO = Path(__file__).resolve().parents[3]
SCRIPT = Path(sys.executable).parent / "reconciler"


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(5)
        yield path, sock


def receive(sock: socket.socket, count: int) -> list[str]:
    return [sock.recv(4096).decode() for _ in range(count)]


class TestNotify:
    def test_messages_on_a_path_socket(self, notify_socket: tuple[str, socket.socket]) -> None:
        """READY (with STATUS), STATUS, WATCHDOG, RELOADING and STOPPING arrive as datagrams."""
        path, sock = notify_socket
        n = Notifier({"NOTIFY_SOCKET": path})
        assert n.ready("converged: 3 pods") and n.status("5 pods\nrunning")
        assert n.watchdog() and n.reloading() and n.stopping()
        ready, status, watchdog, reloading, stopping = receive(sock, 5)
        assert ready == "READY=1\nSTATUS=converged: 3 pods"
        assert status == "STATUS=5 pods running"
        assert watchdog == "WATCHDOG=1"
        first, second = reloading.split("\n")
        assert first == "RELOADING=1" and second.startswith("MONOTONIC_USEC=")
        assert int(second.partition("=")[2]) > 0
        assert stopping == "STOPPING=1"

    def test_abstract_namespace_socket(self) -> None:
        """NOTIFY_SOCKET=@name reaches a socket bound in the abstract namespace."""
        name = f"reconciler-test-{os.getpid()}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind("\0" + name)
            sock.settimeout(5)
            assert Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
            assert sock.recv(4096) == b"READY=1"

    def test_process_environment_is_used(self, notify_socket: tuple[str, socket.socket]) -> None:
        """The module-level functions read $NOTIFY_SOCKET of the process, as under systemd."""
        path, sock = notify_socket
        code = ("from reconciler.service import systemd as s; "
                "s.ready(); s.status('ok'); s.watchdog(); s.stopping()")
        env = {**os.environ, "NOTIFY_SOCKET": path}
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)
        assert receive(sock, 4) == ["READY=1", "STATUS=ok", "WATCHDOG=1", "STOPPING=1"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze absent")
class TestUnitVerifies:
    def verify(self, unit: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                              text=True, timeout=60)

    def test_repository_unit_verifies(self, tmp_path: Path) -> None:
        """systemd/reconciler.service passes `systemd-analyze verify` (ExecStart made to exist)."""
        text = (REPO / "systemd" / "reconciler.service").read_text()
        unit = tmp_path / "reconciler.service"
        unit.write_text(text.replace("/usr/local/bin/reconciler", str(SCRIPT)))
        done = self.verify(unit)
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip() == ""

    def test_verify_does_catch_mistakes(self, tmp_path: Path) -> None:
        """The same check complains about a typo'd option: the pass above means something."""
        unit = tmp_path / "reconciler.service"
        unit.write_text(unit_text(str(SCRIPT)).replace("Type=notify", "Type=notifyy"))
        done = self.verify(unit)
        assert "notifyy" in done.stderr
