"""The demo's local images, run on a real Docker engine: the seed's redis and web, the guestbook.

Each test starts its containers on the default bridge with links (aliases stand
in for the service DNS names the manifests use) and reaches them only through
ports published on 127.0.0.1.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import docker
import pytest

from .conftest import Sandbox, eventually, http_get, redis_command

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "build-demo-images.sh"

# image -> the port it serves on, as the manifests in desired/ and the guestbook name them.
IMAGES = {
    "redis:latest": 6379,
    "janakiramm/web:latest": 5000,
    "gcr.io/google_containers/redis:e2e": 6379,
    "gcr.io/google_samples/gb-redisslave:v1": 6379,
    "gcr.io/google_samples/gb-frontend:v4": 80,
    "gcr.io/google_samples/gb-frontend:v3": 80,
}
COUNT = re.compile(r"^Hello Container World! I have been seen (\d+) times\.\n$")


class TestBuiltImages:
    """scripts/build-demo-images.sh: every image the manifests name, and a cheap rerun."""

    @pytest.mark.parametrize(("image", "port"), sorted(IMAGES.items()))
    def test_image_exists_with_its_port(
        self, docker_client: docker.DockerClient, image: str, port: int
    ) -> None:
        """The image is local, exposes its port and carries the script's context hash."""
        config = docker_client.images.get(image).attrs["Config"]
        assert f"{port}/tcp" in config["ExposedPorts"]
        assert re.fullmatch(r"[0-9a-f]{64}", config["Labels"]["org.reconciler.demo.context-hash"])

    def test_rerun_changes_nothing(self, docker_client: docker.DockerClient) -> None:
        """A second run rebuilds no image: every tag keeps its id and is reported up to date."""
        subprocess.run([str(SCRIPT)], check=True, capture_output=True, timeout=110)
        before = {image: docker_client.images.get(image).id for image in IMAGES}
        rerun = subprocess.run([str(SCRIPT)], check=True, capture_output=True, text=True,
                               timeout=60)
        assert {image: docker_client.images.get(image).id for image in IMAGES} == before
        assert rerun.stderr.count("up to date:") == 4
        assert "building" not in rerun.stderr


class TestRedisImage:
    """redis:latest: redis-server in the foreground, reachable from outside the container."""

    def test_answers_ping_through_a_published_port(self, sandbox: Sandbox) -> None:
        """PING through Docker's port mapping (a non-loopback client) answers PONG."""
        redis = sandbox.run("redis:latest", publish=6379)
        port = sandbox.host_port(redis, 6379)

        def ping() -> bytes:
            reply = redis_command(port, "PING")
            assert reply == b"+PONG\r\n", reply
            return reply

        eventually(ping)


class TestWebImage:
    """janakiramm/web:latest: the seed's hit counter, keeping its count in redis."""

    def test_counts_hits_in_redis(self, sandbox: Sandbox) -> None:
        """Two requests answer N then N+1, and X-Served-By names the container's hostname."""
        net = sandbox.network()
        sandbox.run("redis:latest", network=net, aliases=("redis",))
        web = sandbox.run("janakiramm/web:latest", network=net, publish=5000)
        port = sandbox.host_port(web, 5000)

        def counted() -> int:
            answer = http_get(port)
            assert answer.status == 200, answer
            match = COUNT.match(answer.body)
            assert match, answer.body
            assert answer.headers["x-served-by"] == web.attrs["Config"]["Hostname"]
            return int(match.group(1))

        first = eventually(counted)
        assert counted() == first + 1

    def test_answers_503_without_redis(self, sandbox: Sandbox) -> None:
        """With no host named redis the app says so with a 503 instead of hanging."""
        web = sandbox.run("janakiramm/web:latest", network=sandbox.network(), publish=5000)
        port = sandbox.host_port(web, 5000)
        answer = eventually(lambda: http_get(port))
        assert answer.status == 503
        assert answer.body.startswith("Cannot reach redis at redis:6379")


class TestGuestbook:
    """The 2016 guestbook's images: frontend writes to the master and reads from a slave."""

    @pytest.mark.parametrize("discovery", ["dns", "env"])
    def test_stores_and_reads_a_message(self, sandbox: Sandbox, discovery: str) -> None:
        """A message set through the frontend comes back through the replicating slave."""
        net = sandbox.network()
        master = sandbox.run("gcr.io/google_containers/redis:e2e", network=net,
                             aliases=("redis-master",))
        if discovery == "dns":
            slave_env = {"GET_HOSTS_FROM": "dns"}
        else:
            slave_env = {"GET_HOSTS_FROM": "env",
                         "REDIS_MASTER_SERVICE_HOST": sandbox.ip(master, net)}
        slave = sandbox.run("gcr.io/google_samples/gb-redisslave:v1", network=net,
                            aliases=("redis-slave",), env=slave_env)
        frontend_env = {"GET_HOSTS_FROM": discovery}
        if discovery == "env":
            frontend_env |= {"REDIS_MASTER_SERVICE_HOST": sandbox.ip(master, net),
                             "REDIS_SLAVE_SERVICE_HOST": sandbox.ip(slave, net)}
        frontend = sandbox.run("gcr.io/google_samples/gb-frontend:v4", network=net,
                               env=frontend_env, publish=80)
        port = sandbox.host_port(frontend, 80)

        page = eventually(lambda: http_get(port, "/"))
        assert page.status == 200 and "<h1>Guestbook</h1>" in page.body

        def stored() -> None:
            answer = http_get(port, "/guestbook.php?cmd=set&key=messages&value=hello,world")
            assert answer.status == 200, answer
            assert answer.body == '{"message": "Updated"}'

        eventually(stored)

        def replicated() -> None:
            answer = http_get(port, "/guestbook.php?cmd=get&key=messages")
            assert answer.status == 200, answer
            assert answer.body == '{"data": "hello,world"}'

        eventually(replicated)
        assert slave.exec_run(["redis-cli", "GET", "messages"]).output == b"hello,world\n"
        # Reads go to the slave only: without it the frontend cannot answer a get.
        slave.stop(timeout=10)
        assert http_get(port, "/guestbook.php?cmd=get&key=messages").status == 503


class TestStopsOnSigterm:
    """Every demo image runs its server as PID 1 and exits on SIGTERM, so pods stop at once."""

    @pytest.mark.parametrize("image", [
        "redis:latest",
        "gcr.io/google_samples/gb-redisslave:v1",
        "janakiramm/web:latest",
        "gcr.io/google_samples/gb-frontend:v4",
    ])
    def test_exits_cleanly_on_sigterm(self, sandbox: Sandbox, image: str) -> None:
        """Once serving, `docker stop` ends the container with exit code 0, not a SIGKILL's 137."""
        port = IMAGES[image]
        container = sandbox.run(image, network=sandbox.network(), publish=port)
        host_port = sandbox.host_port(container, port)

        def serving() -> None:
            if port == 6379:
                assert redis_command(host_port, "PING") == b"+PONG\r\n"
            else:
                assert http_get(host_port).status in (200, 503)

        eventually(serving)
        container.stop(timeout=30)
        container.reload()
        assert container.attrs["State"]["ExitCode"] == 0
