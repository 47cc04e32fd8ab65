"""The service CLI commands run as a user runs them: install, config show, cluster-info, sync."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.api.records import NodeRecord
from reconciler.store import Store

SCRIPT = str(Path(sys.executable).parent / "reconciler")
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
        ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([SCRIPT, *args], cwd=cwd, env={**CLEAN_ENV, **(env or {})},
                          capture_output=True, text=True, timeout=60)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


class TestInstall:
    def test_installs_unit_config_and_environment(self, tmp_path: Path) -> None:
        """--prefix gets the unit (ExecStart: this venv's script), config, env, state, key."""
        out = cli("install", "--systemd", "--prefix", str(tmp_path), cwd=tmp_path).stdout
        unit = tmp_path / "etc/systemd/system/reconciler.service"
        config = tmp_path / "etc/reconciler/config.toml"
        envfile = tmp_path / "etc/reconciler/environment"
        for path in (unit, config, envfile):
            assert f"installed {path}" in out
        assert f"ExecStart={SCRIPT} run --config /etc/reconciler/config.toml" in \
            unit.read_text().splitlines()
        assert (tmp_path / "var/lib/reconciler/desired").is_dir()
        assert envfile.stat().st_mode & 0o777 == 0o600
        assert config.stat().st_mode & 0o777 == 0o600  # a git URL in it may hold a token
        key = tmp_path / "var/lib/reconciler/state.db.key"
        assert f"created   {key}" in out and key.stat().st_mode & 0o777 == 0o600
        parsed = tomllib.loads(config.read_text())
        assert parsed["state"] == "/var/lib/reconciler/state.db"
        shown = cli("config", "show", "--config", str(config), cwd=tmp_path).stdout
        assert f'state = "/var/lib/reconciler/state.db"  # {config}' in shown
        if shutil.which("systemd-analyze"):
            done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                                  text=True, timeout=60)
            assert done.returncode == 0, done.stderr

    def test_second_install_keeps_edited_config(self, tmp_path: Path) -> None:
        """Re-installing replaces the unit but keeps a config the admin edited, unless --force."""
        cli("install", "--systemd", "--prefix", str(tmp_path), cwd=tmp_path)
        config = tmp_path / "etc/reconciler/config.toml"
        config.write_text('resync_interval = "1m"\n')
        out = cli("install", "--systemd", "--prefix", str(tmp_path), cwd=tmp_path).stdout
        assert "kept" in out and config.read_text() == 'resync_interval = "1m"\n'
        cli("install", "--systemd", "--prefix", str(tmp_path), "--force", cwd=tmp_path)
        assert config.read_text() != 'resync_interval = "1m"\n'

    def test_repository_copies_match_install(self) -> None:
        """systemd/config.toml and systemd/environment are what install writes."""
        from reconciler.cli.service import ENVIRONMENT, default_config_text

        repo = Path(__file__).resolve().parents[3] / "systemd"
        assert (repo / "config.toml").read_text() == default_config_text()
        assert (repo / "environment").read_text() == ENVIRONMENT


class TestConfigShow:
    def test_shows_values_with_origins(self, tmp_path: Path) -> None:
        """File, environment and defaults each show as the origin of their values."""
        f = tmp_path / "c.toml"
        f.write_text('[git]\nurl = "/srv/desired.git"\n')
        out = cli("config", "show", "--config", str(f), cwd=tmp_path,
                  env={"RECONCILER_FLUENTD_ADDRESS": "127.0.0.1:24224"}).stdout
        assert f'url = "/srv/desired.git"  # {f}' in out
        assert 'address = "127.0.0.1:24224"  # env RECONCILER_FLUENTD_ADDRESS' in out
        assert 'resync_interval = "30s"  # default' in out

    def test_git_credentials_are_redacted(self, tmp_path: Path) -> None:
        """A token in git.url is shown as ***, wherever the URL came from."""
        out = cli("config", "show", cwd=tmp_path,
                  env={"RECONCILER_GIT_URL": "https://bot:s3cr3t@git.example.invalid/d.git"}
                  ).stdout
        assert 'url = "https://***@git.example.invalid/d.git"' in out and "s3cr3t" not in out

    def test_bad_value_is_one_clear_line(self, tmp_path: Path) -> None:
        """A bad environment value exits 1 with the variable and key named, no traceback."""
        done = cli("config", "show", cwd=tmp_path, ok=False,
                   env={"RECONCILER_LEASE_TTL": "forever"})
        assert done.returncode == 1
        assert done.stderr.strip() == ("Error: env RECONCILER_LEASE_TTL: lease.ttl: 'forever' "
                                       "is not a duration (use e.g. 30s, 5m, 500ms, 1h30m)")


