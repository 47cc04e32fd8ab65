"""The detached cluster DNS server: `python -m reconciler.network.dnsd`, a process of its own.

Started (or adopted) by `reconciler.network.dnsproc.DetachedDns`, which the embedded
proxy of `reconciler run` and `reconciler proxy` use, so that DNS answers keep coming
while the service restarts, as CoreDNS runs apart from the control plane. It serves
`reconciler.network.dns.DnsServer` from the last table the service wrote
(`snapshot.py`), reloads when the file changes (SIGHUP asks for it at once) and
writes a pidfile once its sockets are bound. Its signals are taken synchronously by
the main loop (`sigtimedwait`), with every thread blocking them. Its sockets use
SO_REUSEPORT: a newer server binds beside it before it is told to stop (SIGTERM), and
it answers the datagrams already queued before it exits.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from reconciler.network import snapshot
from reconciler.network.dns import DnsServer, host_resolvers
from reconciler.network.dnsguard import (
    BURST,
    LOOPBACK,
    RATE,
    RateLimiter,
    connected_networks,
    networks_of,
)

log = logging.getLogger("reconciler.dnsd")

RELOAD_EVERY = 10.0  # seconds between looks at the snapshot when no SIGHUP came: a safety net
RESOLV_CONF = Path("/etc/resolv.conf")
SIGNALS = frozenset({signal.SIGHUP, signal.SIGTERM, signal.SIGINT})


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m reconciler.network.dnsd")
    p.add_argument("--address", required=True)
    p.add_argument("--port", type=int, default=53)
    p.add_argument("--domain", default="cluster.local")
    p.add_argument("--snapshot", type=Path, required=True)
    p.add_argument("--pidfile", type=Path, required=True)
    p.add_argument("--version", default="")
    p.add_argument("--reload-every", type=float, default=RELOAD_EVERY,
                   help="seconds between looks at the snapshot without a SIGHUP")
    p.add_argument("--rate", type=float, default=RATE, help="queries a second per source")
    p.add_argument("--burst", type=float, default=BURST, help="burst per source")
    return p.parse_args(argv)


def local_networks() -> list[str]:
    """Loopback and the subnets of this namespace's interfaces: the sources that may have
    names outside the cluster forwarded (dnsguard.may_recurse)."""
    try:
        out = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True,
                             text=True, check=False, timeout=10).stdout
        return [*LOOPBACK, *connected_networks(json.loads(out or "[]"))]
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        log.warning("interfaces not read (recursion for loopback only): %s", exc)
        return list(LOOPBACK)


def own_addresses(networks: list[str]) -> list[str]:
    """Loopback and this host's own addresses (each network's address part), exempt from
    the rate limit: the host's processes all share them."""
    return [*LOOPBACK, *(n.split("/", 1)[0] for n in networks)]


def write_pidfile(path: Path, pid: int, port: int, version: str) -> None:
    tmp = path.with_name(f".{path.name}.{pid}.tmp")
    tmp.write_text(json.dumps({"pid": pid, "port": port, "version": version}))
    os.replace(tmp, path)


@dataclass(frozen=True)
class PidInfo:
    """What a running server announces in its pidfile."""

    pid: int
    port: int
    version: str


def read_pidfile(path: Path) -> PidInfo | None:
    try:
        data = json.loads(path.read_text())
        return PidInfo(int(data["pid"]), int(data["port"]), str(data["version"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _reload(server: DnsServer, path: Path,
            seen: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
    """Load the snapshot when it changed since `seen`; the stamp of what is served now."""
    stamp = _stamp(path)
    if stamp is None or stamp == seen:
        return seen
    try:
        server.update(snapshot.load(path))
    except (OSError, ValueError, KeyError, TypeError) as exc:  # a torn or foreign file
        log.warning("snapshot %s not loaded: %s", path, exc)
        return seen
    return stamp


def serve(args: argparse.Namespace) -> int:
    # Blocked before any thread starts, so that every thread inherits the mask: the kernel
    # may hand a process-directed signal to any thread that does not block it, and
    # the server runs reader, forwarding and TCP threads. A SIGHUP taken by one of those
    # ran the Python handler only when the main thread next woke, at the 10 s safety reload
    # (answers 9.8-10 s late under load, docs/network.md). The main loop now takes
    # the signals itself with sigtimedwait: a pending one wakes it, whichever thread
    # was running, and no handler runs while the loop holds a lock.
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    seen = _stamp(args.snapshot)
    try:
        table = snapshot.load(args.snapshot) if seen is not None else None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("snapshot %s not loaded: %s", args.snapshot, exc)
        table, seen = None, None
    networks = local_networks()
    server = DnsServer(args.address, args.port, domain=args.domain, reuse_port=True,
                       table=table, networks=networks, unlimited=own_addresses(networks),
                       limiter=RateLimiter(args.rate, args.burst))
    pid = os.getpid()
    write_pidfile(args.pidfile, pid, server.port, args.version)
    log.info("DNS on %s:%d (pid %d)", args.address, server.port, pid)
    resolv = _stamp(RESOLV_CONF)
    while True:
        got = signal.sigtimedwait(SIGNALS, args.reload_every)
        if got is not None and got.si_signo != signal.SIGHUP:
            break
        # A SIGHUP always reloads: a rewrite can reuse the inode with the same size
        # within one timestamp tick, and the stamp would then miss it.
        seen = _reload(server, args.snapshot, None if got is not None else seen)
        # A new Docker network (a bridge for pods) appears with the pods that use it.
        networks = local_networks()
        server.networks = networks_of(networks)
        server.unlimited = networks_of(own_addresses(networks))
        if _stamp(RESOLV_CONF) != resolv:
            # The server outlives many service restarts: the host's resolvers may change
            # (DHCP, a new network) in its lifetime.
            resolv = _stamp(RESOLV_CONF)
            server.upstreams = [(ip, 53) for ip in host_resolvers(RESOLV_CONF, args.address)]
            log.info("upstream resolvers: %s", [ip for ip, _ in server.upstreams])
    server.close(drain=True)
    data = read_pidfile(args.pidfile)
    if data is not None and data.pid == pid:
        with contextlib.suppress(OSError):
            args.pidfile.unlink()
    log.info("DNS on %s:%d stopped", args.address, server.port)
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return serve(_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
