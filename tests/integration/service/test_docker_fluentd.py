"""Docker's fluentd log driver delivering a container's stdout to the test receiver.

Proves the log path the runtime driver configures for pods (async connect, so
a missing fluentd never stops a container) against the real engine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import docker
import pytest
from docker.types import LogConfig

from reconciler.runtime.images import BUSYBOX_IMAGE, ensure_busybox_image
from tests.support.fluent_receiver import Entry, FluentReceiver, free_port

pytestmark = pytest.mark.docker

LABELS = {"reconciler.test": "1"}


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    try:
        c = docker.from_env()
        c.ping()
    except docker.errors.DockerException as e:
        pytest.skip(f"no Docker engine: {e}")
    ensure_busybox_image(c)
    yield c
    c.close()


@pytest.fixture
def containers(client: docker.DockerClient) -> Iterator[list[Any]]:
    made: list[Any] = []
    yield made
    for c in made:
        c.remove(force=True)


def fluentd_logs(port: int, **extra: str) -> LogConfig:
    # Docker 20.10 accepts both fluentd-async and the older fluentd-async-connect;
    # fluentd-async is the one that also never blocks writes once connected.
    return LogConfig(type="fluentd", config={
        "fluentd-address": f"127.0.0.1:{port}",
        "fluentd-async": "true",
        "tag": "{{.Name}}",
        **extra,
    })


def lines_of(entries: list[Entry], tag: str) -> list[str]:
    return [str(e.record.get("log")) for e in entries if e.tag == tag]


class TestDockerFluentdDriver:
    def test_stdout_lines_arrive_tagged_with_container_name(
        self, client: docker.DockerClient, containers: list[Any]
    ) -> None:
        """Each stdout line arrives as a record tagged with the container's name."""
        with FluentReceiver() as receiver:
            c = client.containers.run(
                BUSYBOX_IMAGE, ["sh", "-c", "echo hello; echo world 1>&2"],
                name=f"rk8s-test-fluent-{time.monotonic_ns()}", labels=LABELS,
                log_config=fluentd_logs(receiver.port), detach=True,
            )
            containers.append(c)
            assert receiver.wait_for(lambda es: len(lines_of(es, c.name)) >= 2, 20)
            by_line = {e.record["log"]: e.record for e in receiver.entries if e.tag == c.name}
            assert by_line["hello"]["source"] == "stdout"
            assert by_line["world"]["source"] == "stderr"
            assert by_line["hello"]["container_name"] == f"/{c.name}"
            assert by_line["hello"]["container_id"] == c.id

    def test_container_starts_while_fluentd_down_and_lines_flow_later(
        self, client: docker.DockerClient, containers: list[Any]
    ) -> None:
        """With fluentd down the container still runs; its lines arrive once fluentd is up."""
        port = free_port()
        c = client.containers.run(
            BUSYBOX_IMAGE, ["sh", "-c", "i=0; while [ $i -lt 20 ]; do echo line $i; "
                            "i=$((i+1)); sleep 0.1; done; sleep 30"],
            name=f"rk8s-test-fluent-down-{time.monotonic_ns()}", labels=LABELS,
            log_config=fluentd_logs(port, **{"fluentd-retry-wait": "200ms"}), detach=True,
        )
        containers.append(c)
        c.reload()
        assert c.status == "running"
        time.sleep(1.0)
        with FluentReceiver(port) as receiver:
            started = time.monotonic()
            assert receiver.wait_for(lambda es: "line 19" in lines_of(es, c.name), 40)
            print(f"fluentd up -> last line received: {time.monotonic() - started:.1f} s")
            # Lines written while fluentd was down were buffered, not lost.
            assert lines_of(receiver.entries, c.name)[:3] == ["line 0", "line 1", "line 2"]
        # Docker keeps its local copy, so `reconciler logs` still has the lines.
        assert b"line 0" in c.logs()
