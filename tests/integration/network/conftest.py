"""Fixtures for the service network tests: the busybox image, labelled backend containers.

Every container carries `reconciler.test=1` and is removed at teardown; every rule
and address a test's proxy installs is removed by the proxy's `cleanup()` (its
`close()` leaves them in force, as in production).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

IMAGE = "reconciler/busybox:1"
APPLETS = ("sh", "sleep", "nc", "httpd", "echo", "cat", "printf", "nslookup", "hostname",
           "ping", "ls", "wget", "true", "env", "seq", "mkdir")
LABEL = "reconciler.test=1"

pytestmark = pytest.mark.docker


def docker(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def _build_busybox() -> None:
    binary = shutil.which("busybox")
    if binary is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "busybox-static"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        binary = shutil.which("busybox")
    assert binary is not None
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(binary, arcname="bin/busybox")
        for name in APPLETS:
            link = tarfile.TarInfo(f"bin/{name}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
        for d in ("tmp", "etc", "www"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777
            tar.addfile(info)
    subprocess.run(["docker", "import", "-c", "ENV PATH=/bin", "-", IMAGE],
                   input=buf.getvalue(), check=True, capture_output=True)


@pytest.fixture(scope="session")
def busybox() -> str:
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.skip("no Docker engine")
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode:
        _build_busybox()
    return IMAGE


@dataclass
class Box:
    """A running test container."""

    id: str
    ip: str
    name: str

    def exec(self, script: str, timeout: float = 20) -> str:
        proc = subprocess.run(["docker", "exec", self.id, "sh", "-c", script],
                              capture_output=True, text=True, timeout=timeout, check=False)
        return proc.stdout


@pytest.fixture
def boxes(busybox: str) -> Iterator[Callable[..., Box]]:
    """Start labelled containers running a shell script; removed at teardown."""
    started: list[str] = []

    def start(script: str, *extra: str) -> Box:
        name = f"rtest-net-{uuid.uuid4().hex[:8]}"
        cid = docker("run", "-d", "--label", LABEL, "--name", name, *extra, busybox,
                     "sh", "-c", script)
        started.append(cid)
        ip = docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", cid)
        return Box(cid, ip, name)

    yield start
    if started:
        docker("rm", "-f", *started, check=False)


def http_server(name: str) -> str:
    """A busybox shell script serving `name` over HTTP on port 8080."""
    return (f"mkdir -p /www && echo {name} > /www/index.html && "
            "httpd -f -p 8080 -h /www")


def udp_echo(name: str) -> str:
    """A script answering every UDP datagram on port 5353 with `name`."""
    return f"while true; do echo {name} | nc -u -l -p 5353 -w 1; done"


def wait_port(ip: str, port: int, timeout: float = 10) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((ip, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def tmp_root(tmp_path: Path) -> Path:
    return tmp_path
