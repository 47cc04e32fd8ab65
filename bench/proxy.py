"""Benchmark 5, proxy: wrk through a cluster IP (iptables, userspace), direct, docker-proxy.

The backend is a keep-alive HTTP/1.1 server (asyncio, in the demo base image's
python3) with a 1 MiB resource and a UDP echo port, run as one pod behind one
Service. For each proxy mode the service is started on its own, otherwise in
its default configuration (the machine lock of tests/e2e/service.py: one proxy
per machine); wrk runs alternate
direct and proxied, at -c8 and -c32, twice each, and the means are compared.
docker-proxy is the same server in a plain container published on
`127.0.0.1:PORT` (connections to 127.0.0.1 go through the userland proxy).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import docker

from bench.harness import LABEL, cleanup_label, client, service, wait_for, workdir, write_atomic
from bench.peers import ensure_tool
from bench.report import Goal, Row, ratio

NAME = "proxy"
IMAGE = "reconciler-demo/base:bookworm"
HTTP, UDP, PUBLISHED = 8080, 9000, 18080
SECONDS = 3
REPS = 2

SERVER = r"""
import asyncio
BIG = b"x" * (1 << 20)
SMALL = b"hello\n"
def head(n): return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n
class H(asyncio.Protocol):
    def connection_made(self, t): self.t, self.buf = t, b""
    def data_received(self, d):
        self.buf += d
        while b"\r\n\r\n" in self.buf:
            req, self.buf = self.buf.split(b"\r\n\r\n", 1)
            body = BIG if req.startswith(b"GET /big") else SMALL
            self.t.write(head(len(body)) + body)
class U(asyncio.DatagramProtocol):
    def connection_made(self, t): self.t = t
    def datagram_received(self, d, a): self.t.sendto(d, a)
async def main():
    loop = asyncio.get_running_loop()
    await loop.create_server(H, "0.0.0.0", 8080, backlog=1024)
    await loop.create_datagram_endpoint(U, local_addr=("0.0.0.0", 9000))
    await asyncio.Event().wait()
