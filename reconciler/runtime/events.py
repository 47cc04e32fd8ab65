"""Following one host's Docker event stream: how the agent sees drift in well under a second.

Under `NodeAgent.watch` (agent.py), which turns each event into `on_change(pod_uid)`
so the control loop requeues the pod. Level-based: an event only names a pod,
and a missed one is caught by the periodic resync (`list_pods`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from reconciler.runtime.engine import Engine

log = logging.getLogger(__name__)

WATCHED = ["die", "stop", "destroy", "oom"]
# Seconds of one request of the stream: events arrive as they happen within it, so this
# bounds only how late `stop` is noticed (an agent's close joins the thread for 5 s). One
# request a second per host cost an idle service 0.2% of a core each (the HTTP round trip,
# for nothing most of the time); one every 3 s, a third of that.
WINDOW = 3


def follow_events(engine: Engine, filters: dict[str, Any],
                  on_event: Callable[[dict[str, Any]], None], stop: threading.Event) -> None:
    """Call `on_event` for each container event matching `filters` until `stop` is set.

    Windows of `WINDOW` seconds (`until`) keep the stream responsive to `stop`
    without closing sockets from another thread (it is noticed at the window's end),
    and `since` makes consecutive windows gapless (an event on a boundary may come
    twice, which is harmless). Errors (the engine went away) reconnect after a
    pause; this never raises.
    """
    client = engine.streaming_client()
    since = int(time.time())
    query = {"type": ["container"], "event": WATCHED, **filters}
    try:
        while not stop.is_set():
            until = int(time.time()) + WINDOW  # whole seconds: the API's resolution
            try:
                for ev in client.api.events(since=since, until=until, filters=query,
                                            decode=True):
                    on_event(ev)
                # The stream may end before `until` (an engine shutting down): go on from
                # where it ended, not from `until`, or the events in between are missed.
                since = min(until, int(time.time()))
            except Exception as e:
                log.debug("event stream of %s: %s", engine.node.name, e)
                stop.wait(1.0)
    finally:
        client.close()
