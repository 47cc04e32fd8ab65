"""Helpers of the services end-to-end tests: manifests, requests from inside pods, hostb's proxy.

Used by tests/e2e/test_services.py. Requests are made from client pods with
`reconciler exec POD -- sh -c ...` and busybox `nc` (busybox wget crashes in the
image); one exec runs a whole batch of requests, as `docker exec` costs ~0.1 s.
The second host's proxy is the real `reconciler proxy --node hostb`, started
inside hostb's network namespace with nsenter, as a user would run it there.
"""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import dnslib

from tests.e2e.service import RECONCILER, ServiceRun, wait_until

HOSTB_NETNS = "/var/run/netns/hostb"
HOSTB_URL = "unix:///var/run/docker-hostb.sock"
HOSTB_ADDRESS = "10.250.0.2"
LOCAL_ADDRESS = "10.250.0.1"

NODES = f"""\
apiVersion: reconciler.dev/v1
kind: Node
metadata: {{name: local}}
spec: {{engine: "unix:///var/run/docker.sock", address: {LOCAL_ADDRESS}}}
---
apiVersion: reconciler.dev/v1
kind: Node
metadata: {{name: hostb}}
spec: {{engine: "{HOSTB_URL}", address: {HOSTB_ADDRESS}}}
"""

# Each replica serves its own hostname (the pod's name), so a response names its backend.
WEB_RC = """\
apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  replicas: REPLICAS
  selector: {app: web, role: replica}
  template:
    metadata:
      labels: {app: web, role: replica}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: reconciler/busybox:1
        command: ["sh", "-c",
                  "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
        ports: [{containerPort: 8080, name: http}]
        readinessProbe:
          httpGet: {path: /, port: http}
          periodSeconds: 1
"""

WEB_SVC = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: TYPE
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
"""

CLIENT = """\
apiVersion: v1
kind: Pod
metadata: {name: NAME, labels: {role: client}}
spec:
  nodeSelector: {kubernetes.io/hostname: NODE}
  terminationGracePeriodSeconds: 0
  containers:
  - name: client
    image: IMAGE
    command: ["sleep", "3600"]