asyncio.run(main())
"""

MANIFEST = """\
apiVersion: v1
kind: Pod
metadata: {{name: echo, labels: {{app: echo}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: echo
    image: {image}
    command: ["python3", "-c", {server}]
    ports: [{{containerPort: {http}, name: http}}, {{containerPort: {udp}, protocol: UDP}}]
---
apiVersion: v1
kind: Service
metadata: {{name: echo}}
spec:
  selector: {{app: echo}}
  ports:
  - {{name: http, port: 80, targetPort: {http}}}
  - {{name: udp, port: 9000, targetPort: {udp}, protocol: UDP}}
"""


@dataclass(frozen=True)
class Wrk:
    rps: float
    p99_ms: float
    mb_s: float


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
_SIZE = {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1.0, "GB": 1024.0}


def parse_wrk(text: str) -> Wrk:
    """Requests/s, 99th percentile latency (ms) and MiB/s from `wrk --latency` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    mb = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", text)
    return Wrk(rps, float(p99.group(1)) * _UNITS[p99.group(2)] if p99 else float("nan"),
               float(mb.group(1)) * _SIZE[mb.group(2)] if mb else float("nan"))


def wrk(url: str, conns: int, seconds: int = SECONDS) -> Wrk:
    binary = ensure_tool("wrk", "wrk")
    cmd = [binary, f"-t{min(2, conns)}", f"-c{conns}", f"-d{seconds}s", "--latency", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=True)
    return parse_wrk(out.stdout)


def udp_rate(ip: str, port: int, seconds: float = SECONDS, window: int = 16) -> float:
    """Echoed datagrams per second with `window` in flight."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        s.connect((ip, port))
        payload = b"p" * 64
        for _ in range(window):
            s.send(payload)
        got, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                s.recv(2048)
                got += 1
            except TimeoutError:
                for _ in range(window):  # lost ones: refill the window
                    s.send(payload)
                continue
            s.send(payload)
    return got / seconds


def _http_ok(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=0.5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _alternate(direct: Callable[[], Wrk], proxied: Callable[[], Wrk]) -> tuple[Wrk, Wrk]:
    """Mean of REPS runs each, direct and proxied interleaved so drift hits both alike."""
    d, p = [], []
    for _ in range(REPS):
        d.append(direct())
        p.append(proxied())

    def mean(xs: list[Wrk]) -> Wrk:
        return Wrk(*(sum(getattr(x, f) for x in xs) / len(xs) for f in ("rps", "p99_ms", "mb_s")))
    return mean(d), mean(p)


def measure_mode(dc: docker.DockerClient, mode: str) -> list[Row]:
    rows = []
    with workdir("proxy") as tmp, service(tmp, proxy=mode) as run:
        write_atomic(run.desired / "echo.yaml", MANIFEST.format(
            image=IMAGE, server=json.dumps(SERVER), http=HTTP, udp=UDP))
        svc = wait_for(lambda: _cluster_ip(run), 60, 0.2, what="the cluster IP")
        pod_ip = wait_for(lambda: _pod_ip(run), 60, 0.2, what="the pod IP")
        wait_for(lambda: _http_ok(pod_ip, HTTP) and _http_ok(svc, 80), 60, 0.2,
                 what="the backend through the service")
        for c in (8, 32):
            d, p = _alternate(lambda c=c: wrk(f"http://{pod_ip}:{HTTP}/", c),  # type: ignore[misc]
                              lambda c=c: wrk(f"http://{svc}:80/", c))  # type: ignore[misc]
            goal = Goal("min", 0.9 if mode == "iptables" else 0.65)
            rows.append(Row(NAME, f"{mode}: req/s vs direct, -c{c}", ratio(p.rps, d.rps), "x",
                            goal, f"{p.rps:,.0f} vs {d.rps:,.0f} req/s"))
            if c == 8:
                rows.append(Row(NAME, f"{mode}: p99 vs direct, -c8", ratio(p.p99_ms, d.p99_ms),
                                "x", Goal("max", 2.0), f"{p.p99_ms:.2f} vs {d.p99_ms:.2f} ms"))
        d, p = _alternate(lambda: wrk(f"http://{pod_ip}:{HTTP}/big", 1),
                          lambda: wrk(f"http://{svc}:80/big", 1))
        rows.append(Row(NAME, f"{mode}: 1 MiB transfer MiB/s vs direct", ratio(p.mb_s, d.mb_s),
                        "x", None, f"{p.mb_s:,.0f} vs {d.mb_s:,.0f} MiB/s"))
        ud, up = udp_rate(pod_ip, UDP), udp_rate(svc, UDP)
        rows.append(Row(NAME, f"{mode}: UDP packets/s vs direct", ratio(up, ud), "x", None,
                        f"{up:,.0f} vs {ud:,.0f} pkt/s"))
    return rows


def _cluster_ip(run: object) -> str:
    out = run.cli("get", "svc", "echo", "-o", "json", check=False)  # type: ignore[attr-defined]
    if out.returncode != 0:
        return ""
    return str(json.loads(out.stdout).get("spec", {}).get("clusterIP") or "")


def _pod_ip(run: object) -> str:
    pods = run.running()  # type: ignore[attr-defined]
    return str(pods[0]["status"].get("podIP") or "") if pods else ""


def measure_docker_proxy(dc: docker.DockerClient) -> list[Row]:
    c = dc.containers.run(IMAGE, ["python3", "-c", SERVER], detach=True, labels={LABEL: "1"},
                          ports={f"{HTTP}/tcp": ("127.0.0.1", PUBLISHED)})
    try:
        c.reload()
        ip = c.attrs["NetworkSettings"]["IPAddress"]
        wait_for(lambda: _http_ok(ip, HTTP) and _http_ok("127.0.0.1", PUBLISHED), 60, 0.2,
                 what="the docker-proxy backend")
        rows = []
        for n in (8, 32):
            d, p = _alternate(lambda n=n: wrk(f"http://{ip}:{HTTP}/", n),  # type: ignore[misc]
                              lambda n=n: wrk(f"http://127.0.0.1:{PUBLISHED}/", n))  # type: ignore[misc]
            rows.append(Row(NAME, f"docker-proxy: req/s vs direct, -c{n}", ratio(p.rps, d.rps),
                            "x", None, f"{p.rps:,.0f} vs {d.rps:,.0f} req/s"))
        return rows
    finally:
        cleanup_label()


def run(args: object = None) -> list[Row]:
    with contextlib.closing(client()) as dc:
        rows = measure_mode(dc, "iptables")
        rows += measure_mode(dc, "userspace")
        rows += measure_docker_proxy(dc)
    return rows
