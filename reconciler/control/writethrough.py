"""Write-through: every committed write of this process's store reaches the cache.

Sits between `reconciler.store` (the one place this process writes) and
`reconciler.control.cache`. The store tells a write listener what each write
wrote, inside the transaction (`StoreBase.add_write_listener`); the listener
copies it there (a caller may change its records after writing them) and
returns what the cache must do, which the store runs only once the
transaction has committed, in commit order. A rolled-back batch reaches the
cache not at all: nothing enters the cache without a committed store write.

Objects are re-read by key after the commit (the desired pass writes them;
a few per change), pods are written from the records the store was given, and
an object's status is patched into the cached copy; nodes go to the node view
(`control.nodeview`).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable
from typing import Any

from reconciler.api.records import PodRecord
from reconciler.api.types import JSON, Key
from reconciler.control.cache import Cache
from reconciler.control.cache_records import copy_pod
from reconciler.control.nodeview import NodeView
from reconciler.store import Store
from reconciler.store.base import AfterCommit


def write_through(cache: Cache, store: Store, nodes: NodeView | None = None) -> None:
    """Keep `cache` (and `nodes`) equal to what this process commits to `store`."""

    def listener(kind: str, args: tuple[Any, ...]) -> AfterCommit | None:
        if nodes is not None and kind == "node":
            node = copy.deepcopy(args[0])
            return lambda: nodes.put(node)
        if nodes is not None and kind == "delete-node":
            name: str = args[0]
            return lambda: nodes.remove(name)
        if kind == "pods":
            return _upsert(cache, [copy_pod(p) for p in args[0]])
        if kind == "patch":
            return _patch(cache, [copy_pod(p) for p in args[0]], tuple(args[1]))
        if kind == "delete-pod":
            uid: str = args[0]
            return lambda: cache.delete_pod(uid)
        if kind == "objects":
            return _reread(cache, store, list(args[0]))
        if kind == "status":
            return _status(cache, args[0], _copy_json(args[1]))
        return None

    store.add_write_listener(listener)


def _upsert(cache: Cache, pods: list[PodRecord]) -> AfterCommit:
    def apply() -> None:
        for pod in pods:
            cache.upsert_pod(pod)

    return apply


def _patch(cache: Cache, pods: list[PodRecord], groups: tuple[str, ...]) -> AfterCommit:
    def apply() -> None:
        for pod in pods:
            cache.patch_pod(pod, *groups)

    return apply


def _reread(cache: Cache, store: Store, keys: Iterable[Key]) -> AfterCommit:
    def apply() -> None:
        for key in keys:
            record = store.get_object(key)
            if record is None:
                cache.delete_object(key)
            else:
                cache.upsert_object(record)

    return apply


def _status(cache: Cache, key: Key, status: JSON | None) -> AfterCommit:
    def apply() -> None:
        record = cache.object(key)
        if record is not None:
            cache.upsert_object(dataclasses.replace(record, status=status))

    return apply


def _copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    return value
