"""Watch streams (`?watch=1`): what `kubectl get -w` and the client libraries' informers read.

The list handler of `reconciler.kubeapi.app` hands a request with `watch=1|true`
to `watch_response`. The stream is Kubernetes' own: one JSON event per line,
`{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": ...}`. Events come
from the store's shared `reconciler.kubeapi.watchhub.Hub`; this module only
filters them for one client (namespace, label and field selectors, where an
object that stops matching is DELETED for that client and one that starts
matching is ADDED, as the API server does) and decides where the stream starts:

- no `resourceVersion`, or "0": an ADDED event for every current object, then
  the changes that follow;
- `resourceVersion=N`: the changes after N, when the hub's history still holds
  them; otherwise one ERROR event with a 410 Expired Status ("too old resource
  version"), the signal for a client to list again. After a restart of the
  service nothing older than its first list is known, so a client that resumes
  across it relists once (unless nothing changed at all meanwhile).

`allowWatchBookmarks` adds a BOOKMARK event (the kind's apiVersion and kind, and
the resourceVersion the client may resume from) every `BOOKMARK_PERIOD`
seconds; `timeoutSeconds` ends the stream (default `DEFAULT_TIMEOUT`).
`sendInitialEvents=true` sends the initial ADDED events and then a BOOKMARK
annotated `k8s.io/initial-events-end`, as the watch-list protocol asks. A client
that accepts a meta.k8s.io Table (kubectl's `get -w`) gets each event's object as
a one-row Table (`reconciler.kubeapi.tables`), as it got its list.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from reconciler.kubeapi import tables
from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.objects import Entry
from reconciler.kubeapi.resources import Resource
from reconciler.kubeapi.status import status_object, status_response
from reconciler.kubeapi.watchhub import JSON, Change, Hub, HubUnavailable, Tracked, hub_for

BOOKMARK_PERIOD = 10.0  # seconds between two bookmarks
DEFAULT_TIMEOUT = 1800.0  # seconds a watch lasts when the client sets no timeoutSeconds
Match = Callable[[JSON], bool]


def event(type_: str, obj: JSON) -> bytes:
    """One line of the stream."""
    return json.dumps({"type": type_, "object": obj}, separators=(",", ":")).encode() + b"\n"


def bookmark(resource: Resource, rv: int, initial_end: bool = False) -> bytes:
    """A BOOKMARK event: only the kind and the resourceVersion to resume from."""
    meta: JSON = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return event("BOOKMARK", {"kind": resource.kind, "apiVersion": resource.group_version,
                              "metadata": meta})


def expired(asked: int, oldest: int) -> bytes:
    """The ERROR event that sends a client back to listing."""
    return event("ERROR", status_object(410, "Expired",
                                        f"too old resource version: {asked} ({oldest})"))


def for_client(change: Change, match: Match) -> str | None:
    """The event type one client sees of `change` given its selectors (None: nothing)."""
    now = match(change.obj)
    if change.type == "ADDED":
        return "ADDED" if now else None
    was = change.before is None or match(change.before)
    if change.type == "DELETED":
        return "DELETED" if was else None
    if now and was:
        return "MODIFIED"
    if now:
        return "ADDED"
    if was:
        return "DELETED"
    return None


def _matcher(resource: Resource, namespace: str | None, request: Request) -> Match:
    """Namespace, labelSelector and fieldSelector of the request as one predicate.

    FieldSelectorError (a ValueError) for a selector Kubernetes refuses.
    """
    from reconciler.kubeapi.selectors import field_predicate, label_predicate

    labels = label_predicate(request.query_params.get("labelSelector"))
    fields = field_predicate(resource, request.query_params.get("fieldSelector"))

    def match(obj: JSON) -> bool:
        meta = obj.get("metadata", {})
        if namespace is not None and meta.get("namespace") != namespace:
            return False
        if labels is not None and not labels(meta.get("labels") or {}):
            return False
        return fields is None or fields(obj)
    return match


@dataclass(frozen=True)
class Watcher:
    """What one client asked of its stream."""

    resource: Resource
    match: Match
    asked: str  # the resourceVersion to start after; "" or "0": the current state first
    bookmarks: bool
    initial_end: bool  # sendInitialEvents: a bookmark marks the end of the initial state
    timeout: float
    table: str = ""  # the meta.k8s.io Table version to send objects as; "": the objects
    include: str = "Metadata"  # includeObject of a Table's rows

    def encode(self, type_: str, entry: Entry) -> bytes:
        """An event of `entry`: the object, or (kubectl's `get -w`) a one-row Table."""
        if not self.table:
            return event(type_, entry.obj)
        rv = str(entry.obj.get("metadata", {}).get("resourceVersion", ""))
        return event(type_, tables.table(self.resource, [entry], rv, include=self.include,
                                         api_version=self.table))


async def _stream(hub: Hub, tracked: Tracked, w: Watcher) -> AsyncGenerator[bytes, None]:
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    waiter = (loop, wake)
    hub.subscribe(tracked, waiter)
    try:
        initial: list[Entry] = []
        if w.asked in ("", "0"):
            seq, initial, safe_rv = hub.snapshot(tracked)
        else:
            try:
                seq, safe_rv = hub.position(tracked, int(w.asked)), int(w.asked)
            except LookupError as e:
                yield expired(int(w.asked), int(e.args[0]))
                return
        for entry in sorted(initial, key=lambda e: _sort_key(e.obj)):
            if w.match(entry.obj):
                yield w.encode("ADDED", entry)
        if w.initial_end:
            yield bookmark(w.resource, safe_rv, initial_end=True)
        deadline = time.monotonic() + w.timeout
        next_mark = time.monotonic() + BOOKMARK_PERIOD
        while True:
            wake.clear()
            changes, list_rv = hub.since(tracked, seq)
            for change in changes:
                seq = change.seq
                shown = for_client(change, w.match)
                if shown is not None:
                    yield w.encode(shown, change.entry)
            # Every change up to list_rv is sent now: a client may resume from it.
            safe_rv = max(safe_rv, list_rv)
            now = time.monotonic()
            if now >= deadline:
                return
            if w.bookmarks and now >= next_mark:
                next_mark = now + BOOKMARK_PERIOD
                yield bookmark(w.resource, safe_rv)
            if changes:
                continue
            wait = min(deadline, next_mark) - now if w.bookmarks else deadline - now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=max(wait, 0.01))
    finally:
        hub.unsubscribe(tracked, waiter)


