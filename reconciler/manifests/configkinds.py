"""Semantic rules for ConfigMaps, Secrets and the pod fields that consume them (pure).

Called from reconciler.manifests.semantic after defaulting (a Secret's
stringData is already merged into data, reconciler.api.defaults), and from
reconciler.manifests.document to keep Secret values out of every diagnostic.
The rules are Kubernetes' (ValidateConfigMap, ValidateSecret, the KeyToPath
checks of volumes): key names, base64, the size limit, and the keys each Secret
type requires. A message never quotes a Secret value: diagnostics are logged,
recorded as events and shipped to fluentd.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from reconciler.api.names import DNS1123_SUBDOMAIN_MAX, validate_config_map_key
from reconciler.api.types import JSON
from reconciler.manifests.fields import Finding, Path_

MAX_TOTAL = 1024 * 1024  # Kubernetes' limit on a ConfigMap's or Secret's data

# type -> keys it needs (all of them, or with `any_of` at least one)
_REQUIRED: dict[str, tuple[tuple[str, ...], bool]] = {
    "kubernetes.io/dockerconfigjson": ((".dockerconfigjson",), False),
    "kubernetes.io/dockercfg": ((".dockercfg",), False),
    "kubernetes.io/tls": (("tls.crt", "tls.key"), False),
    "kubernetes.io/basic-auth": (("username", "password"), True),
    "kubernetes.io/ssh-auth": (("ssh-privatekey",), False),
}


def key_problem(key: str) -> str:
    """Why `key` cannot name a ConfigMap or Secret entry (a file name), or ""."""
    if not validate_config_map_key(key):
        return ""
    # IsConfigMapKey's verdict, worded one reason at a time for the file's author.
    if not key or len(key) > DNS1123_SUBDOMAIN_MAX:
        return f"must be 1 to {DNS1123_SUBDOMAIN_MAX} characters"
    if key in (".", ".."):
        return f"must not be {key!r}"
    if key.startswith(".."):
        return "must not start with '..'"
    return "must consist of alphanumeric characters, '-', '_' or '.'"


def _decoded(value: Any) -> bytes | None:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        return None


def check_configmap(body: JSON) -> list[Finding]:
    """Keys, binaryData base64, no key in both maps, the 1 MiB limit."""
    out: list[Finding] = []
    data = body.get("data") or {}
    binary = body.get("binaryData") or {}
    total = 0
    for field, values in (("data", data), ("binaryData", binary)):
        for key, value in values.items():
            problem = key_problem(str(key))
            if problem:
                out.append(Finding("error", (field, key), f"invalid key {key!r}: {problem}",
                                   at_key=True))
            if field == "binaryData":
                raw = _decoded(value)
                if raw is None:
                    out.append(Finding("error", (field, key), "is not valid base64"))
                total += len(raw or b"")
            else:
                total += len(str(value).encode())
    for key in sorted(set(data) & set(binary)):
        out.append(Finding("error", ("binaryData", key),
                           f"duplicate of key {key!r} present in data", at_key=True))
    if total > MAX_TOTAL:
        out.append(Finding("error", ("data",), f"too long: must have at most {MAX_TOTAL} bytes"))
    return out


def check_secret(body: JSON) -> list[Finding]:
    """Keys, base64, the 1 MiB limit and the type's required keys; never quotes a value."""
    out: list[Finding] = []
    data = body.get("data") or {}
    total = 0
    decoded: dict[str, bytes] = {}
    for key, value in data.items():
        problem = key_problem(str(key))
        if problem:
            out.append(Finding("error", ("data", key), f"invalid key {key!r}: {problem}",
                               at_key=True))
        raw = _decoded(value)
        if raw is None:
            out.append(Finding("error", ("data", key), "is not valid base64 (value not shown)"))
            continue
        decoded[str(key)] = raw
        total += len(raw)
    if total > MAX_TOTAL:
        out.append(Finding("error", ("data",), f"too long: must have at most {MAX_TOTAL} bytes"))
    type_ = str(body.get("type") or "Opaque")
    needed, any_of = _REQUIRED.get(type_, ((), False))
    missing = [k for k in needed if k not in data]
    if needed and (len(missing) == len(needed) if any_of else missing):
        which = " or ".join(missing) if any_of else ", ".join(missing)
        out.append(Finding("error", ("data",), f"a Secret of type {type_} needs {which}"))
    if type_ == "kubernetes.io/dockerconfigjson" and ".dockerconfigjson" in decoded:
        try:
            json.loads(decoded[".dockerconfigjson"])
        except ValueError:
            out.append(Finding("error", ("data", ".dockerconfigjson"),
                               "is not valid JSON (value not shown)"))
    return out


def _check_items(items: Any, path: Path_) -> list[Finding]:
    out: list[Finding] = []
    for i, item in enumerate(items or []):
        p = str(item.get("path", ""))
        parts = p.split("/")
        if p.startswith("/") or ".." in parts:
            out.append(Finding("error", (*path, i, "path"),
                               f"path {p!r} must be relative and may not contain '..'"))
        elif parts[0].startswith(".."):
            out.append(Finding("error", (*path, i, "path"), f"path {p!r} may not start with '..'"))
    return out


def check_config_volume(volume: JSON, path: Path_) -> list[Finding]:
    """The items of a configMap, secret or projected volume: relative paths, no '..'."""
    out: list[Finding] = []
    for source in ("configMap", "secret"):
        if isinstance(volume.get(source), dict):
            out += _check_items(volume[source].get("items"), (*path, source, "items"))
    for j, proj in enumerate((volume.get("projected") or {}).get("sources") or []):
        for source in ("configMap", "secret"):
            if isinstance(proj.get(source), dict):
                out += _check_items(proj[source].get("items"),
                                    (*path, "projected", "sources", j, source, "items"))
    return out


def _secret_value(kind: str, path: Path_) -> bool:
    """Whether `path` holds a value that may be secret: a Secret's data, an env value."""
    if kind == "Secret" and path[:1] in (("data",), ("stringData",)):
        return True
    # ...containers[i].env[j].value, at any depth (Pods, templates, CronJob templates)
    return any(path[i] == "env" and isinstance(path[i + 1], int) and path[i + 2] == "value"
               for i in range(len(path) - 2))


def redact(kind: str, findings: list[Finding]) -> list[Finding]:
    """Findings about values that may be secret name the field and the type, never the value
    (schema messages quote it: "must be of type string (got integer 1234)")."""
    out = []
    for f in findings:
        if "(got" in f.message and _secret_value(kind, f.path):
            got = f.message.split("(got", 1)[1].split()[0].rstrip(")")
            f = Finding(f.severity, f.path, f.message.split("(got", 1)[0].rstrip()
                        + f" (got {got}; value not shown)", f.at_key)
        out.append(f)
    return out
