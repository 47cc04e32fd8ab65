"""`limit` and `continue`: a list served in pages, each page from the first page's snapshot.

Used by `app.py` for lists (kubectl pages every `get` by 500). The first page
lists the store as any list does; when more remains, the whole filtered list is
kept here for a while under a random snapshot id, which the `continue` token
carries with the position: the next pages are slices of that snapshot, as the
API server serves them from one etcd revision, instead of listing the store again
for each page. A snapshot gone (expired, evicted, another server) is listed again
and sliced at the position. Tokens are base64 JSON, opaque text to clients.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

KEEP_SECONDS = 60.0  # how long a snapshot waits for its next page
KEEP_SNAPSHOTS = 16  # the most kept at once (the oldest go first)


@dataclass(frozen=True)
class Token:
    """What a `continue` token says: the snapshot, where the next page starts, its list."""

    snapshot: str
    start: int
    rv: str
    path: str


def decode(text: str) -> Token | None:
    """The token of a `continue` parameter; None without one; ValueError for garbage."""
    if not text:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(text.encode()))
        return Token(str(raw["snapshot"]), int(raw["start"]), str(raw["rv"]), str(raw["path"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"invalid continue token: {exc}") from None


def encode(token: Token) -> str:
    return base64.urlsafe_b64encode(json.dumps(
        {"snapshot": token.snapshot, "start": token.start, "rv": token.rv,
         "path": token.path}).encode()).decode()


class Snapshots:
    """Lists kept for their next pages (see the module docstring); thread-safe."""

    def __init__(self, keep: float = KEEP_SECONDS, most: int = KEEP_SNAPSHOTS) -> None:
        self._keep, self._most = keep, most
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, tuple[float, str, list[Any], str]] = OrderedDict()

    def get(self, token: Token | None) -> tuple[list[Any], str] | None:
        """The items and resourceVersion of the token's snapshot, if still kept for its path."""
        if token is None:
            return None
        with self._lock:
            self._expire()
            kept = self._kept.get(token.snapshot)
        if kept is None or kept[1] != token.path:
            return None
        return kept[2], kept[3]

    def page(self, items: list[Any], limit: int, token: Token | None, rv: str,
             path: str) -> tuple[list[Any], str, int]:
        """One page of `items` from the token's position: (page, next token or "", how many
        remain after it); the list is kept when a next page remains."""
        start = token.start if token is not None else 0
        if limit <= 0:
            return items[start:], "", 0
        page = items[start:start + limit]
        end = start + len(page)
        if end >= len(items):
            return page, "", 0
        snapshot = token.snapshot if token is not None else secrets.token_hex(8)
        with self._lock:
            self._kept[snapshot] = (time.monotonic() + self._keep, path, items, rv)
            self._kept.move_to_end(snapshot)
            while len(self._kept) > self._most:
                self._kept.popitem(last=False)
        return page, encode(Token(snapshot, end, rv, path)), len(items) - end

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, (until, *_) in self._kept.items() if until < now]:
            del self._kept[key]
