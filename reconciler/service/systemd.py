"""systemd integration: the unit file's text and a tiny sd_notify client.

Used by the composition root (`reconciler run`): READY=1 after the first
convergence pass, STATUS= with a one-line summary, WATCHDOG=1 from the loop, and
STOPPING=1 / RELOADING=1 on signals. Outside systemd ($NOTIFY_SOCKET unset) every
call is a no-op returning False, so the service runs the same in a terminal.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

DEFAULT_EXEC = "/usr/local/bin/reconciler"
DEFAULT_CONFIG = "/etc/reconciler/config.toml"
DEFAULT_ENVFILE = "/etc/reconciler/environment"
SEND_TIMEOUT = 0.5  # seconds a notify may wait for room in the receiver's queue

# systemd/reconciler.service is this text rendered with the defaults (a test keeps
# them equal); `reconciler install --systemd` renders it with the running script.
UNIT_TEMPLATE = """\
# reconciler: the GitOps reconciler service for plain Docker hosts.
# Install with `reconciler install --systemd` (writes this unit with ExecStart
# pointing at the installed `reconciler` script), or copy it to
# /etc/systemd/system/ and adjust ExecStart to where `reconciler` lives
# (e.g. /opt/reconciler/.venv/bin/reconciler); then `systemctl daemon-reload &&
# systemctl enable --now reconciler`.
[Unit]
Description=reconciler: converge Docker hosts to the Kubernetes manifests in a folder or git
After=network-online.target docker.service
Wants=network-online.target docker.service

[Service]
# READY=1 after the first convergence pass, STATUS= summaries, WATCHDOG=1 pings.
Type=notify
NotifyAccess=main
ExecStart=@EXEC@ run --config @CONFIG@
ExecReload=/bin/kill -HUP $MAINPID
EnvironmentFile=-@ENVFILE@
# Stopping the service leaves pods running: only the reconciler process exits.
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec=30
Restart=always
RestartSec=2
WatchdogSec=30
# The userspace proxy holds two descriptors per connection (capped per service by
# network.max_connections); the service raises its soft limit to this at start.
LimitNOFILE=1048576
# The store and the desired folder never depend on this working directory: the
# config file gives absolute paths (relative ones are taken against the file's
# folder), the defaults are under StateDirectory (/var/lib/reconciler/state.db,
# /var/lib/reconciler/desired), and a relative --state/--desired or RECONCILER_STATE
# is refused. A store opened elsewhere would be a new cluster (docs/runtime.md).
WorkingDirectory=/var/lib/reconciler
StateDirectory=reconciler
ConfigurationDirectory=reconciler
RuntimeDirectory=reconciler
# The DNS server's pidfile and table live there and outlive a restart (docs/network.md).
RuntimeDirectoryPreserve=yes

# Hardening that still allows what the service is for: root talking to the
# Docker socket, iptables and cluster addresses (CAP_NET_ADMIN), the state
# folder, git and Docker engines over the network (https, ssh). Each option left
# out or relaxed says why; `systemd-analyze security` scores this 3.3 (was 5.5).
ProtectSystem=strict
ReadWritePaths=/var/lib/reconciler -/run/docker.sock -/run/xtables.lock
# Relaxed from yes: ssh:// engines and git over ssh run the system ssh, which reads
# the service user's ~/.ssh (config, keys, known_hosts). Read-only, so a host key
# ssh has not seen is not remembered: add it to known_hosts beforehand.
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
PrivateMounts=yes
NoNewPrivileges=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
# Not ProtectKernelTunables: the proxy writes net.ipv4.conf.all.route_localnet
# (NodePorts on 127.0.0.1) under /proc/sys and bridge hairpin_mode under /sys.
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
# Not ProtectProc= or ProcSubset=: the proxy needs /proc/sys (above), and the
# git source tells a live lock from a stale one by every process's open files.
RestrictSUIDSGID=yes
RestrictRealtime=yes
# Docker creates the pods' namespaces; this process and its children create none.
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
# What a reconciler never calls. Not @privileged (chown of configMap and secret
# volumes for fsGroup) nor @resources (the service raises its open-files limit).
SystemCallFilter=~@clock @cpu-emulation @debug @module @mount @obsolete @raw-io @reboot @swap
SystemCallErrorNumber=EPERM
# Not MemoryDenyWriteExecute: libffi closures (ctypes, cffi) map writable code.
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
# Root for the Docker socket; CAP_NET_ADMIN/RAW for iptables and cluster addresses.
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE CAP_KILL
CapabilityBoundingSet=CAP_DAC_OVERRIDE CAP_CHOWN CAP_FOWNER CAP_SETUID CAP_SETGID
UMask=0077

