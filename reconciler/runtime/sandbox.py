"""Creating a pod's Docker objects: images, the infrastructure container, volumes, containers.

The acting half of `sync_pod` (agent.py decides, this creates): every call goes
through the host's `Engine`. The infrastructure container owns the pod's network
and IPC namespaces, its hostname, DNS settings and published ports; app and init
containers join it. Docker refuses a hostname with `network_mode=container:`, but
a joined container takes the network container's hostname and /etc/hosts, so
every container of the pod reports the pod's name (docs/runtime.md).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from docker.errors import ImageNotFound, NotFound
from docker.types import LogConfig

from reconciler.api.records import PodRecord, claim_volume_name
from reconciler.runtime import (
    configrefs,
    images,
    lifecycle,
    naming,
    pullrules,
    security,
    spans,
    spec,
)
from reconciler.runtime.engine import Engine
from reconciler.runtime.puller import Puller, PullResult
from reconciler.runtime.pullrules import Credential
from reconciler.runtime.types import PodEnv, PodEvent, PodSync, RuntimeConfig

Waiting = tuple[str, str]  # (reason, message) of a container that cannot start yet
# Seconds an image found present is not inspected again. One removed by hand meanwhile
# fails its container's create, and the loop's retry after that looks again.
IMAGE_SEEN_FOR = 10.0


def pulled_message(result: PullResult) -> str:
    """kubelet's words for a pull done, with its totals."""
    size = f" Image size: {result.size} bytes." if result.size else ""
    return (f'Successfully pulled image "{result.ref}" in {result.seconds:.3f}s '
            f"({result.waited:.3f}s including waiting).{size}")


