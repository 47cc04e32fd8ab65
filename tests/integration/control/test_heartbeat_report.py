"""The heartbeat of a node this process dials: its record is written when a fact changed, or
every REPORT_EVERY seconds with only the stamp new; the decisions read this process's own
last answer, so a record written less often never makes a node NotReady sooner."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.control import nodes
from reconciler.control.context import NODE, POD
from reconciler.control.loop import WorkKey
from tests.integration.control.harness import NODE_A, Cluster, rc
from tests.support.clock import ManualClock

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
Setup = tuple[Cluster, ManualClock[datetime]]  # the cluster and its control-plane clock

@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Setup]:
    c = Cluster(tmp_path)
    clock = ManualClock(T0)
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
            self, cluster: Setup) -> None:
        """Within REPORT_EVERY of the recorded stamp, the record stays as it was."""
        c, clock = cluster
        written = recorded_beat(c)
        clock.now += timedelta(seconds=5)
        beat(c)
        assert recorded_beat(c) == written

    def test_the_stamp_is_written_every_report_period(
            self, cluster: Setup) -> None:
        """Once REPORT_EVERY has passed, the beat is written with its stamp."""
        c, clock = cluster
        clock.now += timedelta(seconds=nodes.REPORT_EVERY)
        beat(c)
        assert recorded_beat(c) == clock.now

    def test_a_changed_fact_is_written_at_once(self, cluster: Setup) -> None:
        """An engine with more CPUs: written at the next beat, stamp and all."""
        c, clock = cluster
        c.hosts.agents["a"].cpus += 2
        clock.now += timedelta(seconds=5)
        beat(c)
        node = c.store.get_node("a")
        assert node is not None and node.last_heartbeat == clock.now
        assert node.capacity.cpu_milli == c.hosts.agents["a"].cpus * 1000

    def test_one_missed_beat_after_an_unwritten_answer_is_not_notready(
            self, cluster: Setup) -> None:
        """The record's stamp is older than not_ready_timeout, but the engine answered this
        process 5 s ago: one failed beat is within the grace."""
        c, clock = cluster
        clock.now += timedelta(seconds=12)
        beat(c)  # answered, not written: the record's stamp is 12 s old
        assert recorded_beat(c) == T0
        clock.now += timedelta(seconds=5)
        c.hosts.agents["a"].down = True
        beat(c)
        node = c.store.get_node("a")
        assert node is not None and node.ready

    def test_notready_records_the_last_answer(self, cluster: Setup) -> None:
        """Once silent past the grace, NotReady is written with the time of the last answer,
        which the eviction and the pods' records count from."""
        c, clock = cluster
        clock.now += timedelta(seconds=12)
        beat(c)
        answered = clock.now
        c.hosts.agents["a"].down = True
        clock.now += timedelta(seconds=20)
        beat(c)
        node = c.store.get_node("a")
        assert node is not None and not node.ready
        assert node.last_heartbeat == answered

    def test_a_restart_does_not_evict_sooner_for_a_stale_stamp(self, tmp_path: Path) -> None:
        """The record's stamp is 25 s older than the last answer when the service restarts
        during the engine's outage: its pods are evicted an eviction timeout after the
        restart's first look, not after the stale stamp."""
        after, clock, first_look = restarted_during_outage(tmp_path)
        try:
            clock.now = first_look + timedelta(seconds=50)  # 80 s after the stale stamp
            beat(after)
            pods = after.store.list_pods()
            assert len(pods) == 1 and pods[0].deletion_timestamp is None
            clock.now = first_look + timedelta(seconds=61)
            beat(after)
            assert [p.deletion_timestamp is not None for p in after.store.list_pods()] == [True]
        finally:
            after.store.close()

    def test_a_deleting_pods_record_outlives_a_stale_stamp(self, tmp_path: Path) -> None:
        """A pod being deleted on a host that does not answer: after a restart its record
        stays until the node is evicted from the restart's first look, then goes."""
        after, clock, first_look = restarted_during_outage(tmp_path, deleting=True)
        try:
            [uid] = [p.uid for p in after.store.list_pods()]
            clock.now = first_look + timedelta(seconds=50)  # 80 s after the stale stamp
            beat(after)
            after.loop.process(WorkKey(POD, uid))
            assert after.store.get_pod_by_uid(uid) is not None
            clock.now = first_look + timedelta(seconds=61)
            beat(after)
            after.loop.process(WorkKey(POD, uid))
            assert after.store.get_pod_by_uid(uid) is None
        finally:
            after.store.close()


def restarted_during_outage(tmp_path: Path, deleting: bool = False
                            ) -> tuple[Cluster, ManualClock[datetime], datetime]:
    """One RC pod on `a`, whose record's stamp is 25 s older than its last answer (and the
    pod being deleted, with `deleting`); then the service restarted on the same store with
    `a`'s engine down, and one heartbeat (the first look, returned) 5 s later."""
    before = Cluster(tmp_path)
    clock = ManualClock(T0)
    before.ctx.clock = clock
    before.write("node.yaml", NODE_A)
    before.write("web.yaml", rc(1))
    before.converge(3)
    written = recorded_beat(before)
    assert written is not None and len(before.running()) == 1
    clock.now = written + timedelta(seconds=25)
    beat(before)  # answered, not written
    assert recorded_beat(before) == written
    if deleting:
        [pod] = before.store.list_pods()
        pod.deletion_timestamp = clock.now
        before.store.patch_pod(pod, "deletion")
    before.store.close()

    after = Cluster(tmp_path)
    after.ctx.clock = clock
    after.ctx.settings.not_ready_timeout = 15
    after.ctx.settings.eviction_timeout = 60
    node = after.store.get_node("a")
    assert node is not None
    after.hosts(node, after.ctx.runtime, lambda uid: None).down = True  # down from the start
    clock.now += timedelta(seconds=5)
    first_look = clock.now
    beat(after)
    return after, clock, first_look
