"""Items by key with named secondary indexes: the shape of client-go's cache.Indexer.

The building block of `reconciler.control.cache`: one `Indexer` holds the pods
by uid, another the desired objects by key. Each index is a named function
from an item to the values it is filed under (client-go's IndexFunc, e.g. a
pod's namespace, owner uid, node, or each of its `key=value` label pairs);
`by_index(name, value)` answers with the keys filed there, without a scan.

Not thread-safe by itself: the cache holds the one lock around it (client-go's
threadSafeMap does the same around its `storeIndex`). Empty index sets are
deleted, so values that come and go (pod names, node names) do not leak.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

IndexFunc = Callable[[T], Iterable[str]]

class Indexer(Generic[K, T]):
    """Items by key plus one value -> keys map per named index function."""

    def __init__(self, indexers: Mapping[str, IndexFunc[T]]) -> None:
        self._funcs = dict(indexers)
        self._items: dict[K, T] = {}
        self._indices: dict[str, dict[str, set[K]]] = {name: {} for name in self._funcs}
        # The values each key is filed under, per index: removing or replacing an item
        # must not call the index functions on the old item again (they may be costly).
        self._filed: dict[K, dict[str, tuple[str, ...]]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    def get(self, key: K) -> T | None:
        return self._items.get(key)

    def items(self) -> Iterable[tuple[K, T]]:
        return self._items.items()

    def values(self) -> Iterable[T]:
        return self._items.values()

    def keys(self) -> frozenset[K]:
        return frozenset(self._items)

    def put(self, key: K, item: T) -> T | None:
        """Add or replace `item` under `key`; returns the item it replaced."""
        old = self._items.get(key)
        filed = {name: tuple(dict.fromkeys(func(item))) for name, func in self._funcs.items()}
        before = self._filed.get(key, {})
        for name, values in filed.items():
            had = before.get(name, ())
            if had == values:
                continue
            index = self._indices[name]
            for value in set(had) - set(values):
                self._unfile(index, value, key)
            for value in values:
                index.setdefault(value, set()).add(key)
        self._items[key] = item
        self._filed[key] = filed
        return old

    def remove(self, key: K) -> T | None:
        """Drop the item under `key`; returns it, or None when there was none."""
        old = self._items.pop(key, None)
        for name, values in self._filed.pop(key, {}).items():
            index = self._indices[name]
            for value in values:
                self._unfile(index, value, key)
        return old

    def clear(self) -> None:
        self._items.clear()
        self._filed.clear()
        for index in self._indices.values():
            index.clear()

    def by_index(self, name: str, value: str) -> frozenset[K]:
        """The keys filed under `value` in index `name` (KeyError for an unknown index)."""
        found = self._indices[name].get(value)
        return frozenset(found) if found else frozenset()

    def index_sets(self, name: str, values: Iterable[str]) -> list[set[K]]:
        """The live key sets of several values, for the cache's set algebra; never mutate them."""
        index = self._indices[name]
        return [index[v] for v in values if v in index]

    def index_values(self, name: str) -> frozenset[str]:
        """Every value index `name` has keys for (client-go's ListIndexFuncValues)."""
        return frozenset(self._indices[name])

    def filed(self, key: K, name: str) -> tuple[str, ...]:
        """The values `key` is filed under in index `name`."""
        return self._filed.get(key, {}).get(name, ())

    def index_names(self) -> tuple[str, ...]:
        return tuple(self._funcs)

    @staticmethod
    def _unfile(index: dict[str, set[K]], value: str, key: K) -> None:
        keys = index.get(value)
        if keys is None:
            return
        keys.discard(key)
        if not keys:
            del index[value]
