"""Watch events: the hub's diff and history, per-client filtering, and the stream's start."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reconciler.kubeapi import watchhub
from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.objects import Entry
from reconciler.kubeapi.resources import Resource, resource_for
from reconciler.kubeapi.watch import (
    Watcher,
    _stream,
    bookmark,
    expired,
    for_client,
    watch_response,
)
from reconciler.kubeapi.watchhub import (
    HISTORY,
    Change,
    Hub,
    Listed,
    Tracked,
    diff,
    hub_for,
    listed,
)
from reconciler.store.reader import ReadStore
from reconciler.views.listings import Row
from tests.unit.kubeapi.asgi_call import call


def _pods() -> Resource:
    found = resource_for("", "v1", "pods")
    assert found is not None
    return found


PODS = _pods()


def pod(name: str, rv: int, uid: str = "", phase: str = "Running",
        labels: dict[str, str] | None = None) -> Entry:
    obj = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "default", "uid": uid or f"uid-{name}",
                        "resourceVersion": str(rv), "labels": labels or {}},
           "status": {"phase": phase}}
    return Entry(Row("default", name, ["1/1", phase, "0", "1s"], lambda: obj), obj)


class TestDiff:
    """`diff` compares two lists by uid and content, never by resourceVersion."""

    def test_a_new_resource_version_alone_is_no_change(self) -> None:
        """Every list renews every item's resourceVersion: that is not a MODIFIED."""
        assert diff(listed([pod("a", 1)]), listed([pod("a", 9)])) == []

    def test_added_modified_deleted(self) -> None:
        """A new name is ADDED, changed content MODIFIED, a missing name DELETED."""
        old = listed([pod("a", 1), pod("b", 1)])
        new = listed([pod("a", 2, phase="Failed"), pod("c", 2)])
        types = sorted((t, e.obj["metadata"]["name"]) for t, e, _ in diff(old, new))
        assert types == [("ADDED", "c"), ("DELETED", "b"), ("MODIFIED", "a")]

    def test_a_new_uid_is_a_delete_and_an_add(self) -> None:
        """A pod replaced under the same name is the old one gone and a new one."""
        events = diff(listed([pod("a", 1, uid="u1")]), listed([pod("a", 2, uid="u2")]))
        assert [(t, e.obj["metadata"]["uid"]) for t, e, _ in events] == [
            ("DELETED", "u1"), ("ADDED", "u2")]


def tracked(objects: Listed, rv: int) -> Tracked:
    return Tracked(PODS, objects, last_rv=rv, floor=rv)


class TestHistory:
    """`Tracked.record` stamps events with versions that only grow."""

    def test_events_carry_the_list_version(self) -> None:
        """A relist's events carry its store revision, in the object too."""
        t = tracked({}, 5)
        t.record([("ADDED", pod("a", 7), None)], 7)
        assert [(c.rv, c.obj["metadata"]["resourceVersion"]) for c in t.history] == [(7, "7")]

    def test_an_unmoved_store_revision_still_gives_a_new_version(self) -> None:
        """Events of kinds that do not bump the store revision still get a larger version."""
        t = tracked({}, 5)
        t.record([("ADDED", pod("a", 5), None)], 5)
        t.record([("ADDED", pod("b", 5), None)], 5)
        assert [c.rv for c in t.history] == [6, 7] and t.last_rv == 7

    def test_evicted_history_raises_the_floor(self) -> None:
        """Once the oldest events are dropped, the floor is the newest dropped version."""
        t = tracked({}, 0)
        for i in range(HISTORY + 3):
            t.record([("ADDED", pod(f"p{i}", i + 1), None)], i + 1)
        assert t.floor == 3 and t.history[0].rv == 4


class FakeHub(Hub):
    """A hub whose lists come from a test, not a store (no thread, no detector)."""

    def __init__(self, items: list[Entry], rv: int) -> None:
        super().__init__(ApiContext(state="unused"))
        self.items, self.rv = items, rv
        self._thread = object()  # type: ignore[assignment]  # never start the real one
        self._starting.set()  # as if it listened

    def _open(self) -> ReadStore | None:
        return None

    def _list(self, resource: Resource, store: ReadStore | None = None) -> tuple[Listed, int]:
        return listed(self.items), self.rv


class TestPosition:
    """Where a watch from a resourceVersion starts, or that it is too old."""

    def test_resume_replays_the_later_events(self) -> None:
        """A version inside the history replays exactly the events after it."""
        hub = FakeHub([pod("a", 1)], 1)
        t = hub.track(PODS)
        hub.items, hub.rv = [pod("a", 2, phase="Failed")], 2
        hub.refresh()
        hub.items, hub.rv = [], 3
        hub.refresh()
        seq = hub.position(t, 2)
        assert [c.type for c in hub.since(t, seq)[0]] == ["DELETED"]

    @pytest.mark.parametrize("version", [0, 9])
    def test_out_of_reach_versions_are_lookup_errors(self, version: int) -> None:
        """Older than the floor, or newer than any version given out: 410 material."""
        hub = FakeHub([pod("a", 4)], 4)
        t = hub.track(PODS)
        with pytest.raises(LookupError):
            hub.position(t, version)


