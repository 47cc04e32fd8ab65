"""Fixtures of the end-to-end tests: the real service as a subprocess (see service.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.e2e.service import ServiceRun, remove_all


@pytest.fixture
def svc_factory(
    tmp_path: Path, docker_client: docker.DockerClient, local_images: None
) -> Iterator[list[ServiceRun]]:
    """A list the test appends ServiceRuns to; all are stopped and their containers removed."""
    runs: list[ServiceRun] = []
    yield runs
    for run in runs:
        if run.proc is not None and run.proc.poll() is None:
            run.stop()
    for prefix in {r.prefix for r in runs}:
        remove_all(prefix)
        remove_all(prefix, "unix:///var/run/docker-hostb.sock")
