"""Unit tests of the dashboard's `ui` section of the service configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.service.config import ConfigError, load_config


class TestUiConfig:
    def test_default_is_loopback(self) -> None:
        """With nothing configured the dashboard listens on 127.0.0.1:8080, not all interfaces."""
        assert load_config(None, {}).ui.address == "127.0.0.1:8080"

    def test_empty_turns_it_off(self) -> None:
        """RECONCILER_UI_ADDRESS= (empty) means no dashboard."""
        assert load_config(None, {"RECONCILER_UI_ADDRESS": ""}).ui.address == ""

    def test_toml_section(self, tmp_path: Path) -> None:
        """[ui] address in the file is used, and the environment wins over it."""
        conf = tmp_path / "c.toml"
        conf.write_text('[ui]\naddress = "0.0.0.0:9000"\n')
        assert load_config(conf, {}).ui.address == "0.0.0.0:9000"
        env = {"RECONCILER_UI_ADDRESS": "127.0.0.1:9001"}
        assert load_config(conf, env).ui.address == "127.0.0.1:9001"

    def test_bad_address_names_the_key(self) -> None:
        """A value without a port is refused, naming ui.address."""
        with pytest.raises(ConfigError, match=r"ui\.address: 'localhost' is not host:port"):
            load_config(None, {"RECONCILER_UI_ADDRESS": "localhost"})
