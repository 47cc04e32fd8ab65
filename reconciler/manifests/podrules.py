"""Semantic rules for a pod spec (a Pod's or a template's): containers, ports, volumes, probes.

Called by reconciler.manifests.semantic on defaulted bodies, so types are known
to be right. Returns findings with paths relative to the object.
"""

from __future__ import annotations

import json
import re
from typing import Any

from reconciler.api.quantity import parse_quantity
from reconciler.api.types import JSON
from reconciler.manifests import names
from reconciler.manifests.affinityrules import check_node_affinity
from reconciler.manifests.configkinds import check_config_volume
from reconciler.manifests.fields import Finding, Path_, path_text
from reconciler.manifests.securityrules import check_security

_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_HANDLERS = ("exec", "httpGet", "tcpSocket")
_HOOK_HANDLERS = ("exec", "httpGet", "sleep")
# `<your-image>`, `registry/<name>:<tag>`: angle brackets are never part of an image reference.
_PLACEHOLDER = re.compile(r"<[^<>]*>")


def _check_probe(probe: JSON, port_names: set[str], where: Path_) -> list[Finding]:
    handlers = [h for h in _HANDLERS if h in probe]
    if len(handlers) != 1:
        found = ", ".join(handlers) or "none"
        return [Finding("error", where,
                        f"a probe needs exactly one of exec, httpGet, tcpSocket (found {found})")]
    action = probe[handlers[0]]
    port = action.get("port") if isinstance(action, dict) else None
    if isinstance(port, int) and not 1 <= port <= 65535:
        return [Finding("error", (*where, handlers[0], "port"),
                        f"port {port} is out of range 1-65535")]
    if isinstance(port, str):
        if port.isdigit():
            return []
        if port not in port_names:
            return [Finding("error", (*where, handlers[0], "port"),
                            f"port {port!r} names no port of this container")]
    return []


def _check_resources(resources: JSON, where: Path_) -> list[Finding]:
    out: list[Finding] = []
    for group in ("requests", "limits"):
        for name, value in (resources.get(group) or {}).items():
            problem = names.quantity(value)
            if problem:
                out.append(Finding("error", (*where, group, name), problem))
    if out:
        return out
    limits = resources.get("limits") or {}
    for name, value in (resources.get("requests") or {}).items():
        # ValidateResourceRequirements, in the apiserver's words.
        if name in limits and parse_quantity(value) > parse_quantity(limits[name]):
            out.append(Finding("error", (*where, "requests", name),
                               f"Invalid value: {json.dumps(str(value))}: must be less than "
                               f"or equal to {name} limit of {limits[name]}"))
    return out


def _check_container(c: JSON, where: Path_, volumes: set[str],
                     seen_ports: dict[tuple[int, str], Path_]) -> list[Finding]:
    out: list[Finding] = []
    image = c.get("image")
    if isinstance(image, str) and _PLACEHOLDER.search(image):
        out.append(Finding("warning", (*where, "image"),
                           f"image {image!r} looks like a placeholder (<...>) left unfilled: "
                           "no engine can pull it"))
    problem = names.dns1123_label(c["name"])
    if problem:
        out.append(Finding("error", (*where, "name"), f"container name {problem}"))
    port_names: set[str] = set()
    for i, port in enumerate(c.get("ports") or []):
        pwhere = (*where, "ports", i)
        name = port.get("name")
        if name is not None:
            problem = names.port_name(name)
            if problem:
                out.append(Finding("error", (*pwhere, "name"), problem))
            elif name in port_names:
                out.append(Finding("error", (*pwhere, "name"), f"duplicate port name {name!r}"))
            port_names.add(name)
        key = (port["containerPort"], port.get("protocol", "TCP"))
        if key in seen_ports:
            first = path_text(seen_ports[key])
            out.append(Finding("error", (*pwhere, "containerPort"),
                               f"duplicate port {key[0]}/{key[1]} in this pod (also at {first})"))
        else:
            seen_ports[key] = pwhere
    for i, env in enumerate(c.get("env") or []):
        problem = names.env_name(env["name"])
        if problem:
            out.append(Finding("error", (*where, "env", i, "name"), problem))
        if "value" in env and "valueFrom" in env:
            out.append(Finding("error", (*where, "env", i),
                               "give either value or valueFrom, not both"))
        elif "valueFrom" in env:
            sources = [k for k in ("fieldRef", "configMapKeyRef", "secretKeyRef")
                       if k in (env["valueFrom"] or {})]
            if len(sources) != 1:
                out.append(Finding("error", (*where, "env", i, "valueFrom"),
                                   "valueFrom needs exactly one of fieldRef, configMapKeyRef "
                                   "and secretKeyRef"))
    for i, source in enumerate(c.get("envFrom") or []):
        refs = [k for k in ("configMapRef", "secretRef") if k in source]
        if len(refs) != 1:
            out.append(Finding("error", (*where, "envFrom", i),
                               "envFrom needs exactly one of configMapRef and secretRef"))
    for i, mount in enumerate(c.get("volumeMounts") or []):
        if mount["name"] not in volumes:
            out.append(Finding("error", (*where, "volumeMounts", i, "name"),
                               f"volume {mount['name']!r} is not declared in the pod's volumes"))
    for probe in _PROBES:
        if isinstance(c.get(probe), dict):
            out += _check_probe(c[probe], port_names, (*where, probe))
            if probe != "readinessProbe" and c[probe].get("successThreshold", 1) != 1:
                out.append(Finding("error", (*where, probe, "successThreshold"),
                                   "must be 1 for liveness and startup probes"))
    for hook, handler in (c.get("lifecycle") or {}).items():
        found = [h for h in _HOOK_HANDLERS if h in (handler or {})]
        if len(found) != 1:
            out.append(Finding("error", (*where, "lifecycle", hook),
                               "a lifecycle hook needs exactly one of exec, httpGet, sleep "
                               f"(found {', '.join(found) or 'none'})"))
    if isinstance(c.get("resources"), dict):
        out += _check_resources(c["resources"], (*where, "resources"))
    return out


