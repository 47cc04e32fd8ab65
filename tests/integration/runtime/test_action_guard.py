"""The Docker action guard against the real engine: a stale lease sends no mutating request."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest

from reconciler.planning.leases import LeaseClock
from reconciler.runtime import engine
from reconciler.runtime.engine import ActionRefused, Engine
from tests.conftest import LOCAL_URL, TEST_LABEL


@pytest.fixture
def clock(docker_client: docker.DockerClient) -> Iterator[LeaseClock]:
    """A lease clock registered as the only action guard, removed afterwards."""
    c = LeaseClock(ttl=30, margin=1)
    engine.ACTION_GUARDS[:] = [c.valid]
    yield c
    engine.ACTION_GUARDS[:] = []


def create(e: Engine, prefix: str) -> str:
    ctr = e.call(
        e.client.containers.create,
        "reconciler/busybox:1",
        ["sleep", "1"],
        labels={TEST_LABEL: "1", "io.reconciler.prefix": prefix},
    )
    return str(ctr.id)


class TestActionGuard:
    def test_stale_hold_refuses_mutating_calls(
        self, clock: LeaseClock, local: Engine, test_prefix: str,
        docker_client: docker.DockerClient,
    ) -> None:
        """Past the local hold a create is refused before it reaches the engine; reads go on."""
        clock.renewed(clock.now() - clock.ttl)  # last renew started a ttl ago: a paused process
        with pytest.raises(ActionRefused):
            create(local, test_prefix)
        assert local.call(local.client.containers.list, all=True, sparse=True) is not None
        assert "POST /containers/create" not in local.requests
        assert docker_client.containers.list(
            all=True, filters={"label": f"io.reconciler.prefix={test_prefix}"}
        ) == []

    def test_confirmed_hold_lets_calls_through(
        self, clock: LeaseClock, local: Engine, test_prefix: str
    ) -> None:
        """Within the hold the same create reaches the engine."""
        clock.renewed(clock.now())
        cid = create(local, test_prefix)
        assert local.requests["POST /containers/create"] == 1
        clock.revoke()
        with pytest.raises(ActionRefused):
            local.call(local.api.remove_container, cid, force=True)
        clock.renewed(clock.now())
        local.call(local.api.remove_container, cid, force=True)

    def test_pause_inside_the_http_stack_sends_nothing(
        self, local: Engine, test_prefix: str, docker_client: docker.DockerClient,
    ) -> None:
        """A hold that runs out after the request's check but before its socket write: refused."""
        answers = iter([True])  # the first check passes, every later one finds the hold gone
        engine.ACTION_GUARDS[:] = [lambda: next(answers, False)]
        try:
            with pytest.raises(ActionRefused):
                create(local, test_prefix)
        finally:
            engine.ACTION_GUARDS[:] = []
        assert "POST /containers/create" not in local.requests
        assert docker_client.containers.list(
            all=True, filters={"label": f"io.reconciler.prefix={test_prefix}"}
        ) == []
        # The refused connection was closed, not left half-written: the next call works.
        assert local.call(local.client.containers.list, all=True, sparse=True) is not None

    def test_other_http_clients_are_not_guarded(self, clock: LeaseClock) -> None:
        """A mutating request of another client in the process ignores the guard (tests, CLI)."""
        clock.revoke()
        client = docker.DockerClient(base_url=LOCAL_URL)
        try:
            created = client.networks.create(f"guard-{id(client)}", labels={TEST_LABEL: "1"})
            created.remove()
        finally:
            client.close()