class Builder:
    """Creates the Docker objects of pods on one host; remembers pull failures for back-off."""

    def __init__(self, engine: Engine, config: RuntimeConfig) -> None:
        self.engine = engine
        self.config = config
        self._infra_ready = False
        self._infra_lock = threading.Lock()
        self._pull_failures: dict[tuple[str, str], tuple[int, float]] = {}
        self._mapped: set[tuple[str, str]] = set()
        # ref -> monotonic time until which an image seen present is taken as present:
        # a burst of pods of one image then costs one image inspect, not one per pod.
        self._seen: dict[str, float] = {}
        self.puller = Puller(engine, config)

    # Images ------------------------------------------------------------------

    def _present(self, ref: str) -> bool:
        if self._seen.get(ref, 0.0) > time.monotonic():
            return True
        try:
            self.engine.call(self.engine.api.inspect_image, ref)
        except (ImageNotFound, NotFound):
            self._seen.pop(ref, None)
            return False
        self._seen[ref] = time.monotonic() + IMAGE_SEEN_FOR
        return True

    def ensure_infra_image(self) -> None:
        """The infrastructure image: pulled when configured from a registry, else built locally
        (images.py), once per host. The default one is this project's and only ever built."""
        with self._infra_lock:
            if self._infra_ready:
                return
            ref = self.config.infra_image
            if not self._present(ref) and not (
                    ref != images.INFRA_IMAGE and self.puller.allowed(ref)
                    and self.puller.pull(ref, self.puller.node_credentials()).ok):
                self.engine.call(images.ensure_infra_image, self.engine.client, ref)
            self._infra_ready = True

    def image(self, pod: PodRecord, c: dict[str, Any], out: PodSync,
              env: PodEnv) -> tuple[str, Waiting | None]:
        """The local image reference to run for container `c`, or why it cannot run yet.

        kubelet's image manager: the policy decides whether to pull (pullrules.needs_pull);
        a failed pull is ErrImagePull, then ImagePullBackOff until the back-off ends.
        """
        ref = str(c.get("image", ""))
        mapped = spec.map_image(ref, self.config.image_map)
        key = (pod.uid, str(c["name"]))
        if mapped != ref and key not in self._mapped:
            self._mapped.add(key)
            out.events.append(PodEvent("Normal", "ImageMapped",
                                       f'Image "{ref}" is mapped to "{mapped}" by the image map'))
        policy = spec.pull_policy(c)
        present = self._present(mapped)
        registry = pullrules.parse_ref(mapped).registry
        offline = self.puller.unreachable(registry) if present else ""
        if offline or not pullrules.needs_pull(policy, present, mapped=mapped != ref) or (
                present and not self.puller.allowed(mapped)):
            # Not pulled: the policy says so, the configuration allows no pull from there, or
            # the registry did not answer a moment ago (said once in the log, not per pod).
            if present:
                out.events.append(PodEvent("Normal", "Pulled",
                                           f'Container image "{mapped}" already present on '
                                           "machine"))
                return mapped, None
            msg = f'Container image "{mapped}" is not present with pull policy of Never'
            out.events.append(PodEvent("Warning", "ErrImageNeverPull", msg))
            return mapped, ("ErrImageNeverPull", msg)
        count, not_before = self._pull_failures.get(key, (0, 0.0))
        if time.time() < not_before:
            msg = f'Back-off pulling image "{mapped}"'
            out.events.append(PodEvent("Normal", "BackOff", msg))
            out.events.append(PodEvent("Warning", "Failed", "Error: ImagePullBackOff"))
            out.requeue(not_before - time.time())
            return mapped, ("ImagePullBackOff", msg)
        error = "" if self.puller.allowed(mapped) else \
            f"pulls from {registry} are not allowed (runtime.pull_from)"
        if not error:
            out.events.append(PodEvent("Normal", "Pulling", f'Pulling image "{mapped}"'))
            result = self.puller.pull(mapped, self._credentials(pod, env, out))
            if result.ok:
                self._seen.pop(mapped, None)
                self._pull_failures.pop(key, None)
                out.events.append(PodEvent("Normal", "Pulled", pulled_message(result)))
                return mapped, None
            if result.unreachable and present:
                out.events.append(PodEvent("Normal", "Pulled", f'Container image "{mapped}" '
                                           "already present on machine"))
                return mapped, None
            error = result.error
        out.events.append(PodEvent("Warning", "Failed",
                                   f'Failed to pull image "{mapped}": {error}'))
        delay = pullrules.backoff_delay(count + 1, self.config.backoff_initial,
                                        self.config.backoff_max)
        self._pull_failures[key] = (count + 1, time.time() + delay)
        out.events.append(PodEvent("Warning", "Failed", "Error: ErrImagePull"))
        out.requeue(delay)
        return mapped, ("ErrImagePull", error)

    def _credentials(self, pod: PodRecord, env: PodEnv, out: PodSync) -> list[Credential]:
        """imagePullSecrets in order, then the node's Docker config file."""
        creds: list[Credential] = []
        missing = []
        for name in pullrules.pull_secret_names(pod.spec):
            data = env.configs.get(configrefs.SECRET, name)
            if data is None:
                missing.append(name)
            else:
                creds.extend(pullrules.secret_credentials(name, data))
        if missing:
            out.events.append(PodEvent(
                "Warning", "FailedToRetrieveImagePullSecret",
                f"Unable to retrieve some image pull secrets ({', '.join(missing)}); "
                "attempting to pull the image may not succeed."))
        return creds + self.puller.node_credentials()

    def _image_user(self, ref: str) -> str:
        """The user an image runs as (Config.User), "" for root by default."""
        data = self.engine.call(self.engine.api.inspect_image, ref)
        return str((data.get("Config") or {}).get("User") or "")

    def forget(self, uid: str) -> None:
        self._mapped = {k for k in self._mapped if k[0] != uid}
        self._pull_failures = {k: v for k, v in self._pull_failures.items() if k[0] != uid}

    # Objects -----------------------------------------------------------------

    def empty_dirs(self, pod: PodRecord) -> dict[str, str]:
        """The Docker volume of each emptyDir of the pod (tmpfs ones have none)."""
        return {
            str(vol["name"]): naming.volume_name(self.config.prefix, pod, str(vol["name"]))
            for vol in pod.spec.get("volumes") or []
            if "emptyDir" in vol and (vol.get("emptyDir") or {}).get("medium") != "Memory"
        }

    def volume_names(self, pod: PodRecord) -> dict[str, str]:
        """The Docker volume behind each emptyDir and persistentVolumeClaim volume of the pod."""
        return {**self.empty_dirs(pod), **spec.claim_volumes(pod.namespace, pod.spec)}

    def create_volumes(self, pod: PodRecord, env: PodEnv) -> None:
        """Create the pod's volumes (idempotent: Docker returns an existing one).

        An emptyDir volume carries the pod's labels and goes with the pod; a claim's
        volume carries only the claim's, so removing the pod leaves it in place.
        """
        labels = naming.pod_labels(self.config.prefix, pod, self.config.labels)
        for vol, name in self.empty_dirs(pod).items():
            self.engine.call(self.engine.api.create_volume, name=name,
                             labels={**labels, naming.VOLUME: vol})
        uids = dict(env.claim_uids)
        for vol in pod.spec.get("volumes") or []:
            claim = str((vol.get("persistentVolumeClaim") or {}).get("claimName") or "")
            if not claim:
                continue
            claim_labels = naming.claim_labels(
                self.config.prefix, pod.namespace, claim, uids.get(claim, ""),
                self.config.labels)
            self.engine.call(self.engine.api.create_volume,
                             name=claim_volume_name(pod.namespace, claim), labels=claim_labels)

    def remove_volume(self, name: str) -> None:
        """Remove a named volume; one already gone is fine, one still in use raises APIError."""
        with contextlib.suppress(NotFound):
            self.engine.call(self.engine.api.remove_volume, name)

    def ready_image(self, c: dict[str, Any]) -> str | None:
        """The local image to run for `c` when it is present and nothing asks for a pull;
        else None, and `image` decides (pull, back-off, events). No events of its own: a
        container created early (agent.py) still goes through `image` for them."""
        mapped = spec.map_image(str(c.get("image", "")), self.config.image_map)
        if not self._present(mapped):
            return None
        ref = str(c.get("image", ""))
        if pullrules.needs_pull(spec.pull_policy(c), True, mapped=mapped != ref) and \
                self.puller.allowed(mapped):
            return None
        return mapped

    def create_infra(self, pod: PodRecord, env: PodEnv, attempt: int) -> str:
        """Create (not start: `start_infra`) the infrastructure container; its id."""
        self.ensure_infra_image()
        api = self.engine.api
        ports = spec.container_ports(pod.spec)
        exposed = [(p, proto.lower()) for p, proto, _ in ports]
        bindings: dict[int | str, Any] = {
            f"{p}/{proto.lower()}": (self.engine.address, host) for p, proto, host in ports
        }
        base = naming.pod_labels(self.config.prefix, pod, self.config.labels)
        labels = naming.container_labels(base, naming.INFRA, init=False, restart=attempt,
                                         spec_hash=pod.spec_hash)
        host_config = api.create_host_config(
            ipc_mode="shareable",
            port_bindings=bindings or None,
            dns=list(env.dns_servers) or None,
            dns_search=list(env.dns_search) or None,
            dns_opt=list(env.dns_options) if env.dns_servers else None,
            # The infra owns the pod's network and IPC namespaces: pod sysctls go here.
            sysctls=security.pod_sysctls(pod.spec, self.config.allowed_unsafe_sysctls) or None,
        )
        subdomain = pod.spec.get("subdomain")
        created = self.engine.call(
            api.create_container, self.config.infra_image,
            name=naming.infra_name(self.config.prefix, pod, attempt),
            hostname=str(pod.spec.get("hostname") or pod.name),
            domainname=f"{subdomain}.{pod.namespace}.svc.cluster.local" if subdomain else None,
            ports=exposed or None, labels=labels, host_config=host_config,
        )
        cid = str(created["Id"])
        spans.mark(pod.uid, "sandbox_create")
        return cid

    def start_infra(self, pod: PodRecord, cid: str) -> None:
        """Start the infrastructure container: Docker sets up the pod's network here."""
        self.engine.call(self.engine.api.start, cid)
        spans.mark(pod.uid, "sandbox_start")

    def create_container(
        self, pod: PodRecord, c: dict[str, Any], image: str, *, infra_id: str, env: PodEnv,
        volumes: dict[str, str], pod_ip: str, init: bool, restart: int, backoff: int,
    ) -> str:
        """Create (not start) one app or init container joined to the pod's infra; its id."""
        api = self.engine.api
        name = str(c["name"])
        environment = spec.container_env(
            c, pod, env.env, pod_ip=pod_ip, node_name=self.engine.node.name,
            host_ip=self.engine.address,
            env_from=tuple(configrefs.env_from(c, env.configs)),
            config_value=lambda source: configrefs.env_value(source, env.configs))
        entry, cmd = spec.command_and_args(c, environment)
        mounts = spec.container_mounts(c, pod.spec, volumes)
        res = spec.limits(c)
        logs = spec.log_config(self.config.fluentd_address, pod, name)
        base = naming.pod_labels(self.config.prefix, pod, self.config.labels)
        labels = naming.container_labels(base, name, init=init, restart=restart,
                                         spec_hash=naming.container_hash(c), backoff=backoff)
        labels.update(lifecycle.hook_labels(c))
        sec = security.container_security(c, pod.spec, self.config.allowed_capabilities)
        image_user = self._image_user(image) if sec.needs_image_user else ""
        refusal = sec.refusal(image_user, f"{pod.name}_{pod.namespace}({pod.uid})", name)
        if refusal:
            raise security.SecurityError(refusal)
        host_config = api.create_host_config(
            network_mode=f"container:{infra_id}",
            ipc_mode=f"container:{infra_id}",
            pid_mode=f"container:{infra_id}" if pod.spec.get("shareProcessNamespace") else None,
            # Docker's init as PID 1 forwards SIGTERM to the app, which then gets the default
            # action: a server that never handles SIGTERM (busybox httpd) stops at once instead
            # of after the whole grace period. A shared PID namespace has the pause as PID 1.
            init=None if pod.spec.get("shareProcessNamespace") else True,
            binds=dict(mounts.binds) or None,
            tmpfs=mounts.tmpfs or None,
            log_config=LogConfig(**logs),
            nano_cpus=res.get("nano_cpus"), mem_limit=res.get("mem_limit"),
            cpu_shares=res.get("cpu_shares"),
            **sec.host_config(),
        )
        created = self.engine.call(
            api.create_container, image, command=cmd, entrypoint=entry,
            environment=[f"{k}={v}" for k, v in environment.items()],
            working_dir=c.get("workingDir"), user=sec.user(image_user),
            tty=bool(c.get("tty")), stdin_open=bool(c.get("stdin")),
            name=naming.container_name(self.config.prefix, name, pod, restart),
            labels=labels, host_config=host_config,
        )
        return str(created["Id"])
