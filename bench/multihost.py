"""Benchmark `multihost` (issue 18): 300 pods over three hosts on PostgreSQL, beside SQLite on one.

The same ReplicationController of N busybox sleep pods (`--pods N`, default 300) is
converged three times by the real service with its default configuration
(harness.DEFAULTS):
- **PostgreSQL, three hosts**: a throw-away PostgreSQL 15 cluster
  (tests/support/postgres.py, unix socket) as the store, and three Docker hosts, each a
  network namespace with its own dockerd (scripts/netns-host.sh): `hosti`, `hostj`,
  `hostn` (10.220-222.0.2, bridges 172.16.44.1/22, .48.1/22, .52.1/22), declared as Nodes;
- **SQLite, one host**: the service's default store (a state.db file) and `hosti` alone,
  whose /22 bridge holds all N pods;
- **PostgreSQL, three hosts run by their agents**: the same three Nodes declared
  `agent: true`, each run by a `reconciler agent --no-data-plane` of its own
  (docs/multihost.md): the control plane only schedules, the agents run the pods.

Each run starts the service, waits for its nodes to be Ready, writes the RC and takes
the time until N app containers run on the engines (what Docker says) and until the
store records N pods Running (what `reconciler get pods` says: the convergence). The
hosts are this benchmark's own (no test stops or partitions them) and are removed after.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.harness import (
    BUSYBOX,
    DEFAULTS,
    app_containers,
    client,
    service,
    wait_for,
    workdir,
    write_atomic,
)
from bench.report import Row
from reconciler.store import Store
from tests.e2e import daemonsets_kit
from tests.e2e.scheduling_kit import register
from tests.e2e.service import RECONCILER
from tests.support.postgres import start_cluster

NAME = "multihost"
DEFAULT_PODS = 300
# Names, veths (last letter), 10.x octets and bridges used by no test (hostr, hosts and
# hostt are test_pods' and test_scheduling's).
HOSTS = {"hosti": ("220", "172.16.44.1/22"), "hostj": ("221", "172.16.48.1/22"),
         "hostn": ("222", "172.16.52.1/22")}
ENGINES = register(HOSTS)


def nodes_yaml(names: list[str], agents: bool = False) -> str:
    """Node manifests for `names` (maxPods above the kubelet's 110: the bridges bound it);
    `agents`: each run by its agent (`agent: true`), never dialled by the control plane."""
    return "".join(
        "---\n" + json.dumps({"apiVersion": "reconciler.dev/v1", "kind": "Node",
                              "metadata": {"name": n},
                              "spec": {"engine": ENGINES[n], "maxPods": 1000,
                                       "address": daemonsets_kit.ADDRESSES[n],
                                       **({"agent": True} if agents else {})}}) + "\n"
        for n in names)


def rc_yaml(pods: int) -> str:
    body = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "many"},
            "spec": {"replicas": pods, "selector": {"app": "many"},
                     "template": {"metadata": {"labels": {"app": "many"}},
                                  "spec": {"terminationGracePeriodSeconds": 0,
                                           "containers": [{"name": "main", "image": BUSYBOX,
                                                           "command": ["sleep", "86400"]}]}}}}
    return json.dumps(body, indent=1)


@contextlib.contextmanager
def hosts_up() -> Iterator[str]:
    """The three hosts up ("" when they are; else why not); stopped afterwards."""
    failed = ""
    try:
        for name in HOSTS:
            up = daemonsets_kit.netns_host(name, "up")
            if up.returncode != 0:
                failed = f"Docker host {name}: {(up.stderr or up.stdout).strip()[-300:]}"
                break
        yield failed
    finally:
        for name in HOSTS:
            daemonsets_kit.netns_host(name, "down")


def _store_counts(state: str) -> tuple[int, dict[str, int], int]:
    """(pods Running, Running pods per node, Ready nodes) as the store records them."""
    try:
        with Store.open(state, create=False) as store:
            pods = store.list_pods(containers=False)
            ready = sum(1 for n in store.list_nodes() if n.ready)
    except Exception:  # not created yet, or busy: the next poll reads it
        return 0, {}, 0
    per: dict[str, int] = {}
    for p in pods:
        if p.phase == "Running" and p.deletion_timestamp is None:
            per[p.node_name] = per.get(p.node_name, 0) + 1
    return sum(per.values()), per, ready


def converge(tmp: Path, names: list[str], state: str | None, pods: int,
             agents: bool = False) -> dict[str, Any]:
    """One run: the service on `names` with `state` (None: its SQLite file); the times.
    `agents`: the nodes are `agent: true`, each run by a `reconciler agent` of its own."""
    desired = tmp / "desired"
    desired.mkdir(parents=True)
    write_atomic(desired / "nodes.yaml", nodes_yaml(names, agents))
    engines = tuple(ENGINES[n] for n in names)
    clients = [client(url) for url in engines]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with service(tmp, hosts=engines, start=False) as svc:
            if state is not None:
                svc.state = state  # type: ignore[assignment]  # a URL where a path goes
            svc.start(timeout=180)
            where = str(svc.state)
            if agents:  # in the service's folder: its relative key file and volumes folder
                with open(tmp / "agents.log", "ab") as log:
                    procs = [subprocess.Popen(
                        [RECONCILER, "agent", "--node", n, "--state", where, "--no-data-plane"],
                        stdout=log, stderr=subprocess.STDOUT, env=svc.env, cwd=tmp)
                        for n in names]
            wait_for(lambda: _store_counts(where)[2] == len(names), 120, 0.5,
                     what=f"{len(names)} nodes Ready")
            started = time.monotonic()
            write_atomic(desired / "rc.yaml", rc_yaml(pods))

            def docker_running() -> int:
                return sum(len(app_containers(dc, svc.prefix)) for dc in clients)

            on_engines = _time_until(lambda: docker_running() >= pods, started, pods)
            in_store = _time_until(lambda: _store_counts(where)[0] >= pods, started, pods)
            _, per_node, _ = _store_counts(where)
    finally:  # the service's containers are removed by `service` on leaving
        for proc in procs:
            proc.terminate()
            proc.wait(60)
        for dc in clients:
            dc.close()
    return {"engines": on_engines, "store": in_store, "per_node": per_node}


def _time_until(pred: Callable[[], bool], started: float, pods: int) -> float:
    wait_for(pred, 120 + pods * 2, 0.5, what=f"{pods} pods")
    return time.monotonic() - started


def run(args: Any = None) -> list[Row]:
    quick = getattr(args, "quick", False)
    pods = int(getattr(args, "pods", None) or (15 if quick else DEFAULT_PODS))
    pg = start_cluster()
    if isinstance(pg, str):
        return [Row(NAME, "PostgreSQL", None, note=pg)]
    try:
        with hosts_up() as failed:
            if failed:
                return [Row(NAME, "Docker hosts", None, note=failed)]
            names = list(HOSTS)
            with workdir("multihost-sqlite") as tmp:
                lite = converge(tmp, names[:1], None, pods)
            with workdir("multihost-pg") as tmp:
                url = pg.create_database("bench")
                multi = converge(tmp, names, url, pods)
            with workdir("multihost-agents") as tmp:
                url = pg.create_database("bench")
                by_agents = converge(tmp, names, url, pods, agents=True)
    finally:
        pg.stop()
    spread = _spread(multi)
    return [
        Row(NAME, f"{pods} pods, SQLite, 1 host: all Running in the store", lite["store"], "s",
            note=f"{pods / lite['store']:.1f} pods/s; all containers running after "
                 f"{lite['engines']:.1f} s; {DEFAULTS}"),
        Row(NAME, f"{pods} pods, PostgreSQL, 3 hosts: all Running in the store", multi["store"],
            "s", note=f"{pods / multi['store']:.1f} pods/s; all containers running after "
                      f"{multi['engines']:.1f} s; spread {spread}; ratio to SQLite "
                      f"{multi['store'] / lite['store']:.2f}x"),
        Row(NAME, f"{pods} pods, PostgreSQL, 3 hosts run by their agents (agent: true)",
            by_agents["store"], "s",
            note=f"{pods / by_agents['store']:.1f} pods/s; all containers running after "
                 f"{by_agents['engines']:.1f} s; spread {_spread(by_agents)}; ratio to the "
                 f"control plane driving the engines {by_agents['store'] / multi['store']:.2f}x"),
    ]


def _spread(result: dict[str, Any]) -> str:
    return ", ".join(f"{n} {c}" for n, c in sorted(result["per_node"].items()))
