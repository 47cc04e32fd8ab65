"""Immutable ConfigMaps and Secrets refuse changes (reconciler.planning.immutable), pure."""

from __future__ import annotations

from reconciler.api.types import DesiredObject, Key, LoadResult, Position
from reconciler.planning.diff import RecordedView, diff
from reconciler.planning.immutable import hold_immutable

KEY = Key("ConfigMap", "default", "c")


def _plan(old: dict[str, object], new: dict[str, object]):  # type: ignore[no-untyped-def]
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    recorded = {KEY: RecordedView(KEY, "old", {**body, **old}, "c.yaml")}
    obj = DesiredObject(KEY, {**body, **new}, Position("c.yaml"), "new")
    return diff(LoadResult([obj], [], frozenset()), recorded)


class TestHoldImmutable:
    def test_changed_data_of_an_immutable_object_is_held(self) -> None:
        """New data for an immutable ConfigMap: unchanged, with the API server's words."""
        plan, held = hold_immutable(_plan({"immutable": True, "data": {"a": "1"}},
                                          {"immutable": True, "data": {"a": "2"}}))
        assert [c.action for c in plan.changes] == ["unchanged"]
        assert held == [(KEY, 'ConfigMap "c" is invalid: data: Forbidden: field is immutable '
                               "when `immutable` is set")]

    def test_taking_the_mark_off_is_held(self) -> None:
        """immutable true -> false is itself a change to an immutable field."""
        _, held = hold_immutable(_plan({"immutable": True}, {"immutable": False}))
        assert "immutable: Forbidden" in held[0][1]

    def test_mutable_objects_and_labels_change(self) -> None:
        """A mutable object's data, or an immutable one's labels, change as usual."""
        plan, held = hold_immutable(_plan({"data": {"a": "1"}}, {"data": {"a": "2"}}))
        assert held == [] and [c.action for c in plan.changes] == ["update"]
        plan, held = hold_immutable(_plan({"immutable": True},
                                          {"immutable": True, "metadata": {"name": "c",
                                                                           "labels": {"x": "y"}}}))
        assert held == [] and [c.action for c in plan.changes] == ["update"]
