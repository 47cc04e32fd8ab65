"""The config controller: a changed ConfigMap or Secret wakes the pods that use it.

Keyed by the object's Key (kinds ConfigMap and Secret, routed by
reconciler.control.registry). It decides nothing about the object itself: a
pod's sync (reconciler.control.pods) reads the objects its spec names through
`config_objects` and hands them to the node agent, which rewrites the files of
mounted volumes in place (reconciler.runtime.configfiles) and uses the env
values only when it creates a container, as kubelet does. So waking every pod
of the namespace that names the object is the whole reaction: files update on
that sync, a pod waiting for a missing object or key starts. The periodic
resync enqueues every ConfigMap and Secret, so a missed change is caught.
"""

from __future__ import annotations

import binascii
import logging

from reconciler.api.records import PodRecord
from reconciler.api.types import Key
from reconciler.control.context import Context
from reconciler.control.loop import Result, WorkKey
from reconciler.runtime.configrefs import ConfigObjects, data_of, referenced
from reconciler.store.secrets import SealError, is_sealed

log = logging.getLogger(__name__)

CONFIG = "config"
KINDS = frozenset({"ConfigMap", "Secret"})


def config_objects(ctx: Context, pod: PodRecord) -> ConfigObjects:
    """The ConfigMaps and Secrets the pod names, as the agent consumes them.

    An object the store cannot open (a sealed Secret without the key, a corrupt
    box) counts as missing: the pod waits, with Kubernetes' "not found" wording,
    and the cause is logged once per read without any of its content.
    """
    found: dict[tuple[str, str], dict[str, bytes] | None] = {}
    cache = ctx.cache
    for kind, name in sorted(referenced(pod.spec)):
        key = Key(kind, pod.namespace, name)
        try:
            # The cache holds what the store wrote, Secrets opened: no query per sync.
            obj = cache.object(key, copy=False) if cache is not None and cache.synced \
                else ctx.store.get_object(key)
        except SealError as e:
            log.error("%s %s/%s cannot be read: %s", kind, pod.namespace, name, e)
            obj = None
        if obj is None or is_sealed(obj.body):
            found[(kind, name)] = None
            continue
        try:
            found[(kind, name)] = data_of(kind, obj.body)
        except (binascii.Error, ValueError):
            found[(kind, name)] = None
    return ConfigObjects(pod.namespace, found)


def consumers(ctx: Context, key: Key) -> list[str]:
    """The uids of the pods of the object's namespace that name it."""
    ref = (key.kind, key.name)
    return [p.uid for p in ctx.store.list_pods(namespace=key.namespace, containers=False)
            if p.deletion_timestamp is None and ref in referenced(p.spec)]


class ConfigController:
    """Reconciles one ConfigMap or Secret key by waking its consumers; see the module docstring."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def reconcile(self, key: WorkKey) -> Result:
        if not isinstance(key.id, Key) or key.id.kind not in KINDS:
            return Result.done()
        for uid in consumers(self.ctx, key.id):
            self.ctx.enqueue_pod(uid)
        return Result.done()
