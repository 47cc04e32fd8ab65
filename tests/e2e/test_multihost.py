"""End to end, issue 18: three machines, one PostgreSQL store, two control planes, an agent each.

Three network namespaces of this file's own stand for three machines, each with its
own dockerd (scripts/netns-host.sh through scheduling_kit): `hostk` (10.231.0.2,
bridge 172.16.31.1/24), `hostl` (10.232.0.2, 172.16.32.1/24) and `hostm`
(10.233.0.2, 172.16.33.1/24). PostgreSQL runs on the host, a cluster of this file's
own (tests/support/postgres.py: the session's cluster is shared, and this file
restarts its server). Inside the namespaces run what a machine runs: `reconciler run`
in `hostk` (active) and `hostl` (standby), with the service proxy off, and
`reconciler agent` in all three (proxy, DNS, pod routes). Each namespace's
iptables and DNS are its own, so the file takes no machine-wide lock.

One module-scoped set-up for both proofs (they run in order):
- failover: kill -9 the active control plane while an RC scales 3 -> 12: the standby
  takes over, the RC ends at exactly 12 pods, no container twice on any engine;
  the takeover time is printed;
- store restart: PostgreSQL restarted under the service and the agents while the
  desired folder changes: both reconnect, no pod restarted or deleted, the change
  applied after, the agents' rules kept meanwhile.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

import pytest

from reconciler.api.records import PodRecord
from reconciler.store import Store
from reconciler.store.requests import CONTROLLER_LEASE
from tests.e2e import daemonsets_kit
from tests.e2e.scheduling_kit import hosts_up, node_doc, register, workload
from tests.e2e.service import RECONCILER, remove_all, wait_until
from tests.support.postgres import Cluster, start_cluster

T = TypeVar("T")
pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

HOSTS = {"hostk": ("231", "172.16.31.1/24"), "hostl": ("232", "172.16.32.1/24"),
         "hostm": ("233", "172.16.33.1/24")}
ENGINES = register(HOSTS)
STANDBY = "STATUS=standby: another instance holds the lease"
# The lease (seconds): a takeover within about TTL of a kill; the active plane stands
# down after 2 * TTL without the store, longer than the store restart below.
TTL, RENEW = 10, 1
LATE_SVC = json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "late"},
                       "spec": {"selector": {"app": "late"}, "ports": [{"port": 80}]}})
WEB = json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                  "spec": {"selector": {"app": "scaled"}, "ports": [{"port": 80}]}})


def netns(name: str) -> list[str]:
    """The command prefix that runs a program on machine `name`."""
    return ["nsenter", f"--net=/var/run/netns/{name}"]


@dataclass
class Plane:
    """`reconciler run` on one machine: its process, log and systemd notifications."""

    machine: str
    tmp: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    notify: socket.socket | None = None
    messages: list[str] = field(default_factory=list)

    def start(self, desired: Path, url: str) -> Plane:
        path = self.tmp / f"notify-{self.machine}.sock"
        path.unlink(missing_ok=True)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(path))  # a path, not abstract: reachable from any namespace
        self.notify.setblocking(False)
        with open(self.tmp / f"run-{self.machine}.log", "ab") as log:
            self.proc = subprocess.Popen(
                [*netns(self.machine), RECONCILER, "run", "--desired", str(desired),
                 "--state", url, "--proxy-mode", "off"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp,
                env={**self.env, "NOTIFY_SOCKET": str(path)})
        return self

    def said(self, field_: str) -> bool:
        """Whether a notification so far carried `field_` (e.g. READY=1)."""
        assert self.notify is not None
        while True:
            try:
                self.messages.append(self.notify.recv(4096).decode())
            except BlockingIOError:
                break
        assert self.proc is not None and self.proc.poll() is None, self.output()
        return any(field_ in m.split("\n") for m in self.messages)

    def output(self) -> str:
        log = self.tmp / f"run-{self.machine}.log"
        return log.read_text(errors="replace")[-4000:] if log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.notify is not None:
            self.notify.close()
            self.notify = None


@dataclass
class Machines:
    """The module's set-up: the store, the desired folder, the planes and the agents."""

    pg: Cluster
    url: str
    desired: Path
    prefix: str
    planes: dict[str, Plane]
    agents: dict[str, subprocess.Popen[bytes]]

    def log(self, name: str) -> str:
        return (self.desired.parent / f"{name}.log").read_text(errors="replace")

    def write(self, name: str, text: str) -> None:
        tmp = self.desired / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, self.desired / name)

    def pods(self, app: str) -> list[PodRecord]:
        """`app`'s pods in the store, not being deleted ([] while the store is down)."""
        try:
            with Store.open(self.url, create=False) as store:
                found = store.list_pods(containers=False)
        except Exception:  # restarting: the next poll reads it
            return []
        return [p for p in found if p.labels.get("app") == app and p.deletion_timestamp is None]

    def running(self, app: str) -> list[PodRecord]:
        return [p for p in self.pods(app) if p.phase == "Running"]

    def containers(self) -> Counter[tuple[str, str]]:
        """(pod name, container name) -> how many containers of it exist, over the engines."""
        seen: Counter[tuple[str, str]] = Counter()
        for engine in ENGINES.values():
            out = subprocess.run(
                ["docker", "-H", engine, "ps", "-a", "--filter",
                 f"label=io.reconciler.prefix={self.prefix}", "--format",
                 '{{.Label "io.reconciler.pod.name"}} {{.Label "io.reconciler.container.name"}}'],
                capture_output=True, text=True, check=True, timeout=60).stdout
            seen.update(tuple(line.split(" ", 1)) for line in out.splitlines()  # type: ignore[misc]
                        if line.strip())
        return seen

    def container_ids(self) -> dict[str, str]:
        """Container id -> its start time, over the engines: a restart changes the time."""
        found: dict[str, str] = {}
        for engine in ENGINES.values():
            ids = subprocess.run(
                ["docker", "-H", engine, "ps", "-q", "--filter",
                 f"label=io.reconciler.prefix={self.prefix}"],
                capture_output=True, text=True, check=True, timeout=60).stdout.split()
            if ids:
                out = subprocess.run(
                    ["docker", "-H", engine, "inspect", "--format",
                     "{{.Id}} {{.State.StartedAt}}", *ids],
                    capture_output=True, text=True, check=True, timeout=60).stdout
                found.update(line.split(" ", 1) for line in out.splitlines())  # type: ignore[misc]
        return found

    def ready_nodes(self) -> set[str]:
        try:
            with Store.open(self.url, create=False) as store:
                return {n.name for n in store.list_nodes() if n.ready}
        except Exception:
            return set()

    def acks(self) -> dict[str, float]:
        """Node -> when its agent last reported, by the database's clock (epoch seconds)."""
        try:
            with Store.open(self.url, create=False) as store:
                return {a.node: a.applied_at.timestamp() for a in store.proxy_acks()}
        except Exception:
            return {}

    def nat_rules(self, machine: str) -> str:
        """The rules of `machine`'s nat table (no counters, which move on their own)."""
        out = subprocess.run([*netns(machine), "iptables-save", "-t", "nat"],
                             capture_output=True, text=True, check=False, timeout=60).stdout
        return "\n".join(sorted(line for line in out.splitlines() if line.startswith("-A")))


