"""sd_notify client pieces that need no socket: addresses, watchdog interval, the unit text."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.service.systemd import Notifier, unit_text

REPO = Path(__file__).resolve().parents[3]


class TestNotifier:
    @pytest.mark.parametrize(("raw", "address"), [
        ("/run/systemd/notify", "/run/systemd/notify"),
        ("@/org/freedesktop/systemd1/notify/123", "\0/org/freedesktop/systemd1/notify/123"),
        ("", ""),
    ])
    def test_socket_address(self, raw: str, address: str) -> None:
        """A leading '@' becomes the abstract namespace's NUL byte."""
        assert Notifier({"NOTIFY_SOCKET": raw}).address == address

    def test_outside_systemd_every_call_is_a_no_op(self) -> None:
        """Without NOTIFY_SOCKET nothing is sent and calls return False."""
        n = Notifier({})
        assert not n.enabled
        assert not any([n.ready(), n.status("x"), n.watchdog(), n.stopping(), n.reloading()])

    @pytest.mark.parametrize(("env", "expected"), [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ])
    def test_watchdog_interval(self, env: dict[str, str], expected: float | None) -> None:
        """Half of WatchdogSec, only for the process WATCHDOG_PID names."""
        assert Notifier(env).watchdog_interval() == expected

    def test_unreachable_socket_never_raises(self, tmp_path: Path) -> None:
        """A NOTIFY_SOCKET that nothing listens on makes notify return False, not raise."""
        assert Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")}).ready() is False


class TestUnitText:
    def test_repository_unit_is_the_rendered_template(self) -> None:
        """systemd/reconciler.service equals unit_text() with the default paths."""
        assert (REPO / "systemd" / "reconciler.service").read_text() == unit_text()

    @pytest.mark.parametrize("line", [
        "Type=notify", "NotifyAccess=main", "Restart=always", "WatchdogSec=30",
        "After=network-online.target docker.service",
        "EnvironmentFile=-/etc/reconciler/environment",
        "ProtectSystem=strict", "NoNewPrivileges=yes", "ProtectHome=read-only", "PrivateTmp=yes",
    ])
    def test_unit_has(self, line: str) -> None:
        """The options issue 6 asks for are present."""
        assert line in unit_text().splitlines()

    def test_exec_start_is_rendered(self) -> None:
        """ExecStart runs the given script with the config path."""
        text = unit_text("/opt/r/bin/reconciler", config="/etc/r.toml")
        assert "ExecStart=/opt/r/bin/reconciler run --config /etc/r.toml" in text.splitlines()
