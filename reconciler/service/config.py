"""The service's typed configuration: defaults, a TOML file, RECONCILER_* variables, flags.

Read by `reconciler run` (via `load_config`) before anything starts, re-read on
SIGHUP (`reload_config`), and printed with its origins by `reconciler config show`.

Precedence rises: built-in default < TOML file (`--config`) < environment < flags.
Environment names are `RECONCILER_<KEY>` for top-level keys and
`RECONCILER_<SECTION>__<KEY>` (or with a single underscore, `RECONCILER_FLUENTD_ADDRESS`)
for keys in a section; lists are comma-separated and maps are `k=v,k=v`.
Durations accept "30s", "5m", "500ms", "1h30m" or a plain number of seconds.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.api.defaults import NODE_PORT_RANGE
from reconciler.api.hostpolicy import DOCKER_DEFAULT_CAPABILITIES

ENV_PREFIX = "RECONCILER_"


class ConfigError(ValueError):
    """A value that cannot be used; the message names the source and the key."""


def _f(default: Any, kind: str, help_: str, *choices: str) -> Any:
    """A dataclass field whose metadata says how to parse it from text."""
    meta = {"kind": kind, "help": help_, "choices": choices}
    if isinstance(default, dict | list | tuple):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class GitConfig:
    """A git repository to follow instead of (well, as the content of) the desired folder."""

    url: str = _f("", "str", "repository URL or local path; empty: watch the desired folder")
    branch: str = _f("main", "str", "branch whose head is applied")
    interval: float = _f(30.0, "duration", "how often to fetch")
    checkout_dir: str = _f("", "str", "where the checkout lives; empty: <state>.checkout")


@dataclass(frozen=True)
class RuntimeConfig:
    """How pods become Docker containers."""

    name_prefix: str = _f("rk8s", "str", "prefix of container names")
    infra_image: str = _f("reconciler/pause:1", "str", "the pod sandbox (pause) image")
    image_map: dict[str, str] = _f({}, "map", "image -> local image to use")  # noqa: RUF009
    host_path_allow: tuple[str, ...] = _f((), "list", "hostPath prefixes pods may mount")
    concurrency_per_host: int = _f(8, "int", "Docker calls in flight per host")
    stop_timeout: float = _f(10.0, "duration", "grace before SIGKILL when stopping")
    allowed_capabilities: tuple[str, ...] = _f(
        DOCKER_DEFAULT_CAPABILITIES, "list", "what securityContext.capabilities.add may name")
    allowed_unsafe_sysctls: tuple[str, ...] = _f(
        (), "list", "sysctls pods may set beyond kubelet's safe set")
    volumes_dir: str = _f("", "str", "folders of configMap/secret volumes; empty: <state>.volumes")
    pull_from: tuple[str, ...] = _f(
        ("*",), "list", "registries images may be pulled from (host[:port], globs, *); empty: none")
    docker_config: str = _f("", "str", "Docker config.json with registry credentials; {node}: node")
    pull_timeout: float = _f(300.0, "duration", "a pull silent this long is given up")


@dataclass(frozen=True)
class NetworkConfig:
    """Service proxy and DNS. 10.96.0.0/16 avoids Docker's 172.17/16 and the test 10.250.0.0/24."""

    proxy_mode: str = _f("iptables", "choice", "service proxy", "iptables", "userspace", "agents",
                          "off")
    service_cidr: str = _f("10.96.0.0/16", "cidr", "range cluster IPs are taken from")
    dns_ip: str = _f("10.96.0.10", "ip", "cluster DNS address (inside service_cidr)")
    dns_port: int = _f(53, "port", "cluster DNS port")
    cluster_domain: str = _f("cluster.local", "str", "DNS suffix of services")
    node_port_range: tuple[int, int] = _f(NODE_PORT_RANGE, "range", "NodePort range, lo-hi")
    max_connections: int = _f(4096, "int", "userspace proxy: open TCP connections per service")
    max_sessions: int = _f(4096, "int", "userspace proxy: open UDP sessions per service")


