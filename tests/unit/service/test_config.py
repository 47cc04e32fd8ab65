"""Configuration: durations, precedence of file < environment < flags, errors, show, reload."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.service.config import (
    Config,
    ConfigError,
    changed_keys,
    env_key,
    format_duration,
    known_keys,
    load_config,
    parse_duration,
    reload_config,
    render,
)


class TestDurations:
    @pytest.mark.parametrize(("text", "seconds"), [
        ("30s", 30.0), ("5m", 300.0), ("500ms", 0.5), ("1h30m", 5400.0), ("1.5s", 1.5),
        ("90", 90.0), (15, 15.0), (0.25, 0.25), (" 2m ", 120.0), ("0", 0.0),
    ])
    def test_parses(self, text: object, seconds: float) -> None:
        """Units ms, s, m, h, combinations and plain numbers of seconds are accepted."""
        assert parse_duration(text) == seconds

    @pytest.mark.parametrize("text", ["", "abc", "5 minutes", "10x", "-5s", "s", "1m-2s", True])
    def test_rejects(self, text: object) -> None:
        """Anything else is a ValueError with an example of the right form."""
        with pytest.raises(ValueError):
            parse_duration(text)

    @given(st.integers(min_value=0, max_value=10**6))
    def test_format_round_trips(self, millis: int) -> None:
        """format_duration output parses back to the same number of seconds."""
        seconds = millis / 1000
        assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


class TestLoadConfig:
    def test_defaults(self) -> None:
        """With no sources the documented defaults apply, each with origin 'default'."""
        c = load_config()
        # The relative defaults are fixed against the working directory at load.
        here = Path.cwd()
        assert c == dataclasses.replace(
            Config(), state=str(here / "state.db"), desired=str(here / "desired"))
        assert (c.resync_interval, c.heartbeat_interval, c.node_eviction_timeout) == (30, 5, 60)
        assert c.runtime.name_prefix == "rk8s" and c.runtime.infra_image == "reconciler/pause:1"
        assert c.network.service_cidr == "10.96.0.0/16" and c.network.dns_ip == "10.96.0.10"
        assert c.network.node_port_range == (30000, 32767)
        assert c.metrics.address == "127.0.0.1:9464" and c.fluentd.address == ""
        assert (c.lease.ttl, c.lease.renew) == (15, 5)
        assert set(c.origins.values()) == {"default"}

    def test_precedence_file_env_flag(self, tmp_path: Path) -> None:
        """A flag beats the environment, which beats the file, which beats the default."""
        f = tmp_path / "c.toml"
        f.write_text('resync_interval = "10s"\nheartbeat_interval = "2s"\n'
                     'log_level = "debug"\n[fluentd]\naddress = "127.0.0.1:1"\n')
        env = {"RECONCILER_RESYNC_INTERVAL": "20s", "RECONCILER_FLUENTD_ADDRESS": "127.0.0.1:2"}
        c = load_config(f, env, {"resync_interval": "40s", "log_level": None})
        assert c.resync_interval == 40 and c.origins["resync_interval"] == "flag --resync-interval"
        assert c.fluentd.address == "127.0.0.1:2"
        assert c.origins["fluentd.address"] == "env RECONCILER_FLUENTD_ADDRESS"
        assert c.heartbeat_interval == 2 and c.origins["heartbeat_interval"] == str(f)
        assert c.log_level == "debug"  # a None flag (not given) does not override
        assert c.origins["lease.ttl"] == "default"

    @pytest.mark.parametrize(("name", "key"), [
        ("RECONCILER_RESYNC_INTERVAL", "resync_interval"),
        ("RECONCILER_FLUENTD_ADDRESS", "fluentd.address"),
        ("RECONCILER_FLUENTD__ADDRESS", "fluentd.address"),
        ("RECONCILER_RUNTIME_HOST_PATH_ALLOW", "runtime.host_path_allow"),
        ("RECONCILER_LEASE__TTL", "lease.ttl"),
        ("RECONCILER_NODE_EVICTION_TIMEOUT", "node_eviction_timeout"),
        ("RECONCILER_STATE", "state"),
        ("RECONCILER_CONFIG", None),
        ("RECONCILER_NOPE", None),
        ("HOME", None),
    ])
    def test_env_names(self, name: str, key: str | None) -> None:
        """Flat and double-underscore names map to dotted keys; others are not config."""
        assert env_key(name) == key

    def test_env_lists_and_maps(self) -> None:
        """Lists are comma-separated and maps k=v,k=v in the environment."""
        c = load_config(None, {
            "RECONCILER_RUNTIME_HOST_PATH_ALLOW": "/srv/data, /var/log",
            "RECONCILER_RUNTIME_IMAGE_MAP": "redis=reconciler/redis:1,web=reconciler/web:1",
            "RECONCILER_NETWORK_NODE_PORT_RANGE": "31000-31999",
        })
        assert c.runtime.host_path_allow == ("/srv/data", "/var/log")
        assert c.runtime.image_map == {"redis": "reconciler/redis:1", "web": "reconciler/web:1"}
        assert c.network.node_port_range == (31000, 31999)

    @pytest.mark.parametrize(("toml", "env", "flags", "message"), [
        ('resync_interval = "soon"', {}, {}, r"c\.toml: resync_interval: 'soon' is not a duration"),
        ("bogus = 1", {}, {}, r"c\.toml: bogus: unknown key"),
        ("[fluentd]\nadress = 'x'", {}, {}, r"c\.toml: fluentd\.adress: unknown key"),
        ("git = 3", {}, {}, r"c\.toml: \[git\] must be a table"),
        ("resync_interval = ", {}, {}, r"c\.toml: not valid TOML"),
        ("", {"RECONCILER_NETWORK_PROXY_MODE": "ipvs"}, {},
         r"env RECONCILER_NETWORK_PROXY_MODE: network\.proxy_mode: 'ipvs' is not one of"),
        ("", {"RECONCILER_RUNTIME_CONCURRENCY_PER_HOST": "0"}, {},
         r"runtime\.concurrency_per_host: expected a positive integer"),
        ("", {"RECONCILER_METRICS_ADDRESS": "localhost"}, {},
         r"metrics\.address: 'localhost' is not host:port"),
        ("", {}, {"network.service_cidr": "10.96.0.1/16"},
         r"flag --network-service-cidr: network\.service_cidr: .*host bits set"),
        ("", {}, {"nope": 1}, r"flag nope: unknown key"),
        ("[network]\ndns_ip = '10.0.0.10'", {}, {},
         r"c\.toml: network\.dns_ip: 10\.0\.0\.10 is not inside 10\.96\.0\.0/16"),
        ("[lease]\nrenew = '20s'", {}, {}, r"lease\.renew: must be shorter than lease\.ttl"),
        ("resync_interval = 0", {}, {}, r"resync_interval: must be greater than zero"),
        ("[network]\nnode_port_range = '40000-30000'", {}, {}, r"is not a port range"),
    ])
    def test_errors_name_source_and_key(
        self, tmp_path: Path, toml: str, env: dict[str, str], flags: dict[str, object],
        message: str,
    ) -> None:
        """A bad value is a ConfigError naming where it came from and which key it is."""
        f = tmp_path / "c.toml"
        f.write_text(toml)
        with pytest.raises(ConfigError, match=message):
            load_config(f, env, flags)

    def test_missing_file_is_named(self, tmp_path: Path) -> None:
        """A --config path that does not exist is an error naming it."""
        with pytest.raises(ConfigError, match=r"absent\.toml: cannot read"):
            load_config(tmp_path / "absent.toml")

    def test_checkout_dir_defaults_next_to_state(self) -> None:
        """Without git.checkout_dir the checkout lives at <state>.checkout."""
        assert load_config(None, {"RECONCILER_STATE": "/var/lib/r/state.db"}).checkout_dir == \
            Path("/var/lib/r/state.db.checkout")
        assert load_config(None, {"RECONCILER_STATE": "sqlite:////x/s.db"}).checkout_dir == \
            Path("/x/s.db.checkout")


class TestShowAndReload:
    def test_render_is_toml_that_loads_back_equal(self, tmp_path: Path) -> None:
        """`config show` output is valid TOML that loads to the same configuration."""
        c = load_config(None, {
            "RECONCILER_RUNTIME_IMAGE_MAP": "redis=reconciler/redis:1",
            "RECONCILER_RUNTIME_HOST_PATH_ALLOW": "/srv",
            "RECONCILER_GIT_INTERVAL": "1m30s",
            "RECONCILER_LEASE_RENEW": "500ms",
        })
        text = render(c)
        assert 'interval = "1m30s"  # env RECONCILER_GIT_INTERVAL' in text
        tomllib.loads(text)
        f = tmp_path / "shown.toml"
        f.write_text(text)
        assert load_config(f) == c

    @settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(text=st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
           images=st.dictionaries(st.text(min_size=1, max_size=5).filter(str.strip),
                                  st.text(max_size=5), max_size=3))
    def test_any_string_round_trips(
        self, tmp_path: Path, text: str, images: dict[str, str]
    ) -> None:
        """Quotes, backslashes and unicode in values survive show -> TOML -> load."""
        c = load_config(None, {}, {"cluster_domain": None, "runtime.name_prefix": text,
                                   "runtime.image_map": images})
        f = tmp_path / "round.toml"
        f.write_text(render(c))
        assert load_config(f) == c

    def test_every_key_is_shown(self) -> None:
        """Each known key appears once in the rendering, commented or not."""
        for commented in (False, True):
            text = render(Config(), commented=commented)
            for key in known_keys():
                name = key.rpartition(".")[2]
                assert f"{name} = " in text

    def test_reload_reads_file_again_keeping_flags(self, tmp_path: Path) -> None:
        """reload_config sees the edited file; flags given at start still win."""
        f = tmp_path / "c.toml"
        f.write_text('resync_interval = "10s"\n[metrics]\naddress = ""\n')
        first = load_config(f, {}, {"log_level": "debug"})
        f.write_text('resync_interval = "1m"\nlog_level = "error"\n')
        second = reload_config(first, {})
        assert second.resync_interval == 60 and second.log_level == "debug"
        assert changed_keys(first, second) == ["resync_interval", "metrics.address"]

    def test_reload_with_bad_file_raises(self, tmp_path: Path) -> None:
        """A broken file on reload raises, so the caller keeps the running config."""
        f = tmp_path / "c.toml"
        f.write_text('resync_interval = "10s"\n')
        first = load_config(f)
        f.write_text("resync_interval = [")
        with pytest.raises(ConfigError, match="not valid TOML"):
            reload_config(first, {})
