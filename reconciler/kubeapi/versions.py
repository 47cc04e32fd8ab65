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
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

KEPT = 100_000  # objects remembered per store
ObjectKey = tuple[str, str, str]  # kind, namespace, name


def fingerprint(obj: dict[str, Any]) -> str:
    """The object's content without its resourceVersion (which every list renews)."""
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
    return json.dumps({**obj, "metadata": meta}, sort_keys=True, default=str)


@dataclass
class _Seen:
    print_: str
    since: int  # the first revision this content was served at
    last: int  # the latest revision it was served at


class Versions:
    """The content and `since` of each object served from one store (see the module)."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._lock = threading.Lock()
        self._seen: OrderedDict[ObjectKey, _Seen] = OrderedDict()

    def observe(self, key: ObjectKey, print_: str, revision: int) -> None:
        """The object was served with this content (its `fingerprint`) at `revision`."""
        # A digest is kept, not the text: a pod's fingerprint is kilobytes.
        print_ = hashlib.blake2b(print_.encode(), digest_size=16).hexdigest()
        with self._lock:
            seen = self._seen.get(key)
            if seen is None or (seen.print_ != print_ and revision >= seen.last):
                self._seen[key] = _Seen(print_, revision, revision)
            elif seen.print_ == print_:
                seen.since = min(seen.since, revision)
                seen.last = max(seen.last, revision)
            # else: an older read of an earlier content, recorded late: nothing it says
            self._seen.move_to_end(key)
            while len(self._seen) > self._kept:
                self._seen.popitem(last=False)

    def changed_after(self, key: ObjectKey, version: int) -> bool:
        """Whether the content served now was not yet served at `version` (or is unknown)."""
        with self._lock:
            seen = self._seen.get(key)
            return seen is None or seen.since > version


_ALL: dict[tuple[str, bool, str], Versions] = {}
_ALL_LOCK = threading.Lock()


def versions_for(state: str, show_secret_data: bool, key_file: str) -> Versions:
    """The one `Versions` of a store as served with or without Secrets' data, per process."""
    with _ALL_LOCK:
        return _ALL.setdefault((state, show_secret_data, key_file), Versions())


def object_key(kind: str, obj: dict[str, Any]) -> ObjectKey:
    meta = obj.get("metadata", {})
    return kind, meta.get("namespace", ""), meta.get("name", "")
