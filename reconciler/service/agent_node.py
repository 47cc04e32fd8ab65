"""The node part of `reconciler agent`: a kubelet from the store, for a Node with `spec.agent`.

When the control plane does not reach a machine's engine (the Node manifest says
`agent: true`, runtime/agent_node.py), the agent on that machine does what the
control plane does for the engines it reaches, for its own node only, and reports it
in the store:
- **the heartbeat**: the engine's CPUs, memory, versions and free pod addresses, Ready
  (or NotReady with the reason), every `heartbeat_interval`, stamped by the database's
  clock. Only those observed columns, and only while the record still names this
  agent-run engine (`Store.report_node`): never an insert, never the manifest's fields.
  Judging its silence (NotReady, eviction), marking its pods not ready and the taints'
  evictions are the control plane's (control/nodes.py), not this agent's;
- **the engine's events**: Docker's event stream of this service's containers requeues
  their pod here (a container died: restarted, its status written), as the control
  plane's own event stream does for the engines it reaches;
- **the pods' container work**: the pods bound to this node (the scheduler stays in
  the control plane) are converged by the same pod controller and `NodeAgent` the
  control plane uses, from their records; a pod marked for deletion is drained, stopped
  with its grace period, and its `ContainersStopped` condition set: the control plane
  then removes the record. Orphans of this host are collected here too (node-gc).
The pods' records are followed by the store's change feed (PostgreSQL LISTEN/NOTIFY:
a pod bound, deleted, moved), with a node-gc every resync interval as the safety net.

The control plane's other work (scheduling, owners, services, endpoints) stays there.
What is not done for such a node: claim volumes are not removed when their claim is
deleted, and `reconciler logs`/`exec` reach the engine only from the node's machine.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from reconciler.api.records import NodeRecord, PodRecord, Resources
from reconciler.control.context import NODE_GC, POD, Context
from reconciler.control.loop import Loop, Result, WorkKey
from reconciler.control.nodes import SOURCE, NodeController, observed_labels
from reconciler.control.pods import KUBELET, PodController, set_condition
from reconciler.control.queue import WorkQueue
from reconciler.runtime.agent import NodeAgent
from reconciler.runtime.agent_node import STOPPED, by_agent, local_url, stopped_by_agent
from reconciler.runtime.port import HostAgent
from reconciler.runtime.types import HostUnreachable, RuntimeConfig
from reconciler.service.lease import LeaseKeeper
from reconciler.store.base import db_now

if TYPE_CHECKING:
    from reconciler.service.config import Config
    from reconciler.store import Store

log = logging.getLogger("reconciler.agent")

WORKERS = 4
# What the heartbeat writes (Store.report_node): the engine's facts and readiness.
HEARTBEAT = ("cpu_milli", "memory", "pod_addresses", "engine_version", "os_image",
             "kernel_version", "ready", "reason", "message", "last_heartbeat")
CLOCK_REFRESH = 60.0  # seconds between two readings of the database's clock


def local_agents(engine: str | None) -> Callable[[NodeRecord, RuntimeConfig,
                                                  Callable[[str], None]], HostAgent]:
    """The agent factory of the node's own machine: its engine at the URL it is reached
    by there (`engine`, else the record's), never the control plane's stand-in."""

    def build(node: NodeRecord, config: RuntimeConfig,
              on_change: Callable[[str], None]) -> HostAgent:
        here = dataclasses.replace(node, engine_url=engine or local_url(node))
        agent = NodeAgent(here, config, on_change)
        agent.node = node  # the record as stored: Context.agent keeps it while it is unchanged
        return agent
    return build


@dataclasses.dataclass
class NodeContext(Context):
    """The control plane's context cut down to one node: only its pods and its gc queued."""

    node_name: str = ""

    def enqueue(self, controller: str, id_: Hashable) -> None:
        if controller == POD or (controller == NODE_GC and id_ == self.node_name):
            super().enqueue(controller, id_)

    def enqueue_related(self, pod: PodRecord,
                        previous_labels: Mapping[str, str] | None = None) -> None:
        """Nothing: the owners and services are the control plane's, which follows the
        store's writes (this agent's included) and wakes them itself."""


class NodePods(PodController):
    """The pod controller of one node, in its agent: converge its pods, stop deleted ones."""

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.node_name = ctx.node_name

    def reconcile(self, key: WorkKey) -> Result:
        ctx = self.ctx
        pod = ctx.store.get_pod_by_uid(str(key.id))
        if pod is None or pod.node_name != self.node_name:
            return Result.done()  # not (or no longer) this node's: the scheduler's business
        node = ctx.store.get_node(self.node_name)
        if node is None or not by_agent(node):
            return Result.done()
        if pod.deletion_timestamp is not None:
            return self._stop(pod, node)
        if not node.ready:
            return Result.after(ctx.settings.heartbeat_interval)
        return self._sync(pod, node)

    def _stop(self, pod: PodRecord, node: NodeRecord) -> Result:
        """Drain, stop with the grace period, then say so (the control plane removes it)."""
        ctx = self.ctx
        if stopped_by_agent(pod):
            return Result.done()
        grace = int(pod.spec.get("terminationGracePeriodSeconds", 30))
        wait = self._drain(pod, grace)
        if wait > 0:
            return Result.after(wait)
        for c in pod.containers:
            if c.state == "running":
                ctx.event("Pod", pod.namespace, pod.name, "Normal", "Killing",
                          f"Stopping container {c.name}", KUBELET, uid=pod.uid,
                          host=node.name)
        try:
            ctx.agent(node).kill_pod(pod.uid, grace)
        except HostUnreachable:
            return Result.after(ctx.settings.heartbeat_interval)
        now_ = ctx.clock()
        for c in [*pod.init_containers, *pod.containers]:
            if c.state != "terminated":
                c.state, c.reason, c.ready, c.finished_at = "terminated", "Killed", False, now_
        set_condition(pod, "Ready", False, at=now_)
        set_condition(pod, STOPPED, True, "Killing",
                      f"the agent of node {node.name} stopped and removed its containers", now_)
        ctx.store.patch_pod(pod, "status")
        return Result.done()


class DatabaseClock:
    """The database's clock, read every CLOCK_REFRESH s and carried on by this machine's:
    its heartbeats' stamps read alike on every machine. The control plane never compares
    them with its own clock: it only sees whether the stamp changes (control/nodes.py)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._offset = timedelta(0)
        self._read_at = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        now_ = datetime.now(UTC)
        with self._lock:
            if time.monotonic() - self._read_at > CLOCK_REFRESH:
                try:
                    with Session(self._store.engine) as s:
                        self._offset = db_now(s) - datetime.now(UTC)
                    self._read_at = time.monotonic()
                except Exception as e:  # the store is down: this machine's clock meanwhile
                    log.debug("database clock not read: %s", e)
            return now_ + self._offset


class NodeRun:
    """Everything the agent does for its node; `run(stop)` blocks until `stop`."""

    def __init__(self, store: Store, node_name: str, config: Config,
                 engine: str | None = None) -> None:
        from reconciler.service.app import runtime_config, settings

        self.store = store
        self.node_name = node_name
        self.engine = engine
        queue: WorkQueue[WorkKey] = WorkQueue()
        self.ctx = NodeContext(
            store=store, queue=queue, runtime=runtime_config(config, store.cluster_id()),
            settings=settings(config, str(config.desired)), clock=DatabaseClock(store),
            agent_factory=local_agents(engine), node_name=node_name)
        self.nodes = NodeController(self.ctx)
        self.pods = NodePods(self.ctx)
        self.loop = Loop(queue, {POD: self.pods, NODE_GC: self.nodes}, workers=WORKERS)
        self.resync = config.resync_interval
        self.active = False  # the node is registered with `agent: true`, and run here
        self.store_failing = False  # the last read of the node's record failed
        self.heartbeats = 0
        self._answered = time.monotonic()  # the engine's last answer to a heartbeat
        self._seen: dict[str, bool] = {}  # the feed's last view: pod uid -> being deleted

    def run(self, stop: threading.Event) -> None:
        """Heartbeats, events and pods of the node while its record says `agent: true`."""
        self.loop.start()
        feed = threading.Thread(target=self._follow, args=(stop,), name="node-pods",
                                daemon=True)
        feed.start()
        try:
            while not stop.is_set():
                self.tick()
                stop.wait(self.ctx.settings.heartbeat_interval)
        finally:
            self.ctx.unwatch_agents()
            self.loop.stop()
            for agent in self.ctx.agents().values():
                agent.close()

    def tick(self) -> None:
        """One look at the node's record: take the node, post its heartbeat, or leave it.

        A read that fails changes nothing (the store is away: the pods, their probes and
        the engine's events carry on as they are); only a record read that is gone or no
        longer `agent: true` leaves the node to the control plane.
        """
        try:
            node = self.store.get_node(self.node_name)
        except Exception as e:
            if not self.store_failing:
                log.warning("node %s: store not reachable (%s); the node is kept as it is",
                            self.node_name, str(e).splitlines()[0][:200])
                self.store_failing = True
            return
        if self.store_failing:
            log.info("node %s: store reachable again", self.node_name)
            self.store_failing = False
            if self.active:
                self._requeue_all()
        if node is not None and by_agent(node):
            if not self.active:
                self._take(node)
            self._beat(node)
        elif self.active:
            self._leave()

    def _take(self, node: NodeRecord) -> None:
        """Start running the node here: its engine's events, a gc of its host."""
        log.info("node %s: run by this agent (engine %s)", self.node_name,
                 self.engine or local_url(node))
        self.active = True
        self.ctx.watch_agents()  # the agent, made now or before, follows its engine's events
        self.ctx.agent(node)
        self.ctx.enqueue(NODE_GC, self.node_name)

    def _leave(self) -> None:
        """The record is gone or no longer `agent: true`: the control plane's node now."""
        log.info("node %s: no longer declared `agent: true`; left to the control plane",
                 self.node_name)
        self.active = False
        self.ctx.unwatch_agents()
        self.ctx.drop_agent(self.node_name)

    def _requeue_all(self) -> None:
        """After an outage of the store: whatever was missed meanwhile is looked at now (a
        gc of the host, every pod of the node), and the feed compares from nothing."""
        self._seen = {}
        self.ctx.enqueue(NODE_GC, self.node_name)
        try:
            for pod in self.store.list_pods(node=self.node_name, containers=False):
                self.ctx.enqueue_pod(pod.uid)
        except Exception as e:  # away again: the gc requeues the pods it finds
            log.debug("node %s: pods not listed: %s", self.node_name, e)

    def _beat(self, node: NodeRecord) -> None:
        """Post the node's heartbeat: its engine's facts and readiness, as a kubelet posts
        its node's status; only the observed columns, only while the record is as read
        (a node removed, or no longer agent-run, is read again at the next tick).

        Judging the node's silence, marking its pods not ready and evicting them (for its
        silence or its taints) are the control plane's (control/nodes.py), not this agent's.
        """
        ctx = self.ctx
        was_ready = node.ready
        try:
            try:
                info = ctx.agent(node).heartbeat()
            except HostUnreachable as e:
                # The stamp stays the engine's last answer: the control plane's clock of
                # silence runs on. NotReady with the reason, once past one missed beat.
                missed = time.monotonic() - self._answered
                if node.ready and missed < ctx.settings.not_ready_timeout:
                    return
                node.ready, node.reason, node.message = False, "NodeUnreachable", e.reason
                ctx.store.report_node(node, ("ready", "reason", "message"))
                return
            self._answered = time.monotonic()
            node.capacity = Resources(info.cpus * 1000, info.memory)
            node.pod_addresses = info.pod_addresses
            node.engine_version, node.os_image, node.kernel_version = (
                info.engine_version, info.os, info.kernel)
            node.ready, node.reason = True, "KubeletReady"
            node.message = "Docker engine is answering"
            node.last_heartbeat = ctx.clock()
            if not ctx.store.report_node(node, HEARTBEAT, observed_labels(
                    node.name, info.os_type, info.arch)):
                log.info("node %s: its record changed meanwhile; heartbeat not posted",
                         self.node_name)
                return
            self.heartbeats += 1
        except Exception:
            log.exception("node %s: heartbeat not recorded", self.node_name)
            return
        if not was_ready:
            ctx.event("Node", "", node.name, "Normal", "NodeReady",
                      f"Node {node.name} status is now: NodeReady", SOURCE)
            # Its pods waited for the node; its host's containers need adopting or cleaning.
            for pod in ctx.store.list_pods(node=node.name, containers=False):
                ctx.enqueue_pod(pod.uid)
            ctx.enqueue(NODE_GC, node.name)

    def _follow(self, stop: threading.Event) -> None:
        """Queue this node's pods that were bound, deleted or moved; a gc every resync."""
        feed = None
        next_gc = time.monotonic() + self.resync
        while not stop.is_set():
            try:
                if feed is None:
                    feed = self.store.feed()
                topics = feed.wait(1.0)
                if time.monotonic() >= next_gc and self.active:
                    self.ctx.enqueue(NODE_GC, self.node_name)
                    next_gc = time.monotonic() + self.resync
                if not self.active or not topics & {"pods", "nodes"}:
                    continue
                pods = self.store.list_pods(node=self.node_name, containers=False)
            except Exception as e:
                log.debug("node %s: pod feed: %s", self.node_name, e)
                if feed is not None:
                    feed.close()
                feed = None
                stop.wait(1.0)
                continue
            self._compare(pods)
        if feed is not None:
            feed.close()

    def _compare(self, pods: list[PodRecord]) -> None:
        """Queue what changed since the feed's last view: a pod bound here or being deleted
        now; a node-gc when a pod left (its record deleted, e.g. evicted, or moved): its
        containers go now, not at the next resync."""
        now = {p.uid: p.deletion_timestamp is not None for p in pods}
        for uid, deleting in now.items():
            if self._seen.get(uid) != deleting:
                self.ctx.enqueue_pod(uid)
        if self._seen.keys() - now.keys():
            self.ctx.enqueue(NODE_GC, self.node_name)
        self._seen = now


def load_agent_config(config_path: Path | None, state: str) -> Config:
    """The service's configuration on this machine (its file and environment), this store."""
    from reconciler.service.config import load_config

    return load_config(config_path, os.environ, {"state": state})


def serve_node(node_name: str, state: str, config_path: Path | None, engine: str | None,
               stop: threading.Event, started: Callable[[NodeRun], None] | None = None) -> None:
    """Open the store (waiting for it), then `NodeRun.run` until `stop` (a thread's body),
    while this agent holds the node's lease (`node_lease`): a second agent of the node
    waits as standby (its data plane runs meanwhile), and takes over once the lease is
    free; an agent that loses it stops acting and waits as standby again. Held, the
    lease fences the node part's store writes and its engine actions, as the control
    plane's lease fences the control plane's (service/lease.py)."""
    from reconciler.store import Store, StoreMissing
    from reconciler.store.secrets import load_key_file

    config = load_agent_config(config_path, state)
    delay = 1.0
    while not stop.is_set():
        store: Store | None = None
        try:
            store = Store.open(state, create=False)
            # Read here, where an outage is waited out; the store keeps it. NodeRun, made
            # once the lease is taken, then reads nothing: a read failing there would end
            # the whole agent, its DNS and proxy with it.
            store.cluster_id()
            break
        except StoreMissing:
            raise
        except Exception as e:
            if store is not None:
                store.close()
            log.warning("node %s: store not reachable (%s); retrying in %.0fs", node_name,
                        str(e).splitlines()[0][:200], delay)
            stop.wait(delay)
            delay = min(delay * 2, 5.0)
    else:
        return
    try:
        if config.key_file.exists():  # Secrets' files: the same key file as the control plane
            store.sealer = load_key_file(config.key_file)
        else:
            log.warning("node %s: no Secret key file %s: pods using Secrets cannot start "
                        "here", node_name, config.key_file)
        holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        while not stop.is_set():
            held = _until(stop)  # set by `stop`, or when the lease is lost
            keeper = LeaseKeeper(store, holder, held, ttl=lambda: config.lease.ttl,
                                 renew_period=lambda: config.lease.renew,
                                 name=node_lease(node_name))
            if not keeper.wait(lambda other: log.info(
                    "node %s: standby, the node part is held by %s", node_name, other)):
                break
            run = NodeRun(store, node_name, config, engine)
            if started is not None:
                started(run)
            run.run(held)
            if stop.is_set():
                store.flush_events()  # while the lease still fences its writes
                keeper.release()
                break
            log.warning("node %s: %s; standby", node_name, keeper.lost)
            store.unfence()
    finally:
        store.close()


def node_lease(node_name: str) -> str:
    """The lease the node part of `node_name`'s agent holds to act: one agent at a time."""
    return f"node/{node_name}"


def _until(stop: threading.Event) -> threading.Event:
    """An event set when `stop` is, or sooner by its holder."""
    held = threading.Event()

    def relay() -> None:
        while not held.wait(1.0):
            if stop.is_set():
                held.set()
    threading.Thread(target=relay, name="node-lease-stop", daemon=True).start()
    return held
