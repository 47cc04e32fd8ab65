"""Validation notes on a pod's securityContext: what a host with the default policy refuses.

Called by reconciler.manifests.podrules for each pod spec. The runtime refuses a
capability outside `runtime.allowed_capabilities` and a sysctl outside kubelet's safe
set plus `runtime.allowed_unsafe_sysctls` when it creates the container
(reconciler.runtime.security); the validator cannot know a deployment's
configuration, so it warns, against the defaults, that the pod will not start on a
host that keeps them, instead of letting the user find out from a pod's events.
"""

from __future__ import annotations

from reconciler.api.hostpolicy import DOCKER_DEFAULT_CAPABILITIES, SAFE_SYSCTLS, capability, sysctl
from reconciler.api.types import JSON
from reconciler.manifests.fields import Finding, Path_


def check_security(spec: JSON, path: Path_) -> list[Finding]:
    """Warnings for capabilities and sysctls a default host refuses."""
    out: list[Finding] = []
    for group in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(group) or []):
            caps = (c.get("securityContext") or {}).get("capabilities") or {}
            extra = [str(a) for a in caps.get("add") or []
                     if capability(a) not in DOCKER_DEFAULT_CAPABILITIES]
            if extra:
                out.append(Finding(
                    "warning", (*path, group, i, "securityContext", "capabilities", "add"),
                    f"{', '.join(extra)} {'is' if len(extra) == 1 else 'are'} outside Docker's "
                    "default capabilities: the container starts only on hosts whose "
                    "runtime.allowed_capabilities lists "
                    f"{'it' if len(extra) == 1 else 'them'}"))
    for i, item in enumerate((spec.get("securityContext") or {}).get("sysctls") or []):
        name = sysctl(item.get("name", ""))
        if name not in SAFE_SYSCTLS:
            out.append(Finding(
                "warning", (*path, "securityContext", "sysctls", i, "name"),
                f"sysctl {name} is not in kubelet's safe set: the pod starts only on hosts "
                "whose runtime.allowed_unsafe_sysctls lists it"))
    return out
