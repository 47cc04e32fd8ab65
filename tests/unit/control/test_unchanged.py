"""The inputs a reconcile read, named by cache versions, and the memo of idle reconciles."""

from __future__ import annotations

import dataclasses

from reconciler.api.selectors import from_map
from reconciler.api.types import Key
from reconciler.control.cache import Cache
from reconciler.control.unchanged import Unchanged, inputs
from tests.unit.control.test_cache import make_object, make_pod

RC = Key("ReplicationController", "default", "web")


def filled() -> Cache:
    cache = Cache()
    cache.replace([make_object("ReplicationController", "web", uid="o1",
                               selector={"app": "web"})],
                  [make_pod("p1", labels={"app": "web"}, owner="o1"),
                   make_pod("p2", labels={"app": "web"}),
                   make_pod("p3", labels={"app": "db"})])
    return cache


def fingerprint(cache: Cache) -> object:
    return inputs(cache, RC, from_map({"app": "web"}), owner_uid="o1")


class TestCacheVersions:
    def test_a_change_gives_a_new_version_and_the_same_record_does_not(self) -> None:
        """A record written with other content gets a new version; written equal, it keeps it."""
        cache = filled()
        first = cache.version("p1")
        assert first > 0
        cache.upsert_pod(make_pod("p1", labels={"app": "web"}, owner="o1"))
        assert cache.version("p1") == first
        cache.upsert_pod(make_pod("p1", labels={"app": "web"}, owner="o1", phase="Failed"))
        assert cache.version("p1") > first

    def test_a_deleted_record_has_no_version(self) -> None:
        """Gone is version 0, for pods and objects alike."""
        cache = filled()
        cache.delete_pod("p1")
        cache.delete_object(RC)
        assert (cache.version("p1"), cache.version(RC)) == (0, 0)

    def test_pod_versions_are_those_of_the_selected_pods_only(self) -> None:
        """The selector's and the owner's pods are named; another pod's change is not seen."""
        cache = filled()
        before = fingerprint(cache)
        assert {u for u, _ in before[1]} == {"p1", "p2"}  # type: ignore[index]
        cache.upsert_pod(make_pod("p3", labels={"app": "db"}, phase="Failed"))
        assert fingerprint(cache) == before

    def test_a_selected_pod_changing_coming_or_going_changes_the_fingerprint(self) -> None:
        """Each of these changes what the owner's reconcile would read."""
        cache = filled()
        seen = [fingerprint(cache)]
        cache.upsert_pod(make_pod("p2", labels={"app": "web"}, phase="Failed"))
        seen.append(fingerprint(cache))
        cache.upsert_pod(make_pod("p4", labels={"app": "web"}))
        seen.append(fingerprint(cache))
        cache.delete_pod("p1")
        seen.append(fingerprint(cache))
        obj = cache.object(RC)
        assert obj is not None
        cache.upsert_object(dataclasses.replace(obj, status={"replicas": 1}))
        seen.append(fingerprint(cache))
        assert len(set(seen)) == len(seen)


class TestUnchanged:
    def test_same_only_after_remember_with_equal_inputs(self) -> None:
        """Unknown keys and other inputs are not the same; forget drops the memo."""
        memo = Unchanged()
        assert not memo.same("k", (1, frozenset()))
        memo.remember("k", (1, frozenset()), memo.begin())
        assert memo.same("k", (1, frozenset()))
        assert not memo.same("k", (2, frozenset()))
        memo.forget("k")
        assert not memo.same("k", (1, frozenset()))

    def test_forget_all_drops_every_memo_and_those_begun_before(self) -> None:
        """After forget_all nothing is the same, and a reconcile begun before remembers nothing."""
        memo = Unchanged()
        memo.remember("a", 1, memo.begin())
        in_flight = memo.begin()
        memo.forget_all()
        assert not memo.same("a", 1)
        memo.remember("b", 2, in_flight)
        assert not memo.same("b", 2)
        memo.remember("b", 2, memo.begin())
        assert memo.same("b", 2)

    def test_unchanged_since_holds_only_at_the_confirmed_resource_version(self) -> None:
        """A memo confirmed at a cache version is trusted at that version only, until forgotten."""
        memo = Unchanged()
        memo.remember("k", 1, memo.begin(), at=7)
        assert memo.unchanged_since("k", 7)
        assert not memo.unchanged_since("k", 8)
        assert memo.same("k", 1, at=8)
        assert memo.unchanged_since("k", 8)
        assert not memo.same("k", 2, at=9) and not memo.unchanged_since("k", 9)
        memo.forget("k")
        assert not memo.unchanged_since("k", 8)
