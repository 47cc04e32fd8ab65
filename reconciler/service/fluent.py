"""Ships the service's log records and events to fluentd, never blocking the caller.

An edge of the flow: `setup_logging` (reconciler.service.logs) routes log
records here with tag `<prefix>.log`, and the controllers' event recorder calls
`event(...)` for tag `<prefix>.event`. Callers only append to a bounded
in-memory queue; one background thread sends through fluent-logger's
FluentSender, reconnecting with backoff. While fluentd is down or slow, records
wait in the queue up to `bound`; beyond it the oldest are dropped and counted
(`dropped`, shown by `get cs` and the metrics), so the newest state survives.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fluent.sender import EventTime, FluentSender

from reconciler.api.records import EventRecord

log = logging.getLogger(__name__)

BACKOFF_MIN = 0.2
BACKOFF_MAX = 5.0


@dataclass(frozen=True)
class Health:
    """What `get componentstatuses` shows for fluentd."""

    healthy: bool
    message: str


def split_address(address: str) -> tuple[str, int]:
    """"host:port" (or "unix:///path") into what FluentSender takes."""
    if address.startswith("unix://"):
        return address, 0
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class FluentShipper:
    """A bounded, non-blocking queue of (tag, time, record) drained to fluentd by a thread."""

    def __init__(
        self,
        address: str,
        *,
        tag_prefix: str = "reconciler",
        bound: int = 10000,
        timeout: float = 2.0,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self.address = address
        self.tag_prefix = tag_prefix
        self.bound = bound
        self.on_drop = on_drop
        host, port = split_address(address)
        # The sender's own buffer is never used: a failed record stays in our queue.
        self._sender = FluentSender(
            "", host=host, port=port, timeout=timeout, bufmax=0, nanosecond_precision=True
        )
        self._queue: collections.deque[tuple[str, float, dict[str, Any]]] = collections.deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._dropped = 0
        self.sent = 0
        self.connected = False
        self.last_error = ""

    @property
    def dropped(self) -> int:
        """Records dropped because the queue was full."""
        return self._dropped

    @property
    def queued(self) -> int:
        return len(self._queue)

    def health(self) -> Health:
        """Healthy while connected and nothing was dropped since start."""
        if not self.connected:
            why = f": {self.last_error}" if self.last_error else ""
            return Health(False, f"not connected to {self.address}{why}; "
                                 f"{self.queued} buffered, {self._dropped} dropped")
        if self._dropped:
            return Health(False, f"connected to {self.address}; {self._dropped} records dropped")
        return Health(True, f"connected to {self.address}; {self.sent} records sent")

    def start(self) -> FluentShipper:
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="fluent-shipper", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 2.0) -> None:
        """Try to flush for up to `timeout` seconds, then stop; never raises."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue and self.connected and time.monotonic() < deadline:
                self._cond.wait(0.05)
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()) + 0.5)
        with contextlib.suppress(Exception):
            self._sender._close()

    def emit(self, label: str, record: Mapping[str, Any], timestamp: float | None = None) -> bool:
        """Queue `record` under tag `<prefix>.<label>`; False when the queue was full.

        Even then the record is queued: the oldest one makes room for it.
        """
        tag = f"{self.tag_prefix}.{label}" if self.tag_prefix else label
        item = (tag, time.time() if timestamp is None else timestamp, dict(record))
        dropped = False
        with self._cond:
            if len(self._queue) >= self.bound:
                self._queue.popleft()
                self._dropped += 1
                dropped = True
            self._queue.append(item)
            self._cond.notify()
        if dropped and self.on_drop is not None:
            with contextlib.suppress(Exception):
                self.on_drop(1)
        return not dropped

    def event(self, ev: EventRecord, *, revision: str = "") -> bool:
        """Queue an event as a structured `<prefix>.event` record."""
        seen = ev.last_seen or ev.first_seen
        record = {
            # As the OBJECT column of `get events` shows it: one field to search by.
            "object": f"{ev.kind.lower()}/{ev.name}",
            "kind": ev.kind,
            "namespace": ev.namespace,
            "name": ev.name,
            "uid": ev.uid,
            "type": ev.type,
            "reason": ev.reason,
            "message": ev.message,
            "source": ev.source,
            "node": ev.host,
            "revision": revision,
            "count": ev.count,
        }
        return self.emit("event", record, seen.timestamp() if seen else None)

    def _run(self) -> None:
        backoff = BACKOFF_MIN
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                tag, ts, record = self._queue[0]
            if self._send(tag, ts, record):
                backoff = BACKOFF_MIN
                with self._cond:
                    # Only pop what we sent: emit() may have dropped it meanwhile.
                    if self._queue and self._queue[0][2] is record:
                        self._queue.popleft()
                    self.sent += 1
                    self._cond.notify_all()
                continue
            with self._cond:
                self._cond.wait_for(lambda: self._closing, backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _send(self, tag: str, ts: float, record: dict[str, Any]) -> bool:
        try:
            ok = bool(self._sender.emit_with_time(tag, EventTime(ts), record))
        except Exception as e:  # a record that will not serialize must not wedge the queue
            self.last_error = f"{type(e).__name__}: {e}"
            return True
        if ok:
            if not self.connected:
                self.connected = True
                log.info("fluentd: connected to %s", self.address)
            return True
        self._sender.pendings = None
        error = self._sender.last_error
        self._sender.clear_last_error()
        self.last_error = str(error) if error else "send failed"
        if self.connected:
            self.connected = False
            log.warning("fluentd: lost %s: %s; buffering", self.address, self.last_error)
        return False