def _sort_key(obj: JSON) -> tuple[str, str]:
    meta = obj.get("metadata", {})
    return meta.get("namespace", ""), meta.get("name", "")


async def watch_response(ctx: ApiContext, resource: Resource, namespace: str | None,
                         request: Request) -> Response:
    """The watch stream of `resource` (in `namespace`, or every one when None)."""
    params = request.query_params
    asked = params.get("resourceVersion", "")
    if asked not in ("", "0") and not asked.isdigit():
        return status_response(400, "BadRequest", f"invalid resource version: {asked!r}")
    try:
        timeout = float(params.get("timeoutSeconds") or DEFAULT_TIMEOUT)
        match = _matcher(resource, namespace, request)
    except ValueError as e:
        return status_response(400, "BadRequest", str(e))
    flag = {"1", "true"}
    initial_end = params.get("sendInitialEvents", "").lower() in flag
    if initial_end:
        asked = "0"  # the initial events are the state now, whatever version was named
    accept = request.headers.get("accept", "")
    w = Watcher(resource, match, asked, params.get("allowWatchBookmarks", "").lower() in flag,
                initial_end, timeout,
                tables.table_version(accept) if tables.wants_table(accept) else "",
                params.get("includeObject") or "Metadata")
    hub = hub_for(ctx)
    try:
        tracked = await asyncio.to_thread(hub.track, resource)
    except HubUnavailable as e:
        return status_response(503, "ServiceUnavailable", f"watch: {e}")
    if asked.isdigit() and int(asked) > tracked.last_rv:
        # A list the client read just now may be newer than the hub's last relist.
        await asyncio.to_thread(hub.refresh, tracked)
    return StreamingResponse(_stream(hub, tracked, w), media_type="application/json")

