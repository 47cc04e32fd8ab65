"""The first convergence's figures: pods running, created and wanted from a ClusterView."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime

from reconciler.api.records import Condition, NodeRecord, OwnerRef, PodRecord
from reconciler.api.types import Key
from reconciler.service.kube_metrics import ClusterView
from reconciler.service.progress import FirstConvergence, progress
from reconciler.store.records import ObjectRecord

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def pod(name: str, phase: str = "Pending", owner: str | None = "ReplicationController",
        ready: bool = False) -> PodRecord:
    return PodRecord(uid=name, namespace="default", name=name, spec={}, spec_hash="h",
                     created_at=NOW, phase=phase,  # type: ignore[arg-type]
                     owner=OwnerRef(owner, "web", "o") if owner else None,
                     conditions=[Condition("Ready", ready)])


def obj(kind: str, spec: dict[str, object], status: dict[str, object] | None = None
        ) -> ObjectRecord:
    return ObjectRecord(key=Key(kind, "default", "w"), uid="u", api_version="v1",
                        body={"spec": spec}, source_file="f", line=1, document=0,
                        content_hash="h", revision="folder", generation=1, stale=False,
                        status=status, created_at=NOW, updated_at=NOW)


class TestProgress:
    def test_replicas_not_created_yet_are_wanted(self) -> None:
        """An RC of 3 with one pod created: 0/3 running, 1 created, 2 to create."""
        view = ClusterView(pods=[pod("a")],
                           objects={"ReplicationController": [obj("ReplicationController",
                                                                  {"replicas": 3})]})
        p = progress(view)
        assert (p.running, p.created, p.wanted, p.done) == (0, 1, 3, False)
        assert p.line() == "converging: 0/3 pods running, 1 created, 2 to create"

    def test_bare_pods_daemonsets_and_finished_pods(self) -> None:
        """Bare pods count as themselves, a DaemonSet its desired number, Succeeded as done."""
        view = ClusterView(
            pods=[pod("bare", "Running", owner=None, ready=True),
                  pod("job", "Succeeded", owner="Job"),
                  pod("ds", "Running", owner="DaemonSet", ready=True)],
            objects={"DaemonSet": [obj("DaemonSet", {}, {"desiredNumberScheduled": 2})]},
            nodes=[NodeRecord("a", "", NOW), NodeRecord("b", "", NOW)])
        p = progress(view)
        assert (p.running, p.wanted, p.done) == (3, 4, False)

    def test_reporter_stops_when_done(self) -> None:
        """The reporter prints each change once and a last `converged` line, then stops."""
        views = iter([ClusterView(pods=[pod("a")], objects={"ReplicaSet": [
            obj("ReplicaSet", {"replicas": 1})]})] * 2 + [ClusterView(pods=[
                pod("a", "Running", ready=True)], objects={"ReplicaSet": [
                    obj("ReplicaSet", {"replicas": 1})]})] * 10)
        out = io.StringIO()
        reporter = FirstConvergence(lambda: next(views), out, threading.Event(), interval=0.0)
        reporter.start().thread.join(timeout=30)
        lines = out.getvalue().splitlines()
        assert lines[0] == "converging: 0/1 pods running, 1 created, 0 to create"
        assert lines[1].startswith("converged: 1/1 pods running") and len(lines) == 2