def _pg() -> Cluster:
    cluster = start_cluster()
    if isinstance(cluster, str):
        if os.environ.get("RECONCILER_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(cluster)
        pytest.skip(cluster)
    return cluster


def _start_agent(machine: str, url: str, log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*netns(machine), RECONCILER, "agent", "--node", machine, "--state", url,
         "--interval", "3600"], stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def machines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machines]:
    """Three machines, PostgreSQL, the active plane on hostk, the standby on hostl, agents."""
    tmp = tmp_path_factory.mktemp("multihost")
    pg = _pg()
    prefix = f"mh{os.urandom(3).hex()}"
    env = {**os.environ, "RECONCILER_RUNTIME_NAME_PREFIX": prefix,
           "RECONCILER_METRICS_ADDRESS": "", "RECONCILER_UI_ADDRESS": "",
           "RECONCILER_RESYNC_INTERVAL": "5s", "RECONCILER_HEARTBEAT_INTERVAL": "1s",
           "RECONCILER_RUNTIME_PULL_FROM": "127.0.0.1",
           "RECONCILER_LEASE__TTL": f"{TTL}s", "RECONCILER_LEASE__RENEW": f"{RENEW}s",
           # One key for both planes, as an operator copies it between machines.
           "RECONCILER_SECRETS__KEY_FILE": str(tmp / "secrets.key"),
           "RECONCILER_RUNTIME__VOLUMES_DIR": str(tmp / "volumes")}
    desired = tmp / "desired"
    desired.mkdir()
    (desired / "nodes.yaml").write_text("".join(
        f"---\n{node_doc(name, ENGINES[name], daemonsets_kit.ADDRESSES[name])}\n"
        for name in HOSTS))
    (desired / "web.yaml").write_text(WEB)
    planes = {m: Plane(m, tmp, env) for m in ("hostk", "hostl")}
    agents: dict[str, subprocess.Popen[bytes]] = {}
    try:
        with hosts_up(list(HOSTS)):
            try:
                url = pg.create_database("mh")
                set_up = Machines(pg, url, desired, prefix, planes, agents)
                planes["hostk"].start(desired, url)
                wait_until(lambda: planes["hostk"].said("READY=1"), 120, 0.2,
                           "the first control plane ready")
                wait_until(lambda: set_up.ready_nodes() == set(HOSTS), 120, 0.5,
                           "the three machines Ready (and no other node)")
                planes["hostl"].start(desired, url)
                wait_until(lambda: planes["hostl"].said(STANDBY), 120, 0.2,
                           "the second one standing by")
                with open(tmp / "agents.log", "ab") as log:
                    for machine in HOSTS:
                        agents[machine] = _start_agent(machine, url, log)
                wait_until(lambda: set(set_up.acks()) >= set(HOSTS), 120, 0.5,
                           "every agent's first report")
                yield set_up
            finally:
                # Inside the namespaces, before hosts_up removes them: a DNS server left
                # in a removed namespace would live on, unreachable.
                _tear_down(planes, agents, prefix)
    finally:
        pg.stop()


