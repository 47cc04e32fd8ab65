"""The puller and the sandbox's image step on the real engine, against the real registry.

One pull in flight per host and image (the others wait and share it), and a
registry that does not answer said once: the first pod tries, later ones use the
local image without asking again (reconciler/runtime/puller.py, sandbox.py).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from reconciler.runtime import pullrules
from reconciler.runtime.engine import Engine
from reconciler.runtime.puller import Puller, PullResult
from reconciler.runtime.pullrules import Credential
from reconciler.runtime.types import PodSync, RuntimeConfig
from tests.integration.runtime.conftest import BUSYBOX, Harness, make_pod
from tests.support.fluent_receiver import free_port
from tests.support.registry import Registry, start_registry

pytestmark = [pytest.mark.docker, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient,
             local_images: None) -> Iterator[Registry]:
    """One registry for this file's tests."""
    with start_registry(tmp_path_factory.mktemp("registry"), docker_client) as reg:
        yield reg


class GatedPuller(Puller):
    """A real puller whose first engine request waits for the test to open the gate."""

    def __init__(self, engine: Engine, config: RuntimeConfig) -> None:
        super().__init__(engine, config)
        self.gate = threading.Event()
        self.entered = threading.Event()

    def _send(self, ref: str, cred: Credential | None) -> tuple[str, int]:
        self.entered.set()
        assert self.gate.wait(120), "the test never opened the gate"
        return super()._send(ref, cred)


def running(sync: PodSync) -> bool:
    return sync.phase == "Running"


class TestPuller:
    """Pulls of one host through `Puller`."""

    def test_concurrent_pulls_share_one(self, registry: Registry, harness: Harness,
                                        docker_client: docker.DockerClient) -> None:
        """Five callers asking while a pull of the image is in flight wait for it: one pull."""
        ref = registry.ref(f"t{uuid.uuid4().hex[:8]}/shared:1")
        registry.push(docker_client, BUSYBOX, ref.split("/", 1)[1])
        engine = harness.agent.engine
        puller = GatedPuller(engine, RuntimeConfig(pull_from=("127.0.0.1",)))
        creds = pullrules.secret_credentials(
            "regcred", {".dockerconfigjson": registry.dockerconfigjson().encode()})
        results: list[PullResult] = []
        lock = threading.Lock()

        def pull() -> None:
            result = puller.pull(ref, creds)
            with lock:
                results.append(result)

        first = threading.Thread(target=pull)
        first.start()
        assert puller.entered.wait(60)
        others = [threading.Thread(target=pull) for _ in range(5)]
        for t in others:
            t.start()
        for _ in range(6000):  # up to two minutes: waits for a state, not a time
            if puller.waiting(ref) == 5:
                break
            threading.Event().wait(0.02)
        assert puller.waiting(ref) == 5, "the callers never queued behind the pull"
        puller.gate.set()
        for t in [first, *others]:
            t.join(120)
        assert len(results) == 6 and all(r.ok for r in results), results
        assert puller.pulls == 1
        assert sum(r.shared for r in results) == 5
        docker_client.images.get(ref)  # the one pull put it on the machine

    def test_unreachable_registry_said_once(self, harness_factory: Callable[..., Harness],
                                            docker_client: docker.DockerClient,
                                            caplog: pytest.LogCaptureFixture) -> None:
        """With no registry answering, the first pod tries and runs the local image; the
        second runs it without a pull, and the log says so once."""
        host = f"127.0.0.1:{free_port()}"  # nothing listens there
        ref = f"{host}/offline/app"  # no tag: Always
        docker_client.images.get(BUSYBOX).tag(ref, "latest")
        try:
            h = harness_factory(pull_from=("127.0.0.1",))
            caplog.set_level(logging.WARNING, logger="reconciler.runtime.puller")
            syncs = []
            for name in ("first", "second"):
                pod = make_pod(name, {"containers": [{"name": "c", "image": ref,
                                                      "command": ["sleep", "3600"]}]})
                h.events.clear()
                syncs.append(h.converge(pod, running, timeout=60))
                assert "Pulled" in h.reasons()
                assert ("Pulling" in h.reasons()) is (name == "first")
                assert "Failed" not in h.reasons()
            assert h.agent.builder.puller.pulls == 1
            said = [r for r in caplog.records if "does not answer" in r.getMessage()]
            assert len(said) == 1
        finally:
            docker_client.images.remove(f"{ref}:latest", noprune=True)

    def test_node_docker_config_credentials(self, registry: Registry,
                                            harness_factory: Callable[..., Harness],
                                            docker_client: docker.DockerClient,
                                            tmp_path: Path) -> None:
        """Without a pull secret, the node's Docker config file ("{node}" in the path) logs in."""
        ref = registry.ref(f"t{uuid.uuid4().hex[:8]}/node-config:1")
        registry.push(docker_client, BUSYBOX, ref.split("/", 1)[1])
        (tmp_path / "local.json").write_text(registry.dockerconfigjson())
        h = harness_factory(pull_from=("127.0.0.1",),
                            docker_config=str(tmp_path / "{node}.json"))
        pod = make_pod("noded", {"containers": [{"name": "c", "image": ref,
                                                 "command": ["sleep", "3600"]}]})
        h.converge(pod, running, timeout=90)
        pulled = [e.message for e in h.events if e.reason == "Pulled"]
        assert any(m.startswith(f'Successfully pulled image "{ref}"') for m in pulled), pulled

    def test_no_pull_warning_for_a_local_image(self, harness: Harness) -> None:
        """`Always` for an image of a registry not in pull_from: it runs the local image with
        one Normal Pulled event, no pull and no "Failed to pull image" warning."""
        pod = make_pod("local", {"containers": [{"name": "c", "image": BUSYBOX,
                                                 "imagePullPolicy": "Always",
                                                 "command": ["sleep", "3600"]}]})
        harness.converge(pod, running, timeout=60)
        assert harness.agent.builder.puller.pulls == 0
        assert "Pulling" not in harness.reasons() and "Failed" not in harness.reasons()
        assert next(e.message for e in harness.events if e.reason == "Pulled") == \
            f'Container image "{BUSYBOX}" already present on machine'
        assert all(e.type == "Normal" for e in harness.events)
