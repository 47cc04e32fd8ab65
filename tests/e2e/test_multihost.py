"""End to end, issue 18: three machines, one PostgreSQL store, two control planes, an agent each.

Three network namespaces of this file's own stand for three machines, each with its
own dockerd (scripts/netns-host.sh through scheduling_kit): `hostk` (10.231.0.2,
bridge 172.16.31.1/24), `hostl` (10.232.0.2, 172.16.32.1/24) and `hostm`
(10.233.0.2, 172.16.33.1/24). The root namespace is the network between them (each
namespace has a veth to it): it forwards between the three veths (rules of this file's
own in its FORWARD chain, whose policy Docker sets to DROP), and with on-link routes,
proxy ARP and routes to the pod subnets it stands for one LAN, where the agents' pod
routes (`POD via NODE_ADDRESS`) work (`forwarding`).
PostgreSQL runs on the host, a cluster of this file's own (tests/support/postgres.py;
this file restarts its server). Inside the namespaces run what a machine runs:
`reconciler run` in `hostk` (active) and `hostl` (standby), with the service proxy
off, and `reconciler agent` in all three (proxy, DNS, pod routes). Each namespace's
iptables and DNS are its own, so the file takes no machine-wide lock.

`hostm` is the machine that the partition cuts off, so everything reaches it over
IP, which iptables can cut: the control planes drive its dockerd over tcp+TLS
(10.233.0.2:2376, certificates of this file's own) and its agent reaches PostgreSQL
over TCP on 10.233.0.1 (the root side of its veth). The other two use unix sockets.

One module-scoped set-up for all four proofs (they run in order):
- failover: kill -9 the active control plane while an RC scales 3 -> 12: the standby
  takes over, the RC ends at exactly 12 pods, no container twice on any engine;
  the takeover time is printed;
- store restart: PostgreSQL restarted under the service and the agents while the
  desired folder changes: both reconnect, no pod restarted or deleted, the change
  applied after, the agents' rules kept meanwhile;
- partition: `hostm` cut off (iptables DROP on its veth) for 60 s: its pods serve its
  local clients, the control plane marks it NotReady and replaces its pods elsewhere,
  and after the cut its stale containers go (the time printed);
- the seed demo over the three machines: pods on all three, the web service answering
  from every machine by cluster IP and NodePort, the redis hit counter rising across
  replicas on every machine, a pod of each machine reaching a pod of another by its
  address.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

import docker
import pytest

from reconciler.api.records import PodRecord
from reconciler.store import Store
from reconciler.store.requests import CONTROLLER_LEASE
from tests.e2e import daemonsets_kit
from tests.e2e.daemonsets_kit import netns_host
from tests.e2e.scheduling_kit import hosts_up, node_doc, register, workload
from tests.e2e.service import RECONCILER, ROOT, remove_all, wait_until
from tests.e2e.test_seed_demo import COUNT, DEMO_IMAGES, ensure_demo_images
from tests.support.postgres import Cluster, start_cluster

T = TypeVar("T")
pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

HOSTS = {"hostk": ("231", "172.16.31.1/24"), "hostl": ("232", "172.16.32.1/24"),
         "hostm": ("233", "172.16.33.1/24")}
ENGINES = register(HOSTS)
CUT = "hostm"  # the machine reached over IP only, and cut off by the partition proof
CUT_ADDRESS, CUT_PEER = "10.233.0.2", "10.233.0.1"  # its address; the root side of its veth
CUT_ENGINE = f"tcp://{CUT_ADDRESS}:2376"
# Node NotReady 8 s without a heartbeat, its pods replaced 30 s after the last one: short
# for the partition proof, longer than the store restart (heartbeats are not written then).
NOT_READY, EVICTION = 8, 30
STANDBY = "STATUS=standby: another instance holds the lease"
# The lease (seconds): a takeover within about TTL of a kill; the active plane stands
# down after 2 * TTL without the store, longer than the store restart below.
TTL, RENEW = 10, 1
LATE_SVC = json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "late"},
                       "spec": {"selector": {"app": "late"}, "ports": [{"port": 80}]}})
WEB = json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "scaled"},
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
                 "--state", url, "--proxy-mode", "agents"],
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
    """The module's PostgreSQL, on its unix socket and on the root side of hostm's veth."""
    cluster = start_cluster()
    if isinstance(cluster, str):
        if os.environ.get("RECONCILER_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(cluster)
        pytest.skip(cluster)
    cluster.listen_on(CUT_PEER, f"{CUT_ADDRESS}/32")
    cluster.stop_server()
    cluster.start_server()
    return cluster


def _engine_tls(folder: Path) -> dict[str, str]:
    """A CA, a server certificate for hostm's address, a client one (ECDSA: cheap); the
    client's files as a Node's spec.tls."""
    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca-key.pem")
    ssl("req", "-x509", "-new", "-key", "ca-key.pem", "-subj", "/CN=test_multihost",
        "-days", "2", "-out", "ca.pem")
    for name, ext in (("server", f"subjectAltName=IP:{CUT_ADDRESS}\n"
                                 "extendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        ssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}-key.pem")
        ssl("req", "-new", "-key", f"{name}-key.pem", "-subj", f"/CN={name}", "-out", "x.csr")
        (folder / "x.ext").write_text(ext)
        ssl("x509", "-req", "-in", "x.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
            "-CAcreateserial", "-days", "2", "-extfile", "x.ext", "-out", f"{name}.pem")
    return {"ca": str(folder / "ca.pem"), "cert": str(folder / "client.pem"),
            "key": str(folder / "client-key.pem")}


def _cut_engine_up(tmp: Path) -> dict[str, str]:
    """hostm's dockerd listening on tcp+TLS too (restarted if it ran without); its spec.tls."""
    folder = tmp / "tls"
    folder.mkdir()
    tls = _engine_tls(folder)
    netns_host(CUT, "down")
    up = netns_host(CUT, "up", "-H", CUT_ENGINE, "--tlsverify", "--tlscacert", tls["ca"],
                    "--tlscert", str(folder / "server.pem"),
                    "--tlskey", str(folder / "server-key.pem"))
    if up.returncode != 0:
        netns_host(CUT, "down")
        pytest.skip(f"Docker host {CUT} unavailable: {up.stderr.strip() or up.stdout}")
    return tls