class TestForClient:
    """Selectors turn a change into what one client sees."""

    @staticmethod
    def web(obj: dict[str, Any]) -> bool:
        return bool(obj["metadata"]["labels"].get("app") == "web")

    def change(self, type_: str, now: dict[str, str], before: dict[str, str] | None) -> Change:
        return Change(1, 2, type_, pod("a", 2, labels=now),
                      pod("a", 1, labels=before).obj if before is not None else None)

    @pytest.mark.parametrize(("type_", "now", "before", "seen"), [
        ("MODIFIED", {"app": "web"}, {"app": "web"}, "MODIFIED"),
        ("MODIFIED", {"app": "web"}, {}, "ADDED"),
        ("MODIFIED", {}, {"app": "web"}, "DELETED"),
        ("MODIFIED", {}, {}, None),
        ("ADDED", {}, None, None),
        ("DELETED", {"app": "web"}, {"app": "web"}, "DELETED"),
    ])
    def test_matching_in_and_out(self, type_: str, now: dict[str, str],
                                 before: dict[str, str] | None, seen: str | None) -> None:
        """An object that starts matching is ADDED, one that stops matching DELETED."""
        assert for_client(self.change(type_, now, before), self.web) == seen


class TestEncoding:
    """The lines of the stream are Kubernetes' watch events."""

    def test_bookmark(self) -> None:
        """A BOOKMARK carries only apiVersion, kind and the version to resume from."""
        line = json.loads(bookmark(PODS, 12))
        assert line == {"type": "BOOKMARK", "object": {
            "kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "12"}}}

    def test_expired(self) -> None:
        """Too old a version is an ERROR event with a 410 Expired Status."""
        line = json.loads(expired(3, 10))
        assert line["type"] == "ERROR"
        assert (line["object"]["code"], line["object"]["reason"]) == (410, "Expired")
        assert line["object"]["message"] == "too old resource version: 3 (10)"


async def _read(hub: FakeHub, asked: str, lines: int, table: str = "") -> list[dict[str, Any]]:
    t = await asyncio.to_thread(hub.track, PODS)
    out: list[dict[str, Any]] = []
    stream = _stream(hub, t, Watcher(PODS, lambda o: True, asked, bookmarks=False,
                                     initial_end=False, timeout=30, table=table))
    async for chunk in stream:
        out.append(json.loads(chunk))
        if len(out) == lines:
            break
        if len(out) == 1:  # the initial state is sent: change the store
            hub.items, hub.rv = [], hub.rv + 1
            await asyncio.to_thread(hub.refresh)
    await stream.aclose()
    return out


class TestStream:
    """A stream from "0" sends the state, then the changes; a stale version gets 410."""

    def test_initial_state_then_changes(self) -> None:
        """The current objects are ADDED first, then a deletion arrives as DELETED."""
        hub = FakeHub([pod("a", 3)], 3)
        events = asyncio.run(_read(hub, "0", 2))
        assert [e["type"] for e in events] == ["ADDED", "DELETED"]
        assert events[1]["object"]["metadata"]["resourceVersion"] == "4"

    def test_table_events_for_kubectl_get_w(self) -> None:
        """A client that asked for a Table gets each event's object as a one-row Table."""
        hub = FakeHub([pod("a", 3)], 3)
        events = asyncio.run(_read(hub, "0", 2, table="meta.k8s.io/v1"))
        tables = [e["object"] for e in events]
        assert [t["kind"] for t in tables] == ["Table", "Table"]
        assert [t["rows"][0]["cells"][0] for t in tables] == ["a", "a"]
        assert tables[1]["rows"][0]["object"]["metadata"]["resourceVersion"] == "4"

    def test_stale_version_is_expired(self) -> None:
        """A version older than the hub's first list ends the stream with 410."""
        hub = FakeHub([pod("a", 3)], 3)
        events = asyncio.run(_read(hub, "1", 1))
        assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410


class TestDetectorStart:
    def test_a_database_that_does_not_answer_stalls_no_watcher(self) -> None:
        """While the hub's detector connects to a PostgreSQL that never answers, the other
        watchers' calls on the hub go on; the failure then reaches the watch that waited."""
        server = socket.create_server(("127.0.0.1", 0))
        server.settimeout(30)
        hub = Hub(ApiContext(state=f"postgresql://u@127.0.0.1:{server.getsockname()[1]}/db"))
        other = Tracked(PODS, {}, last_rv=0, floor=0)
        failed: list[BaseException] = []

        def track() -> None:
            try:
                hub.track(PODS)
            except Exception as exc:
                failed.append(exc)

        tracking = threading.Thread(target=track, daemon=True)
        tracking.start()
        conn, _ = server.accept()  # the detector is connecting; nothing is ever answered
        try:
            answered = threading.Thread(target=hub.since, args=(other, 0), daemon=True)
            answered.start()
            answered.join(10)
            assert not answered.is_alive()
        finally:
            conn.close()
            server.close()
            tracking.join(30)
            hub.close()
        assert failed and not tracking.is_alive()

    def test_a_database_that_never_answers_is_a_503(self,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
        """A PostgreSQL that takes the connection and never answers: the watch is answered
        503 ServiceUnavailable after START_WAIT, and so is the next one, while the
        detector still waits on it."""
        monkeypatch.setattr(watchhub, "START_WAIT", 0.5)
        server = socket.create_server(("127.0.0.1", 0))
        ctx = ApiContext(state=f"postgresql://u@127.0.0.1:{server.getsockname()[1]}/db")

        async def endpoint(request: Request) -> Response:
            return await watch_response(ctx, PODS, None, request)

        app = Starlette(routes=[Route("/api/v1/pods", endpoint)])
        try:
            for _ in range(2):
                answer = call(app, "/api/v1/pods", query="watch=1")
                assert answer.status == 503, answer.body
                assert "did not answer" in answer.json()["message"]
        finally:
            server.close()
            hub_for(ctx).close()
