"""What a host lets a pod's securityContext ask for by default: capabilities and sysctls.

Data shared by the validator (reconciler.manifests.podrules warns at `validate` time
about what a default host will refuse) and the runtime (reconciler.runtime.security
refuses it when the container is made), so the two never disagree. A deployment
widens either set in its configuration (`runtime.allowed_capabilities`,
`runtime.allowed_unsafe_sysctls`); the validator only knows the defaults.
"""

from __future__ import annotations

# Docker's default capability set (moby oci/caps/defaults.go): what a container
# has unless told otherwise, and so what `add` may grant back after `drop: [ALL]`.
DOCKER_DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
)

# kubelet's SafeSysctlAllowlist (pkg/kubelet/sysctl/safe_sysctls.go, v1.32): namespaced
# and isolated, so one pod's value cannot touch another pod or the host.
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
})


def capability(name: object) -> str:
    """Kubernetes writes NET_ADMIN, Docker accepts CAP_NET_ADMIN too: one spelling."""
    text = str(name).strip().upper()
    return text[4:] if text.startswith("CAP_") else text


def sysctl(name: object) -> str:
    """kubelet accepts the slash form (net/ipv4/tcp_syncookies) as the dotted one."""
    return str(name).replace("/", ".")