def _veth(machine: str) -> str:
    return f"v{machine[-1]}0"  # the root side of the machine's veth (daemonsets_kit)


@contextmanager
def forwarding() -> Iterator[None]:
    """The root namespace as the LAN between the machines: it forwards between their veths
    (its FORWARD policy is Docker's DROP), and each machine reaches the others' addresses
    on its link (a route over its veth, the root side answering ARP for them), as
    machines on one subnet do: the agents' pod routes (`POD via NODE_ADDRESS`) need the
    node's address on-link. A frame sent to a node's address then reaches the root side,
    not the node, so the root routes each machine's pod subnet to it (what the one hop
    of a real LAN does). Rules and routes of this module's own, removed after."""
    rules = [["FORWARD", "-i", _veth(a), "-o", _veth(b), "-m", "comment", "--comment",
              "test_multihost: the machines' LAN", "-j", "ACCEPT"]
             for a in HOSTS for b in HOSTS if a != b]
    for rule in rules:
        subprocess.run(["iptables", "-w", "-I", *rule], check=True, capture_output=True)
    pods = {a: str(ipaddress.ip_interface(bip).network) for a, (_, bip) in HOSTS.items()}
    for a in HOSTS:
        subprocess.run(["sysctl", "-qw", f"net.ipv4.conf.{_veth(a)}.proxy_arp=1"], check=True)
        subprocess.run(["ip", "route", "replace", pods[a], "via", daemonsets_kit.ADDRESSES[a]],
                       check=True)
        for b in HOSTS:
            if a != b:
                subprocess.run([*netns(a), "ip", "route", "replace",
                                f"{daemonsets_kit.ADDRESSES[b]}/32", "dev", f"{_veth(a)[:-1]}1"],
                               check=True)
    try:
        yield
    finally:
        for rule in rules:
            subprocess.run(["iptables", "-w", "-D", *rule], check=False, capture_output=True)
        for a in HOSTS:
            subprocess.run(["sysctl", "-qw", f"net.ipv4.conf.{_veth(a)}.proxy_arp=0"],
                           check=False, capture_output=True)
            subprocess.run(["ip", "route", "del", pods[a]], check=False, capture_output=True)


def _agent_url(pg: Cluster, url: str, machine: str) -> str:
    """The store's URL as `machine` reaches it: hostm over TCP (a partition cuts it)."""
    return pg.tcp_url(url) if machine == CUT else url


