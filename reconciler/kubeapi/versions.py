"""When each served object last changed, by store revision: the precondition of writes.

Between objects.py, which records here every object it serves (GET, list, Table and the
watch hub's relists all go through `objects.entries`), and writes.py, which asks before
it changes a manifest. The store keeps one revision for everything (objects.py), so
the resourceVersion an object was read at says nothing by itself about that object:
unrelated writes move it. This process therefore remembers, per object, the content it
last served and the first revision it served that content at (`since`). A write that
carries a resourceVersion older than that (`kubectl replace -f` of a saved object,
`apply` of a file that names one, `scale --resource-version`) was made against another
content of the object and is refused with 409 Conflict, as Kubernetes refuses an update
whose resourceVersion is not the object's; one carrying a version at or after `since`
saw the content served now, whatever else moved the revision.

An object this process has not served since it started (or forgot: `KEPT` objects are
remembered, least recently served first out) has no known `since`: a write naming an
older version than the one served now is refused then too, and the client reads again.
So is one read while the store changed (objects.py `forget`s what it cannot place).

The watch hub (watchhub.py) gives the events of kinds whose changes do not move the
store revision (nodes, services with their allocations) a version of its own, one above
the last it gave, which a later store revision may reuse for another content. Those
versions are remembered with the content they carried (`made_up`): a write naming one
goes through only while the object still has that content.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

KEPT = 100_000  # objects remembered per store
MADE_UP_KEPT = 8  # made-up versions remembered per object, the newest
ObjectKey = tuple[str, str, str]  # kind, namespace, name


def fingerprint(obj: dict[str, Any]) -> str:
    """The object's content without its resourceVersion (which every list renews)."""
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
    return json.dumps({**obj, "metadata": meta}, sort_keys=True, default=str)


def _digest(print_: str) -> str:
    # A digest is kept, not the text: a pod's fingerprint is kilobytes.
    return hashlib.blake2b(print_.encode(), digest_size=16).hexdigest()


@dataclass
class _Seen:
    print_: str
    since: int  # the first revision this content was served at
    last: int  # the latest revision it was served at
    # Versions the watch hub made up for this object -> the content they carried.
    made_up: dict[int, str] = field(default_factory=dict)


class Versions:
    """The content and `since` of each object served from one store (see the module)."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._lock = threading.Lock()
        self._seen: OrderedDict[ObjectKey, _Seen] = OrderedDict()

    def observe(self, key: ObjectKey, print_: str, revision: int) -> None:
        """The object was served with this content (its `fingerprint`) at `revision`."""
        print_ = _digest(print_)
        with self._lock:
            seen = self._seen.get(key)
            if seen is None or (seen.print_ != print_ and revision >= seen.last):
                self._seen[key] = _Seen(print_, revision, revision,
                                        seen.made_up if seen is not None else {})
            elif seen.print_ == print_:
                seen.since = min(seen.since, revision)
                seen.last = max(seen.last, revision)
            # else: an older read of an earlier content, recorded late: nothing it says
            self._seen.move_to_end(key)
            while len(self._seen) > self._kept:
                self._seen.popitem(last=False)

    def observe_made_up(self, key: ObjectKey, print_: str, version: int) -> None:
        """The object was given out with this content at a `version` the watch hub made up
        (no store revision: see the module)."""
        with self._lock:
            seen = self._seen.get(key)
            if seen is None:  # not served at a store revision: unknown, a write conflicts
                return
            seen.made_up[version] = _digest(print_)
            while len(seen.made_up) > MADE_UP_KEPT:
                del seen.made_up[min(seen.made_up)]

    def forget(self, key: ObjectKey) -> None:
        """The object was served at a revision not known (the store changed during the
        read): any write naming an older version than the one served now conflicts."""
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None:
                # Unknown content, since no revision; the next read replaces it.
                self._seen[key] = _Seen("", 1 << 62, -1, seen.made_up)

    def changed_after(self, key: ObjectKey, version: int, now: int) -> bool:
        """Whether the content served now (at store revision `now`) was not yet served at
        `version` (or is unknown).

        A version the watch hub made up for the object counts as the content it carried:
        a store revision of the same number may have served another. Any other version
        above `now` was never given out.
        """
        with self._lock:
            seen = self._seen.get(key)
            if seen is None:
                return True
            if version in seen.made_up:
                return seen.made_up[version] != seen.print_
            return seen.since > version or version > now


_ALL: dict[tuple[str, bool, str], Versions] = {}
_ALL_LOCK = threading.Lock()


def versions_for(state: str, show_secret_data: bool, key_file: str) -> Versions:
    """The one `Versions` of a store as served with or without Secrets' data, per process."""
    with _ALL_LOCK:
        return _ALL.setdefault((state, show_secret_data, key_file), Versions())


def object_key(kind: str, obj: dict[str, Any]) -> ObjectKey:
    meta = obj.get("metadata", {})
    return kind, meta.get("namespace", ""), meta.get("name", "")
