"""Volume ownership for a pod's securityContext: fsGroup, and emptyDir's world-writable mode.

Called by agent.py when it creates a pod's sandbox, after the pod's volumes exist
(sandbox.py `create_volumes`) and before any container mounts them. Kubernetes
makes an emptyDir 0777 and, with `fsGroup`, gives every emptyDir and claim volume
to that group (group read-write, setgid directories, kubelet's SetVolumeOwnership)
so that a container running as another user can write there. A Docker volume
starts as root's 0755 and lives on the host's engine, possibly remote: so a short
one-shot container of the infrastructure image (it has busybox) mounts the volumes
and fixes them. Only pods that need it pay for it: a pod with an fsGroup, or with a
container whose runAsUser is not root.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Mapping

from docker.errors import APIError, NotFound

from reconciler.api.records import PodRecord
from reconciler.runtime import naming, security, spec
from reconciler.runtime.engine import Engine
from reconciler.runtime.types import RuntimeConfig

CONTAINER = "POD-volumes"  # its container-name label: no spec container can have this name
_WAIT = 300  # seconds a recursive chgrp of a large claim may take


def script(empty_dirs: list[str], claims: list[str], fs_group: int | None) -> str:
    """The shell script that fixes the mounted volumes (paths under /v)."""
    lines = [f"chmod 0777 {shlex.quote(p)}" for p in empty_dirs]
    if fs_group is not None:
        for p in [*empty_dirs, *claims]:
            q = shlex.quote(p)
            lines.append(f"chgrp -R {fs_group} {q} && chmod -R g+rwX {q} && "
                         f"find {q} -type d -exec chmod g+s {{}} +")
    return "set -e\n" + "\n".join(lines)


def needed(pod_spec: dict[str, object]) -> bool:
    """Whether the pod's volumes need fixing before its containers start."""
    return security.fs_group(pod_spec) is not None or security.runs_as_non_root_user(pod_spec)


def prepare(engine: Engine, config: RuntimeConfig, pod: PodRecord,
            empty_dirs: dict[str, str]) -> None:
    """Fix ownership and modes of the pod's emptyDir and claim volumes (idempotent).

    Raises APIError when the fix fails, so the sandbox is not created and the next
    sync tries again (event FailedCreatePodSandBox).
    """
    claims = spec.claim_volumes(pod.namespace, pod.spec)
    if not needed(pod.spec) or not (empty_dirs or claims):
        return
    binds: dict[str, Mapping[str, str]] = {}
    paths: dict[str, list[str]] = {"empty": [], "claim": []}
    for kind, volumes in (("empty", empty_dirs), ("claim", claims)):
        for i, docker_volume in enumerate(volumes.values()):
            path = f"/v/{kind}{i}"
            binds[docker_volume] = {"bind": path, "mode": "rw"}
            paths[kind].append(path)
    api = engine.api
    base = naming.pod_labels(config.prefix, pod, config.labels)
    labels = naming.container_labels(base, CONTAINER, init=True, restart=0, spec_hash="")
    created = engine.call(
        api.create_container, config.infra_image,
        entrypoint=["sh", "-c", script(paths["empty"], paths["claim"],
                                       security.fs_group(pod.spec))],
        command=[], user="0", labels=labels,
        host_config=api.create_host_config(binds=binds, network_mode="none"),
    )
    cid = str(created["Id"])
    try:
        engine.call(api.start, cid)
        code = int(engine.call_unbounded(api.wait, cid, timeout=_WAIT).get("StatusCode", -1))
        if code != 0:
            logs = engine.call(api.logs, cid, stream=False)
            out = bytes(logs).decode(errors="replace").strip()  # type: ignore[arg-type]  # a bytes when not streamed
            raise APIError(f"setting the ownership of volumes (fsGroup) failed: {out}")
    finally:
        with contextlib.suppress(NotFound):
            engine.call(api.remove_container, cid, force=True)
