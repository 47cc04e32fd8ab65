"""What the environmental fault tests share: an RC manifest, and checks on the real service.

Used by test_engine_faults.py and test_store_faults.py, which run `reconciler run`
as a subprocess (tests/e2e/service.py) and inject a fault around it. These
helpers read the service's state as a user would (the CLI, the Docker engine)
and judge it with the suite's one invariant checker (invariants.py).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import docker

from reconciler.runtime import naming
from reconciler.store import Store
from tests.e2e.service import ServiceRun, wait_until
from tests.faults.invariants import assert_invariants, check

# An exec liveness probe every second: an engine outage longer than 3 s must not count
# against it (a probe that cannot run is not a failed probe, as kubelet throws such a result away).
LIVENESS = """\
        livenessProbe:
          exec: {command: [sh, -c, "true"]}
          periodSeconds: 1
          failureThreshold: 3
"""


def rc(name: str, replicas: int, probe: bool = False) -> str:
    """A ReplicationController of busybox sleepers (quick to stop: grace 1 s)."""
    return f"""\
apiVersion: v1
kind: ReplicationController
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: reconciler/busybox:1
        command: ["sleep", "3600"]
{LIVENESS if probe else ""}"""


def running_containers(client: docker.DockerClient, prefix: str) -> dict[str, str]:
    """Running containers of the prefix: id -> "pod-uid/container"."""
    found = client.api.containers(filters={"label": f"{naming.PREFIX}={prefix}",
                                           "status": "running"})
    return {c["Id"]: f"{c['Labels'].get(naming.POD_UID)}/{c['Labels'].get(naming.CONTAINER)}"
            for c in found}


def violations(run: ServiceRun, client: docker.DockerClient) -> list[str]:
    """The invariant violations of the service's state now (empty when all hold)."""
    store = Store.open(str(run.state))
    try:
        return [str(v) for v in check(store, client, run.prefix, run.desired)]
    finally:
        store.close()


def assert_converged(run: ServiceRun, client: docker.DockerClient, replicas: int,
                     timeout: float = 120) -> list[dict[str, Any]]:
    """Wait until `replicas` pods run and the invariants hold; the running pods.

    Fails with the violations and the service's log when that does not happen.
    """
    def done() -> bool:
        # The store's phases can lag the engine (after an engine restart they still say
        # Running while the containers are stopped, about to be replaced): converged means
        # every container of those pods runs on the engine too.
        pods = run.running()
        if len(pods) != replicas:
            return False
        up = Counter(what.split("/", 1)[0]
                     for what in running_containers(client, run.prefix).values())
        return (all(up[p["metadata"]["uid"]] == 1 + len(p["spec"]["containers"]) for p in pods)
                and not violations(run, client))

    try:
        wait_until(done, timeout, 1.0, what=f"{replicas} running pods and no violation")
    except AssertionError as e:
        raise AssertionError(f"{e}\nviolations: {violations(run, client)}\n"
                             f"service log:\n{run.output()[-5000:]}") from None
    store = Store.open(str(run.state))
    try:
        assert_invariants(store, client, run.prefix, run.desired)
    finally:
        store.close()
    return run.running()


def watch_fault(run: ServiceRun, client: docker.DockerClient, before: dict[str, str],
                seconds: float) -> None:
    """For `seconds`: every container that ran before still runs, no pod is marked for
    deletion, and the service is up."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        now = running_containers(client, run.prefix)
        gone = {cid: what for cid, what in before.items() if cid not in now}
        assert not gone, f"running containers removed during the fault: {gone}"
        marked = [p["metadata"]["name"] for p in run.pods()
                  if p["metadata"].get("deletionTimestamp")]
        assert not marked, f"pods marked for deletion during the fault: {marked}"
        assert run.proc is not None and run.proc.poll() is None, (
            f"the service exited during the fault:\n{run.output()[-5000:]}")
        time.sleep(1)


def uids(pods: list[dict[str, Any]]) -> set[str]:
    return {p["metadata"]["uid"] for p in pods}


def stale_addresses(run: ServiceRun, client: docker.DockerClient) -> list[str]:
    """Running pods whose recorded IP is not their running sandbox's address (or that have
    none running): what services would route to after a sandbox was recreated."""
    out = []
    for pod in run.running():
        uid, ip = pod["metadata"]["uid"], pod["status"].get("podIP", "")
        infra = client.api.containers(filters={"label": [f"{naming.POD_UID}={uid}",
                                                         f"{naming.CONTAINER}={naming.INFRA}"],
                                               "status": "running"})
        actual = [client.api.inspect_container(c["Id"])["NetworkSettings"]["IPAddress"]
                  for c in infra]
        if actual != [ip]:
            out.append(f"{pod['metadata']['name']}: recorded {ip!r}, sandbox {actual}")
    return out
