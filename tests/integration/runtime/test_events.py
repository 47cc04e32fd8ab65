"""runtime.events.follow_events on the real engine: events arrive as they happen within a long
window, and a stop ends the follow at once, not at the window's end."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import docker

from reconciler.runtime import events, naming
from reconciler.runtime.agent import NodeAgent
from reconciler.runtime.engine import Engine
from reconciler.runtime.types import CLUSTER_LABEL, RuntimeConfig
from tests.conftest import TEST_LABEL
from tests.integration.runtime.conftest import node


class Follow:
    """follow_events in a thread, its events collected."""

    def __init__(self, engine: Engine, prefix: str) -> None:
        self.seen: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=events.follow_events, args=(
            engine, {"label": [f"io.reconciler.prefix={prefix}"]}, self.seen.append,
            self.stop), daemon=True)
        self.thread.start()

    def wait_for(self, action: str, cid: str, timeout: float = 30) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e.get("Action") == action and e.get("id") == cid for e in self.seen):
                return True
            time.sleep(0.05)
        return False


class TestFollowEvents:
    def test_an_event_comes_within_the_window(
            self, local: Engine, test_prefix: str, docker_client: docker.DockerClient) -> None:
        """A container's death is delivered while the window of 60 s is still open."""
        assert events.WINDOW >= 30  # else this says nothing about a long window
        follow = Follow(local, test_prefix)
        try:
            time.sleep(1.5)  # the first window's request is open
            ctr = docker_client.containers.run(
                "reconciler/busybox:1", ["true"], detach=True,
                labels={TEST_LABEL: "1", "io.reconciler.prefix": test_prefix})
            assert follow.wait_for("die", str(ctr.id))
        finally:
            follow.stop.set()
            follow.thread.join(10)

    def test_a_stop_ends_the_follow_at_once(self, local: Engine, test_prefix: str) -> None:
        """Set in the middle of a window, the stop closes the request: the thread ends in
        seconds, not at the window's end."""
        follow = Follow(local, test_prefix)
        time.sleep(2.0)  # well inside the first window
        follow.stop.set()
        follow.thread.join(events.WINDOW / 4)
        assert not follow.thread.is_alive()

    def test_a_stop_before_the_first_window_ends_it(self, local: Engine, test_prefix: str) -> None:
        """A stop already set: no window is kept open."""
        stop = threading.Event()
        stop.set()
        thread = threading.Thread(target=events.follow_events, args=(
            local, {"label": [f"io.reconciler.prefix={test_prefix}"]}, lambda e: None, stop),
            daemon=True)
        thread.start()
        thread.join(events.WINDOW / 4)
        assert not thread.is_alive()

    def test_a_stream_that_cannot_be_read_is_a_break(self, test_prefix: str,
                                                     tmp_path: Path) -> None:
        """An engine that does not answer: `on_break` is called (events may be missed), and
        the follow keeps trying."""
        gone = Engine(node("gone", f"unix://{tmp_path}/no.sock"),
                      RuntimeConfig(prefix=test_prefix))
        breaks: list[int] = []
        stop = threading.Event()
        thread = threading.Thread(target=events.follow_events, args=(
            gone, {}, lambda e: None, stop, lambda: breaks.append(1)), daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while len(breaks) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(breaks) >= 2
        finally:
            stop.set()
            thread.join(10)
            gone.close()


class TestAgentWatch:
    def test_watching_while_the_follow_runs(self, test_prefix: str) -> None:
        """NodeAgent.watch says it follows the engine while it does, and not after a stop."""
        agent = NodeAgent(node(),
                          RuntimeConfig(prefix=test_prefix), lambda uid: None)
        stop = threading.Event()
        thread = threading.Thread(target=agent.watch, args=(stop,), daemon=True)
        assert not agent.watching
        thread.start()
        try:
            deadline = time.monotonic() + 5
            while not agent.watching and time.monotonic() < deadline:
                time.sleep(0.05)
            assert agent.watching and agent.relists_wanted == 1  # its start's, no break
        finally:
            stop.set()
            thread.join(10)
            agent.close()
        assert not agent.watching

    def test_another_clusters_start_asks_for_a_list(
            self, test_prefix: str, docker_client: docker.DockerClient) -> None:
        """A container of another store's cluster starting on the engine (which no other
        followed event tells of) asks for a list; our own cluster's start does not."""
        agent = NodeAgent(node(),
                          RuntimeConfig(prefix=test_prefix, cluster_id="ours"), lambda uid: None)
        stop = threading.Event()
        thread = threading.Thread(target=agent.watch, args=(stop,), daemon=True)
        thread.start()

        def start(cluster: str) -> None:
            docker_client.containers.run(
                "reconciler/busybox:1", ["sleep", "30"], detach=True,
                labels={TEST_LABEL: "1", naming.PREFIX: test_prefix,
                        naming.POD_UID: f"uid-{cluster}", CLUSTER_LABEL: cluster})
        try:
            time.sleep(1.5)  # the first window's request is open
            base = agent.relists_wanted  # the follow's start asked for one
            start("ours")
            time.sleep(2.0)
            assert agent.relists_wanted == base
            start("theirs")
            deadline = time.monotonic() + 10
            while agent.relists_wanted == base and time.monotonic() < deadline:
                time.sleep(0.05)
            assert agent.relists_wanted == base + 1
        finally:
            stop.set()
            thread.join(10)
            agent.close()
