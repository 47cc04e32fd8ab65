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
from docker.models.networks import Network
from docker.types import EndpointConfig

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
class Sandbox:
    """Containers and networks one test creates, all removed at teardown."""

    client: docker.DockerClient
    containers: list[Container] = field(default_factory=list)
    networks: list[Network] = field(default_factory=list)

    def network(self) -> Network:
        """Create a user-defined bridge network (its embedded DNS resolves aliases)."""
        net = self.client.networks.create(f"reconciler-test-{uuid.uuid4().hex[:10]}",
                                          driver="bridge", labels=TEST_LABELS)
        self.networks.append(net)
        return net

    def run(self, image: str, *, network: Network | None = None, aliases: tuple[str, ...] = (),
            env: dict[str, str] | None = None, publish: int | None = None) -> Container:
        """Start IMAGE detached; PUBLISH maps a container port to a free 127.0.0.1 port."""
        kwargs: dict[str, Any] = {}
        if network is not None:
            kwargs["network"] = network.name
            kwargs["networking_config"] = {
                network.name: EndpointConfig(self.client.api.api_version, aliases=list(aliases)),
            }
        if publish is not None:
            kwargs["ports"] = {f"{publish}/tcp": ("127.0.0.1", None)}
        container = self.client.containers.run(
            image, detach=True, labels=TEST_LABELS, environment=env or {}, **kwargs)
        self.containers.append(container)
        return container

    def host_port(self, container: Container, port: int) -> int:
        """The 127.0.0.1 port Docker picked for CONTAINER's PORT."""
        container.reload()
        bindings = container.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"]
        return int(bindings[0]["HostPort"])

    def ip(self, container: Container, network: Network) -> str:
        """CONTAINER's address on NETWORK."""
        container.reload()
        return str(container.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"])

    def close(self) -> None:
        for container in self.containers:
            container.remove(force=True)
        for net in self.networks:
            net.remove()


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
