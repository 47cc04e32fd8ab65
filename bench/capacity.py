"""Benchmark (issue 20), capacity: N pods over 2 hosts where one bridge holds less than its share.

The proof the issue names: 1,000 busybox sleep pods (`--pods N`) over the local
engine and hostd started with a /24 bridge (253 pod addresses, HOSTD_BIP), so an
even spread would overfill hostd. The scheduler counts each node's allocatable
pods (max-pods within the free addresses of its bridge, read at each heartbeat):
hostd must take no more than its bridge holds, and all N must run. Reported:
the time until N app containers run across both engines, the pods per host, and
the service's peak RSS (VmHWM). hostd is stopped afterwards, so the next start
(bench scale's) gets its usual /21 again. Not run by the tests: 1,000 pods load a
shared machine for minutes.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from bench.harness import (
    BUSYBOX,
    HOSTD,
    LOCAL,
    app_containers,
    bridge_subnet,
    client,
    host_script,
    remove_prefix,
    service,
    status_kb,
    wait_for,
    workdir,
    write_atomic,
)
from bench.report import Row
from bench.scale import NODES, RC, capacity

NAME = "capacity"
DEFAULT_PODS = 1000
SMALL_BIP = "172.28.0.1/24"


def run(args: Any = None) -> list[Row]:
    quick = getattr(args, "quick", False)
    pods = int(getattr(args, "pods", None) or (20 if quick else DEFAULT_PODS))
    host_script("hostd", "stop")  # a running hostd keeps the bridge it was started with
    os.environ["HOSTD_BIP"] = SMALL_BIP
    try:
        if not host_script("hostd", "start"):
            return [Row(NAME, "second Docker host", None, note="scripts/hostd.sh start failed")]
    finally:
        del os.environ["HOSTD_BIP"]
    with contextlib.ExitStack() as stack, workdir("capacity") as tmp:
        stack.callback(host_script, "hostd", "stop")
        small = capacity(bridge_subnet(HOSTD))
        local, hostd = client(LOCAL), client(HOSTD)
        stack.callback(local.close)
        stack.callback(hostd.close)
        (tmp / "desired").mkdir()
        write_atomic(tmp / "desired" / "nodes.yaml", NODES)
        prefix = ""
        try:
            with service(tmp, hosts=()) as svc:
                prefix = svc.prefix
                assert svc.proc is not None
                started = time.monotonic()
                write_atomic(svc.desired / "rc.yaml", RC.format(n=pods, image=BUSYBOX))

                def spread() -> tuple[int, int]:
                    return len(app_containers(local, prefix)), len(app_containers(hostd, prefix))
                wait_for(lambda: sum(spread()) >= pods, 60 + pods * 2, 1.0,
                         what=f"{pods} pods running")
                elapsed = time.monotonic() - started
                on_local, on_hostd = spread()
                peak = status_kb(svc.proc.pid) / 1024
        finally:
            if prefix:
                for url in (LOCAL, HOSTD):
                    remove_prefix(url, prefix)
    verdict = "within" if on_hostd <= small else "OVER"
    return [
        Row(NAME, f"{pods} pods, one bridge of {small} addresses: until all run", elapsed, "s",
            note=f"local {on_local}, hostd {on_hostd} ({verdict} its {small} addresses)"),
        Row(NAME, "service peak RSS", peak, "MiB", note=f"{pods} pods"),
    ]