@dataclass(frozen=True)
class FluentdConfig:
    """Where the service's logs and events, and pods' container logs, are shipped."""

    address: str = _f("", "address", "fluentd forward input host:port; empty: off")
    buffer: int = _f(10000, "int", "records buffered while fluentd is away, then dropped")
    tag_prefix: str = _f("reconciler", "str", "tag prefix: <prefix>.log, <prefix>.event")


@dataclass(frozen=True)
class MetricsConfig:
    """Prometheus endpoint."""

    address: str = _f("127.0.0.1:9464", "address", "host:port of /metrics; empty: off")


@dataclass(frozen=True)
class UiConfig:
    """The read-only web dashboard (reconciler/ui); loopback unless configured otherwise."""

    address: str = _f("127.0.0.1:8080", "address", "host:port of the web dashboard; empty: off")


@dataclass(frozen=True)
class ApiConfig:
    """The Kubernetes API for kubectl and client libraries (reconciler/kubeapi)."""

    address: str = _f("127.0.0.1:6443", "address", "host:port of the Kubernetes API; empty: off")
    tls: bool = _f(False, "bool", "HTTPS with client certificates and tokens (docs/kubectl.md); "
                   "false: plain HTTP, loopback only")
    pki: str = _f("/etc/reconciler/pki", "str", "the CA, server and admin certificates "
                  "(made when missing)")
    tokens: str = _f("/etc/reconciler/tokens", "str", "bearer tokens: TOKEN,USER,ROLE lines "
                     "(role read-only or read-write)")
    kubeconfig: str = _f("/etc/reconciler/kubeconfig", "str", "the admin kubeconfig written "
                         "when missing (0600); empty: none")
    anonymous_write: bool = _f(False, "bool", "plain HTTP only: callers with no credentials "
                               "(loopback) may also write and read Secrets; a single-user "
                               "machine's or a test's choice")


@dataclass(frozen=True)
class SecretsConfig:
    """Secrets at rest and in git (docs/config.md)."""

    key_file: str = _f("", "str", "AES key file sealing Secrets in the store; empty: <state>.key")
    sops_age_key_file: str = _f("", "str", "age identities opening SOPS-encrypted manifests")


@dataclass(frozen=True)
class LeaseConfig:
    """The one-active-instance lease in the store."""

    ttl: float = _f(15.0, "duration", "a holder that stops renewing loses the lease after this")
    renew: float = _f(5.0, "duration", "renewal period, less than ttl")


@dataclass(frozen=True)
class RetentionConfig:
    """What the store forgets, compacted in the background (reconciler.service.retention)."""

    event_ttl: float = _f(3600.0, "duration", "events not seen for this long are deleted")
    revisions: int = _f(100, "int", "applied revisions (git SHAs) kept; the last always")
    interval: float = _f(60.0, "duration", "how often expired events and revisions go")


