"""The CLI finds the store in the unit's environment file (/etc/reconciler/environment), in the
order the service settles it: flag, RECONCILER_STATE, the file, config.toml, ./state.db
(issue 21). Run as a subprocess against real SQLite stores."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cli_day_one import fill, run


def names(tmp: Path, env: dict[str, str], *flags: str) -> list[str]:
    return run("get", "pods", "-o", "name", *flags, env=env, cwd=tmp / "cwd").stdout.split()


class TestEnvironmentFile:
    def test_discovery_order(self, tmp_path: Path) -> None:
        """The file's RECONCILER_STATE comes after the flag and the shell's, before config.toml."""
        (tmp_path / "cwd").mkdir()
        fill(tmp_path / "cwd" / "state.db", ("from-cwd",))
        flagged = fill(tmp_path / "flag.db", ("from-flag",))
        shell = fill(tmp_path / "shell.db", ("from-shell",))
        unit = fill(tmp_path / "unit.db", ("from-unit",))
        config = tmp_path / "config.toml"
        config.write_text(f'state = "{fill(tmp_path / "conf.db", ("from-config",))}"\n')
        envfile = tmp_path / "environment"
        envfile.write_text("# read by systemd\n; a comment too\nRECONCILER_LOG_LEVEL=debug\n"
                           f'RECONCILER_STATE="{unit}"\n')
        both = {"RECONCILER_ENVIRONMENT_FILE": str(envfile), "RECONCILER_CONFIG": str(config)}
        assert names(tmp_path, both, "--state", flagged) == ["pod/from-flag"]
        assert names(tmp_path, {**both, "RECONCILER_STATE": shell}) == ["pod/from-shell"]
        assert names(tmp_path, both) == ["pod/from-unit"]
        # Commented out (as `install --systemd` writes it): the configuration file decides.
        envfile.write_text(f"#RECONCILER_STATE={unit}\n")
        assert names(tmp_path, both) == ["pod/from-config"]
        # A relative path, which the service under systemd refuses too: one line, exit 1.
        envfile.write_text("RECONCILER_STATE=state.db\n")
        proc = run("get", "pods", env=both, cwd=tmp_path / "cwd", code=1)
        assert "relative path" in proc.stderr and "Traceback" not in proc.stderr
        absent = str(tmp_path / "absent")
        assert names(tmp_path, {"RECONCILER_ENVIRONMENT_FILE": absent,
                                "RECONCILER_CONFIG": absent}) == ["pod/from-cwd"]

    def test_installed_files(self, tmp_path: Path) -> None:
        """The environment file `install --systemd` writes, with RECONCILER_STATE set, is read."""
        prefix = tmp_path / "root"
        run("install", "--systemd", "--prefix", str(prefix))
        envfile = prefix / "etc/reconciler/environment"
        store = fill(tmp_path / "unit.db", ("installed",))
        envfile.write_text(envfile.read_text() + f"RECONCILER_STATE={store}\n")
        (tmp_path / "cwd").mkdir()
        env = {"RECONCILER_ENVIRONMENT_FILE": str(envfile),
               "RECONCILER_CONFIG": str(prefix / "etc/reconciler/config.toml")}
        assert names(tmp_path, env) == ["pod/installed"]