def _tear_down(planes: dict[str, Plane], agents: dict[str, subprocess.Popen[bytes]],
               prefix: str) -> None:
    # Every process told at once, then waited for: each takes a few seconds to stop.
    for proc in [*(p.proc for p in planes.values()), *agents.values()]:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for plane in planes.values():
        plane.stop()
    for proc in agents.values():
        if proc.poll() is None:
            proc.wait(30)
    cleanups = [subprocess.Popen([*netns(m), RECONCILER, "proxy", "--cleanup"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                for m in HOSTS]  # side by side: each is a process start of its own
    for machine in HOSTS:
        remove_all(prefix, ENGINES[machine])
    for cleanup in cleanups:
        _, err = cleanup.communicate(timeout=120)
        assert cleanup.returncode == 0, err
    remove_all(prefix)  # none, unless a mistake put pods on this machine's own engine


class TestFailover:
    def test_standby_takes_over_mid_scale_and_ends_at_exactly_12(self, machines: Machines) -> None:
        """kill -9 of the active plane while an RC scales 3 -> 12: the standby ends it at 12."""
        active, standby = machines.planes["hostk"], machines.planes["hostl"]
        machines.write("scaled.yaml", workload("scaled", 3))
        wait_until(lambda: len(machines.running("scaled")) == 3, 120, 0.5, "3 pods running")
        machines.write("scaled.yaml", workload("scaled", 12))
        wait_until(lambda: len(machines.pods("scaled")) > 3, 60, 0.05, "the scale-up begun")
        assert active.proc is not None
        active.proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        active.proc.wait(30)
        at_kill = len(machines.pods("scaled"))
        wait_until(lambda: standby.said("READY=1"), 120, 0.05, "the standby active")
        took = time.monotonic() - killed
        wait_until(lambda: len(machines.running("scaled")) == 12, 180, 0.5, "12 pods running")
        with Store.open(machines.url, create=False) as store:
            lease = store.get_lease(CONTROLLER_LEASE)
        assert lease is not None and lease.holder.startswith(socket.gethostname())
        # `reconciler sync` from this machine reaches the new active one through the store.
        synced = subprocess.run([RECONCILER, "sync", "--state", machines.url],
                                capture_output=True, text=True, timeout=120, check=False)
        assert synced.returncode == 0, synced.stderr
        assert f"instance {lease.holder} (taken)" in synced.stdout
        print(f"\nfailover: {at_kill} pods recorded at the kill; standby active "
              f"{took:.1f}s after kill -9 (lease ttl {TTL}s), epoch {lease.epoch}")
        # A resync later (5 s) nothing moved: 12 pods, one container of each on one engine.
        seen: list[object] = []

        def settled() -> Counter[tuple[str, str]] | None:
            ok, names, found = _settled(machines)
            seen[:] = [sorted(names), sorted(found.items())]
            return found if ok else None

        try:
            containers = wait_until(settled, 60, 1.0, "the engines settled")
        except AssertionError as e:
            raise AssertionError(f"{e}\npods {seen[0]}\ncontainers {seen[1]}") from None
        twice = {k: n for k, n in containers.items() if n > 1}
        assert not twice, f"containers twice: {twice}"
        assert len(machines.pods("scaled")) == 12
        assert {p.node_name for p in machines.pods("scaled")} <= set(HOSTS)
        mains = [k for k in containers if k[1] == "main"]
        assert len(mains) == 12, sorted(containers)


def _cluster_ip(machines: Machines, name: str = "web") -> str:
    ip: str = wait_until(lambda: _read(machines, lambda s: s.cluster_ips().get(f"default/{name}")),
                         60, 0.5, f"the {name} service's cluster IP")
    return ip


def _endpoints_revision(machines: Machines) -> int:
    revision: int = _read(machines, lambda s: s.endpoints_revision()) or 0
    return revision


def _agents_at(machines: Machines, revision: int) -> bool:
    """Whether every machine's agent has applied endpoints `revision` (or newer)."""
    acks = _read(machines, lambda s: {a.node: a.revision for a in s.proxy_acks()}) or {}
    return revision > 0 and all(acks.get(m, -1) >= revision for m in HOSTS)


def _read(machines: Machines, what: Callable[[Store], T]) -> T | None:
    """`what` of the store, or None while it cannot be read (restarting)."""
    try:
        with Store.open(machines.url, create=False) as store:
            return what(store)
    except Exception:
        return None


def _settled(machines: Machines) -> tuple[bool, set[str], Counter[tuple[str, str]]]:
    """Whether the containers are exactly the 12 pods' (main and sandbox of each); the
    pods' names and the containers, for the message when they never are."""
    names = {p.name for p in machines.pods("scaled")}
    found = machines.containers()
    pods = {pod for pod, _ in found}
    return pods == names and len(names) == 12, names, found


class TestStoreRestart:
    def test_service_and_agents_reconnect_and_nothing_restarts(self, machines: Machines) -> None:
        """PostgreSQL restarted under everything: pods untouched, rules kept, a change applied;
        an agent started meanwhile waits for the store."""
        machines.write("scaled.yaml", workload("scaled", 12))  # as the failover left it
        wait_until(lambda: len(machines.running("scaled")) == 12, 180, 0.5, "12 pods running")
        before_pods = {p.uid for p in machines.pods("scaled")}
        before = machines.container_ids()
        ip = _cluster_ip(machines)
        wait_until(lambda: ip in machines.nat_rules("hostm"), 60, 0.5,
                   "the agent's rules for the web service")
        rules = machines.nat_rules("hostm")
        down = time.time()
        machines.pg.stop_server()
        # Meanwhile: a change in the desired folder, and the agents keep their rules.
        machines.write("late.yaml", workload("late", 2) + "\n---\n" + LATE_SVC)
        # Down long enough to be seen: every agent and the active plane report it.
        wait_until(lambda: all(f"agent {m}: store unreachable" in machines.log("agents")
                               for m in HOSTS), 60, 0.2, "the agents seeing the store gone")
        wait_until(lambda: "not renewed" in machines.log("run-hostl"), 60, 0.2,
                   "the active plane seeing the store gone")
        assert machines.nat_rules("hostm") == rules
        # An agent restarted while the store is down (after a crash: systemd's Restart=)
        # waits for it, and the rules stay in force meanwhile.
        old = machines.agents["hostm"]
        old.kill()
        old.wait(30)
        with open(machines.desired.parent / "agents.log", "ab") as log:
            machines.agents["hostm"] = _start_agent("hostm", machines.url, log)
        wait_until(lambda: "store not reachable" in machines.log("agents"), 60, 0.2,
                   "the new agent waiting for the store")
        assert machines.nat_rules("hostm") == rules
        machines.pg.start_server()
        print(f"\nstore down for {time.time() - down:.1f}s")
        wait_until(lambda: len(machines.running("late")) == 2, 180, 0.5,
                   "the change made while the store was down applied")
        # The agents followed the store again: each serves the new service's endpoints.
        late_ip = _cluster_ip(machines, "late")
        wait_until(lambda: _agents_at(machines, _endpoints_revision(machines)), 120, 0.5,
                   "every agent at the endpoints revision of the change")
        assert late_ip in machines.nat_rules("hostm")
        print(f"agents serving the change {time.time() - down:.1f}s after the store went down")
        assert {p.uid for p in machines.pods("scaled")} == before_pods
        after = machines.container_ids()
        assert {k: v for k, v in after.items() if k in before} == before, \
            "no container restarted or removed"
        standby = machines.planes["hostl"]
        assert standby.proc is not None and standby.proc.poll() is None, standby.output()
        # Its request listener is back on the store too: a sync is taken.
        synced = subprocess.run([RECONCILER, "sync", "--state", machines.url],
                                capture_output=True, text=True, timeout=120, check=False)
        assert synced.returncode == 0 and "(taken)" in synced.stdout, synced.stderr
        assert all(p.poll() is None for p in machines.agents.values())
