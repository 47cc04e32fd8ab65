"""A pod with a persistentVolumeClaim volume on a real engine: its volume outlives the pod."""

from __future__ import annotations

import uuid

import docker
import pytest

from reconciler.api.records import PodRecord
from reconciler.runtime import naming
from reconciler.runtime.types import PodEnv
from tests.conftest import LOCAL_URL
from tests.integration.runtime.conftest import BUSYBOX, Harness, make_pod

pytestmark = pytest.mark.docker


def running(result: object) -> bool:
    return getattr(result, "phase", "") == "Running" and all(
        c.state == "running" for c in getattr(result, "containers", []))


def claim_pod(name: str, claim: str) -> PodRecord:
    return make_pod(name, {
        "volumes": [{"name": "www", "persistentVolumeClaim": {"claimName": claim}}],
        "containers": [{"name": "app", "image": BUSYBOX, "command": ["sleep", "3600"],
                        "volumeMounts": [{"name": "www", "mountPath": "/www"}]}],
    })


class TestClaimVolume:
    def test_volume_outlives_pod_and_is_reused(self, harness: Harness) -> None:
        """A file written to a claim survives removing the pod and recreating it with that claim."""
        claim = f"www-t{uuid.uuid4().hex[:8]}-0"
        env = PodEnv(claim_uids=((claim, "claim-uid-1"),))
        first = claim_pod("web-0", claim)
        harness.converge(first, running, env=env)
        wrote = harness.agent.exec(first.uid, "app", ["sh", "-c", "echo kept > /www/f"])
        assert wrote.exit_code == 0
        harness.agent.kill_pod(first.uid, 0)
        client = docker.DockerClient(base_url=LOCAL_URL)
        try:
            labels = client.api.inspect_volume(claim)["Labels"]
            assert labels[naming.CLAIM_NAME] == claim
            assert labels[naming.CLAIM_UID] == "claim-uid-1"
            assert naming.POD_UID not in labels
            second = claim_pod("web-0", claim)
            harness.converge(second, running, env=env)
            got = harness.agent.exec(second.uid, "app", ["cat", "/www/f"])
            assert got.exit_code == 0 and got.output.decode().strip() == "kept"
            harness.agent.kill_pod(second.uid, 0)
            assert client.api.inspect_volume(claim)["Name"] == claim
            harness.agent.remove_volume(claim)
            with pytest.raises(docker.errors.NotFound):
                client.api.inspect_volume(claim)
            harness.agent.remove_volume(claim)  # already gone: no error
        finally:
            client.close()

    def test_volume_in_use_is_not_removed(self, harness: Harness) -> None:
        """remove_volume refuses a claim volume a running pod still mounts."""
        claim = f"www-t{uuid.uuid4().hex[:8]}-0"
        pod = claim_pod("web-0", claim)
        harness.converge(pod, running)
        with pytest.raises(docker.errors.APIError):
            harness.agent.remove_volume(claim)
        harness.agent.kill_pod(pod.uid, 0)
        harness.agent.remove_volume(claim)
