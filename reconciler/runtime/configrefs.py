"""What a pod takes from ConfigMaps and Secrets: env values and volume files (pure).

The pod controller (reconciler.control.configmaps) reads the objects a pod
names (`referenced`) into a `ConfigObjects`, handed to the node agent in the
pod's `PodEnv`. At container creation spec.container_env asks `env_value` and
`env_from` (a missing object or key is a `spec.SpecError` with Kubernetes'
words, so the container waits in CreateContainerConfigError); on every sync the
agent asks `volume_files` for the files of each config volume and writes them
with reconciler.runtime.configfiles. Nothing here does I/O.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.api.names import validate_env_var_name
from reconciler.runtime.spec import SpecError

CONFIG_MAP = "ConfigMap"
SECRET = "Secret"
DEFAULT_MODE = 0o644  # Kubernetes' defaultMode
_WORDS = {CONFIG_MAP: "configmap", SECRET: "secret"}

Ref = tuple[str, str]  # (kind, name) in the pod's namespace


@dataclass(frozen=True)
class ConfigObjects:
    """The ConfigMaps and Secrets a pod names, by (kind, name): key -> bytes, None if absent."""

    namespace: str = ""
    objects: Mapping[Ref, Mapping[str, bytes] | None] = field(default_factory=dict)

    def get(self, kind: str, name: str) -> Mapping[str, bytes] | None:
        return self.objects.get((kind, name))


class MountError(Exception):
    """A volume's files cannot be made (object or key missing); Kubernetes' FailedMount text."""


def data_of(kind: str, body: Mapping[str, Any]) -> dict[str, bytes]:
    """key -> value bytes of a stored ConfigMap or (opened) Secret body."""
    out: dict[str, bytes] = {}
    if kind == CONFIG_MAP:
        out.update({str(k): str(v).encode() for k, v in (body.get("data") or {}).items()})
        out.update({str(k): base64.b64decode(v) for k, v in
                    (body.get("binaryData") or {}).items()})
    else:
        out.update({str(k): base64.b64decode(v) for k, v in (body.get("data") or {}).items()})
    return out


def _volume_refs(volume: Mapping[str, Any]) -> list[tuple[Ref, bool]]:
    refs: list[tuple[Ref, bool]] = []
    if isinstance(volume.get("configMap"), dict):
        cm = volume["configMap"]
        refs.append(((CONFIG_MAP, str(cm.get("name", ""))), bool(cm.get("optional"))))
    if isinstance(volume.get("secret"), dict):
        s = volume["secret"]
        refs.append(((SECRET, str(s.get("secretName", ""))), bool(s.get("optional"))))
    for source in (volume.get("projected") or {}).get("sources") or []:
        for key, kind in (("configMap", CONFIG_MAP), ("secret", SECRET)):
            if isinstance(source.get(key), dict):
                refs.append(((kind, str(source[key].get("name", ""))),
                             bool(source[key].get("optional"))))
    return refs


def config_volumes(pod_spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The pod's configMap, secret and projected volumes."""
    return [v for v in pod_spec.get("volumes") or []
            if any(k in v for k in ("configMap", "secret", "projected"))]


def referenced(pod_spec: Mapping[str, Any]) -> set[Ref]:
    """Every (kind, name) the pod's env, envFrom, volumes and imagePullSecrets name."""
    refs: set[Ref] = set()
    for c in [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]:
        for item in c.get("env") or []:
            source = item.get("valueFrom") or {}
            if isinstance(source.get("configMapKeyRef"), dict):
                refs.add((CONFIG_MAP, str(source["configMapKeyRef"].get("name", ""))))
            if isinstance(source.get("secretKeyRef"), dict):
                refs.add((SECRET, str(source["secretKeyRef"].get("name", ""))))
        for item in c.get("envFrom") or []:
            if isinstance(item.get("configMapRef"), dict):
                refs.add((CONFIG_MAP, str(item["configMapRef"].get("name", ""))))
            if isinstance(item.get("secretRef"), dict):
                refs.add((SECRET, str(item["secretRef"].get("name", ""))))
    for volume in config_volumes(pod_spec):
        refs.update(ref for ref, _ in _volume_refs(volume))
    # Pull credentials (runtime/pullrules.py): read like any Secret the pod names, so a
    # pull secret created after the pod wakes it for the next pull.
    refs.update((SECRET, str(item.get("name") or ""))
                for item in pod_spec.get("imagePullSecrets") or []
                if isinstance(item, dict) and item.get("name"))
    return refs


