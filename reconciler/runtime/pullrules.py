"""What a pull needs decided before any Docker call: references, registries, credentials (pure).

Used by the puller (puller.py) and the sandbox builder (sandbox.py) when a
container needs its image: which registry a reference names, whether the
configuration lets the service pull from it (`runtime.pull_from`), which
credentials apply (imagePullSecrets first, in order, then the node's Docker
config file, as kubelet tries its keyring), and whether a failed pull means
"no registry answers" (said once per host and registry) or a real refusal
(told to the pod). Nothing here does I/O.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DOCKER_HUB = "docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
# Keys of a kubernetes.io/dockerconfigjson and a kubernetes.io/dockercfg Secret.
CONFIG_JSON_KEY = ".dockerconfigjson"
DOCKERCFG_KEY = ".dockercfg"

# Words of the engine's pull errors that mean the registry did not answer at all,
# as opposed to answering "unauthorized" or "manifest unknown".
_UNREACHABLE = ("dial tcp", "no such host", "connection refused", "i/o timeout",
                "network is unreachable", "tls handshake timeout", "server misbehaving",
                "client.timeout exceeded", "no route to host")
_AUTH = ("unauthorized", "authentication required", "no basic auth credentials",
         "denied", "incorrect username or password")


@dataclass(frozen=True)
class ImageRef:
    """A reference split the way the engine's pull API takes it."""

    registry: str  # "docker.io" for Docker Hub, else "host[:port]"
    repository: str  # everything before the tag or digest, registry included if named
    tag: str  # "" with a digest
    digest: str  # "sha256:..." or ""

    @property
    def pull_params(self) -> dict[str, str]:
        """`fromImage` and `tag` of POST /images/create."""
        if self.digest:
            return {"fromImage": f"{self.repository}@{self.digest}"}
        return {"fromImage": self.repository, "tag": self.tag or "latest"}


def parse_ref(ref: str) -> ImageRef:
    """Split `[registry/]path[:tag][@digest]`; a first part without "." or ":" is Docker Hub's."""
    name, _, digest = ref.partition("@")
    tag = ""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    first, sep, _ = name.partition("/")
    registry = first if sep and ("." in first or ":" in first or first == "localhost") \
        else DOCKER_HUB
    return ImageRef(registry, name, "" if digest else (tag or "latest"), digest)


def normalize_registry(key: str) -> str:
    """A registry as written in a Docker config ("https://index.docker.io/v1/") -> "docker.io"."""
    host = key.strip()
    for scheme in ("https://", "http://"):
        if host.startswith(scheme):
            host = host[len(scheme):]
    host = host.split("/", 1)[0].lower()
    return DOCKER_HUB if host in _HUB_ALIASES else host


def _host_matches(pattern: str, registry: str) -> bool:
    """`pattern` names `registry`: exactly, with a glob, or without a port (any port)."""
    pattern = normalize_registry(pattern)
    if pattern == "*" or fnmatch.fnmatchcase(registry, pattern):
        return True
    return ":" not in pattern and fnmatch.fnmatchcase(registry.split(":", 1)[0], pattern)


def pull_allowed(registry: str, pull_from: Iterable[str]) -> bool:
    """Whether `runtime.pull_from` lets the service pull from `registry` ("*": any)."""
    return any(_host_matches(p, registry) for p in pull_from if p)


@dataclass(frozen=True)
class Credential:
    """One username/password (or identity token) for a registry, and where it came from."""

    registry: str
    username: str
    password: str
    source: str  # 'secret "regcred"', "docker config /etc/...": for messages, never the secret
    identity_token: str = ""

    def header(self) -> str:
        """The engine's X-Registry-Auth header value (base64url JSON)."""
        body: dict[str, str] = {"username": self.username, "password": self.password,
                                "serveraddress": self.registry}
        if self.identity_token:
            body["identitytoken"] = self.identity_token
        return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()

    @property
    def fingerprint(self) -> tuple[str, str, str]:
        """What makes two credentials the same for sharing one pull's result."""
        return (self.registry, self.username, self.password or self.identity_token)


def _entry_credential(registry: str, entry: Mapping[str, Any], source: str) -> Credential | None:
    username = str(entry.get("username") or "")
    password = str(entry.get("password") or "")
    auth = str(entry.get("auth") or "")
    if auth and not (username and password):
        try:
            username, _, password = base64.b64decode(auth).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
    token = str(entry.get("identitytoken") or "")
    if not (username or token):
        return None
    return Credential(registry, username, password, source, token)


def parse_docker_config(data: bytes, source: str, *, legacy: bool = False) -> list[Credential]:
    """Credentials of a Docker config (`{"auths": {...}}`) or a legacy .dockercfg (hosts at top).

    Unreadable content gives none: the pull then goes without, as kubelet's does.
    """
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return []
    if not isinstance(doc, dict):
        return []
    auths = doc if legacy else doc.get("auths")
    if not isinstance(auths, dict):
        return []
    out = []
    for key, entry in auths.items():
        if isinstance(entry, dict):
            cred = _entry_credential(normalize_registry(str(key)), entry, source)
            if cred is not None:
                out.append(cred)
    return out


def secret_credentials(name: str, data: Mapping[str, bytes]) -> list[Credential]:
    """Credentials of one imagePullSecret's data (either Docker config type)."""
    source = f'secret "{name}"'
    if CONFIG_JSON_KEY in data:
        return parse_docker_config(data[CONFIG_JSON_KEY], source)
    if DOCKERCFG_KEY in data:
        return parse_docker_config(data[DOCKERCFG_KEY], source, legacy=True)
    return []


def matching(credentials: Iterable[Credential], registry: str) -> list[Credential]:
    """The credentials for `registry`, in the order given, without repeats."""
    out: list[Credential] = []
    for cred in credentials:
        if _host_matches(cred.registry, registry) and cred.fingerprint not in \
                {c.fingerprint for c in out}:
            out.append(cred)
    return out


def pull_secret_names(pod_spec: Mapping[str, Any]) -> list[str]:
    """The names in the pod's imagePullSecrets, in order."""
    return [str(item.get("name") or "") for item in pod_spec.get("imagePullSecrets") or []
            if isinstance(item, dict) and item.get("name")]


def is_unreachable(error: str) -> bool:
    """The engine's pull error says no registry answered (not a refusal by one that did)."""
    low = error.lower()
    return any(w in low for w in _UNREACHABLE) and not is_auth_error(error)


def is_auth_error(error: str) -> bool:
    """The registry refused the credentials (or wanted some): the next credential may do."""
    low = error.lower()
    return any(w in low for w in _AUTH)


def backoff_delay(failures: int, initial: float, maximum: float) -> float:
    """Seconds before the next pull after `failures` failed ones (kubelet: 10 s doubling, 5 min)."""
    return float(min(initial * 2 ** min(max(failures - 1, 0), 30), maximum))


def needs_pull(policy: str, present: bool, *, mapped: bool) -> bool:
    """Whether imagePullPolicy asks for a pull now (kubelet's rules).

    A reference the image map rewrote names a local image kept for offline use: it is
    pulled only when missing, whatever the policy, so the map never sends a pull off
    the machine for an image it has.
    """
    if policy == "Never":
        return False
    if policy == "IfNotPresent" or mapped:
        return not present
    return True
