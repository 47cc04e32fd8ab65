"""Where the store and the desired folder are: never wherever the service happened to start."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.service.config import ConfigError, load_config

SYSTEMD = {"INVOCATION_ID": "0123abcd", "STATE_DIRECTORY": "/var/lib/reconciler"}


class TestAnchorPaths:
    def test_relative_paths_in_a_file_follow_the_file(self, tmp_path: Path) -> None:
        """`state = "s.db"` in a config file is next to that file, whatever the cwd."""
        f = tmp_path / "etc" / "config.toml"
        f.parent.mkdir()
        f.write_text('state = "s.db"\ndesired = "manifests"\n[git]\ncheckout_dir = "co"\n')
        c = load_config(f, {})
        assert c.state == str(tmp_path / "etc" / "s.db")
        assert c.desired == str(tmp_path / "etc" / "manifests")
        assert c.git.checkout_dir == str(tmp_path / "etc" / "co")

    def test_sqlite_urls_are_anchored_too(self, tmp_path: Path) -> None:
        """A relative `sqlite:///` URL in a file points next to the file as well."""
        f = tmp_path / "config.toml"
        f.write_text('state = "sqlite:///s.db"\n')
        assert load_config(f, {}).state == f"sqlite:///{tmp_path / 's.db'}"

    @pytest.mark.parametrize("state", ["/srv/state.db", "sqlite:////srv/state.db",
                                       "postgresql://r@/db?host=/run/pg"])
    def test_absolute_paths_and_server_urls_are_kept(self, tmp_path: Path, state: str) -> None:
        """An absolute path or a server URL is used as written."""
        f = tmp_path / "config.toml"
        f.write_text(f'state = "{state}"\n')
        assert load_config(f, SYSTEMD).state == state

    def test_systemd_defaults_are_in_the_state_directory(self) -> None:
        """Under systemd, the defaults are absolute under the unit's StateDirectory."""
        c = load_config(None, SYSTEMD)
        assert c.state == "/var/lib/reconciler/state.db"
        assert c.desired == "/var/lib/reconciler/desired"
        assert c.origins["state"] == "default (systemd StateDirectory)"

    @pytest.mark.parametrize("env,flags", [
        ({**SYSTEMD, "RECONCILER_STATE": "state.db"}, {}),
        (SYSTEMD, {"desired": "desired"}),
    ])
    def test_systemd_refuses_relative_paths_from_env_and_flags(
        self, env: dict[str, str], flags: dict[str, object]
    ) -> None:
        """Under systemd a relative path from the environment or a flag is an error."""
        with pytest.raises(ConfigError, match=r"relative path .* systemd"):
            load_config(None, env, flags)

    def test_a_shell_fixes_relative_paths_at_the_working_directory(self) -> None:
        """From a shell, a relative flag is where the user is (made absolute at load)."""
        c = load_config(None, {"INVOCATION_ID": "terminal-unit"}, {"state": "x.db"})
        assert c.state == str(Path.cwd() / "x.db")