@dataclass(frozen=True)
class Config:
    """The effective configuration. `origins` maps dotted keys to where each value came from."""

    desired: str = _f("desired", "str", "folder of manifests")
    state: str = _f("state.db", "str", "state store: SQLite path or SQLAlchemy URL")
    resync_interval: float = _f(30.0, "duration", "full resync period")
    heartbeat_interval: float = _f(5.0, "duration", "node heartbeat period")
    # NotReady after three missed heartbeats; pods are moved only after the longer
    # eviction timeout, so a short engine restart never reschedules anything.
    node_not_ready_timeout: float = _f(15.0, "duration", "no heartbeat this long: NotReady")
    node_eviction_timeout: float = _f(60.0, "duration", "NotReady this long: pods rescheduled")
    descheduler_interval: float = _f(0.0, "duration", "opt-in: every this long, evict pods so "
                                     "their owners' replicas spread again; 0: off")
    descheduler_moves: int = _f(5, "int", "the most pods one descheduler pass evicts")
    log_level: str = _f("info", "choice", "log level", "debug", "info", "warning", "error")
    log_format: str = _f("text", "choice", "log lines: text (journald-aware) or json (one "
                         "object per line)", "text", "json")
    git: GitConfig = field(default_factory=GitConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    fluentd: FluentdConfig = field(default_factory=FluentdConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    lease: LeaseConfig = field(default_factory=LeaseConfig)
    secrets: SecretsConfig = field(default_factory=SecretsConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    # Provenance, kept so SIGHUP can re-read the same sources; not part of equality.
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    source_path: Path | None = field(default=None, compare=False, repr=False)
    overrides: Mapping[str, object] = field(default_factory=dict, compare=False, repr=False)

    @property
    def checkout_dir(self) -> Path:
        """The git checkout folder, defaulting next to the state file."""
        if self.git.checkout_dir:
            return Path(self.git.checkout_dir)
        return Path(_state_file(self.state) + ".checkout")

    @property
    def key_file(self) -> Path:
        """The Secret encryption key file, defaulting next to the state file."""
        return Path(self.secrets.key_file or _state_file(self.state) + ".key")

    @property
    def volumes_dir(self) -> Path:
        """Where configMap and secret volume folders live, defaulting next to the state file."""
        return Path(self.runtime.volumes_dir or _state_file(self.state) + ".volumes")


SECTIONS: dict[str, type[Any]] = {
    "git": GitConfig,
    "runtime": RuntimeConfig,
    "network": NetworkConfig,
    "fluentd": FluentdConfig,
    "metrics": MetricsConfig,
    "ui": UiConfig,
    "api": ApiConfig,
    "lease": LeaseConfig,
    "secrets": SecretsConfig,
    "retention": RetentionConfig,
}


def _state_file(state: str) -> str:
    if state.startswith("sqlite:///"):
        return state[len("sqlite:///"):]
    return state if "://" not in state else "reconciler-state"


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> float:
    """Seconds from "30s", "5m", "500ms", "1h30m", or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 500ms")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ValueError(
                    f"{value!r} is not a duration (use e.g. 30s, 5m, 500ms, 1h30m)"
                ) from None
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """The inverse of parse_duration, for `config show`: 500ms, 30s, 1m30s, 2h."""
    if 0 < seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds != int(seconds):
        return f"{seconds}s"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs or not text else "")


def _coerce(kind: str, raw: object, choices: tuple[str, ...]) -> object:
    """Turn a TOML value, an environment string or a flag value into the field's type."""
    text = raw.strip() if isinstance(raw, str) else None
    if kind == "duration":
        return parse_duration(raw)
    if kind in ("int", "port"):
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ValueError(f"expected an integer, got {raw!r}")
        try:
            number = int(raw)
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
        if kind == "port" and not 0 < number < 65536:
            raise ValueError(f"{number} is not a port (1-65535)")
        if kind == "int" and number < 1:
            raise ValueError(f"expected a positive integer, got {number}")
        return number
    if kind == "list":
        if isinstance(raw, list | tuple):
            return tuple(str(x) for x in raw)
        return tuple(p.strip() for p in str(raw).split(",") if p.strip())
    if kind == "map":
        if isinstance(raw, Mapping):
            return {str(k): str(v) for k, v in raw.items()}
        out: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in str(raw).split(","))):
            k, sep, v = part.partition("=")
            if not sep or not k.strip():
                raise ValueError(f"expected k=v,k=v; got {part!r}")
            out[k.strip()] = v.strip()
        return out
    if kind == "range":
        lo_hi = list(raw) if isinstance(raw, list | tuple) else str(raw).split("-")
        try:
            lo, hi = (int(x) for x in lo_hi)
        except ValueError:
            raise ValueError(f"expected LOW-HIGH, got {raw!r}") from None
        if not 0 < lo < hi < 65536:
            raise ValueError(f"{lo}-{hi} is not a port range")
        return (lo, hi)
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if text is not None and text.lower() in ("true", "1", "yes", "on", "false", "0", "no",
                                                 "off"):
            return text.lower() in ("true", "1", "yes", "on")
        raise ValueError(f"expected true or false, got {raw!r}")
    if text is None:
        raise ValueError(f"expected a string, got {raw!r}")
    if kind == "choice":
        if text.lower() not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return text.lower()
    if kind == "cidr":
        return str(ipaddress.ip_network(text, strict=True))
    if kind == "ip":
        return str(ipaddress.ip_address(text))
    if kind == "address" and text:
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{text!r} is not host:port")
    return text


def _fields_of(cls: type[Any]) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(cls) if f.metadata}


