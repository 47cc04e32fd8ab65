"""The service's composition root: `reconciler run` builds and runs everything here.

Top of the flow. It opens the store, waits for the lease (one active instance
per store), registers the nodes, adopts what the Docker hosts already run,
applies the desired folder (or git revision) once, then starts the reactors
(folder watch or git poll, Docker event streams, timers) that only enqueue
keys, the reconcile workers, the embedded service proxy and DNS of the local
host, fluentd shipping and metrics. While active it renews the lease on a
thread of its own; every store write checks the lease's epoch in the database
and every Docker action the lease's local clock, so an instance that lost the
lease (or could not confirm it within the ttl) stops acting and exits 1.
SIGTERM/SIGINT stop it gracefully and leave every pod running; SIGHUP reloads
the configuration; SIGUSR1 asks the git source for an immediate fetch.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler

from reconciler.api.records import NodeRecord
from reconciler.control.cache import Cache
from reconciler.control.context import (
    DESIRED,
    NODE,
    NODE_GC,
    Context,
    Settings,
)
from reconciler.control.cronjobs import CRONJOB
from reconciler.control.cronjobs_timers import attach as attach_cron_timers
from reconciler.control.desired import DesiredController
from reconciler.control.loop import Loop, Reconciler, WorkKey
from reconciler.control.nodes import NodeController
from reconciler.control.queue import WorkQueue
from reconciler.control.registry import REGISTRY
from reconciler.control.revisions import GitDesired
from reconciler.network.embedded import EmbeddedProxy
from reconciler.runtime import engine, spans
from reconciler.runtime.configfiles import ConfigVolumes
from reconciler.runtime.types import RuntimeConfig
from reconciler.service import gcpolicy
from reconciler.service.config import Config, changed_keys, reload_config
from reconciler.service.fluent import FluentShipper
from reconciler.service.health import Health, HealthBoard
from reconciler.service.kube_metrics import view_of
from reconciler.service.lease import LeaseKeeper
from reconciler.service.limits import raise_open_files_limit
from reconciler.service.logs import set_log_level, setup_logging
from reconciler.service.metrics import (
    Metrics,
    ProxyCounts,
    observe_docker_response,
    start_metrics_server,
)
from reconciler.service.progress import FirstConvergence
from reconciler.service.requests import RequestListener
from reconciler.service.retention import JOB_ID as RETENTION_JOB
from reconciler.service.retention import compaction_job
from reconciler.service.systemd import Notifier
from reconciler.sources.folder import FolderSource
from reconciler.sources.trigger import SyncListener
from reconciler.store import Store
from reconciler.store.leases import LeaseLost
from reconciler.store.secrets import load_key_file

if TYPE_CHECKING:
    from reconciler.kubeapi.server import ApiServer
    from reconciler.ui.server import UiServer

log = logging.getLogger("reconciler.service")

# What SIGHUP cannot apply to a running instance (built once at start).
RESTART_KEYS = frozenset({"desired", "state", "log_format"})
RESTART_SECTIONS = frozenset({"git", "network", "fluentd", "metrics", "runtime", "ui",
                              "api", "secrets"})


def runtime_config(config: Config, cluster_id: str = "") -> RuntimeConfig:
    r = config.runtime
    return RuntimeConfig(
        prefix=r.name_prefix,
        infra_image=r.infra_image,
        image_map=dict(r.image_map),
        host_path_allow=tuple(r.host_path_allow),
        fluentd_address=config.fluentd.address or None,
        concurrency=r.concurrency_per_host,
        stop_timeout=int(r.stop_timeout),
        allowed_capabilities=tuple(r.allowed_capabilities),
        allowed_unsafe_sysctls=tuple(r.allowed_unsafe_sysctls),
        cluster_id=cluster_id,  # the store's: orphan collection only touches its own
        volumes_dir=str(config.volumes_dir),
        pull_from=tuple(r.pull_from),
        docker_config=r.docker_config,
        pull_timeout=r.pull_timeout,
    )


def settings(config: Config, desired: str) -> Settings:
    n = config.network
    return Settings(
        desired=desired,
        service_cidr=n.service_cidr,
        # "agents": each machine's `reconciler agent` serves the data plane, its DNS
        # included (docs/multihost.md), so pods get the address as their nameserver; "off":
        # nothing answers there, and pods keep the engine's resolver.
        dns_ip=n.dns_ip if n.proxy_mode != "off" else "",
        cluster_domain=n.cluster_domain,
        node_port_range=n.node_port_range,
        heartbeat_interval=config.heartbeat_interval,
        not_ready_timeout=config.node_not_ready_timeout,
        eviction_timeout=config.node_eviction_timeout,
        descheduler_interval=config.descheduler_interval,
        descheduler_moves=config.descheduler_moves,
        default_engine=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"),
        sops_age_key_file=config.secrets.sops_age_key_file,
    )


@dataclass
class Service:
    """One running instance of the service; `run()` blocks until stopped."""

    config: Config
    holder: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )
    stop_event: threading.Event = field(default_factory=threading.Event)
    health: HealthBoard = field(default_factory=HealthBoard)
    # What controllers report of their own health (Context.components), e.g. desired-source.
    components: dict[str, tuple[bool, str]] = field(default_factory=dict)

    def run(self) -> int:
        config = self.config
        fluent = (
            FluentShipper(
                config.fluentd.address,
                tag_prefix=config.fluentd.tag_prefix,
                bound=config.fluentd.buffer,
            ).start()
            if config.fluentd.address
            else None
        )
        setup_logging(config.log_level, fluent, fmt=config.log_format)
        soft, hard = raise_open_files_limit()
        log.info("open files limit: %d (hard %d)", soft, hard)
        notifier = Notifier()
        self._install_signals()
        store = Store.open(config.state)
        # Created at the first start, as `install` would: a store never holds a Secret in clear.
        store.sealer = load_key_file(config.key_file, create=True)
        self.lease = LeaseKeeper(
            store, self.holder, self.stop_event,
            ttl=lambda: self.config.lease.ttl, renew_period=lambda: self.config.lease.renew,
        )

        def on_standby(holder: str) -> None:
            log.info("standby: lease held by %s", holder)
            notifier.status("standby: another instance holds the lease")

        try:
            if not self.lease.wait(on_standby):
                return 0
            return self._run_active(store, fluent, notifier)
        finally:
            # Queued events are written while the lease is still ours: a fenced write after
            # the release would be refused.
            store.flush_events()
            self.lease.release()
            store.close()
            if fluent is not None:
                fluent.close()

    # -- signals --
    def _install_signals(self) -> None:
        def stop(signum: int, frame: FrameType | None) -> None:
            log.info("signal %s: stopping", signal.Signals(signum).name)
            self.stop_event.set()

        def hup(signum: int, frame: FrameType | None) -> None:
            self._reload_requested = True

        self._reload_requested = False
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, hup)

    # -- the active instance --
    def _run_active(self, store: Store, fluent: FluentShipper | None, notifier: Notifier) -> int:
        config = self.config
        desired = Path(config.desired)
        queue: WorkQueue[WorkKey] = WorkQueue()
        ctx = Context(
            store=store,
            queue=queue,
            runtime=runtime_config(config, store.cluster_id()),
            settings=settings(config, str(desired)),
            components=self.components,
        )
        # Config volume folders of pods removed while no instance ran (the pod controller
        # removes the others with their pods): Secret files must not outlive their pod.
        ConfigVolumes(ctx.runtime.volumes_dir).sweep(
            {p.uid for p in store.list_pods(containers=False)})
        if fluent is not None:
            ctx.sinks.append(fluent)
        metrics = Metrics()
        if fluent is not None:
            fluent.on_drop = lambda n: metrics.fluentd_dropped.inc(n)
        metrics.pods_by_phase(lambda: _phase_counts(store, ctx.cache))
        metrics.kube_state(lambda: view_of(store, ctx.cache))
        metrics.leader.labels(self.holder).set(1)  # metrics are served by the active one only
        engine.RESPONSE_OBSERVERS[:] = [observe_docker_response(metrics)]
        spans.OBSERVERS[:] = [lambda span, s: metrics.pod_start_span.labels(span).observe(s)]
        metrics_server = (
            start_metrics_server(config.metrics.address, metrics)
            if config.metrics.address
            else None
        )
        ui_server = self._start_ui()
        api_server = self._start_api(desired)

        git = GitDesired.from_config(config.git, config.state, ctx) if config.git.url else None
        desired_ctl = DesiredController(ctx, root=git.root if git else desired)
        # Every registered controller (control/registry.py); only the desired one is
        # built here, as a git source wraps it.
        controllers = REGISTRY.build(
            ctx, {DESIRED: git.controller(desired_ctl) if git else desired_ctl})

        def observe(controller: str, seconds: float, ok: bool) -> None:
            metrics.reconcile_passes.labels(controller, "ok" if ok else "error").inc()
            metrics.reconcile_duration.labels(controller).observe(seconds)

        loop = Loop(queue, controllers, workers=8, observe=observe)
        # Built before the workers start, and started with the other timers below: each
        # CronJob's sync hands its next start to it (control/cronjobs_timers.py).
        scheduler = BackgroundScheduler(daemon=True)
        attach_cron_timers(controllers, scheduler, lambda key: ctx.enqueue(CRONJOB, key))

        started = time.monotonic()
        # Before anything writes: the cache is filled by one list, written through by
        # this process's commits and follows other processes' writes, which the store
        # revision tells apart exactly; its own relist (every 300 s) is only a safety net,
        # not the resync: a relist of 1,000 pods is most of an idle service's CPU.
        ctx.start_cache(on_relisted=lambda: enqueue_everything(ctx))
        self._first_pass(ctx, controllers)
        loop.start()
        enqueue_everything(ctx, all_pods=True)

        # Each agent, made already or later for a node declared later, follows its
        # engine's events until it is replaced or dropped.
        ctx.watch_agents()
        source: FolderSource | None = None
        if git is None:
            source = FolderSource(desired, lambda paths: ctx.enqueue(DESIRED, "all"))
            source.start()
        else:
            git.start(self.stop_event)

        # The git source wraps the desired controller: its memos are forgotten on a sync too.
        ctx.memo_resets.setdefault(DESIRED, desired_ctl.forget_memos)

        def on_sync() -> None:
            # `reconciler sync` and `reconciler delete` both ask for a look at everything
            # now: every reconcile in full, none left out as idle (control/unchanged.py).
            if git is not None:
                git.request_sync()
            enqueue_everything(ctx, full=True)

        sync_listener = SyncListener(config.state, on_sync)
        sync_listener.install()
        # `sync`/`delete` from any host reach this instance through the store's request rows.
        requests = RequestListener(store, self.holder, on_sync,
                                   on_resync=lambda: enqueue_everything(ctx)).start()

        proxy = self._start_proxy(ctx)
        if proxy is not None:
            metrics.proxy_stats(lambda: {
                k: ProxyCounts(*c) for k, c in proxy.proxy.counters().items()})
        scheduler.add_job(
            lambda: enqueue_everything(ctx),
            "interval",
            seconds=config.resync_interval,
            id="resync",
            max_instances=1,
            coalesce=True,
        )
        # Read when scraped, not set by a job each second (a job's dispatch, every second
        # of an idle service, cost more than all the scrapes).
        metrics.queue_depth.set_function(queue.depth)
        scheduler.add_job(
            compaction_job(store, lambda: self.config.retention),
            "interval",
            seconds=config.retention.interval,
            id=RETENTION_JOB,
            max_instances=1,
            coalesce=True,
        )
        scheduler.add_job(
            gcpolicy.Refolder(lambda: len(queue) == 0 and loop.busy == 0),
            "interval",
            seconds=gcpolicy.CHECK_EVERY,
            id="gc-refold",
            max_instances=1,
            coalesce=True,
        )
        wd = notifier.watchdog_interval()
        if wd:
            scheduler.add_job(notifier.watchdog, "interval", seconds=max(0.5, wd), id="watchdog")
        scheduler.start()
        self._scheduler = scheduler

        summary = _summary(store, ctx.cache, ctx.list_nodes())
        # What start-up built (the filled cache, the parsed folder) out of the collector's
        # walks: a full collection then pauses the loop for what changed since, not all.
        gcpolicy.freeze()
        log.info("ready in %.2fs: %s", time.monotonic() - started, summary)
        notifier.ready(summary)
        if sys.stderr.isatty():  # a person waiting at a terminal, not journald or a file
            FirstConvergence(lambda: view_of(store, ctx.cache), sys.stderr,
                             self.stop_event).start()
        self.health.set("controller-manager", Health(True, "ok"))
        self.health.set("scheduler", Health(True, "ok"))
        self._publish_health(store, fluent, proxy, ctx.list_nodes())

        status = summary
        while not self.stop_event.wait(1.0):
            if self._reload_requested:
                self._reload_requested = False
                self._reload(ctx, notifier)
            try:
                # The node view, not a read of the store each second (written through,
                # read again when another process wrote).
                nodes = ctx.list_nodes()
                self._publish_health(store, fluent, proxy, nodes)
                # systemd keeps the last STATUS=: a line only when its text changed, and
                # none made when nobody reads it (not under systemd).
                if notifier.enabled:
                    text = _summary(store, ctx.cache, nodes)
                    if text != status and notifier.status(text):
                        status = text
            except LeaseLost:
                continue  # the lease thread decides: renewed, or stand down
            except Exception as e:
                # Health and status are bookkeeping: a store that cannot be written for now
                # (disk full, locked past the busy timeout) must not end the service and
                # its work in flight. The controllers retry their own writes.
                log.warning("health and status not published: %s", str(e).split("\n")[0])

        exit_code = 0
        if self.lease.lost:  # set with stop_event by the lease thread
            log.error("%s; stopping", self.lease.lost)
            exit_code = 1
        notifier.stopping()
        log.info("stopping: finishing reconciles in flight; pods keep running")
        scheduler.shutdown(wait=False)
        if source is not None:
            source.stop()
        sync_listener.uninstall()
        requests.stop()
        ctx.unwatch_agents()
        loop.stop(timeout=10.0)
        ctx.stop_cache()
        if proxy is not None:
            # Rules, cluster IPs, pod routes and the DNS server stay in force (as
            # kube-proxy's rules outlive kube-proxy): the successor takes them over.
            proxy.close()
        if metrics_server is not None:
            metrics_server.close()
        if ui_server is not None:
            ui_server.close()
        if api_server is not None:
            api_server.close()
        for agent in ctx.agents().values():
            agent.close()
        return exit_code

    _scheduler: BackgroundScheduler | None = None

    def _start_ui(self) -> UiServer | None:
        if not self.config.ui.address:
            return None
        from reconciler.ui.server import start_ui_server

        # The dashboard is an addon: a port already taken is an error in the log, never a
        # reason to stop converging.
        try:
            server = start_ui_server(self.config.ui.address, self.config.state)
        except (OSError, ValueError) as exc:
            log.error("web dashboard not started: %s", exc)
            return None
        if server is not None:
            log.info("web dashboard on http://%s/", server.address)
        return server

    def _start_api(self, desired: Path) -> ApiServer | None:
        """The Kubernetes API (reconciler/kubeapi) when `[api] address` is set."""
        if not self.config.api.address:
            return None
        from reconciler.kubeapi.context import ApiContext, GitTarget
        from reconciler.kubeapi.server import start_api_server

        g = self.config.git
        ctx = ApiContext(
            state=self.config.state, desired=desired, key_file=self.config.key_file,
            git=GitTarget(g.url, g.branch, self.config.checkout_dir) if g.url else None)
        api = self.config.api
        # An addon as the dashboard is: a port taken is an error in the log, never a stop.
        try:
            from reconciler.kubeapi.certs import serve_options

            tls = serve_options(ctx, api.address, tls=api.tls, pki_dir=Path(api.pki),
                                tokens=Path(api.tokens) if api.tokens else None,
                                kubeconfig=Path(api.kubeconfig) if api.kubeconfig else None,
                                anonymous_write=api.anonymous_write)
            server = start_api_server(ctx, api.address, **tls)
        except (OSError, ValueError) as exc:
            log.error("Kubernetes API not started: %s", exc)
            return None
        if server is not None:
            log.info("Kubernetes API on %s://%s/", "https" if api.tls else "http",
                     server.address)
        return server

    def _first_pass(self, ctx: Context, controllers: dict[str, Reconciler]) -> None:
        """The desired state (Node objects included), then nodes and adoption, before workers.

        Pods get scheduled only once every declared host has answered a heartbeat,
        so a fresh start does not pile everything onto the first host seen.
        """
        controllers[DESIRED].reconcile(WorkKey(DESIRED, "all"))
        nodes = controllers[NODE]
        assert isinstance(nodes, NodeController)
        names = nodes.sync_registrations()
        threads = [
            threading.Thread(target=self._first_node_pass, args=(nodes, name), daemon=True)
            for name in names
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)  # one dead host must not hold the start for long

    @staticmethod
    def _first_node_pass(nodes: NodeController, name: str) -> None:
        try:
            nodes.reconcile(WorkKey(NODE, name))
            nodes.reconcile(WorkKey(NODE_GC, name))
        except Exception:
            log.exception("first pass of node %s failed; the loop retries", name)

    def _start_proxy(self, ctx: Context) -> EmbeddedProxy | None:
        if self.config.network.proxy_mode in ("off", "agents"):
            said = ("off (configured)" if self.config.network.proxy_mode == "off"
                    else "served by each machine's reconciler agent (configured)")
            self.health.set("proxy", Health(True, said))
            self.health.set("dns", Health(True, said))
            return None
        node = local_node_name(ctx)
        try:
            proxy = EmbeddedProxy.start(ctx.store, node, self.config)
            ctx.endpoints_listeners.append(proxy.wake)
            return proxy
        except Exception as e:  # the control plane keeps working without a data path
            log.error("service proxy and DNS not started: %s", e)
            self.health.set("proxy", Health(False, str(e)))
            self.health.set("dns", Health(False, str(e)))
            return None

    def _publish_health(
        self, store: Store, fluent: FluentShipper | None, proxy: EmbeddedProxy | None,
        nodes: list[NodeRecord],
    ) -> None:
        if proxy is not None:
            table = proxy.table
            count = len(table.services) if table is not None else 0
            detail = f"{proxy.mode} mode, {count} services, {proxy.errors} sync errors"
            self.health.set("proxy", Health(proxy.errors == 0 or table is not None, detail))
            self.health.set(
                "dns",
                Health(
                    proxy.dns is not None,
                    f"{self.config.network.dns_ip}:{self.config.network.dns_port}",
                ),
            )
        for name, (healthy, message) in dict(self.components).items():
            self.health.set(name, Health(healthy, message))
        self.health.publish(store, fluent, nodes)

    def _reload(self, ctx: Context, notifier: Notifier) -> None:
        notifier.reloading()
        try:
            new = reload_config(self.config, os.environ)
        except Exception as e:
            log.error("SIGHUP: configuration not reloaded: %s", e)
            notifier.ready()
            return
        changed = changed_keys(self.config, new)
        self.config = new
        set_log_level(new.log_level)
        ctx.runtime = runtime_config(new, ctx.store.cluster_id())
        ctx.settings = settings(new, new.desired)
        # The timers were built with the old periods; without this a reload changed nothing.
        if self._scheduler is not None and "resync_interval" in changed:
            self._scheduler.reschedule_job("resync", trigger="interval",
                                           seconds=new.resync_interval)
        if self._scheduler is not None and "retention.interval" in changed:
            self._scheduler.reschedule_job(RETENTION_JOB, trigger="interval",
                                           seconds=new.retention.interval)
        # Sources, store, listeners and node agents are built once: say so, not apply silently.
        restart = [k for k in changed if k in RESTART_KEYS or k.split(".")[0] in RESTART_SECTIONS]
        log.info("configuration reloaded: %s%s", ", ".join(changed) or "nothing changed",
                 f"; these take effect on restart only: {', '.join(restart)}" if restart else "")
        notifier.ready()
        enqueue_everything(ctx)


def local_node_name(ctx: Context) -> str:
    """The node whose engine is this machine's: its proxy runs inside this process."""
    nodes = ctx.store.list_nodes()
    for node in nodes:
        if node.engine_url == ctx.settings.default_engine:
            return node.name
    return nodes[0].name if nodes else "local"


