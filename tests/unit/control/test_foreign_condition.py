"""The node's ForeignContainers condition: what a gc pass left alone, in words."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.control.nodes import FOREIGN, foreign_condition

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class TestForeignCondition:
    def test_nothing_left_alone_is_no_condition(self) -> None:
        """No foreign and no unclaimed containers: no condition at all."""
        assert foreign_condition({}, 0, NOW) is None

    def test_one_other_cluster_is_named_with_its_count(self) -> None:
        """The message gives the count and the other cluster's id."""
        cond = foreign_condition({"abc": 4}, 0, NOW)
        assert cond is not None
        assert (cond.type, cond.status, cond.reason) == (FOREIGN, True, FOREIGN)
        assert cond.message == ("4 containers of another cluster (id abc) on this engine "
                                "are left alone")
        assert cond.last_transition == NOW

    def test_several_clusters_and_unclaimed_containers_are_all_said(self) -> None:
        """Counts add up over clusters, ids are sorted, unclaimed ones are named apart."""
        cond = foreign_condition({"b": 2, "a": 1}, 3, NOW)
        assert cond is not None
        assert cond.message.startswith("3 containers of other clusters (id a, b)")
        assert "3 containers with no cluster id and no pod in this store" in cond.message
