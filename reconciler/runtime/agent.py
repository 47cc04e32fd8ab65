"""The kubelet of one Docker host: `NodeAgent` converges that host's pods one step at a time.

Called by the control loop, one agent per registered node, from several worker
threads. `sync_pod` is a level-based, idempotent step (status.py decides,
sandbox.py creates); it never sleeps: a back-off comes back as `requeue_after`.
Probes run on the agent's prober thread (probes.py), Docker's event stream is
followed by `watch`, and both call `on_change(pod_uid)` so the loop requeues the
pod. Restart counts and back-off steps live in container labels, so a service
restart picks up where it left off (`list_pods`: one list call per host).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any

from docker.errors import APIError, NotFound

from reconciler.api.records import ContainerStatus, NodeRecord, PodRecord
from reconciler.runtime import (
    configfiles,
    lifecycle,
    naming,
    security,
    spans,
    spec,
    status,
    volumeperms,
)
from reconciler.runtime.access import PodAccess
from reconciler.runtime.engine import Engine
from reconciler.runtime.events import follow_events
from reconciler.runtime.probes import KINDS, Kind, Prober, Target, Verdict
from reconciler.runtime.sandbox import Builder, Waiting
from reconciler.runtime.status import Action, Instance
from reconciler.runtime.types import (
    ExecResult,
    HostInfo,
    HostUnreachable,
    ObservedPod,
    PodEnv,
    PodEvent,
    PodSync,
    RuntimeConfig,
)
from reconciler.scheduling import capacity

log = logging.getLogger(__name__)

INFO_REFRESH = 60.0  # seconds between two GET /info of a heartbeat (see `heartbeat`)
ADDRESSES_REFRESH = 30.0  # seconds between two inspects of the bridge (see `heartbeat`)
_CREATING: Waiting = ("ContainerCreating", "")
_KILL_MESSAGES = {
    "liveness": "Container {c} failed liveness probe, will be restarted",
    "startup": "Container {c} failed startup probe, will be restarted",
    "changed": "Container {c} definition changed, will be restarted",
}


class NodeAgent:
    """Runs pods on one Docker host. Thread-safe: one `sync_pod` per pod at a time."""

    def __init__(self, node: NodeRecord, config: RuntimeConfig,
                 on_change: Callable[[str], None]) -> None:
        self.node = node
        self.config = config
        self.on_change = on_change
        self.engine = Engine(node, config)
        self.builder = Builder(self.engine, config)
        self.prober = Prober(self.engine, on_change)
        self.watching = False  # `watch` is following the engine's events
        # Times the events stopped telling everything: the stream broke (events maybe
        # missed), or another cluster's container started (it makes no other event we follow).
        self.relists_wanted = 0
        self.access = PodAccess(self.engine)
        self.config_volumes = configfiles.ConfigVolumes(config.volumes_dir)
        self.hooks = lifecycle.Hooks(self.engine, self.prober)
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()
        self._known: dict[tuple[str, str], tuple[str, int]] = {}  # (uid, name) -> (id, restart)
        self._removed: set[str] = set()  # ids this agent removed: not "removed by hand"
        self._info_cache: tuple[float, dict[str, Any]] | None = None  # (monotonic, GET /info)
        self._addresses_cache: tuple[float, int] | None = None  # (monotonic, free addresses)
        # Creates a new pod's app containers while its sandbox starts (`_create_early`).
        self._early_pool = ThreadPoolExecutor(config.concurrency,
                                              thread_name_prefix=f"early-{node.name}")

    # Host --------------------------------------------------------------------

    def heartbeat(self) -> HostInfo:
        """The engine's CPUs, memory and versions; HostUnreachable when it does not answer.

        `GET /_ping` is the liveness probe of every heartbeat. `GET /info` (the engine
        counts every container and image for it) is asked again only every `INFO_REFRESH`
        seconds, and the bridge's inspect (it lists every attached container: 1,000 pods
        made it the heartbeat's main cost) every `ADDRESSES_REFRESH` seconds, both again
        after the engine failed to answer: CPUs, memory and versions change with an engine
        restart or upgrade, and the free addresses only when containers not of this
        service join or leave the bridge (our own sandboxes are not counted against them).
        """
        try:
            addresses = self._addresses()
            info = self._info()
        except HostUnreachable:
            self._info_cache = self._addresses_cache = None
            raise
        return HostInfo(cpus=int(info.get("NCPU", 0)), memory=int(info.get("MemTotal", 0)),
                        engine_version=str(info.get("ServerVersion", "")),
                        os=str(info.get("OperatingSystem", "")),
                        kernel=str(info.get("KernelVersion", "")),
                        os_type=str(info.get("OSType", "")),
                        arch=str(info.get("Architecture", "")),
                        pod_addresses=addresses)

    def _info(self) -> dict[str, Any]:
        now = time.monotonic()
        cached = self._info_cache
        if cached is not None and now - cached[0] < INFO_REFRESH:
            return cached[1]
        info: dict[str, Any] = self.engine.probe(self.engine.api.info)
        self._info_cache = (now, info)
        return info

    def _addresses(self) -> int:
        now = time.monotonic()
        cached = self._addresses_cache
        if cached is not None and now - cached[0] < ADDRESSES_REFRESH:
            self.engine.probe(self.engine.api.ping)
            return cached[1]
        addresses = self._pod_addresses()
        self._addresses_cache = (now, addresses)
        return addresses

    def _pod_addresses(self) -> int:
        """The addresses the default bridge (every sandbox's network) has left for our pods."""
        try:
            net = self.engine.probe(self.engine.api.inspect_network, "bridge")
        except NotFound:
            return 0
        configs = (net.get("IPAM") or {}).get("Config") or []
        subnet = next((str(c["Subnet"]) for c in configs if "." in str(c.get("Subnet", ""))), "")
        attached = [str(c.get("Name", "")) for c in (net.get("Containers") or {}).values()]
        ours = f"{self.config.prefix}_{naming.INFRA}_"
        return capacity.free_pod_addresses(subnet, attached, ours)

    def _filters(self, uid: str | None = None) -> dict[str, Any]:
        labels = [f"{naming.PREFIX}={self.config.prefix}"]
        labels += [f"{k}={v}" for k, v in self.config.extra_labels.items()]
        if uid is not None:
            labels.append(f"{naming.POD_UID}={uid}")
        return {"label": labels}

    def list_pods(self, *, foreign: bool = False) -> dict[str, ObservedPod]:
        """Every pod this service runs on the host, from ONE sparse list call (no inspects).

        Pods under our prefix that carry another cluster's id are someone else's and
        left out, unless `foreign` (the node controller counts them to report them).
        Pods with no cluster id (made before ids) are in, with `cluster` "": only the
        caller knows whether their uid is one of its store's.
        """
        # The API's list, not the SDK's Container models: nothing here needs one, and
        # making one per container was a third of a resync's node pass at 1,000 pods.
        found = self.engine.call(self.engine.api.containers, all=True, filters=self._filters())
        pods: dict[str, ObservedPod] = {}
        for c in found:
            observed = naming.observed_from_list(c)
            labels = observed.labels
            if not foreign and not self.config.owns(labels):
                continue
            uid = labels.get(naming.POD_UID, "")
            pod = pods.setdefault(uid, ObservedPod(uid, labels.get(naming.POD_NAME, ""),
                                                   labels.get(naming.POD_NAMESPACE, ""),
                                                   cluster=naming.cluster_of(labels)))
            pod.containers.append(observed)
        return pods

    def _instances(self, uid: str) -> tuple[list[Instance], dict[str, Any] | None]:
        """The pod's containers, inspected, and the newest infra's inspect data (or None)."""
        found = self.engine.call(self.engine.api.containers, all=True, filters=self._filters(uid))
        out: list[tuple[Instance, dict[str, Any]]] = []
        for entry in found:
            try:
                data = self.engine.call(self.engine.api.inspect_container, entry["Id"])
            except NotFound:
                continue  # removed between the list and the inspect
            out.append((Instance.from_inspect(data), data))
        out.sort(key=lambda pair: (pair[0].container, pair[0].restart))
        infras = [data for inst, data in out if inst.container == naming.INFRA]
        return [inst for inst, _ in out], (infras[-1] if infras else None)

    def _lock(self, uid: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks[uid]

    # Sync --------------------------------------------------------------------

    def sync_pod(self, pod: PodRecord, env: PodEnv) -> PodSync:
        """One idempotent step converging the pod's containers toward pod.spec; its status."""
        with self._locks_guard:
            seen = pod.uid in self._locks  # synced here before (kill_pod forgets it)
        with self._lock(pod.uid):
            early: dict[str, Future[str | None]] = {}
            try:
                return self._sync(pod, env, early, fresh=not seen and pod.start_time is None)
            finally:
                self._settle(early)

    def _sync(self, pod: PodRecord, env: PodEnv,
              early: dict[str, Future[str | None]], fresh: bool = False) -> PodSync:
        """`fresh`: a pod this agent never synced, whose record shows no sandbox ever
        started: nothing of it can be on the host, unless a process that did not live to
        record it made its first sandbox, whose name (fixed per pod and attempt) is then
        taken. So it is not listed (a list walks every container of the host), and a
        sandbox name found taken is a reason to list after all."""
        out = PodSync(host_ip=self.engine.address)
        out.events.extend(self.prober.drain_events(pod.uid))
        pspec = pod.spec
        inits = list(pspec.get("initContainers") or [])
        apps = list(pspec.get("containers") or [])
        try:
            spec.check_volumes(pspec, self.config.host_path_allow)
            security.pod_sysctls(pspec, self.config.allowed_unsafe_sysctls)  # before a sandbox
        except spec.SpecError as e:
            out.events.append(PodEvent("Warning", "Failed", f"Error: {e}"))
            waiting = ("CreateContainerConfigError", str(e))
            out.init_containers = [self._waiting(c, waiting, init=True) for c in inits]
            out.containers = [self._waiting(c, waiting, init=False) for c in apps]
            out.conditions = status.conditions(out.init_containers, out.containers, _now())
            return out
        config_folders = configfiles.prepare(self.config_volumes, pod.uid, pspec, env.configs, out)
        if config_folders is None:
            out.init_containers = [self._waiting(c, _CREATING, init=True) for c in inits]
            out.containers = [self._waiting(c, _CREATING, init=False) for c in apps]
            out.conditions = status.conditions(out.init_containers, out.containers, _now())
            return out
        instances, infra_data = ([], None) if fresh else self._instances(pod.uid)
        spans.mark(pod.uid, "list")
        volumes = {**self.builder.volume_names(pod), **config_folders}
        try:
            try:
                created = self._sandbox(pod, env, instances, out)
            except APIError as e:
                if not fresh or e.status_code != 409:
                    raise
                log.info("pod %s: its sandbox's name is taken; looking at its containers",
                         pod.uid)
                instances, infra_data = self._instances(pod.uid)
                created = self._sandbox(pod, env, instances, out)
            if created is not None:
                if _infra_or_none(instances) is None:  # the pod's first sandbox
                    self._create_early(pod, env, created, volumes, early)
                self.builder.start_infra(pod, created)
        except APIError as e:
            out.events.append(PodEvent("Warning", "FailedCreatePodSandBox",
                                       f"Failed to create pod sandbox: {e.explanation or e}"))
            out.init_containers = [self._waiting(c, _CREATING, init=True) for c in inits]
            out.containers = [self._waiting(c, _CREATING, init=False) for c in apps]
            out.conditions = status.conditions(out.init_containers, out.containers, _now())
            out.requeue(self.config.backoff_initial)
            return out
        if created is not None:
            # Only the new sandbox needs a look: a dead one's containers went with it, and
            # listing the pod again (one list and an inspect per container) finds nothing else.
            infra_data = self.engine.call(self.engine.api.inspect_container, created)
            instances = [*(i for i in instances if i.container != naming.INFRA
                           and i.id not in self._removed), Instance.from_inspect(infra_data)]
        if infra_data is None:
            raise RuntimeError("the pod's infrastructure container vanished while it was created")
        net = infra_data.get("NetworkSettings") or {}
        out.pod_ip = str(net.get("IPAddress") or next(
            (n.get("IPAddress", "") for n in (net.get("Networks") or {}).values()), ""))
        for key, binds in (net.get("Ports") or {}).items():
            if binds:
                port, _, proto = key.partition("/")
                out.ports[f"{port}/{proto.upper()}"] = int(binds[0]["HostPort"])
        out.start_time = status.parse_time((infra_data.get("State") or {}).get("StartedAt"))
        spans.mark(pod.uid, "sandbox_inspect")
        ctx = _Ctx(pod, env, infra_data["Id"], out, volumes, early)
        by_name: dict[str, list[Instance]] = defaultdict(list)
        for inst in instances:
            if inst.container != naming.INFRA:
                by_name[inst.container].append(inst)
        policy = str(pspec.get("restartPolicy", "Always"))
        initialized, init_failed = True, False
        for c in inits:
            insts = by_name[str(c["name"])]
            latest = insts[-1] if insts else None
            if latest is not None and latest.ended and latest.exit_code == 0:
                out.init_containers.append(self._status(c, insts, init=True))
                continue
            initialized = False
            st = self._step(ctx, c, insts, policy, init=True)
            out.init_containers.append(st)
            init_failed = st.state == "terminated" and st.exit_code != 0
            break
        for c in inits[len(out.init_containers):]:
            out.init_containers.append(self._waiting(c, ("PodInitializing", ""), init=True))
        for c in apps:
            if initialized:
                out.containers.append(self._step(ctx, c, by_name[str(c["name"])], policy,
                                                 init=False))
            else:
                out.containers.append(self._waiting(c, ("PodInitializing", ""), init=False))
        out.phase = status.pod_phase(out.init_containers, out.containers, policy, init_failed)
        out.conditions = status.conditions(out.init_containers, out.containers, _now())
        if any(s.state == "running" for s in out.init_containers):
            out.requeue(1.0)  # the die event requeues sooner; this covers a missed event
        return out

    def _sandbox(self, pod: PodRecord, env: PodEnv, instances: list[Instance],
                 out: PodSync) -> str | None:
        """Make sure the infra container runs; the id of one created now, else None.

        When it died, the pod's namespaces are gone: remove every container and
        start over, as kubelet does on a sandbox change.
        """
        infra = _infra_or_none(instances)
        if infra is not None and infra.running:
            return None
        attempt = 0
        if infra is not None:
            out.events.append(PodEvent("Normal", "SandboxChanged",
                                       "Pod sandbox changed, it will be killed and re-created."))
            attempt = infra.restart + 1
            for inst in instances:
                if inst.state != "created":  # never started (made early): not a restart
                    self._remember(pod.uid, inst)
                self._remove(inst.id, grace=0)
                self.prober.forget(inst.id)
        self.builder.create_volumes(pod, env)
        spans.mark(pod.uid, "volumes")
        volumeperms.prepare(self.engine, self.config, pod, self.builder.empty_dirs(pod))
        return self.builder.create_infra(pod, env, attempt)

    def _create_early(self, pod: PodRecord, env: PodEnv, infra_id: str,
                      volumes: dict[str, str], early: dict[str, Future[str | None]]) -> None:
        """Begin creating a new pod's app containers while its first sandbox starts, into
        `early`: Docker accepts a container joined to one not yet running, and a pod then
        waits for one create less. Only what the first step would create anyway: no init
        containers to run first, no shared PID namespace, a container never seen before
        (restart 0), an image already present, and no environment that needs the pod's IP
        (known once the sandbox runs). A sandbox made again after a failure gets none, so
        a sandbox that keeps failing does not make and remove app containers each time."""
        if pod.spec.get("initContainers") or pod.spec.get("shareProcessNamespace"):
            return
        for c in pod.spec.get("containers") or []:
            name = str(c["name"])
            if (pod.uid, name) in self._known or spec.needs_pod_ip(c):
                continue
            try:
                early[name] = self._early_pool.submit(self._create_one_early, pod, c,
                                                      infra_id, env, volumes)
            except RuntimeError:  # the agent is closing: the step creates it, if it runs
                return

    def _create_one_early(self, pod: PodRecord, c: dict[str, Any], infra_id: str,
                          env: PodEnv, volumes: dict[str, str]) -> str | None:
        image = self.builder.ready_image(c)
        if image is None:
            return None
        return self.builder.create_container(pod, c, image, infra_id=infra_id, env=env,
                                             volumes=volumes, pod_ip="", init=False,
                                             restart=0, backoff=0)

    def _take_early(self, ctx: _Ctx, name: str, action: Action) -> str | None:
        """The container created early for this step's create, if it is the one wanted."""
        future = ctx.early.pop(name, None)
        if future is None:
            return None
        try:
            cid = future.result()
        except Exception as e:  # the create below meets the same error and reports it
            log.debug("early create of %s in pod %s failed: %s", name, ctx.pod.uid, e)
            return None
        if cid is not None and (action.restart, action.backoff) != (0, 0):
            self._remove(cid, grace=0)
            return None
        return cid

    def _settle(self, early: dict[str, Future[str | None]]) -> None:
        """Wait for the early creates of a sync; remove what its steps did not take (a sync
        that ended before its containers' steps), so nothing is left behind half-made."""
        wait(early.values())
        for future in early.values():
            cid = None if future.exception() else future.result()
            if cid is not None:
                with contextlib.suppress(APIError, HostUnreachable):
                    self._remove(cid, grace=0)

    def _remember(self, uid: str, inst: Instance) -> None:
        if inst.container != naming.INFRA:
            key = (uid, inst.container)
            known = self._known.get(key)
            if known is None or known[1] <= inst.restart:
                self._known[key] = (inst.id, inst.restart)

    def _step(self, ctx: _Ctx, c: dict[str, Any], insts: list[Instance], policy: str,
              *, init: bool) -> ContainerStatus:
        """Apply the next action for one container (at most a kill and a create) and report."""
        name = str(c["name"])
        want = naming.container_hash(c)
        key = (ctx.pod.uid, name)
        waiting: Waiting | None = None
        for _ in range(3):
            latest = insts[-1] if insts else None
            verdict = self.prober.verdict(latest.id) if latest and latest.running else None
            known = self._known.get(key)
            action = status.next_action(
                latest, spec_hash=want, policy=policy, now=_now(), config=self.config,
                unhealthy=verdict.unhealthy if verdict else "",
                known_restart=known[1] if known and latest is None else None)
            if latest is None and known is not None and known[0] not in self._removed:
                ctx.out.events.append(PodEvent(
                    "Warning", "ContainerMissing",
                    f"Container {name} ({known[0][:12]}) was removed outside the reconciler; "
                    "creating it again"))
            if action.kind in ("none", "wait"):
                if action.kind == "wait" and latest is not None:
                    waiting = self._backoff(ctx, name, latest, action)
                break
            acted = self._act(ctx, c, insts, action, init=init)
            if isinstance(acted, tuple):
                waiting, insts = acted, []
                break
            insts = acted
            if action.kind != "kill":
                break
        if insts:
            self._remember(ctx.pod.uid, insts[-1])
            self._track(ctx, c, insts[-1])
        return self._status(c, insts, init=init, waiting=waiting)

    def _backoff(self, ctx: _Ctx, name: str, latest: Instance, action: Action) -> Waiting:
        delay = status.backoff_delay(latest.backoff, self.config)
        pod = ctx.pod
        ctx.out.events.append(PodEvent("Warning", "BackOff", f"Back-off restarting failed "
                                       f"container {name} in pod {pod.name}_{pod.namespace}"
                                       f"({pod.uid})"))
        ctx.out.requeue(action.wait)
        return ("CrashLoopBackOff", f"back-off {delay:g}s restarting failed container={name} "
                f"pod={pod.name}_{pod.namespace}({pod.uid})")

    def _act(self, ctx: _Ctx, c: dict[str, Any], insts: list[Instance], action: Action,
             *, init: bool) -> list[Instance] | Waiting:
        """Do one action; the container's instances afterwards, or why it waits."""
        name = str(c["name"])
        latest = insts[-1] if insts else None
        if action.kind == "kill" and latest is not None:
            ctx.out.events.append(PodEvent("Normal", "Killing",
                                           _KILL_MESSAGES[action.why].format(c=name)))
            grace = spec.grace_seconds(ctx.pod.spec, self.config.stop_timeout)
            failed = self.hooks.stop(lifecycle.target(ctx.pod.uid, c, latest.id, ctx.infra_id,
                                                      ctx.out.ports), grace)
            if failed:
                ctx.out.events.append(PodEvent("Warning", "FailedPreStopHook", failed))
            self.prober.forget(latest.id)
            return [*insts[:-1], self._inspect(latest.id)]
        if action.kind == "start" and latest is not None:
            self._start(latest.id)
            ctx.out.events.append(PodEvent("Normal", "Started", f"Started container {name}"))
            self._post_start(ctx, c, latest.id)
            return [*insts[:-1], self._inspect(latest.id)]
        image, waiting = self.builder.image(ctx.pod, c, ctx.out, ctx.env)
        spans.mark(ctx.pod.uid, "image_check")
        if waiting is not None:
            return waiting
        for old in insts[:-1]:
            self._remove(old.id, grace=0)  # keep only the previous instance, for `logs --previous`
        try:
            cid = self._take_early(ctx, name, action) or self.builder.create_container(
                ctx.pod, c, image, infra_id=ctx.infra_id, env=ctx.env, volumes=ctx.volumes,
                pod_ip=ctx.out.pod_ip, init=init, restart=action.restart, backoff=action.backoff)
        except spec.SpecError as e:
            ctx.out.events.append(PodEvent("Warning", "Failed", f"Error: {e}"))
            return ("CreateContainerConfigError", str(e))
        ctx.out.events.append(PodEvent("Normal", "Created", f"Created container {name}"))
        spans.mark(ctx.pod.uid, "app_create")
        self._start(cid)
        ctx.out.events.append(PodEvent("Normal", "Started", f"Started container {name}"))
        self._post_start(ctx, c, cid)
        spans.mark(ctx.pod.uid, "app_start")
        inst = self._inspect(cid)
        spans.mark(ctx.pod.uid, "app_inspect")
        return [*insts[-1:], inst]

    def _start(self, cid: str) -> None:
        try:
            self.engine.call(self.engine.api.start, cid)
        except NotFound:
            # The sandbox it joins was removed between our listing and this start (a
            # `docker rm -f` of the pod): it can never start. Without removing it, every
            # retry would try to start it again; the next sync creates a new one.
            self._remove(cid, grace=0)
            raise

    def _post_start(self, ctx: _Ctx, c: dict[str, Any], cid: str) -> None:
        if (c.get("lifecycle") or {}).get("postStart"):
            ctx.out.events.extend(self.hooks.post_start(
                ctx.pod, c, lifecycle.target(ctx.pod.uid, c, cid, ctx.infra_id, ctx.out.ports),
                spec.grace_seconds(ctx.pod.spec, self.config.stop_timeout)))

    def _inspect(self, cid: str) -> Instance:
        return Instance.from_inspect(self.engine.call(self.engine.api.inspect_container, cid))

    def _track(self, ctx: _Ctx, c: dict[str, Any], inst: Instance) -> None:
        probes: dict[Kind, dict[str, Any]] = {
            k: c[f"{k}Probe"] for k in KINDS if c.get(f"{k}Probe")
        }
        if not inst.running or not probes:
            return
        named = {str(p["name"]): int(p["containerPort"]) for p in c.get("ports") or []
                 if p.get("name")}
        started = inst.started_at.timestamp() if inst.started_at else time.time()
        self.prober.track(Target(ctx.pod.uid, str(c["name"]), inst.id, ctx.infra_id, started,
                                 dict(ctx.out.ports), named), probes, _recorded(ctx.pod, inst))

    def _status(self, c: dict[str, Any], insts: list[Instance], *, init: bool,
                waiting: Waiting | None = None) -> ContainerStatus:
        latest = insts[-1] if insts else None
        previous = insts[-2] if len(insts) > 1 else None
        verdict = self.prober.verdict(latest.id) if latest is not None else None
        return status.container_status(
            str(c["name"]), str(c.get("image", "")), latest, previous, init=init,
            ready=bool(verdict and verdict.ready and not init),
            started=bool(verdict and verdict.started),
            waiting=waiting)

    def _waiting(self, c: dict[str, Any], waiting: Waiting, *, init: bool) -> ContainerStatus:
        return status.container_status(str(c["name"]), str(c.get("image", "")), None, None,
                                       init=init, ready=False, started=False, waiting=waiting)

    # Removal -----------------------------------------------------------------

    def _remove(self, cid: str, grace: int) -> None:
        self._removed.add(cid)
        try:
            if grace > 0:
                self.engine.call_unbounded(self.engine.api.stop, cid, timeout=grace)
            self.engine.call(self.engine.api.remove_container, cid, force=True, v=True)
        except NotFound:
            pass

    def _stop_app(self, uid: str, entry: dict[str, Any], infra_id: str, grace: int) -> None:
        """preStop, SIGTERM, SIGKILL after the grace (lifecycle.py), then remove."""
        labels = entry.get("Labels") or {}
        self._removed.add(entry["Id"])
        target = Target(uid, labels.get(naming.CONTAINER, ""), entry["Id"], infra_id, 0.0)
        running = entry.get("State") == "running"
        self.hooks.stop(target, max(grace, 0) if running else 0, labels)
        self._remove(entry["Id"], grace=0)

    def remove_container(self, container_id: str) -> None:
        """Force-remove one container (an orphan, or a stale one on a returning host)."""
        self.prober.forget(container_id)
        self._remove(container_id, grace=0)

    def kill_pod(self, uid: str, grace_seconds: int) -> None:
        """Stop the pod's containers gracefully (all at once), then remove them and its volumes."""
        # A uid is unique, so these are ours; the ownership check guards against a
        # caller's mistake ever reaching another cluster's containers.
        entries = [e for e in self.engine.call(self.engine.api.containers, all=True,
                                               filters=self._filters(uid))
                   if self.config.owns(e.get("Labels") or {})]
        apps = [e["Id"] for e in entries
                if (e.get("Labels") or {}).get(naming.CONTAINER) != naming.INFRA]
        infras = [e["Id"] for e in entries if e["Id"] not in apps]
        if apps:
            infra_id = infras[-1] if infras else ""
            by_id = {e["Id"]: e for e in entries}
            with ThreadPoolExecutor(min(len(apps), self.config.concurrency)) as pool:
                list(pool.map(lambda cid: self._stop_app(uid, by_id[cid], infra_id,
                                                         grace_seconds), apps))
        for cid in infras:
            self._remove(cid, grace=0)
        # Only the pod's emptyDirs carry its uid; claim volumes outlive it (remove_volume).
        for vol in self.engine.call(self.engine.api.volumes,
                                    filters=self._filters(uid)).get("Volumes") or []:
            if not self.config.owns(vol.get("Labels") or {}):
                continue
            with contextlib.suppress(NotFound):
                self.engine.call(self.engine.api.remove_volume, vol["Name"], force=True)
        self.prober.forget_pod(uid)
        self.config_volumes.remove_pod(uid)
        self.builder.forget(uid)
        with self._locks_guard:
            self._locks.pop(uid, None)
        gone = {v[0] for k, v in self._known.items() if k[0] == uid}
        self._known = {k: v for k, v in self._known.items() if k[0] != uid}
        self._removed -= gone | set(apps) | set(infras)

    def remove_volume(self, name: str) -> None:
        """Remove a claim's Docker volume (the claim controller's); gone already is fine.

        Claim volumes are named by namespace and claim only, so another cluster on this
        engine may hold one of the same name: that one is left alone, with a warning.
        """
        try:
            labels = self.engine.call(self.engine.api.inspect_volume, name).get("Labels") or {}
        except NotFound:
            return
        if not self.config.owns(labels):
            log.warning("volume %s on %s belongs to cluster %s, not ours: left alone", name,
                        self.node.name, naming.cluster_of(labels))
            return
        self.builder.remove_volume(name)

    # Watch, exec, logs -------------------------------------------------------

    def watch(self, stop: threading.Event) -> None:
        """Follow Docker's events for this service's containers until `stop`; call on_change.

        `watching` and `relists_wanted` tell the node controller whether the events can be
        trusted since its last list of the host (control/registry.py, `_gc_nodes`). A list
        made before the follow began may have missed what happened until it began: so
        the follow's start counts as one relist wanted."""
        self.relists_wanted += 1
        self.watching = True
        try:
            follow_events(self.engine, self._filters(), self._on_event, stop,
                          on_break=self._stream_broke)
        finally:
            self.watching = False

    def _stream_broke(self) -> None:
        self.relists_wanted += 1  # events may have been missed

    def _on_event(self, ev: dict[str, Any]) -> None:
        attrs = (ev.get("Actor") or {}).get("Attributes") or {}
        uid = attrs.get(naming.POD_UID)
        if ev.get("Action") == "start":
            # Our own starts are our own doing. Another cluster's (a second store on this
            # engine) is only seen by a list of the host: the next resync makes one.
            if uid and not self.config.owns(attrs):
                self.relists_wanted += 1
            return
        if not uid or not self.config.owns(attrs):
            return
        if ev.get("Action") in ("die", "destroy"):
            self.prober.forget(str(ev.get("id") or (ev.get("Actor") or {}).get("ID", "")))
        self.on_change(uid)

    def container_id(self, uid: str, container: str, previous: bool = False) -> str:
        """The Docker id of a pod's container (its previous instance with `previous`)."""
        return self.access.container_id(uid, container, previous)

    def exec(self, uid: str, container: str, cmd: list[str], tty: bool = False,
             stdin: bool = False) -> ExecResult:
        """Run `cmd` in a pod's container to completion (interactive use: see cli/podio.py)."""
        return self.access.exec(uid, container, cmd, tty=tty, stdin=stdin)

    def logs(self, uid: str, container: str, follow: bool = False, tail: int | None = None,
             previous: bool = False) -> Iterator[bytes]:
        """The container's output as Docker keeps it locally, streamed when `follow`."""
        return self.access.logs(uid, container, follow=follow, tail=tail, previous=previous)

    def close(self) -> None:
        self._early_pool.shutdown(wait=True)
        self.prober.close()
        self.engine.close()


class _Ctx:
    """What every container step of one sync shares."""

    def __init__(self, pod: PodRecord, env: PodEnv, infra_id: str, out: PodSync,
                 volumes: dict[str, str], early: dict[str, Future[str | None]]) -> None:
        self.pod, self.env, self.infra_id, self.out, self.volumes = pod, env, infra_id, out, volumes
        self.early = early  # container name -> its create begun beside the sandbox's start


def _recorded(pod: PodRecord, inst: Instance) -> Verdict | None:
    """What the pod's record says of this running container, when it is the one recorded
    running: a restarted service's probes start from it (Prober.track)."""
    cid = f"docker://{inst.id}"
    for st in (*pod.init_containers, *pod.containers):
        if st.container_id == cid and st.state == "running":
            return Verdict(ready=st.ready, started=st.started)
    return None


def _infra_or_none(instances: list[Instance]) -> Instance | None:
    infras = [i for i in instances if i.container == naming.INFRA]
    return infras[-1] if infras else None


def _now() -> datetime:
    return datetime.now(UTC)
