"""Unit tests of the pure diff of desired objects against recorded ones."""

from __future__ import annotations

import errno
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.api.types import DesiredObject, Key, LoadResult, Position, ReadFailure
from reconciler.planning.diff import RecordedView, changed_paths, diff


def obj(name: str, spec: Any, file: str = "a.yaml", line: int = 1) -> DesiredObject:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
    return DesiredObject(Key("Pod", "default", name), body, Position(file, line), repr(spec))


def rec(o: DesiredObject, file: str | None = None, stale: bool = False) -> RecordedView:
    p = o.position
    return RecordedView(o.key, o.content_hash, o.body, file or p.file, p.line, p.document, stale)


class TestDiff:
    def test_new_object_is_created(self) -> None:
        """A key not recorded is a create."""
        plan = diff([obj("a", 1)], {})
        assert [(c.action, c.key.name) for c in plan.changes] == [("create", "a")]

    def test_changed_hash_is_update_with_paths(self) -> None:
        """A different hash is an update naming the changed field paths."""
        old, new = obj("a", {"replicas": 1, "x": [1]}), obj("a", {"replicas": 3, "x": [1]})
        plan = diff([new], {old.key: rec(old)})
        (change,) = plan.changes
        assert change.action == "update"
        assert change.fields == ("spec.replicas",)

    def test_same_hash_is_unchanged(self) -> None:
        """An equal hash is unchanged and needs no refresh when nothing moved."""
        o = obj("a", 1)
        (change,) = diff([o], {o.key: rec(o)}).changes
        assert (change.action, change.refresh) == ("unchanged", False)

    @pytest.mark.parametrize(
        ("recorded_file", "stale", "refresh"),
        [("a.yaml", False, False), ("old.yaml", False, True), ("a.yaml", True, True)],
    )
    def test_refresh_when_bookkeeping_moved(
        self, recorded_file: str, stale: bool, refresh: bool
    ) -> None:
        """An unchanged object is refreshed when it moved file or was stale."""
        o = obj("a", 1)
        (change,) = diff([o], {o.key: rec(o, recorded_file, stale)}).changes
        assert change.refresh is refresh

    def test_missing_object_is_deleted(self) -> None:
        """A recorded key absent from a healthy folder is deleted."""
        o = obj("a", 1)
        plan = diff([], {o.key: rec(o)})
        assert [c.action for c in plan.changes] == ["delete"]

    def test_failed_file_never_deletes(self) -> None:
        """Objects recorded from a file that now fails are kept, marked stale."""
        o = obj("a", 1, file="bad.yaml")
        plan = diff(LoadResult([], [], frozenset({"bad.yaml"})), {o.key: rec(o)})
        assert plan.changes == ()
        assert [r.key for r in plan.stale] == [o.key]
        assert not plan.has_changes

    def test_objects_from_failed_file_are_ignored(self) -> None:
        """A desired object from a failed file neither creates nor updates."""
        plan = diff([obj("a", 2, file="bad.yaml")], {}, frozenset({"bad.yaml"}))
        assert plan.changes == ()

    def test_duplicate_key_first_wins(self) -> None:
        """The first declaration by file and line wins when a key is declared twice."""
        first, second = obj("a", 1, "a.yaml", 5), obj("a", 2, "b.yaml", 1)
        (change,) = diff([second, first], {}).changes
        assert change.desired is first

    def test_summary(self) -> None:
        """The summary counts every action."""
        a, b = obj("a", 1), obj("b", 1)
        plan = diff([obj("a", 2), obj("c", 1)], {a.key: rec(a), b.key: rec(b)})
        assert plan.summary() == "Plan: 1 to create, 1 to update, 1 to delete, 0 unchanged."


class TestChangedPaths:
    @pytest.mark.parametrize(
        ("old", "new", "paths"),
        [
            ({"a": 1}, {"a": 1}, []),
            ({"a": 1}, {"a": 2}, ["a"]),
            ({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}, ["a.c"]),
            ({"c": [{"image": "x"}]}, {"c": [{"image": "y"}]}, ["c[0].image"]),
            ({"c": [1]}, {"c": [1, 2]}, ["c"]),
            ({"a": 1}, {"a": True}, ["a"]),
        ],
    )
    def test_paths(self, old: Any, new: Any, paths: list[str]) -> None:
        """Changed paths use dots for keys and [i] for list items."""
        assert changed_paths(old, new) == paths


names = st.sampled_from(["a", "b", "c", "d", "e"])
specs = st.integers(0, 3)
files = st.sampled_from(["f1.yaml", "f2.yaml", "f3.yaml"])


@st.composite
def scenario(
    draw: st.DrawFn,
) -> tuple[list[DesiredObject], dict[Key, RecordedView], frozenset[str]]:
    desired = [obj(n, draw(specs), draw(files)) for n in draw(st.sets(names))]
    recorded = {}
    for n in draw(st.sets(names)):
        o = obj(n, draw(specs), draw(files))
        recorded[o.key] = rec(o)
    failed = frozenset(draw(st.sets(files, max_size=2)))
    return desired, recorded, failed


class TestDiffProperties:
    @given(scenario())
    def test_every_key_once(self, case: Any) -> None:
        """Each key appears in at most one change, and stale keys in none."""
        desired, recorded, failed = case
        plan = diff(desired, recorded, failed)
        keys = [c.key for c in plan.changes] + [r.key for r in plan.stale]
        assert len(keys) == len(set(keys))

    @given(scenario())
    def test_failed_files_never_delete(self, case: Any) -> None:
        """No recorded object of a failed file is ever deleted."""
        desired, recorded, failed = case
        plan = diff(desired, recorded, failed)
        assert all(c.recorded.source_file not in failed for c in plan.deletes if c.recorded)

    @given(scenario())
    def test_applying_converges(self, case: Any) -> None:
        """Recording the plan's result and diffing again leaves nothing to do."""
        desired, recorded, failed = case
        plan = diff(desired, recorded, failed)
        after = {r.key: r for r in plan.stale}
        for c in plan.changes:
            if c.desired is not None:
                after[c.key] = rec(c.desired)
        again = diff(desired, after, failed)
        assert not again.has_changes
        assert not any(c.refresh for c in again.changes)


class TestPartialLoads:
    """Absence from a partial listing is not removal."""

    @pytest.mark.parametrize(("unread", "kept", "deleted"), [
        ("team", ["b", "c"], ["a"]),
        ("team/deep", ["c"], ["a", "b"]),
        ("", ["a", "b", "c"], []),
        ("team/b.yaml", ["b"], ["a", "c"]),
        ("tea", [], ["a", "b", "c"]),
    ])
    def test_objects_under_unread_paths_are_kept(
        self, unread: str, kept: list[str], deleted: list[str]
    ) -> None:
        """A recorded object whose file lies in (or is) an unread path is kept stale."""
        old = [obj("a", 1, "a.yaml"), obj("b", 1, "team/b.yaml"), obj("c", 1, "team/deep/c.yaml")]
        result = LoadResult(unreadable=(ReadFailure(unread, errno.EIO, "Input/output error"),))
        plan = diff(result, {o.key: rec(o) for o in old})
        assert [r.key.name for r in plan.stale] == kept
        assert [c.key.name for c in plan.deletes] == deleted

    def test_objects_under_a_refused_folder_are_kept(self) -> None:
        """A folder refused with an error (a symlink leaving the folder) keeps its objects."""
        old = obj("b", 1, "team/b.yaml")
        plan = diff(LoadResult(failed_files=frozenset({"team"})), {old.key: rec(old)})
        assert [r.key.name for r in plan.stale] == ["b"] and plan.deletes == []