def known_keys() -> list[str]:
    """Every dotted key, in the order `config show` prints them."""
    keys = list(_fields_of(Config))
    for section, cls in SECTIONS.items():
        keys += [f"{section}.{name}" for name in _fields_of(cls)]
    return keys


def _field(key: str) -> dataclasses.Field[Any]:
    section, _, name = key.rpartition(".")
    return _fields_of(SECTIONS[section] if section else Config)[name]


def _flatten_toml(data: Mapping[str, Any], where: str) -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in data.items():
        if key in SECTIONS:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: [{key}] must be a table")
            for sub, subvalue in value.items():
                if sub not in _fields_of(SECTIONS[key]):
                    raise ConfigError(f"{where}: {key}.{sub}: unknown key")
                flat[f"{key}.{sub}"] = subvalue
        elif key in _fields_of(Config):
            flat[key] = value
        else:
            raise ConfigError(f"{where}: {key}: unknown key")
    return flat


def env_key(name: str) -> str | None:
    """The dotted key a RECONCILER_* variable sets, or None when it names no key."""
    if not name.startswith(ENV_PREFIX):
        return None
    rest = name[len(ENV_PREFIX):].lower()
    if "__" in rest:
        section, _, key = rest.partition("__")
        dotted = f"{section}.{key}"
    elif rest in _fields_of(Config):
        dotted = rest
    else:
        section, _, key = rest.partition("_")
        dotted = f"{section}.{key}"
    return dotted if dotted in known_keys() else None


def _collect(
    path: Path | None, env: Mapping[str, str], overrides: Mapping[str, object]
) -> list[tuple[str, object, str]]:
    """(key, raw value, origin) from every source, lowest precedence first."""
    layers: list[tuple[str, object, str]] = []
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
        layers += [(k, v, str(path)) for k, v in _flatten_toml(data, str(path)).items()]
    for name in sorted(env):
        key = env_key(name)
        if key is not None:
            layers.append((key, env[name], f"env {name}"))
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in known_keys():
            raise ConfigError(f"flag {key}: unknown key")
        layers.append((key, value, f"flag --{key.replace('.', '-').replace('_', '-')}"))
    return layers


def load_config(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Config:
    """The effective configuration; ConfigError names the source and the key of a bad value."""
    env = {} if env is None else env
    overrides = {} if overrides is None else overrides
    values: dict[str, object] = {}
    origins = dict.fromkeys(known_keys(), "default")
    for key, raw, origin in _collect(path, env, overrides):
        f = _field(key)
        try:
            values[key] = _coerce(f.metadata["kind"], raw, f.metadata["choices"])
        except ValueError as e:
            raise ConfigError(f"{origin}: {key}: {e}") from None
        origins[key] = origin
    _anchor_paths(values, origins, path, env)
    top = {k: v for k, v in values.items() if "." not in k}
    for section, cls in SECTIONS.items():
        prefix = section + "."
        sub = {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)}
        top[section] = cls(**sub)
    config = Config(
        **top, origins=origins, source_path=path, overrides=dict(overrides)  # type: ignore[arg-type]
    )
    _check(config)
    return config


# Keys holding a local path that a relative value would tie to the working directory.
PATH_KEYS = ("desired", "state", "git.checkout_dir", "secrets.key_file",
             "secrets.sops_age_key_file", "runtime.volumes_dir", "api.pki", "api.tokens",
             "api.kubeconfig")
_SQLITE = "sqlite:///"


def _relative_path(key: str, value: str) -> str | None:
    """The relative local path inside `value`, or None (absolute, empty, a server URL)."""
    if key == "state" and value.startswith(_SQLITE):
        value = value[len(_SQLITE):]
    elif key == "state" and "://" in value:
        return None  # PostgreSQL and the like: no local path
    return value if value and value != ":memory:" and not Path(value).is_absolute() else None


