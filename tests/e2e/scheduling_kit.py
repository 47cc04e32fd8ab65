"""Helpers of the scheduling end-to-end tests: hosts of their own, workloads, placements.

Used by tests/e2e/test_scheduling.py and tests/e2e/test_scheduling_proofs.py. Each
test file makes Docker hosts of its own in network namespaces
(scripts/netns-host.sh through daemonsets_kit.netns_host, whose host table
`register` extends), so files running in parallel never share or stop a host.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import daemonsets_kit
from tests.e2e.daemonsets_kit import netns_host
from tests.e2e.service import ServiceRun, remove_all

HOSTNAME = "kubernetes.io/hostname"


def register(hosts: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Add hosts (name -> (third octet of 10.x.0.0/24, bridge address)) to the netns host
    table; their engines by name. Each name's last letter names its veth: keep it unique."""
    for name, (octet, bip) in hosts.items():
        daemonsets_kit._NETNS_HOSTS[name] = (octet, bip)
        daemonsets_kit.ADDRESSES[name] = f"10.{octet}.0.2"
        daemonsets_kit.ENGINES[name] = f"unix:///var/run/docker-{name}.sock"
    return {name: daemonsets_kit.ENGINES[name] for name in hosts}


def freeze(name: str) -> None:
    """The host is lost: its engine answers nothing (its containers keep running)."""
    pid = Path(f"/var/run/docker-{name}.pid").read_text().strip()
    subprocess.run(["kill", "-STOP", pid], check=True)


def thaw(name: str) -> None:
    """The host's engine answers again (nothing when it was not frozen)."""
    pid = Path(f"/var/run/docker-{name}.pid")
    if pid.exists():
        subprocess.run(["kill", "-CONT", pid.read_text().strip()], check=False)


@contextmanager
def hosts_up(names: list[str]) -> Iterator[None]:
    """The hosts up (the test skipped when one cannot start); thawed and stopped after."""
    for name in names:
        up = netns_host(name, "up")
        if up.returncode != 0:
            for other in names:
                netns_host(other, "down")
            pytest.skip(f"Docker host {name} unavailable: {up.stderr.strip() or up.stdout}")
    try:
        yield
    finally:
        for name in names:
            thaw(name)
            netns_host(name, "down")


@contextmanager
def service_on(svc_factory: list[ServiceRun], tmp_path: Path, engines: dict[str, str],
               env: dict[str, str], also: tuple[str, ...] = ()) -> Iterator[ServiceRun]:
    """The service (not started); afterwards the hosts answer again, the service is stopped
    and its containers are removed from them (and from the engines `also` names)."""
    service = ServiceRun(tmp_path, extra_env=env)
    svc_factory.append(service)
    try:
        yield service
    finally:
        for name in engines:
            thaw(name)
        if service.proc is not None and service.proc.poll() is None:
            service.stop()
        for url in [*engines.values(), *also]:
            remove_all(service.prefix, url)


def node_doc(name: str, engine: str, address: str = "", **spec: Any) -> str:
    """One Node manifest (JSON, which is YAML)."""
    body: dict[str, Any] = {"engine": engine, **({"address": address} if address else {}),
                            **spec}
    return json.dumps({"apiVersion": "reconciler.dev/v1", "kind": "Node",
                       "metadata": {"name": name}, "spec": body})


def workload(name: str, replicas: int, spec: dict[str, Any] | None = None,
             kind: str = "ReplicationController") -> str:
    """An RC (or Deployment) of busybox pods that sleep, with `spec` merged into the pod spec."""
    pod_spec = {"terminationGracePeriodSeconds": 1,
                "containers": [{"name": "main", "image": "reconciler/busybox:1",
                                "command": ["sleep", "3600"]}], **(spec or {})}
    template = {"metadata": {"labels": {"app": name}}, "spec": pod_spec}
    if kind == "Deployment":
        body: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "Deployment",
                                "metadata": {"name": name},
                                "spec": {"replicas": replicas, "template": template,
                                         "selector": {"matchLabels": {"app": name}}}}
    else:
        body = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
                "spec": {"replicas": replicas, "selector": {"app": name}, "template": template}}
    return json.dumps(body, indent=1)


def anti_affinity(app: str) -> dict[str, Any]:
    """Required anti-affinity of `app`'s pods with each other: one per host."""
    return {"affinity": {"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"app": app}}, "topologyKey": HOSTNAME}]}}}


def placed(run: ServiceRun, app: str) -> Counter[str]:
    """Running pods of `app` per node."""
    return Counter(p["spec"].get("nodeName", "") for p in run.running()
                   if (p["metadata"].get("labels") or {}).get("app") == app)


def pods_of(run: ServiceRun, app: str) -> list[dict[str, Any]]:
    """`app`'s pods not being deleted, as `get pods -o json` shows them."""
    return [p for p in run.pods() if (p["metadata"].get("labels") or {}).get("app") == app
            and not p["metadata"].get("deletionTimestamp")]


def unschedulable_message(pod: dict[str, Any]) -> str:
    """The message of a pod's PodScheduled=False condition ("" when scheduled)."""
    for c in pod["status"].get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False":
            return str(c.get("message", ""))
    return ""


def ready_by_node(pods: list[dict[str, Any]]) -> Counter[str]:
    """Running pods whose containers are all ready, per node."""
    return Counter(p["spec"].get("nodeName", "") for p in pods
                   if p["status"].get("phase") == "Running"
                   and all(c.get("ready") for c in p["status"].get("containerStatuses")
                           or [{}]))