class TestClusterInfo:
    def test_reads_config_and_store(self, tmp_path: Path) -> None:
        """Store, metrics, DNS, fluentd, the applied revision and the nodes are listed."""
        state = tmp_path / "state.db"
        with Store.open(str(state)) as store:
            store.upsert_node(NodeRecord(name="local", engine_url="unix:///run/docker.sock",
                                         created_at=datetime.now(UTC), ready=True))
            store.set_revision("0123abcd", "/srv/desired.git")
        out = cli("cluster-info", "--state", str(state), cwd=tmp_path,
                  env={"RECONCILER_FLUENTD_ADDRESS": "127.0.0.1:24224", "NO_COLOR": "1"}).stdout
        assert f"State store is at {state} (cluster id " in out
        assert "Metrics are served at http://127.0.0.1:9464/metrics" in out
        assert "Kubernetes API is served at http://127.0.0.1:6443" in out
        assert "Cluster DNS is at 10.96.0.10:53 (domain cluster.local)" in out
        assert "fluentd receives logs at 127.0.0.1:24224" in out
        assert "Applied revision: 0123abcd from /srv/desired.git" in out
        assert "Node local (Ready, unix:///run/docker.sock)" in out

    def test_missing_store_is_not_created(self, tmp_path: Path) -> None:
        """Without a store it says so and leaves no file behind."""
        out = cli("cluster-info", "--state", "s.db", cwd=tmp_path).stdout
        assert "not created yet" in out and not (tmp_path / "s.db").exists()


SERVICE = """
import sys, time
from reconciler.sources.trigger import SyncListener
got = []
with SyncListener(sys.argv[1], lambda: got.append(1)):
    print("ready", flush=True)
    deadline = time.monotonic() + 20
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
print("synced" if got else "timeout", flush=True)
"""


class TestSync:
    def test_sync_signals_the_running_service(self, tmp_path: Path) -> None:
        """`reconciler sync` reaches the listener of a running process; its pid file goes after."""
        state = tmp_path / "state.db"
        service = subprocess.Popen([sys.executable, "-c", SERVICE, str(state)],
                                   stdout=subprocess.PIPE, text=True, env=CLEAN_ENV)
        try:
            assert service.stdout is not None
            assert service.stdout.readline().strip() == "ready"
            started = time.monotonic()
            out = cli("sync", "--state", str(state), cwd=tmp_path).stdout
            assert f"pid {service.pid}" in out
            assert service.stdout.readline().strip() == "synced"
            print(f"sync round trip: {(time.monotonic() - started) * 1000:.0f} ms")
            assert service.wait(10) == 0
        finally:
            if service.poll() is None:
                service.kill()
                service.wait()
        assert not (tmp_path / "state.db.pid").exists()

    @pytest.mark.parametrize(("content", "message"), [
        (None, "no running service"),
        ("999999999", "stale"),
        ("garbage", "does not hold a pid"),
    ])
    def test_sync_without_service_fails_clearly(
        self, tmp_path: Path, content: str | None, message: str
    ) -> None:
        """No pid file, a dead pid or garbage: exit 1 with a reason, no signal sent."""
        if content is not None:
            (tmp_path / "state.db.pid").write_text(content)
        done = cli("sync", "--state", "state.db", cwd=tmp_path, ok=False)
        assert done.returncode == 1 and message in done.stderr

    def test_pid_of_another_program_is_not_signalled(self, tmp_path: Path) -> None:
        """A reused pid that runs something else is treated as stale, never signalled."""
        other = subprocess.Popen(["sleep", "30"])
        try:
            (tmp_path / "state.db.pid").write_text(str(other.pid))
            done = cli("sync", "--state", "state.db", cwd=tmp_path, ok=False)
            assert "stale" in done.stderr
            assert other.poll() is None
        finally:
            other.kill()
            other.wait()