def _anchor_paths(
    values: dict[str, object], origins: dict[str, str], path: Path | None,
    env: Mapping[str, str],
) -> None:
    """Make the store and the desired folder independent of the working directory.

    A relative path in a config file is taken against that file's folder, as a
    compose file's are: the same file always means the same store. Under systemd
    (a unit with StateDirectory=, as ours: INVOCATION_ID and STATE_DIRECTORY are
    set; a shell inside a desktop's terminal unit has only the first) the defaults
    become absolute under the StateDirectory, and a relative path from the
    environment or a flag is refused: a store opened in the wrong folder is a new,
    empty cluster. Anything else is taken against the working directory at load.
    """
    state_dir = env.get("STATE_DIRECTORY", "").split(":")[0]
    systemd = bool(env.get("INVOCATION_ID")) and bool(state_dir)
    for key in PATH_KEYS:
        value = str(values.get(key, _field(key).default))
        rel = _relative_path(key, value)
        if rel is None:
            continue
        origin = origins[key]
        if path is not None and origin == str(path):
            absolute = str(Path(path).resolve().parent / rel)
        elif systemd and origin == "default":
            absolute = str(Path(state_dir) / rel)
            origins[key] = "default (systemd StateDirectory)"
        elif systemd:
            raise ConfigError(
                f"{origin}: {key}: {rel!r} is a relative path and the service runs under "
                "systemd, where it would depend on the unit's working directory: give an "
                "absolute path (or set it in the config file, relative to that file)"
            )
        else:
            # Run from a shell: where the user is, as usual, but fixed now, so that
            # `config show` prints (and a reload keeps) the store actually used.
            absolute = str(Path.cwd() / rel)
        values[key] = _SQLITE + absolute if value.startswith(_SQLITE) else absolute


def _check(c: Config) -> None:
    """Rules across keys, named by the keys involved."""

    def fail(key: str, message: str) -> None:
        raise ConfigError(f"{c.origins.get(key, 'default')}: {key}: {message}")

    if ipaddress.ip_address(c.network.dns_ip) not in ipaddress.ip_network(c.network.service_cidr):
        fail("network.dns_ip", f"{c.network.dns_ip} is not inside {c.network.service_cidr}")
    if c.lease.renew >= c.lease.ttl:
        fail("lease.renew", f"must be shorter than lease.ttl ({format_duration(c.lease.ttl)})")
    if c.node_eviction_timeout < c.node_not_ready_timeout:
        fail("node_eviction_timeout", "must not be shorter than node_not_ready_timeout")
    for key in ("resync_interval", "heartbeat_interval", "git.interval", "lease.ttl",
                "retention.interval", "retention.event_ttl"):
        if value_of(c, key) == 0:
            fail(key, "must be greater than zero")


def reload_config(previous: Config, env: Mapping[str, str]) -> Config:
    """SIGHUP: re-read the same file and flags with the current environment.

    Raises ConfigError when the new file is bad; the caller keeps `previous` then.
    """
    return load_config(previous.source_path, env, previous.overrides)


def value_of(config: Config, key: str) -> object:
    """The value of a dotted key."""
    obj: object = config
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def changed_keys(old: Config, new: Config) -> list[str]:
    """Dotted keys whose values differ: what a reload must apply (or restart for)."""
    return [k for k in known_keys() if value_of(old, k) != value_of(new, k)]


def _toml_str(value: object) -> str:
    # JSON's escapes are TOML's, except DEL, which TOML wants escaped too.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def render_value(config: Config, key: str) -> str:
    """A value as TOML spells it."""
    value = value_of(config, key)
    kind = _field(key).metadata["kind"]
    if kind == "duration" and isinstance(value, float):
        value = format_duration(value)
    elif kind == "range" and isinstance(value, tuple):
        value = f"{value[0]}-{value[1]}"
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_str(k)} = {_toml_str(v)}" for k, v in value.items()) + "}"
    return _toml_str(value)


def render(config: Config, *, commented: bool = False) -> str:
    """TOML text of every key: with its origin (`config show`), or commented-out with
    its help (`commented=True`, the default file `reconciler install` writes)."""
    lines: list[str] = []
    section = ""
    for key in known_keys():
        head, _, name = key.rpartition(".")
        if head != section:
            section = head
            lines += ["", f"[{section}]"]
        line = f"{name} = {render_value(config, key)}"
        if commented:
            lines += [f"# {_field(key).metadata['help']}", f"#{line}"]
        else:
            lines.append(f"{line}  # {config.origins.get(key, 'default')}")
    return "\n".join(lines).lstrip("\n") + "\n"
