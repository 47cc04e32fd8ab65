"""Fixtures for the demo image tests: a sandbox of labelled containers and networks.

The images come from scripts/build-demo-images.sh (the Makefile's `images`
target runs it before the tests); without its base image the tests skip. Every
container and network here carries `reconciler.test=1` and is removed at teardown.
"""

from __future__ import annotations

import http.client
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import docker
import pytest
from docker.models.containers import Container

BASE_IMAGE = "reconciler-demo/base:bookworm"
TEST_LABELS = {"reconciler.test": "1"}

T = TypeVar("T")


@dataclass
class Response:
    """An HTTP answer as the tests look at it."""

    status: int
    headers: dict[str, str]
    body: str


@dataclass
class Names:
    """Names that containers started later resolve: alias -> container name.

    Legacy links on the default bridge, not a user-defined network: Docker
    20.10.24's embedded DNS can deadlock the daemon when containers on such
    networks come and go while names are looked up (moby/moby#46661, fixed in
    20.10.27, which Debian 12 does not ship). Containers must start after the
    ones they name.
    """

    links: dict[str, str] = field(default_factory=dict)


@dataclass
class Sandbox:
    """Containers one test creates, all removed at teardown."""

    client: docker.DockerClient
    containers: list[Container] = field(default_factory=list)

    def network(self) -> Names:
        """A set of names for the containers of one test."""
        return Names()

    def run(self, image: str, *, network: Names | None = None, aliases: tuple[str, ...] = (),
            env: dict[str, str] | None = None, publish: int | None = None) -> Container:
        """Start IMAGE detached; PUBLISH maps a container port to a free 127.0.0.1 port."""
        kwargs: dict[str, Any] = {"name": f"reconciler-test-{uuid.uuid4().hex[:10]}"}
        if network is not None and network.links:
            kwargs["links"] = {name: alias for alias, name in network.links.items()}
        if publish is not None:
            kwargs["ports"] = {f"{publish}/tcp": ("127.0.0.1", None)}
        container = self.client.containers.run(
            image, detach=True, labels=TEST_LABELS, environment=env or {}, **kwargs)
        self.containers.append(container)
        if network is not None:
            for alias in aliases:
                network.links[alias] = kwargs["name"]
        return container

    def host_port(self, container: Container, port: int) -> int:
        """The 127.0.0.1 port Docker picked for CONTAINER's PORT."""
        container.reload()
        bindings = container.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"]
        return int(bindings[0]["HostPort"])

    def ip(self, container: Container, network: Names) -> str:
        """CONTAINER's address on the default bridge."""
        container.reload()
        return str(container.attrs["NetworkSettings"]["IPAddress"])

    def close(self) -> None:
        for container in self.containers:
            container.remove(force=True)


def eventually(probe: Callable[[], T], timeout: float = 30.0, interval: float = 0.2) -> T:
    """PROBE's first answer that raises no exception; its last error after TIMEOUT."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return probe()
        except (OSError, AssertionError, http.client.HTTPException):
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)


def http_get(port: int, path: str = "/") -> Response:
    """GET PATH from 127.0.0.1:PORT with a short timeout."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        body = answer.read().decode("utf-8")
        return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, body)
    finally:
        conn.close()


def redis_command(port: int, *words: str) -> bytes:
    """Send one inline redis command to 127.0.0.1:PORT and return the first reply line."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(" ".join(words).encode() + b"\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
        return reply


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.skip(f"no Docker engine answers: {exc}")
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip("demo images not built: run scripts/build-demo-images.sh (make images)")
    yield client
    client.close()


@pytest.fixture
def sandbox(docker_client: docker.DockerClient) -> Iterator[Sandbox]:
    box = Sandbox(docker_client)
    try:
        yield box
    finally:
        box.close()
