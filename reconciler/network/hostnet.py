"""The host side of the service network: cluster IPs on `lo`, sysctls, bridge hairpin.

Called by `ServiceProxy` (reconciler.network.proxy) on every table update, in
both modes: the userspace proxy listens on the cluster IPs and the NAT rules
need them local so nothing addressed to a service can leave the machine when a
rule is missing. Addresses we own carry the label `lo:reconciler`; nothing
without it is ever removed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

LABEL = "lo:reconciler"
ROUTE_LOCALNET = Path("/proc/sys/net/ipv4/conf/all/route_localnet")
DEFAULT_RUN_DIR = "/run/reconciler"


def _ip(*args: str) -> str:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise OSError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def owned_addresses() -> set[str]:
    """The /32s on lo that carry our label."""
    data = json.loads(_ip("-j", "-4", "addr", "show", "dev", "lo") or "[]")
    out: set[str] = set()
    for link in data:
        for info in link.get("addr_info", []):
            if info.get("label") == LABEL and info.get("prefixlen") == 32:
                out.add(info["local"])
    return out


def local_addresses() -> set[str]:
    """Every IPv4 address configured on this host (network namespace)."""
    data = json.loads(_ip("-j", "-4", "addr", "show") or "[]")
    return {info["local"] for link in data for info in link.get("addr_info", []) if "local" in info}


def sync_addresses(wanted: set[str]) -> tuple[set[str], set[str]]:
    """Add missing cluster IPs to lo, remove ours no longer wanted; return (added, removed)."""
    have = owned_addresses()
    present = local_addresses()
    added: set[str] = set()
    for ip in sorted(wanted - have):
        if ip in present:
            continue  # someone else's address: usable, never ours to remove
        _ip("addr", "add", f"{ip}/32", "dev", "lo", "label", LABEL)
        added.add(ip)
    removed = have - wanted
    for ip in sorted(removed):
        with contextlib.suppress(OSError):
            _ip("addr", "del", f"{ip}/32", "dev", "lo")
    return added, removed


GUARD_PROTO = "95"  # the `proto` of our unreachable route over the service range


def guard_service_range(cidr: str) -> None:
    """An `unreachable` route over the whole service range: a cluster IP that is not (or no
    longer) on lo fails here at once instead of following the default route off the
    machine. Addresses on lo live in the local table, which wins over this route."""
    if not cidr:
        return
    current = {str(r.get("dst")) for r in json.loads(_ip("-j", "route", "show", "proto",
                                                         GUARD_PROTO) or "[]")}
    if cidr not in current:
        _ip("route", "replace", "unreachable", cidr, "proto", GUARD_PROTO)
    for other in current - {cidr}:  # the range was changed
        with contextlib.suppress(OSError):
            _ip("route", "del", "unreachable", other, "proto", GUARD_PROTO)


def remove_guards() -> None:
    for r in json.loads(_ip("-j", "route", "show", "proto", GUARD_PROTO) or "[]"):
        with contextlib.suppress(OSError):
            _ip("route", "del", "unreachable", str(r.get("dst")), "proto", GUARD_PROTO)


class Hairpin:
    """Hairpin mode on every port of a bridge, so a pod reaches itself via its service.

    Each port is read once, not at every update: with a thousand pods, reading every
    port's flag twice a minute was the proxy's largest idle cost. Ports gone are
    forgotten (a new veth may come back under a name seen before), and every `recheck`
    seconds every port is read again, to repair a flag someone else turned off.
    """

    def __init__(self, bridge: str = "docker0", recheck: float = 300.0,
                 net: Path = Path("/sys/class/net")) -> None:
        self.brif = net / bridge / "brif"
        self.recheck = recheck
        self._set: set[str] = set()
        self._since = time.monotonic()

    def ensure(self) -> int:
        """Turn it on where it is not known to be on; the ports seen on (all of them)."""
        if time.monotonic() - self._since >= self.recheck:
            self._set.clear()
            self._since = time.monotonic()
        try:
            ports = set(os.listdir(self.brif))
        except OSError:  # no such bridge (yet)
            return 0
        self._set &= ports
        for port in ports - self._set:
            flag = self.brif / port / "hairpin_mode"
            try:
                if flag.read_text().strip() != "1":
                    flag.write_text("1")
                self._set.add(port)
            except OSError:  # the port went away while we looked
                continue
        return len(self._set)


def run_dir() -> Path:
    """Where the network layer keeps what must outlive one process (RECONCILER_RUN_DIR)."""
    path = Path(os.environ.get("RECONCILER_RUN_DIR") or DEFAULT_RUN_DIR)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o755)
    except PermissionError:  # not root: a folder of this user's own
        path = Path(tempfile.gettempdir()) / f"reconciler-run-{os.getuid()}"
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


class RouteLocalnet:
    """net.ipv4.conf.all.route_localnet=1 while NodePorts are served, then the old value back.

    DNAT of 127.0.0.1:NODEPORT to a pod address needs it, as kube-proxy sets it;
    RECONCILER-FIREWALL drops what it would otherwise let in from outside. The value
    found before we first set it is kept in a file: the rules (and the need) outlive
    the process, and only an explicit cleanup puts the old value back.
    """

    def __init__(self, path: Path = ROUTE_LOCALNET, saved: Path | None = None) -> None:
        self._path = path
        self._saved = saved

    @property
    def saved(self) -> Path:
        return self._saved or run_dir() / f"route_localnet-{netns_id()}.orig"

    def enable(self) -> None:
        if self._path.read_text().strip() == "1":
            return
        with contextlib.suppress(OSError):  # not knowing the old value must not stop NodePorts
            if not self.saved.exists():
                self.saved.write_text(self._path.read_text().strip())
        self._path.write_text("1")

    def restore(self) -> None:
        """Put back the value found before we set it (nothing when we never set it)."""
        try:
            original = self.saved.read_text().strip()
        except OSError:
            return
        with contextlib.suppress(OSError):
            self._path.write_text(original)
        with contextlib.suppress(OSError):
            self.saved.unlink()


def netns_id() -> int:
    """This process's network namespace: one /run is seen from every namespace."""
    try:
        return os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return 0