def _start_agent(machine: str, url: str, log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*netns(machine), RECONCILER, "agent", "--node", machine, "--state", url,
         "--interval", "3600"], stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def machines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machines]:
    """Three machines, PostgreSQL, the active plane on hostk, the standby on hostl, agents."""
    tmp = tmp_path_factory.mktemp("multihost")
    prefix = f"mh{os.urandom(3).hex()}"
    env = {**os.environ, "RECONCILER_RUNTIME_NAME_PREFIX": prefix,
           "RECONCILER_METRICS_ADDRESS": "", "RECONCILER_UI_ADDRESS": "",
           "RECONCILER_RESYNC_INTERVAL": "5s", "RECONCILER_HEARTBEAT_INTERVAL": "1s",
           "RECONCILER_NODE_NOT_READY_TIMEOUT": f"{NOT_READY}s",
           "RECONCILER_NODE_EVICTION_TIMEOUT": f"{EVICTION}s",
           "RECONCILER_RUNTIME_PULL_FROM": "127.0.0.1",
           "RECONCILER_LEASE__TTL": f"{TTL}s", "RECONCILER_LEASE__RENEW": f"{RENEW}s",
           # One key for both planes, as an operator copies it between machines.
           "RECONCILER_SECRETS__KEY_FILE": str(tmp / "secrets.key"),
           "RECONCILER_RUNTIME__VOLUMES_DIR": str(tmp / "volumes")}
    desired = tmp / "desired"
    desired.mkdir()
    planes = {m: Plane(m, tmp, env) for m in ("hostk", "hostl")}
    agents: dict[str, subprocess.Popen[bytes]] = {}
    tls = _cut_engine_up(tmp)
    (desired / "nodes.yaml").write_text("".join(
        f"---\n{node_doc(CUT, CUT_ENGINE, CUT_ADDRESS, tls=tls)}\n" if name == CUT else
        f"---\n{node_doc(name, ENGINES[name], daemonsets_kit.ADDRESSES[name])}\n"
        for name in HOSTS))
    (desired / "scaled-svc.yaml").write_text(WEB)
    with hosts_up(list(HOSTS)), forwarding():
        pg = _pg()
        try:
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
                        agents[machine] = _start_agent(machine, _agent_url(pg, url, machine),
                                                       log)
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


def _cluster_ip(machines: Machines, name: str = "scaled") -> str:
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
            machines.agents["hostm"] = _start_agent(
                "hostm", _agent_url(machines.pg, machines.url, "hostm"), log)
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


# The partition: an httpd per pod answering its own name (a pod's hostname is its name).
HTTPD = ["sh", "-c", "mkdir -p /www; hostname > /www/index.html; exec httpd -f -p 8080 -h /www"]
PART = workload("part", 6, {"containers": [{
    "name": "main", "image": "reconciler/busybox:1", "command": HTTPD,
    "ports": [{"containerPort": 8080}]}]})
PART_SVC = json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "part"},
                       "spec": {"selector": {"app": "part"},
                                "ports": [{"port": 80, "targetPort": 8080}]}})
CUT_FOR = 60.0  # seconds
# hostm's side of its veth: everything it exchanges with the store and the other machines.
CUT_RULES = [["INPUT", "-i", "vm1"], ["OUTPUT", "-o", "vm1"], ["FORWARD", "-i", "vm1"],
             ["FORWARD", "-o", "vm1"]]


def _cut(action: str) -> None:
    """Insert (-I) or delete (-D) the DROP rules that cut hostm off, in its namespace."""
    for rule in CUT_RULES:
        subprocess.run([*netns(CUT), "iptables", "-w", action, *rule, "-j", "DROP"],
                       check=action == "-I", capture_output=True, timeout=60)


