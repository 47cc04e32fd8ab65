"""A tiny sd_notify client: READY, STATUS, WATCHDOG, STOPPING and RELOADING to systemd.

Used by the composition root (`reconciler run`): READY=1 after the first
convergence pass, STATUS= with a one-line summary, WATCHDOG=1 from the loop, and
STOPPING=1 / RELOADING=1 on signals. Outside systemd ($NOTIFY_SOCKET unset) every
call is a no-op returning False, so the service runs the same in a terminal.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping


class Notifier:
    """Sends sd_notify datagrams to the socket named by $NOTIFY_SOCKET (abstract '@' too)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        raw = env.get("NOTIFY_SOCKET", "")
        # A leading '@' names a socket in the abstract namespace: a NUL byte on the wire.
        self.address = "\0" + raw[1:] if raw.startswith("@") else raw
        self._env = env

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *fields: str) -> bool:
        """Send `fields` (KEY=VALUE lines) in one datagram; False when not under systemd."""
        if not self.address:
            return False
        message = "\n".join(fields).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall(message)
        except OSError:
            # A notify that fails must never take the service down; systemd will
            # notice the missing READY/WATCHDOG itself.
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """READY=1: startup (the first convergence pass) is complete."""
        extra = (f"STATUS={_one_line(status)}",) if status else ()
        return self.notify("READY=1", *extra)

    def status(self, text: str) -> bool:
        """STATUS=: the one-line summary `systemctl status` shows."""
        return self.notify(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        """WATCHDOG=1: the loop is alive."""
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        """STOPPING=1: graceful shutdown began."""
        return self.notify("STOPPING=1")

    def reloading(self) -> bool:
        """RELOADING=1 with MONOTONIC_USEC, as Type=notify-reload requires; ready() ends it."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half of WatchdogSec), or None when not asked for."""
        usec = self._env.get("WATCHDOG_USEC", "")
        pid = self._env.get("WATCHDOG_PID", "")
        if not usec.isdigit() or int(usec) == 0:
            return None
        # WATCHDOG_PID names the process the watchdog is meant for; a child that
        # inherited the environment must not ping on the parent's behalf.
        if pid and (not pid.isdigit() or int(pid) != os.getpid()):
            return None
        return int(usec) / 1_000_000 / 2


def _one_line(text: str) -> str:
    return " ".join(text.split())


_default = Notifier()


def ready(status: str | None = None) -> bool:
    """READY=1 on the process's own $NOTIFY_SOCKET."""
    return _default.ready(status)


def status(text: str) -> bool:
    """STATUS=text on the process's own $NOTIFY_SOCKET."""
    return _default.status(text)


def watchdog() -> bool:
    """WATCHDOG=1 on the process's own $NOTIFY_SOCKET."""
    return _default.watchdog()


def stopping() -> bool:
    """STOPPING=1 on the process's own $NOTIFY_SOCKET."""
    return _default.stopping()


def reloading() -> bool:
    """RELOADING=1 on the process's own $NOTIFY_SOCKET."""
    return _default.reloading()


def watchdog_interval() -> float | None:
    """Half of WatchdogSec for this process, or None."""
    return _default.watchdog_interval()
