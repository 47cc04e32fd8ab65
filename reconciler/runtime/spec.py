"""Mapping of a Kubernetes container spec onto Docker's create parameters (pure).

Sits between the pod record and the Docker calls in agent.py: everything that
decides what a container looks like (image map, command and args, env and its
`$(VAR)` expansion, limits, volumes, log driver) is here and unit-tested
without Docker; the securityContext (user, groups, capabilities...) is security.py's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.api.quantity import QuantityError, parse_cpu, parse_memory
from reconciler.api.records import PodRecord, claim_volume_name


class SpecError(ValueError):
    """A pod spec that cannot run here (hostPath outside the allow-list, a bad quantity...)."""


def _resource(parse: Callable[[str | int | float], int], value: str | int | float) -> int:
    """A quantity through the one parser (`reconciler.api.quantity`); a bad one is a SpecError."""
    try:
        return parse(value)
    except QuantityError as e:
        raise SpecError(f"invalid quantity {value!r}: {e}") from None


def map_image(image: str, image_map: dict[str, str]) -> str:
    """The reference to run for `image`: an exact key wins, then the bare name (any tag)."""
    if image in image_map:
        return image_map[image]
    name = image.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    if name in image_map:
        return image_map[name]
    return image


def pull_policy(container: dict[str, Any]) -> str:
    """imagePullPolicy with Kubernetes' default: Always for `:latest` or no tag."""
    policy = container.get("imagePullPolicy")
    if policy:
        return str(policy)
    image = str(container.get("image", ""))
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    if "@" in image:
        return "IfNotPresent"
    return "Always" if ":" not in last or last.endswith(":latest") else "IfNotPresent"


_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: known names are replaced, `$$` escapes, others stay."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _VAR.sub(sub, text)