def check_pod_spec(spec: JSON, path: Path_) -> list[Finding]:
    """Every rule of one pod spec; `path` is where the spec sits in its object."""
    out: list[Finding] = []
    volumes: set[str] = set()
    for i, volume in enumerate(spec.get("volumes") or []):
        name = volume["name"]
        problem = names.dns1123_label(name)
        if problem:
            out.append(Finding("error", (*path, "volumes", i, "name"), f"volume name {problem}"))
        elif name in volumes:
            out.append(Finding("error", (*path, "volumes", i, "name"),
                               f"duplicate volume name {name!r}"))
        volumes.add(name)
        sources = [k for k in ("emptyDir", "hostPath", "persistentVolumeClaim", "configMap",
                               "secret", "projected") if k in volume]
        out += check_config_volume(volume, (*path, "volumes", i))
        if len(sources) > 1:
            out.append(Finding("error", (*path, "volumes", i),
                               f"a volume has one source: {' and '.join(sources)} given"))
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if isinstance(claim, str) and claim and names.dns1123_subdomain(claim):
            out.append(Finding("error", (*path, "volumes", i, "persistentVolumeClaim",
                                         "claimName"),
                               f"claimName {names.dns1123_subdomain(claim)}"))
    seen_names: dict[str, Path_] = {}
    seen_ports: dict[tuple[int, str], Path_] = {}
    for group in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(group) or []):
            where = (*path, group, i)
            if c["name"] in seen_names:
                first = path_text(seen_names[c["name"]])
                out.append(Finding("error", (*where, "name"),
                                   f"duplicate container name {c['name']!r} (also at {first})"))
            else:
                seen_names[c["name"]] = where
            out += _check_container(c, where, volumes, seen_ports)
            if group == "initContainers" and c.get("lifecycle"):
                out.append(Finding("error", (*where, "lifecycle"),
                                   "may not be set for init containers"))
    out += check_security(spec, path)
    for key in ("hostname", "subdomain"):
        value = spec.get(key)
        if isinstance(value, str) and value:
            problem = names.dns1123_label(value)
            if problem:
                out.append(Finding("error", (*path, key), f"{key} {problem}"))
    for key, value in (spec.get("nodeSelector") or {}).items():
        problem = names.label_key(key) or names.label_value(value)
        if problem:
            out.append(Finding("error", (*path, "nodeSelector", key), problem))
    out += check_node_affinity(spec, path)
    return out


def pod_port_names(spec: Any) -> set[str]:
    """Names of every container port of a pod spec (for Service targetPort checks)."""
    found: set[str] = set()
    if not isinstance(spec, dict):
        return found
    for c in spec.get("containers") or []:
        for port in c.get("ports") or []:
            if port.get("name"):
                found.add(port["name"])
    return found
