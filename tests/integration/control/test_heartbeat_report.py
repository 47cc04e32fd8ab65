"""The heartbeat of a node this process dials: its record is written when a fact changed, or
every REPORT_EVERY seconds with only the stamp new; the decisions read this process's own
last answer, so a record written less often never makes a node NotReady sooner."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.control import nodes
from reconciler.control.context import NODE
from reconciler.control.loop import WorkKey
from tests.integration.control.harness import Cluster

NODE_A = """\
apiVersion: reconciler.dev/v1
kind: Node
metadata: {name: a}
spec: {engine: "unix:///fake/a.sock", address: 10.250.0.1}
"""
T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


class Clock:
    """The control plane's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Cluster, Clock]]:
    c = Cluster(tmp_path)
    clock = Clock()
    c.ctx.clock = clock
    c.ctx.settings.not_ready_timeout = 15
    c.ctx.settings.eviction_timeout = 60
    c.write("node.yaml", NODE_A)
    c.converge(2)
    yield c, clock
    c.store.close()


def beat(c: Cluster) -> None:
    c.loop.process(WorkKey(NODE, "a"))


def recorded_beat(c: Cluster) -> datetime | None:
    node = c.store.get_node("a")
    assert node is not None
    return node.last_heartbeat


class TestHeartbeatReport:
    def test_a_beat_that_changes_nothing_else_is_not_written(
            self, cluster: tuple[Cluster, Clock]) -> None:
        """Within REPORT_EVERY of the recorded stamp, the record stays as it was."""
        c, clock = cluster
        written = recorded_beat(c)
        clock.advance(5)
        beat(c)
        assert recorded_beat(c) == written

    def test_the_stamp_is_written_every_report_period(
            self, cluster: tuple[Cluster, Clock]) -> None:
        """Once REPORT_EVERY has passed, the beat is written with its stamp."""
        c, clock = cluster
        clock.advance(nodes.REPORT_EVERY)
        beat(c)
        assert recorded_beat(c) == clock.now

    def test_a_changed_fact_is_written_at_once(self, cluster: tuple[Cluster, Clock]) -> None:
        """An engine with more CPUs: written at the next beat, stamp and all."""
        c, clock = cluster
        c.hosts.agents["a"].cpus += 2
        clock.advance(5)
        beat(c)
        node = c.store.get_node("a")
        assert node is not None and node.last_heartbeat == clock.now
        assert node.capacity.cpu_milli == c.hosts.agents["a"].cpus * 1000

    def test_one_missed_beat_after_an_unwritten_answer_is_not_notready(
            self, cluster: tuple[Cluster, Clock]) -> None:
        """The record's stamp is older than not_ready_timeout, but the engine answered this
        process 5 s ago: one failed beat is within the grace."""
        c, clock = cluster
        clock.advance(12)
        beat(c)  # answered, not written: the record's stamp is 12 s old
        assert recorded_beat(c) == T0
        clock.advance(5)
        c.hosts.agents["a"].down = True
        beat(c)
        node = c.store.get_node("a")
        assert node is not None and node.ready

    def test_notready_records_the_last_answer(self, cluster: tuple[Cluster, Clock]) -> None:
        """Once silent past the grace, NotReady is written with the time of the last answer,
        which the eviction and the pods' records count from."""
        c, clock = cluster
        clock.advance(12)
        beat(c)
        answered = clock.now
        c.hosts.agents["a"].down = True
        clock.advance(20)
        beat(c)
        node = c.store.get_node("a")
        assert node is not None and not node.ready
        assert node.last_heartbeat == answered
