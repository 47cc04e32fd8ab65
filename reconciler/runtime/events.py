"""Following one host's Docker event stream: how the agent sees drift in well under a second.

Under `NodeAgent.watch` (agent.py), which turns each event into `on_change(pod_uid)`
so the control loop requeues the pod. Level-based: an event only names a pod,
and a missed one is caught by the periodic resync (`list_pods`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from reconciler.runtime.engine import Engine

log = logging.getLogger(__name__)

WATCHED = ["die", "stop", "destroy", "oom", "start"]
# Seconds of one request of the stream: events arrive as they happen within it, and a stop
# closes the request at once (docker-py's CancellableStream), so this bounds nothing a user
# waits for. A request every 3 s per host was a tenth of an idle service's CPU at 1,000 pods.
WINDOW = 60


def follow_events(engine: Engine, filters: dict[str, Any],
                  on_event: Callable[[dict[str, Any]], None], stop: threading.Event,
                  on_break: Callable[[], None] | None = None) -> None:
    """Call `on_event` for each container event matching `filters` until `stop` is set.

    Windows of `WINDOW` seconds (`until`), with `since` making consecutive windows
    gapless (an event on a boundary may come twice, which is harmless); `stop` closes
    the window being read from a thread of its own (docker-py's documented way to
    cancel a stream), so it is noticed at once. Errors (the engine went away)
    reconnect after a pause, and call `on_break` first: events may have been missed
    (the engine's own log of past events is short). This never raises.
    """
    client = engine.streaming_client()
    since = int(time.time())
    query = {"type": ["container"], "event": WATCHED, **filters}
    reading: list[Any] = []  # the stream being read, for the canceller to close
    guard = threading.Lock()

    def cancel() -> None:
        stop.wait()
        with guard:
            for stream in reading:
                with contextlib.suppress(Exception):  # already closed, or the engine gone
                    stream.close()

    threading.Thread(target=cancel, name=f"events-stop-{engine.node.name}", daemon=True).start()
    try:
        while not stop.is_set():
            until = int(time.time()) + WINDOW  # whole seconds: the API's resolution
            try:
                stream = client.api.events(since=since, until=until, filters=query, decode=True)
                with guard:
                    reading[:] = [stream]
                    if stop.is_set():  # set before the canceller could see this stream
                        stream.close()
                for ev in stream:
                    on_event(ev)
                # The stream may end before `until` (an engine shutting down, a stop): go on
                # from where it ended, not from `until`, or the events in between are missed.
                since = min(until, int(time.time()))
            except Exception as e:
                log.debug("event stream of %s: %s", engine.node.name, e)
                if on_break is not None:
                    on_break()
                stop.wait(1.0)
            finally:
                with guard:
                    reading.clear()
    finally:
        client.close()
