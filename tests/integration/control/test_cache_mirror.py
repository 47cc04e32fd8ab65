"""Write-through mirrors the real store: the same pod writes leave the cache equal to a relist."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.control.cache import Cache
from reconciler.control.cache_records import PATCH_FIELDS
from reconciler.store import Store
from tests.unit.control.test_cache import pods_st

UIDS = [f"u{i}" for i in range(8)]

ops_st = st.lists(st.one_of(
    st.tuples(st.just("upsert"), pods_st),
    st.tuples(st.just("delete"), st.sampled_from(UIDS)),
    st.tuples(st.just("patch"), pods_st,
              st.lists(st.sampled_from(sorted(PATCH_FIELDS)), min_size=1, max_size=3,
                       unique=True)),
), max_size=20)


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    with tempfile.TemporaryDirectory() as tmp:
        s = Store.open(str(Path(tmp) / "state.db"))
        yield s
        s.close()


class TestWriteThroughMirror:
    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(ops=ops_st)
    def test_cache_equals_a_relist(self, store: Store, ops: list[tuple[Any, ...]]) -> None:
        """Each store write, then the same write through the cache: the cache equals the store."""
        for pod in store.list_pods():
            store.delete_pod(pod.uid)
        cache = Cache()
        cache.replace([], store.list_pods())
        for op in ops:
            if op[0] == "upsert":
                store.upsert_pod(op[1])
                cache.upsert_pod(op[1])
            elif op[0] == "delete":
                if store.delete_pod(op[1]):
                    cache.delete_pod(op[1])
            elif store.patch_pod(op[1], *op[2]):
                assert cache.patch_pod(op[1], *op[2])
        assert cache.pods() == store.list_pods()
        assert cache.replace([], store.list_pods()) == 0