"""


def web_rc(replicas: int) -> str:
    return WEB_RC.replace("REPLICAS", str(replicas))


def web_svc(type_: str = "ClusterIP") -> str:
    return WEB_SVC.replace("TYPE", type_)


def client_pod(name: str, node: str = "", image: str = "reconciler/busybox:1") -> str:
    """A pod to make requests from; on `node` (by its hostname label, as the loader
    ignores spec.nodeName) when given."""
    text = CLIENT.replace("NAME", name).replace("IMAGE", image)
    if node:
        return text.replace("NODE", node)
    return text.replace("  nodeSelector: {kubernetes.io/hostname: NODE}\n", "")


def http_loop(target: str, count: int, pause: str = "") -> str:
    """A shell loop doing `count` HTTP GETs on `target` ("HOST PORT"), one line per request.

    Each line is `ok BODY` or `fail`; `pause` is an argument of `usleep` between requests.
    """
    wait = f"usleep {pause}; " if pause else ""
    return (
        f"i=0; while [ $i -lt {count} ]; do i=$((i+1)); "
        f"r=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {target} 2>/dev/null | tail -n 1); "
        f'if [ -n "$r" ]; then echo "ok $r"; else echo fail; fi; {wait}done'
    )


def requests_from(run: ServiceRun, pod: str, target: str, count: int,
                  timeout: float = 60) -> Counter[str]:
    """Backends answering `count` requests made from inside `pod`; failures count as "FAIL"."""
    return tally(exec_out(run, pod, http_loop(target, count), timeout))


def tally(stdout: str) -> Counter[str]:
    seen: Counter[str] = Counter()
    for line in stdout.splitlines():
        if line.startswith("ok "):
            seen[line[3:].strip()] += 1
        elif line.strip() == "fail":
            seen["FAIL"] += 1
    return seen


def exec_argv(run: ServiceRun, pod: str, *argv: str, timeout: float = 30) -> str:
    """`reconciler exec POD -- ARGV` (--state before `--`, or it is the command's); stdout."""
    done = subprocess.run([RECONCILER, "exec", "--state", str(run.state), pod, "--", *argv],
                          capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise AssertionError(f"exec {pod} {argv!r} failed ({done.returncode}):\n"
                             f"{done.stdout}\n{done.stderr}")
    return done.stdout


def exec_out(run: ServiceRun, pod: str, script: str, timeout: float = 30) -> str:
    """`reconciler exec POD -- sh -c SCRIPT`; stdout."""
    return exec_argv(run, pod, "sh", "-c", script, timeout=timeout)


def service_json(run: ServiceRun, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(run.cli("get", "svc", name, "-o", "json").stdout)
    return data


def cluster_ip(run: ServiceRun, name: str) -> str:
    def allocated() -> str:
        run_ = run.cli("get", "svc", name, "-o", "json", check=False)
        if run_.returncode != 0:
            return ""
        ip = json.loads(run_.stdout).get("spec", {}).get("clusterIP") or ""
        return str(ip) if ip and ip != "None" else ""
    return str(wait_until(allocated, 20, what=f"a cluster IP for {name}"))


def endpoint_ips(run: ServiceRun, name: str) -> set[str]:
    """Ready addresses of the Endpoints `name`, from `get endpoints -o json`."""
    got = run.cli("get", "endpoints", name, "-o", "json", check=False)
    if got.returncode != 0 or not got.stdout.strip():
        return set()
    data = json.loads(got.stdout)
    return {a["ip"] for s in data.get("subsets") or [] for a in s.get("addresses") or []}


def pods_by_node(run: ServiceRun, prefix: str) -> dict[str, str]:
    """Running pod name -> node name, for the pods whose name starts with `prefix`."""
    return {p["metadata"]["name"]: p["spec"].get("nodeName", "")
            for p in run.running() if p["metadata"]["name"].startswith(prefix)}


def tcp_get(host: str, port: int, timeout: float = 3.0) -> str:
    """One HTTP/1.0 GET from the test process; the last line of the answer ('' on failure)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
    except OSError:
        return ""
    lines = data.decode(errors="replace").strip().splitlines()
    return lines[-1].strip() if lines else ""


class HostbProxy:
    """`reconciler proxy --node hostb` inside hostb's network namespace; `stop()` ends it."""

    def __init__(self, state: Path, log: Path, mode: str = "iptables") -> None:
        self.log = log
        self._out = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            ["nsenter", f"--net={HOSTB_NETNS}", RECONCILER, "proxy", "--node", "hostb",
             "--state", str(state), "--mode", mode],
            stdout=self._out, stderr=subprocess.STDOUT)
        wait_until(lambda: self.proc.poll() is not None or "proxy for node hostb" in self.output(),
                   30, what="hostb's proxy to start")
        if self.proc.poll() is not None:
            raise AssertionError(f"hostb proxy exited:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        """Stop it, then remove what it installed in hostb (a stopped proxy leaves it)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        subprocess.run(["nsenter", f"--net={HOSTB_NETNS}", RECONCILER, "proxy", "--cleanup"],
                       capture_output=True, timeout=60, check=False)
        self._out.close()


def timed(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> float:
    """Seconds until `predicate()` holds (polling fast); fails after `timeout`."""
    started = time.monotonic()
    wait_until(predicate, timeout, interval)
    return time.monotonic() - started


# Serves like a web replica, but is ready only while /tmp/ready exists. In the service
# (app: web), not in the RC (which would adopt it: role: replica).
LAZY_POD = """\
apiVersion: v1
kind: Pod
metadata: {name: lazy, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: reconciler/busybox:1
    command: ["sh", "-c",
              "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: [{containerPort: 8080, name: http}]
    readinessProbe:
      exec: {command: ["test", "-f", "/tmp/ready"]}
      periodSeconds: 1
      failureThreshold: 1
"""


def pod_ready(run: ServiceRun, name: str) -> bool | None:
    """The pod's readiness from `get pods`; None when the pod is not listed."""
    for p in run.pods():
        if p["metadata"]["name"] == name:
            return all(c.get("ready") for c in p["status"].get("containerStatuses") or [{}])
    return None


def pod_ip(run: ServiceRun, name: str) -> str:
    for p in run.pods():
        if p["metadata"]["name"] == name:
            return str(p["status"].get("podIP") or "")
    return ""


def lag(first: Any, second: Any, timeout: float = 15.0) -> tuple[float, float]:
    """Seconds until `first()` holds and until `second()` holds, polling both every 20 ms.

    Measures e.g. a pod turning ready in `get pods` (first) and its address in
    `get endpoints` (second) as a user watching both would see them.
    """
    started = time.monotonic()
    t1 = t2 = None
    while time.monotonic() - started < timeout and (t1 is None or t2 is None):
        # Each check is a CLI run (~0.1 s): the time is taken when its answer is in.
        if t1 is None and first():
            t1 = time.monotonic() - started
        if t2 is None and second():
            t2 = time.monotonic() - started
        time.sleep(0.02)
    if t1 is None or t2 is None:
        raise AssertionError(f"timed out after {timeout}s: first at {t1}, second at {t2}")
    return t1, t2


DEMO_BASE = "reconciler-demo/base:bookworm"

# A UDP echo server: answers each datagram with "HOSTNAME PAYLOAD".
UDP_ECHO_RC = """\
apiVersion: v1
kind: ReplicationController
metadata: {name: echo}
spec:
  replicas: 2
  selector: {app: echo}
  template:
    metadata:
      labels: {app: echo}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: echo
        image: IMAGE
        command:
        - python3
        - -c
        - |
          import socket
          s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
          s.bind(("0.0.0.0", 5300))
          me = socket.gethostname().encode()
          while True:
              data, peer = s.recvfrom(2048)
              s.sendto(me + b" " + data, peer)
        ports: [{containerPort: 5300, protocol: UDP, name: echo}]
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports:
  - {name: echo, port: 9053, protocol: UDP, targetPort: echo}
"""

# From inside a pod: one datagram per new socket (a new source port, so a new flow).
UDP_CLIENT = (
    "import os, socket, sys\n"
    "host = os.environ['ECHO_SERVICE_HOST'] if sys.argv[1] == 'env' else sys.argv[1]\n"
    "for i in range(int(sys.argv[2])):\n"
    "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)\n"
    "    s.sendto(b'ping%d' % i, (host, 9053))\n"
    "    try: print(s.recvfrom(2048)[0].decode())\n"
    "    except OSError: print('FAIL')\n"
    "    s.close()\n"
)


def udp_echo(host: str, port: int, payload: bytes, timeout: float = 3.0) -> str:
    """One datagram from the test process on a fresh socket; the answer ('' on none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(payload, (host, port))
        try:
            return s.recvfrom(2048)[0].decode()
        except OSError:
            return ""


# The shape of kubernetes-in-action's Chapter05/external-service*.yaml, pointing at a
# server the test runs on the root namespace's end of hostb's veth (an address we own).
EXTERNAL = """\
apiVersion: v1
kind: Service
metadata:
  name: external-service
spec:
  ports:
  - port: 80
---
apiVersion: v1
kind: Endpoints
metadata:
  name: external-service
subsets:
  - addresses:
    - ip: ADDRESS
    ports:
    - port: PORT
---
apiVersion: v1
kind: Service
metadata:
  name: ext-name
spec:
  type: ExternalName
  externalName: external-service.default.svc.cluster.local
  ports:
  - port: 80
"""


class TextServer:
    """A threaded HTTP server on `address` answering every GET with `text`; `close()` ends it."""

    def __init__(self, address: str, text: str) -> None:
        body = text.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((address, 0), Handler)
        self.port = self.server.server_address[1]
        self.requests = 0
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def dns_query(name: str, qtype: str, server: str = "10.96.0.10") -> list[tuple[str, str]]:
    """(type, value) of the answers of the cluster DNS for `name`, asked over UDP."""
    q = dnslib.DNSRecord.question(name, qtype)
    reply = dnslib.DNSRecord.parse(q.send(server, 53, timeout=3))
    return [(dnslib.QTYPE[rr.rtype], str(rr.rdata)) for rr in reply.rr]
