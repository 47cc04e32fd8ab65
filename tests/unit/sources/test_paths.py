"""Pure path rules of the sources: what the folder watcher ignores, where the pid file lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.sources.folder import ignored
from reconciler.sources.trigger import pid_path

ROOT = Path("/desired")


class TestIgnored:
    @pytest.mark.parametrize(("rel", "skip"), [
        ("pod.yaml", False),
        ("team/web-rc.yml", False),
        ("4913x.yaml", False),
        (".git/HEAD", True),
        ("team/.hidden/pod.yaml", True),
        (".pod.yaml.swp", True),
        ("pod.yaml~", True),
        (".#pod.yaml", True),
        ("4913", True),
        ("team/4913", True),
    ])
    def test_rules(self, rel: str, skip: bool) -> None:
        """Hidden folders and editor leftovers are ignored, manifests are not."""
        assert ignored(ROOT, ROOT / rel) is skip

    def test_outside_root(self) -> None:
        """A path outside the watched root is ignored."""
        assert ignored(ROOT, Path("/etc/passwd"))


class TestPidPath:
    @pytest.mark.parametrize(("state", "expected"), [
        ("/var/lib/reconciler/state.db", "/var/lib/reconciler/state.db.pid"),
        ("sqlite:////var/lib/r/s.db", "/var/lib/r/s.db.pid"),
    ])
    def test_next_to_sqlite_file(self, state: str, expected: str) -> None:
        """A SQLite store's pid file sits next to it."""
        assert pid_path(state) == Path(expected)

    def test_relative_is_made_absolute(self) -> None:
        """A relative state path resolves against the current folder."""
        assert pid_path("state.db") == Path(os.getcwd()) / "state.db.pid"

    def test_server_url_gets_a_stable_temp_file(self) -> None:
        """A non-file URL maps to one temp file per URL, never containing the password."""
        a = pid_path("postgresql://u:secret@db/r")
        assert a == pid_path("postgresql://u:secret@db/r") != pid_path("postgresql://db/other")
        assert "secret" not in str(a)