def enqueue_everything(ctx: Context, all_pods: bool = False, full: bool = False) -> None:
    """The periodic resync: every key, so whatever an event missed is seen.

    Pods are not synced one by one (an inspect per container each): each node's
    GC lists its containers in one call and requeues only the pods whose
    containers disagree with their records (`control.nodes.needs_sync`), plus
    pods that are not bound to a node yet. At start (`all_pods`) every pod is synced
    once, which also starts its probes in this process.

    `full` (a user's `reconciler sync`): the cache is relisted from the store first, and
    no reconcile is skipped for inputs unchanged since an idle one (`Registry.resync`).
    """
    if full and ctx.nodes is not None:
        ctx.nodes.invalidate()
    if full and ctx.follower is not None:
        ctx.follower.relist_now()
    REGISTRY.resync(ctx, all_pods, full=full)


def _phase_counts(store: Store, cache: Cache | None = None) -> dict[str, int]:
    # From the cache when it is synced: the status line is written every second, and
    # listing 1,000 pods with their containers costs about 70 ms of CPU (7% of a core).
    if cache is not None and cache.synced:
        return cache.phase_counts()
    counts: dict[str, int] = {}
    for pod in store.list_pods(containers=False):
        counts[pod.phase] = counts.get(pod.phase, 0) + 1
    return counts


def _summary(store: Store, cache: Cache | None, nodes: list[NodeRecord]) -> str:
    phases = _phase_counts(store, cache)
    ready = sum(1 for n in nodes if n.ready)
    return (f"{phases.get('Running', 0)}/{sum(phases.values())} pods running, "
            f"{ready} node(s) ready")