[Install]
WantedBy=multi-user.target
"""


def unit_text(
    exec_start: str = DEFAULT_EXEC,
    config: str = DEFAULT_CONFIG,
    environment_file: str = DEFAULT_ENVFILE,
) -> str:
    """The unit file, with ExecStart running `exec_start run --config <config>`."""
    return (
        UNIT_TEMPLATE.replace("@EXEC@", exec_start)
        .replace("@CONFIG@", config)
        .replace("@ENVFILE@", environment_file)
    )


class Notifier:
    """Sends sd_notify datagrams to the socket named by $NOTIFY_SOCKET (abstract '@' too)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        raw = env.get("NOTIFY_SOCKET", "")
        # A leading '@' names a socket in the abstract namespace: a NUL byte on the wire.
        self.address = "\0" + raw[1:] if raw.startswith("@") else raw
        self._env = env

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *fields: str) -> bool:
        """Send `fields` (KEY=VALUE lines) in one datagram; False when not under systemd."""
        if not self.address:
            return False
        message = "\n".join(fields).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                # A receiver that stops reading fills its queue (net.unix.max_dgram_qlen,
                # 10 by default) and a blocking send would then hang the main loop.
                sock.settimeout(SEND_TIMEOUT)
                sock.connect(self.address)
                sock.sendall(message)
        except OSError:
            # A notify that fails must never take the service down; systemd will
            # notice the missing READY/WATCHDOG itself.
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """READY=1: startup (the first convergence pass) is complete."""
        extra = (f"STATUS={_one_line(status)}",) if status else ()
        return self.notify("READY=1", *extra)

    def status(self, text: str) -> bool:
        """STATUS=: the one-line summary `systemctl status` shows."""
        return self.notify(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        """WATCHDOG=1: the loop is alive."""
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        """STOPPING=1: graceful shutdown began."""
        return self.notify("STOPPING=1")

    def reloading(self) -> bool:
        """RELOADING=1 with MONOTONIC_USEC, as Type=notify-reload requires; ready() ends it."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half of WatchdogSec), or None when not asked for."""
        usec = self._env.get("WATCHDOG_USEC", "")
        pid = self._env.get("WATCHDOG_PID", "")
        if not usec.isdigit() or int(usec) == 0:
            return None
        # WATCHDOG_PID names the process the watchdog is meant for; a child that
        # inherited the environment must not ping on the parent's behalf.
        if pid and (not pid.isdigit() or int(pid) != os.getpid()):
            return None
        return int(usec) / 1_000_000 / 2


def _one_line(text: str) -> str:
    return " ".join(text.split())


_default = Notifier()


def ready(status: str | None = None) -> bool:
    """READY=1 on the process's own $NOTIFY_SOCKET."""
    return _default.ready(status)


def status(text: str) -> bool:
    """STATUS=text on the process's own $NOTIFY_SOCKET."""
    return _default.status(text)


def watchdog() -> bool:
    """WATCHDOG=1 on the process's own $NOTIFY_SOCKET."""
    return _default.watchdog()


def stopping() -> bool:
    """STOPPING=1 on the process's own $NOTIFY_SOCKET."""
    return _default.stopping()


def reloading() -> bool:
    """RELOADING=1 on the process's own $NOTIFY_SOCKET."""
    return _default.reloading()


def watchdog_interval() -> float | None:
    """Half of WatchdogSec for this process, or None."""
    return _default.watchdog_interval()