def needs_pod_ip(c: dict[str, Any]) -> bool:
    """Whether the container's environment takes the pod's IP (known once its sandbox runs)."""
    return any(((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
               == "status.podIP" for e in c.get("env") or [])


def field_ref(path: str, pod: PodRecord, pod_ip: str, node_name: str, host_ip: str) -> str:
    """The value of an env `valueFrom.fieldRef.fieldPath` this driver supports."""
    values = {
        "metadata.name": pod.name,
        "metadata.namespace": pod.namespace,
        "metadata.uid": pod.uid,
        "status.podIP": pod_ip,
        "status.hostIP": host_ip,
        "spec.nodeName": node_name,
        "spec.serviceAccountName": str(pod.spec.get("serviceAccountName", "default")),
    }
    m = re.match(r"^metadata\.(labels|annotations)\['(.+)'\]$", path)
    if m:
        source = pod.labels if m.group(1) == "labels" else pod.annotations
        return source.get(m.group(2), "")
    if path not in values:
        raise SpecError(f"env fieldRef {path!r} is not supported")
    return values[path]


def container_env(
    container: dict[str, Any], pod: PodRecord, extra: tuple[tuple[str, str], ...],
    *, pod_ip: str, node_name: str, host_ip: str,
    env_from: tuple[tuple[str, str], ...] = (),
    config_value: Callable[[dict[str, Any]], str | None] | None = None,
) -> dict[str, str]:
    """The container's environment: caller's extras, then envFrom, then its own env in order.

    `env_from` and `config_value` (a configMapKeyRef/secretKeyRef value, None for an
    optional one that is missing) come from reconciler.runtime.configrefs.
    """
    env: dict[str, str] = dict(extra)
    env.update(env_from)
    for item in container.get("env") or []:
        name = str(item["name"])
        if "value" in item or "valueFrom" not in item:
            env[name] = expand(str(item.get("value", "")), env)
            continue
        source = item.get("valueFrom") or {}
        ref = source.get("fieldRef")
        if ref is None:
            if config_value is None:
                raise SpecError(f"env {name}: only valueFrom.fieldRef is supported")
            value = config_value(source)
            if value is not None:
                env[name] = value
            continue
        env[name] = field_ref(str(ref["fieldPath"]), pod, pod_ip, node_name, host_ip)
    return env


def command_and_args(
    container: dict[str, Any], env: dict[str, str]
) -> tuple[list[str] | None, list[str] | None]:
    """(entrypoint, cmd) for Docker: `command` replaces ENTRYPOINT, `args` replaces CMD.

    Docker drops the image's CMD when the entrypoint is overridden, which is
    Kubernetes' rule for `command` without `args`.
    """
    command = container.get("command")
    args = container.get("args")
    entry = [expand(str(c), env) for c in command] if command else None
    cmd = [expand(str(a), env) for a in args] if args else None
    if entry is not None and cmd is None:
        cmd = []
    return entry, cmd


def limits(container: dict[str, Any]) -> dict[str, int]:
    """Docker resource options from resources.limits (and cpu requests to cpu shares)."""
    resources = container.get("resources") or {}
    lim = resources.get("limits") or {}
    req = resources.get("requests") or {}
    out: dict[str, int] = {}
    if "cpu" in lim:
        out["nano_cpus"] = _resource(parse_cpu, lim["cpu"]) * 1_000_000
    if "memory" in lim:
        out["mem_limit"] = _resource(parse_memory, lim["memory"])
    if "cpu" in req:
        # kubelet's mapping: 1000m -> 1024 shares, and Docker's floor of 2.
        out["cpu_shares"] = max(2, _resource(parse_cpu, req["cpu"]) * 1024 // 1000)
    return out


def host_path_allowed(path: str, allow: tuple[str, ...]) -> bool:
    """Whether `path` (symlinks resolved) lies under one of the allowed roots."""
    real = os.path.realpath(path)
    for root in allow:
        base = os.path.realpath(root)
        if real == base or real.startswith(base.rstrip("/") + "/"):
            return True
    return False


@dataclass(frozen=True)
class Mounts:
    """Docker mounts of one container: volume/bind binds and tmpfs mounts."""

    binds: dict[str, Mapping[str, str]] = field(default_factory=dict)  # source -> {bind, mode}
    tmpfs: dict[str, str] = field(default_factory=dict)  # path -> options


def check_volumes(pod_spec: dict[str, Any], allow: tuple[str, ...]) -> None:
    """Refuse what cannot run: hostPath outside the allow-list, unsupported volume kinds."""
    for vol in pod_spec.get("volumes") or []:
        name = vol.get("name", "?")
        if "hostPath" in vol:
            path = str((vol["hostPath"] or {}).get("path", ""))
            if not host_path_allowed(path, allow):
                allowed = ", ".join(allow) or "none"
                raise SpecError(
                    f"volume {name}: hostPath {path} is not under an allowed path ({allowed})"
                )
        elif "persistentVolumeClaim" in vol:
            if not (vol["persistentVolumeClaim"] or {}).get("claimName"):
                raise SpecError(f"volume {name}: persistentVolumeClaim.claimName is required")
        elif not any(k in vol for k in ("emptyDir", "configMap", "secret", "projected")):
            kinds = sorted(k for k in vol if k != "name")
            raise SpecError(f"volume {name}: {', '.join(kinds) or 'no source'} is not supported")


def claim_volumes(namespace: str, pod_spec: dict[str, Any]) -> dict[str, str]:
    """The Docker volume of each persistentVolumeClaim volume of a pod, by volume name.

    Named after the claim, not the pod: a re-created pod with the same claim
    mounts the same volume (`claim_volume_name`).
    """
    out: dict[str, str] = {}
    for vol in pod_spec.get("volumes") or []:
        claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
        if claim:
            out[str(vol["name"])] = claim_volume_name(namespace, str(claim))
    return out


def container_mounts(
    container: dict[str, Any], pod_spec: dict[str, Any], volume_names: dict[str, str]
) -> Mounts:
    """Mounts for one container: emptyDir and persistentVolumeClaim -> the named Docker volume
    in `volume_names`, hostPath -> a bind, emptyDir of medium Memory -> tmpfs."""
    volumes = {v["name"]: v for v in pod_spec.get("volumes") or []}
    binds: dict[str, Mapping[str, str]] = {}
    tmpfs: dict[str, str] = {}
    for mount in container.get("volumeMounts") or []:
        vol = volumes.get(mount["name"])
        if vol is None:
            raise SpecError(f"volumeMount {mount['name']}: no such volume")
        if mount.get("subPath"):
            raise SpecError(f"volumeMount {mount['name']}: subPath is not supported")
        claim = vol.get("persistentVolumeClaim") or {}
        read_only = mount.get("readOnly") or claim.get("readOnly")
        mode = "ro" if read_only else "rw"
        target = str(mount["mountPath"])
        if "hostPath" in vol:
            binds[str(vol["hostPath"]["path"])] = {"bind": target, "mode": mode}
        elif any(k in vol for k in ("configMap", "secret", "projected")):
            # The folder reconciler.runtime.configfiles keeps; read-only, as kubelet mounts it.
            binds[volume_names[vol["name"]]] = {"bind": target, "mode": "ro"}
        elif (vol.get("emptyDir") or {}).get("medium") == "Memory":
            size = (vol.get("emptyDir") or {}).get("sizeLimit")
            tmpfs[target] = f"size={_resource(parse_memory, size)}" if size else ""
        else:
            binds[volume_names[vol["name"]]] = {"bind": target, "mode": mode}
    return Mounts(binds=binds, tmpfs=tmpfs)


# kubelet's containerLogMaxSize and containerLogMaxFiles: a chatty container keeps at
# most 50 MiB of log on its host, where Docker's default json-file grows without end.
LOG_MAX_SIZE = "10m"  # Docker's units are binary: 10 MiB
LOG_MAX_FILE = "5"


def log_config(fluentd: str | None, pod: PodRecord, container: str) -> dict[str, Any]:
    """Docker's fluentd log driver (async, so a down fluentd never blocks a start), else
    json-file rotated as kubelet rotates (`reconciler logs` reads either)."""
    if not fluentd:
        return {"type": "json-file", "config": {"max-size": LOG_MAX_SIZE,
                                                "max-file": LOG_MAX_FILE}}
    return {"type": "fluentd", "config": {
        "fluentd-address": fluentd,
        "fluentd-async": "true",
        "tag": f"kube.{pod.namespace}.{pod.name}.{container}",
    }}


def container_ports(pod_spec: dict[str, Any]) -> list[tuple[int, str, int | None]]:
    """(containerPort, protocol, hostPort) of every container and init container of the pod."""
    out: list[tuple[int, str, int | None]] = []
    for c in [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]:
        for p in c.get("ports") or []:
            host = p.get("hostPort")
            out.append((int(p["containerPort"]), str(p.get("protocol", "TCP")).upper(),
                        int(host) if host else None))
    return out


def grace_seconds(pod_spec: dict[str, Any], default: int) -> int:
    """terminationGracePeriodSeconds, or the configured default."""
    value = pod_spec.get("terminationGracePeriodSeconds")
    return int(value) if value is not None else default