def env_value(source: Mapping[str, Any], configs: ConfigObjects) -> str | None:
    """The value of an env `valueFrom` with a configMapKeyRef or secretKeyRef; None: unset.

    None when optional and the object or key is missing (Kubernetes leaves the
    variable out); SpecError otherwise, in kubelet's words.
    """
    for field_, kind in (("configMapKeyRef", CONFIG_MAP), ("secretKeyRef", SECRET)):
        ref = source.get(field_)
        if not isinstance(ref, dict):
            continue
        name, key = str(ref.get("name", "")), str(ref["key"])
        data = configs.get(kind, name)
        if data is None:
            if ref.get("optional"):
                return None
            raise SpecError(f'{_WORDS[kind]} "{name}" not found')
        if key not in data:
            if ref.get("optional"):
                return None
            raise SpecError(f"couldn't find key {key} in {kind} {configs.namespace}/{name}")
        return data[key].decode("utf-8", errors="replace")
    raise SpecError("env valueFrom: only fieldRef, configMapKeyRef and secretKeyRef are supported")


def env_from(container: Mapping[str, Any], configs: ConfigObjects) -> list[tuple[str, str]]:
    """The variables of the container's envFrom, in order; keys that are no env name are skipped.

    Kubernetes also skips them (with an InvalidEnvironmentVariableNames event).
    """
    out: list[tuple[str, str]] = []
    for item in container.get("envFrom") or []:
        prefix = str(item.get("prefix") or "")
        for field_, kind in (("configMapRef", CONFIG_MAP), ("secretRef", SECRET)):
            ref = item.get(field_)
            if not isinstance(ref, dict):
                continue
            name = str(ref.get("name", ""))
            data = configs.get(kind, name)
            if data is None:
                if ref.get("optional"):
                    continue
                raise SpecError(f'{_WORDS[kind]} "{name}" not found')
            for key in sorted(data):
                if not validate_env_var_name(prefix + key):
                    out.append((prefix + key, data[key].decode("utf-8", errors="replace")))
    return out


@dataclass(frozen=True)
class File:
    """One file of a config volume: its path inside the volume, content and mode."""

    path: str
    data: bytes
    mode: int


def _project(kind: str, name: str, data: Mapping[str, bytes], items: list[dict[str, Any]],
             mode: int) -> list[File]:
    if not items:
        return [File(k, v, mode) for k, v in sorted(data.items())]
    out = []
    for item in items:
        key = str(item["key"])
        if key not in data:
            what = "config" if kind == CONFIG_MAP else "secret"
            raise MountError(f"{_WORDS[kind]} references non-existent {what} key: {key}")
        out.append(File(str(item["path"]), data[key], int(item.get("mode", mode))))
    return out


def volume_files(volume: Mapping[str, Any], configs: ConfigObjects) -> list[File]:
    """The files of one configMap, secret or projected volume; MountError when it cannot be made.

    An optional object that is missing gives no files (an empty volume), as in Kubernetes.
    """
    if isinstance(volume.get("projected"), dict):
        default = int(volume["projected"].get("defaultMode", DEFAULT_MODE))
        sources: list[tuple[str, dict[str, Any]]] = []
        for source in volume["projected"].get("sources") or []:
            for key, kind in (("configMap", CONFIG_MAP), ("secret", SECRET)):
                if isinstance(source.get(key), dict):
                    sources.append((kind, source[key]))
    else:
        kind = CONFIG_MAP if isinstance(volume.get("configMap"), dict) else SECRET
        src = dict(volume.get("configMap") or volume.get("secret") or {})
        src.setdefault("name", src.get("secretName", ""))
        default = int(src.get("defaultMode", DEFAULT_MODE))
        sources = [(kind, src)]
    files: dict[str, File] = {}
    for kind, src in sources:
        name = str(src.get("name", ""))
        data = configs.get(kind, name)
        if data is None:
            if src.get("optional"):
                continue
            raise MountError(f'{_WORDS[kind]} "{name}" not found')
        try:
            projected = _project(kind, name, data, list(src.get("items") or []), default)
        except MountError:
            if src.get("optional"):
                continue
            raise
        for f in projected:
            files[f.path] = f  # a later source wins a path, as kubelet's projection does
    return sorted(files.values(), key=lambda f: f.path)