def _get(machine: str, url: str, headers: bool = False) -> str | None:
    """GET `url` by a client on `machine` (curl, 2 s at most): the body (with the headers
    first when `headers`), or None when nothing answered."""
    done = subprocess.run([*netns(machine), "curl", "-s", "-m", "2",
                           *(["-i"] if headers else []), url],
                          capture_output=True, text=True, timeout=30, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def _addresses(machines: Machines, service: str) -> int:
    """How many pod addresses the Endpoints of `service` list."""
    found = _read(machines, lambda s: s.list_endpoints("default")) or []
    return sum(len(sub.get("addresses") or []) for e in found if e.name == service
               for sub in e.subsets)


def _on_engine(engine: str, prefix: str) -> list[tuple[str, str, str]]:
    """(pod uid, pod name, container name) of every container of ours on one engine."""
    out = subprocess.run(
        ["docker", "-H", engine, "ps", "-a", "--filter", f"label=io.reconciler.prefix={prefix}",
         "--format", '{{.Label "io.reconciler.pod.uid"}} {{.Label "io.reconciler.pod.name"}} '
                     '{{.Label "io.reconciler.container.name"}}'],
        capture_output=True, text=True, check=True, timeout=60).stdout
    return [tuple(line.split(" ", 2)) for line in out.splitlines()  # type: ignore[misc]
            if line.strip()]


def _misplaced(machines: Machines) -> list[str]:
    """What the engines run that the store does not say: a container of a pod not live in
    the store, on another engine than its pod's node, or twice ([] when none)."""
    live = _read(machines, lambda s: {p.uid: p.node_name for p in s.list_pods(containers=False)
                                      if p.deletion_timestamp is None})
    if live is None:
        return ["the store unreadable"]
    wrong: list[str] = []
    seen: Counter[tuple[str, str]] = Counter()
    for machine, engine in ENGINES.items():
        for uid, name, container in _on_engine(engine, machines.prefix):
            seen[(uid, container)] += 1
            if live.get(uid) != machine:
                wrong.append(f"{name}/{container} on {machine} (its node: {live.get(uid)})")
    wrong += [f"{uid}/{c} {n} times" for (uid, c), n in seen.items() if n > 1]
    return wrong


def _serves_locally(machines: Machines, ip: str, local: dict[str, str]) -> set[str]:
    """hostm's local clients served: each local pod by its address, and the service by its
    cluster IP through the agent's rules (which also pick the unreachable pods elsewhere:
    asked until a local one answers). The names that answered by the cluster IP."""
    for name, pod_ip in local.items():
        assert _get(CUT, f"http://{pod_ip}:8080/") == name, f"pod {name} ({pod_ip}) silent"
    answered: set[str] = set()

    def by_cluster_ip() -> bool:
        body = _get(CUT, f"http://{ip}/")
        if body is not None:
            answered.add(body)
        return body in local

    wait_until(by_cluster_ip, 60, 0, "a local pod answering hostm's client by the cluster IP")
    assert answered <= set(local), f"served from elsewhere while cut off: {answered}"
    return answered


class TestPartition:
    def test_cut_machine_serves_locally_is_replaced_and_cleaned_after(
            self, machines: Machines) -> None:
        """hostm cut off for 60 s: its pods serve its clients, its pods are replaced elsewhere;
        after the cut its stale containers go and its agent follows the store again."""
        machines.write("part.yaml", PART + "\n---\n" + PART_SVC)
        wait_until(lambda: len(machines.running("part")) == 6, 180, 0.5, "6 part pods running")
        wait_until(lambda: _addresses(machines, "part") == 6, 60, 0.5, "6 part endpoints")
        wait_until(lambda: _agents_at(machines, _endpoints_revision(machines)), 60, 0.5,
                   "every agent at the endpoints revision of the part pods")
        wait_until(lambda: CUT in machines.ready_nodes(), 60, 0.5, "hostm Ready")
        ip = _cluster_ip(machines, "part")
        local = {p.name: p.pod_ip for p in machines.running("part") if p.node_name == CUT}
        assert local, f"no part pod on {CUT}: {[p.node_name for p in machines.running('part')]}"
        on_cut = _read(machines, lambda s: {p.uid for p in s.list_pods(node=CUT)}) or set()
        rules = machines.nat_rules(CUT)
        assert ip in rules
        said = machines.log("agents")
        gone = said.count(f"agent {CUT}: store unreachable")
        back = said.count(f"agent {CUT}: store reachable again")
        _cut("-I")
        cut_at = time.monotonic()
        try:
            wait_until(lambda: CUT not in machines.ready_nodes(), 60, 0.5, "hostm NotReady")
            not_ready = time.monotonic() - cut_at

            def replaced() -> bool:
                pods = machines.pods("part")
                return (len(pods) == 6 and all(p.node_name != CUT for p in pods)
                        and len(machines.running("part")) == 6)

            wait_until(replaced, EVICTION + 60, 0.5, "hostm's part pods replaced elsewhere")
            replaced_at = time.monotonic() - cut_at
            wait_until(lambda: machines.log("agents").count(f"agent {CUT}: store unreachable")
                       > gone, 60, 0.5, "hostm's agent seeing the store gone")
            # Evicted, yet serving hostm's own clients with the rules as they were.
            assert machines.nat_rules(CUT) == rules
            _serves_locally(machines, ip, local)
            time.sleep(max(0.0, CUT_FOR - (time.monotonic() - cut_at) - 3))
            assert machines.nat_rules(CUT) == rules
            served = _serves_locally(machines, ip, local)
            time.sleep(max(0.0, CUT_FOR - (time.monotonic() - cut_at)))
            # Its agent never took the store for back while it was cut off.
            assert machines.log("agents").count(f"agent {CUT}: store reachable again") == back
        finally:
            _cut("-D")
        healed = time.monotonic()
        wait_until(lambda: not on_cut & {uid for uid, _, _ in _on_engine(ENGINES[CUT],
                                                                           machines.prefix)},
                   120, 0.2, "hostm's stale containers removed")
        stale = time.monotonic() - healed
        wait_until(lambda: CUT in machines.ready_nodes(), 60, 0.5, "hostm Ready again")
        ready = time.monotonic() - healed
        wait_until(lambda: machines.log("agents").count(f"agent {CUT}: store reachable again")
                   > back, 60, 0.5, "hostm's agent reaching the store again")
        wait_until(lambda: _agents_at(machines, _endpoints_revision(machines)), 60, 0.5,
                   "every agent, hostm's too, at the store's endpoints revision")
        agent = time.monotonic() - healed
        print(f"\npartition of {CUT} for {CUT_FOR:.0f}s: NotReady {not_ready:.1f}s after the "
              f"cut, its pods replaced elsewhere {replaced_at:.1f}s after it (eviction "
              f"{EVICTION}s); served its clients meanwhile (by cluster IP: {sorted(served)}); "
              f"after the cut: stale containers removed in {stale:.1f}s (the time pods ran "
              f"twice after the cut), Ready in {ready:.1f}s, its agent at the store's revision "
              f"in {agent:.1f}s")
        wait_until(lambda: not _misplaced(machines), 60, 0.5,
                   "every container once, on its pod's node, of a live pod")
        assert len(machines.running("part")) == 6
        assert ip in machines.nat_rules(CUT)


DEMO_FILES = ("db-pod.yaml", "db-svc.yaml", "web-pod.yaml", "web-rc.yaml", "web-svc.yaml")
WEB_REPLICAS = 5  # the web pod and 4 more (the seed scales to 10; 5 cover three machines)


def _load_demo_images(tmp: Path) -> None:
    """The demo's images into each machine's engine (one `docker save`, a load per engine
    that lacks them: nothing pulls from the internet here)."""
    archive = tmp / "demo-images.tar"
    for engine in ENGINES.values():
        have = subprocess.run(["docker", "-H", engine, "image", "inspect", *DEMO_IMAGES],
                              capture_output=True, timeout=60, check=False)
        if have.returncode == 0:
            continue
        if not archive.exists():
            subprocess.run(["docker", "save", "-o", str(archive), *DEMO_IMAGES], check=True,
                           capture_output=True, timeout=300)
        subprocess.run(["docker", "-H", engine, "load", "-q", "-i", str(archive)], check=True,
                       capture_output=True, timeout=300)
    archive.unlink(missing_ok=True)


def _node_port(machines: Machines, name: str) -> int:
    def port(store: Store) -> int:
        for rec in store.objects(kind="Service"):
            if rec.key.name == name and rec.key.namespace == "default":
                return int(((rec.status or {}).get("ports") or [{}])[0].get("nodePort") or 0)
        return 0

    found: int = wait_until(lambda: _read(machines, port), 60, 0.5, f"{name}'s node port")
    return found


def _hit(machine: str, url: str, seen: dict[str, str | None] | None = None
         ) -> tuple[int, str] | None:
    """GET the demo's page from `machine`: (the hit count, the pod that served), or None;
    the answer as it came into `seen`."""
    answer = _get(machine, url, headers=True)
    if seen is not None:
        seen[f"{url} from {machine}"] = answer
    count = COUNT.search(answer or "")
    served = [line.split(":", 1)[1].strip() for line in (answer or "").splitlines()
              if line.lower().startswith("x-served-by:")]
    return (int(count.group(1)), served[0]) if count and served else None


def _from_pod(machine: str, pod: str, url: str) -> str:
    """GET `url` from the demo pod `pod` on `machine` (its python): who served, or the error."""
    ids = subprocess.run(
        ["docker", "-H", ENGINES[machine], "ps", "-q", "--filter",
         f"label=io.reconciler.pod.name={pod}", "--filter",
         f"label=io.reconciler.container.name={'redis' if pod == 'redis' else 'web'}"],
        capture_output=True, text=True, check=True, timeout=60).stdout.split()
    code = ("import urllib.request as u\n"
            f"print(u.urlopen({url!r}, timeout=5).headers['X-Served-By'])")
    done = subprocess.run(["docker", "-H", ENGINES[machine], "exec", ids[0], "python3", "-c",
                           code], capture_output=True, text=True, timeout=60, check=False)
    return done.stdout.strip() or done.stderr.strip()[-300:]


class TestSeedDemo:
    def test_demo_over_three_machines(self, machines: Machines,
                                      docker_client: docker.DockerClient) -> None:
        """The seed demo's manifests over three machines: pods on all three, the web service
        answering on each by cluster IP and NodePort, the hit counter rising across them,
        pods reaching pods of other machines by their addresses."""
        ensure_demo_images(docker_client)
        _load_demo_images(machines.desired.parent)
        for name in DEMO_FILES:
            text = (ROOT / "desired" / name).read_text()
            machines.write(name, text.replace("replicas: 2", f"replicas: {WEB_REPLICAS}")
                           if name == "web-rc.yaml" else text)
        wait_until(lambda: len(machines.running("demo")) == 1 + WEB_REPLICAS, 240, 0.5,
                   "the demo's pods running")
        nodes = {p.name: p.node_name for p in machines.running("demo")}
        assert set(nodes.values()) == set(HOSTS), f"pods not on every machine: {nodes}"
        wait_until(lambda: _addresses(machines, "web") == WEB_REPLICAS, 60, 0.5, "web endpoints")
        wait_until(lambda: _agents_at(machines, _endpoints_revision(machines)), 60, 0.5,
                   "every agent at the endpoints revision of the demo")
        urls = {m: (f"http://{_cluster_ip(machines, 'web')}/",
                    f"http://{daemonsets_kit.ADDRESSES[m]}:{_node_port(machines, 'web')}/")
                for m in HOSTS}
        # Every replica up (python starts slowly): each machine's two addresses answer.
        last: dict[str, str | None] = {}
        try:
            wait_until(lambda: all(_hit(m, u, last) for m in HOSTS for u in urls[m]
                                   for _ in range(3)),
                       120, 1.0, "the web service answering on every machine")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{last}") from None
        hits = []
        for _ in range(8):
            for machine in HOSTS:
                for url in urls[machine]:
                    hit = _hit(machine, url)
                    assert hit is not None, f"{url} from {machine} unanswered"
                    hits.append((machine, url, *hit))
        counts = [count for _, _, count, _ in hits]
        served = {nodes.get(pod, pod) for _, _, _, pod in hits}
        print(f"\nseed demo over {len(HOSTS)} machines: pods {sorted(nodes.items())}; "
              f"{len(hits)} hits from every machine by cluster IP and NodePort, counts "
              f"{counts[0]}..{counts[-1]}, served by pods on {sorted(served)}")
        assert counts == list(range(counts[0], counts[0] + len(hits))), counts
        assert served == set(HOSTS)
        # A pod reaches a pod of another machine by its own address (the agents' routes).
        pods = machines.running("demo")
        for machine in HOSTS:
            client = next(p for p in pods if p.node_name == machine)
            target = next(p for p in pods if p.node_name != machine and p.name != "redis")
            routes = subprocess.run([*netns(machine), "ip", "route", "show", "proto", "94"],
                                    capture_output=True, text=True, check=True).stdout
            gateway = daemonsets_kit.ADDRESSES[target.node_name]
            assert f"{target.pod_ip} via {gateway} " in routes, routes
            assert _from_pod(machine, client.name, f"http://{target.pod_ip}:5000/") \
                == target.name, f"{target.name} on {target.node_name} from {client.name}"
