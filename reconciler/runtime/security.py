"""A pod's securityContext as Docker create options (pure): users, groups, capabilities, sysctls.

Called by sandbox.py while it builds a container (`container_security`) and the
infrastructure container (`pod_sysctls`), and by agent.py before a pod's sandbox
exists, so a refused sysctl never leaves half a pod behind. Kubernetes' rules are
the reference: the container's context wins over the pod's for the fields both
have; `runAsNonRoot` is checked against the image's user as kubelet's
`verifyRunAsNonRoot` does; sysctls outside kubelet's safe set are refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.api.hostpolicy import DOCKER_DEFAULT_CAPABILITIES, SAFE_SYSCTLS, capability, sysctl
from reconciler.runtime.spec import SpecError

_SECCOMP = {"RuntimeDefault": None, "Unconfined": "seccomp=unconfined"}


class SecurityError(SpecError):
    """A securityContext this host will not run (a capability outside the allow-list...)."""


@dataclass(frozen=True)
class ContainerSecurity:
    """The effective securityContext of one container, in Docker's terms."""

    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool = False
    group_add: tuple[str, ...] = ()  # supplementalGroups, then fsGroup
    read_only: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()

    @property
    def needs_image_user(self) -> bool:
        """Whether `user` or `refusal` need the image's configured user (one inspect)."""
        return self.run_as_non_root or (self.run_as_user is None and self.run_as_group is not None)

    def user(self, image_user: str = "") -> str | None:
        """Docker's `user`: None keeps the image's.

        runAsGroup alone keeps the image's user with the new primary group, as the
        CRI runtimes do; Docker needs a user in front of the group, root if none.
        """
        if self.run_as_user is None:
            if self.run_as_group is None:
                return None
            base = image_user.split(":", 1)[0] or "0"
            return f"{base}:{self.run_as_group}"
        if self.run_as_group is None:
            return str(self.run_as_user)
        return f"{self.run_as_user}:{self.run_as_group}"

    def refusal(self, image_user: str, pod: str, container: str) -> str | None:
        """kubelet's verifyRunAsNonRoot: why this container must not start, or None.

        `pod` is kubelet's format.Pod, `name_namespace(uid)`. An image with no user
        runs as root; a user name cannot be proven non-root without the image's
        /etc/passwd, so kubelet refuses it too.
        """
        if not self.run_as_non_root:
            return None
        where = f'(pod: "{pod}", container: {container})'
        if self.run_as_user is not None:
            if self.run_as_user == 0:
                return f"container's runAsUser breaks non-root policy {where}"
            return None
        user = image_user.split(":", 1)[0]
        if user in ("", "0", "root"):
            return f"container has runAsNonRoot and image will run as root {where}"
        if not user.isdigit():
            return (f"container has runAsNonRoot and image has non-numeric user ({user}), "
                    f"cannot verify user is non-root {where}")
        return None

    def host_config(self) -> dict[str, Any]:
        """Keyword arguments for docker's `create_host_config` (unset ones left out)."""
        out: dict[str, Any] = {}
        if self.group_add:
            out["group_add"] = list(self.group_add)
        if self.read_only:
            out["read_only"] = True
        if self.cap_add:
            out["cap_add"] = list(self.cap_add)
        if self.cap_drop:
            out["cap_drop"] = list(self.cap_drop)
        if self.security_opt:
            out["security_opt"] = list(self.security_opt)
        return out


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _seccomp(profile: Mapping[str, Any] | None) -> str | None:
    kind = str((profile or {}).get("type") or "RuntimeDefault")
    if kind not in _SECCOMP:
        raise SecurityError(f"seccompProfile type {kind} is not supported "
                            "(RuntimeDefault or Unconfined)")
    return _SECCOMP[kind]


def _capabilities(caps: Mapping[str, Any], allowed: Iterable[str],
                  container: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    add = tuple(dict.fromkeys(capability(c) for c in caps.get("add") or []))
    drop = tuple(dict.fromkeys(capability(c) for c in caps.get("drop") or []))
    allow = {capability(c) for c in allowed}
    refused = [c for c in add if c not in allow and "ALL" not in allow]
    if refused:
        listed = ", ".join(sorted(allow)) or "none"
        raise SecurityError(
            f"container {container}: capabilities.add {', '.join(refused)} "
            f"{'is' if len(refused) == 1 else 'are'} not allowed on this host "
            f"(allowed: {listed}; see runtime.allowed_capabilities)")
    return add, drop


def container_security(container: Mapping[str, Any], pod_spec: Mapping[str, Any],
                       allowed_capabilities: Iterable[str] | None = None,
                       ) -> ContainerSecurity:
    """The effective securityContext of `container` in `pod_spec` (container over pod).

    `allowed_capabilities`: what `capabilities.add` may name; None: Docker's default set.
    """
    if allowed_capabilities is None:
        allowed_capabilities = DOCKER_DEFAULT_CAPABILITIES
    pod_ctx: Mapping[str, Any] = pod_spec.get("securityContext") or {}
    ctx: Mapping[str, Any] = container.get("securityContext") or {}
    name = str(container.get("name", "?"))

    def pick(key: str) -> Any:
        return ctx[key] if ctx.get(key) is not None else pod_ctx.get(key)

    groups = [str(int(g)) for g in pod_ctx.get("supplementalGroups") or []]
    if pod_ctx.get("fsGroup") is not None:
        groups.append(str(int(pod_ctx["fsGroup"])))
    add, drop = _capabilities(ctx.get("capabilities") or {}, allowed_capabilities, name)
    opts: list[str] = []
    if ctx.get("allowPrivilegeEscalation") is False:
        opts.append("no-new-privileges")
    seccomp = _seccomp(pick("seccompProfile"))
    if seccomp:
        opts.append(seccomp)
    return ContainerSecurity(
        run_as_user=_int(pick("runAsUser")),
        run_as_group=_int(pick("runAsGroup")),
        run_as_non_root=bool(pick("runAsNonRoot")),
        group_add=tuple(dict.fromkeys(groups)),
        read_only=bool(ctx.get("readOnlyRootFilesystem")),
        cap_add=add, cap_drop=drop, security_opt=tuple(opts),
    )


def pod_sysctls(pod_spec: Mapping[str, Any],
                allowed_unsafe: Iterable[str] = ()) -> dict[str, str]:
    """securityContext.sysctls for the infrastructure container, which owns the pod's
    network and IPC namespaces; one outside the safe set raises with kubelet's words."""
    allowed = SAFE_SYSCTLS | set(allowed_unsafe)
    out: dict[str, str] = {}
    for item in (pod_spec.get("securityContext") or {}).get("sysctls") or []:
        name = sysctl(item.get("name", ""))
        if name not in allowed:
            raise SecurityError(f'forbidden sysctl: "{name}" not allowlisted')
        out[name] = str(item.get("value", ""))
    return out


def fs_group(pod_spec: Mapping[str, Any]) -> int | None:
    """The pod's fsGroup: the group that owns its emptyDir and claim volumes."""
    return _int((pod_spec.get("securityContext") or {}).get("fsGroup"))


def runs_as_non_root_user(pod_spec: Mapping[str, Any]) -> bool:
    """Whether a container of the pod sets a non-zero runAsUser (pod or container level).

    Kubernetes makes emptyDir volumes world-writable (0777); a Docker volume is
    root's 0755. Only such pods pay for the one-shot container that fixes that.
    """
    pod_user = (pod_spec.get("securityContext") or {}).get("runAsUser")
    for c in [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]:
        user = (c.get("securityContext") or {}).get("runAsUser", pod_user)
        if user:
            return True
    return False
