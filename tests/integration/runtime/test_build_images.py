"""`scripts/build-images.sh` (make run's base-image stage) says which image of three it is at
and each step of a build, run as `make` runs it against the real engine (issue 21)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

pytestmark = pytest.mark.docker

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "build-images.sh"


def build(prefix: str, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RECONCILER_IMAGE_PREFIX": prefix}
    proc = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=300,
                          env=env, check=False)
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    return proc


@pytest.fixture
def prefix(docker_client: docker.DockerClient) -> Iterator[str]:
    """A repository name of this test's own; its three images are removed afterwards."""
    name = f"rtest{uuid.uuid4().hex[:8]}"
    yield name
    for image in ("nginx-slim", "pause", "busybox"):
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(f"{name}/{image}:1", force=True)


class TestBuildImagesProgress:
    def test_stages_and_steps(self, prefix: str) -> None:
        """A build names each image [n/3] and its steps; a second run finds all three present."""
        first = build(prefix)
        busybox, pause, nginx = (f"{prefix}/{i}:1" for i in ("busybox", "pause", "nginx-slim"))
        err = first.stderr
        for n, ref in ((1, busybox), (2, pause)):
            stage = f"build-images: [{n}/3] {ref}: "
            assert stage + "assembling a root filesystem" in err, err
            assert stage + "importing" in err and stage + "built in" in err, err
        stage = f"build-images: [3/3] {nginx}: "
        assert stage + "docker build" in err and stage + "built in" in err, err
        assert f"{stage}  Step 1/5 : FROM {busybox}" in err, err
        assert first.stdout.split("\n")[:3] == [f"{busybox}: built", f"{pause}: built",
                                                f"{nginx}: built"]
        again = build(prefix)
        for n, ref in enumerate((busybox, pause, nginx), 1):
            assert f"build-images: [{n}/3] {ref}: present" in again.stderr, again.stderr
        assert "built" not in again.stdout

    def test_failure_names_the_stage(self, prefix: str, tmp_path: Path) -> None:
        """An engine that does not answer fails the first stage, named, with exit 1."""
        proc = build(prefix, "--host", f"unix://{tmp_path}/no-docker.sock", code=1)
        assert f"build-images: [1/3] {prefix}/busybox:1: FAILED" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
