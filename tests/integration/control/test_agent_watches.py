"""Context.watch_agents on the real engine: every agent follows its engine's events, one made
after start too (a node declared later), and the follow ends when the agent is dropped or
rebuilt."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import docker
import pytest

from reconciler.api.records import NodeRecord
from reconciler.control.context import POD, Context, Settings
from reconciler.control.queue import WorkQueue
from reconciler.runtime import naming
from reconciler.runtime.agent import NodeAgent
from reconciler.runtime.types import RuntimeConfig
from tests.conftest import LOCAL_URL, TEST_LABEL
from tests.support.waiting import wait_for


def node(name: str, url: str = LOCAL_URL) -> NodeRecord:
    return NodeRecord(name=name, engine_url=url, created_at=datetime.now(UTC))


@pytest.fixture
def ctx(test_prefix: str) -> Iterator[Context]:
    c = Context(store=cast(Any, None), queue=WorkQueue(),
                runtime=RuntimeConfig(prefix=test_prefix, extra_labels={TEST_LABEL: "1"}),
                settings=Settings())
    yield c
    c.unwatch_agents()
    for name in list(c.agents()):
        c.drop_agent(name)


def watching(agent: object) -> bool:
    return bool(getattr(agent, "watching", False))


class TestAgentWatches:
    def test_an_agent_made_later_follows_its_events(
            self, ctx: Context, test_prefix: str, docker_client: docker.DockerClient,
            local_images: None) -> None:
        """A node first seen after watch_agents: its container's death queues its pod."""
        ctx.watch_agents()
        agent = ctx.agent(node("late"))
        wait_for(lambda: watching(agent), "the follow")
        time.sleep(1.5)  # the stream's request is open
        docker_client.containers.run(
            "reconciler/busybox:1", ["true"], detach=True,
            labels={TEST_LABEL: "1", naming.PREFIX: test_prefix, naming.POD_UID: "uid-late"})

        def queued() -> bool:
            key = ctx.queue.get(timeout=0)
            return key is not None and key.controller == POD and key.id == "uid-late"
        wait_for(queued, "the pod queued by its event")

    def test_an_agent_made_before_is_watched_too(self, ctx: Context) -> None:
        """Agents the first pass made (before watch_agents) follow their events after it."""
        agent = ctx.agent(node("early"))
        time.sleep(0.5)
        assert not watching(agent)
        ctx.watch_agents()
        wait_for(lambda: watching(agent), "the follow")

    def test_the_follow_start_asks_for_one_relist(self, ctx: Context) -> None:
        """A list made before the follow began may have missed what happened until then."""
        agent = cast(NodeAgent, ctx.agent(node("a")))
        before = agent.relists_wanted
        ctx.watch_agents()
        wait_for(lambda: watching(agent), "the follow")
        assert agent.relists_wanted == before + 1

    def test_a_dropped_agent_stops_following(self, ctx: Context) -> None:
        """The node is gone: its follow ends (no stream kept open to a gone host)."""
        ctx.watch_agents()
        agent = ctx.agent(node("gone"))
        wait_for(lambda: watching(agent), "the follow")
        ctx.drop_agent("gone")
        wait_for(lambda: not watching(agent), "the follow ended")

    def test_a_rebuilt_agent_is_followed_and_the_old_one_stops(self, ctx: Context) -> None:
        """The node's engine changed: the new agent follows, the replaced one's follow ends."""
        ctx.watch_agents()
        old = ctx.agent(node("moved"))
        wait_for(lambda: watching(old), "the follow")
        new = ctx.agent(node("moved", url="unix:///run/docker.sock"))  # the same engine
        assert new is not old
        wait_for(lambda: watching(new), "the new agent followed")
        wait_for(lambda: not watching(old), "the old follow ended")

    def test_unwatch_stops_every_follow(self, ctx: Context) -> None:
        """At the service's stop, every follow ends."""
        ctx.watch_agents()
        agents = [ctx.agent(node(n)) for n in ("x", "y")]
        wait_for(lambda: all(watching(a) for a in agents), "the follow")
        ctx.unwatch_agents()
        wait_for(lambda: not any(watching(a) for a in agents), "every follow ended")

    def test_watch_twice_keeps_one_follow_per_agent(self, ctx: Context) -> None:
        """A second watch_agents (an agent node taken again) starts no second follow."""
        ctx.watch_agents()
        agent = ctx.agent(node("once"))
        wait_for(lambda: watching(agent), "the follow")
        ctx.watch_agents()
        time.sleep(0.5)
        follows = [t for t in threading.enumerate() if t.name == "events-once"]
        assert len(follows) == 1
