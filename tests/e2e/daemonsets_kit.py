"""Helpers of the DaemonSet end-to-end tests: two more Docker hosts, the log agent, its pods.

`hoste` and `hostg` are Docker hosts of these tests alone (network namespaces of
those names, 10.248.0.2 and 10.247.0.2, dockerd on /var/run/docker-NAME.sock,
bridges 172.27.0.1/24 and 172.26.0.1/24: distinct from every other test host's),
made with scripts/netns-host.sh under the hosts' lock (tests/conftest.py) and
stopped when the test is done, so registering one is really a new host coming.
The local engine is not used: it is the one every other test shares. The log
agent is the fluentd-like example of
docs/daemonsets.md: busybox reading its host's Docker container folder through a
read-only hostPath and serving what it sees on hostPort 24224.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
from dataclasses import dataclass
from typing import Any

from tests.conftest import HOSTB_ADDRESS, HOSTB_URL, HOSTS_LOCK
from tests.e2e.service import ROOT, ServiceRun

HOSTE_URL = "unix:///var/run/docker-hoste.sock"
HOSTG_URL = "unix:///var/run/docker-hostg.sock"
# name -> (third octet of 10.x.0.0/24, bridge address): distinct from every other test host's.
# hostp and hostq are tests/e2e/test_deployments.py's (a host lost mid-rollout).
_NETNS_HOSTS = {"hoste": ("248", "172.27.0.1/24"), "hostg": ("247", "172.26.0.1/24"),
                "hostp": ("246", "172.25.0.1/24"), "hostq": ("245", "172.24.0.1/24")}
AGENT_PORT = 24224
ADDRESSES = {"hostb": HOSTB_ADDRESS, "hoste": "10.248.0.2", "hostg": "10.247.0.2",
             "hostp": "10.246.0.2", "hostq": "10.245.0.2"}
ENGINES = {"hostb": HOSTB_URL, "hoste": HOSTE_URL, "hostg": HOSTG_URL,
           "hostp": "unix:///var/run/docker-hostp.sock",
           "hostq": "unix:///var/run/docker-hostq.sock"}


def netns_host(name: str, action: str, *args: str) -> subprocess.CompletedProcess[str]:
    """host_up or host_down of one of these tests' hosts, under the machine-wide hosts lock;
    `args` go to host_up's dockerd (e.g. a tcp+TLS listener)."""
    octet, bip = _NETNS_HOSTS[name]
    sock = ENGINES[name][len("unix://"):]
    env = {
        "NS": name, "VETH": f"v{name[-1]}0", "PEER": f"10.{octet}.0.1",
        "ADDR": ADDRESSES[name], "SUBNET": f"10.{octet}.0.0/24", "DATA": name, "BIP": bip,
        "SOCK": sock, "URL": ENGINES[name], "PIDFILE": f"/var/run/docker-{name}.pid",
        "LOG": f"/tmp/dockerd-{name}.log", "IMAGES": "reconciler/busybox:1 reconciler/pause:1",
    }
    fd = os.open(HOSTS_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        script = f'. "{ROOT}/scripts/netns-host.sh"; host_{action} "$@"'
        return subprocess.run(["sh", "-c", script, "sh", *args], capture_output=True, text=True,
                              timeout=180, check=False, env={**os.environ, **env})
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def nodes_yaml(labels: dict[str, dict[str, str]]) -> str:
    """Node manifests for the hosts named in `labels` (name -> its labels)."""
    docs = []
    for name, node_labels in labels.items():
        docs.append(
            "apiVersion: reconciler.dev/v1\nkind: Node\n"
            f"metadata: {{name: {name}, labels: {json.dumps(node_labels)}}}\n"
            f'spec: {{engine: "{ENGINES[name]}", address: {ADDRESSES[name]}}}\n')
    return "---\n".join(docs)


# The agent: where its host's containers are (each engine has its own data root on this
# machine), whether it finds its own pod (its hostname is the pod's name) among the
# containers there and cannot write to that folder, served by busybox httpd. A page per
# loop, so a GET always finds one.
AGENT_SCRIPT = r"""
d=/host/docker-$NODE_NAME/containers
mkdir -p /www
page() {
  n=$(ls "$d" | wc -l)
  if grep -qs "$(hostname)" "$d"/*/config.v2.json; then self=yes; else self=no; fi
  if touch "$d/.agent-probe" 2>/dev/null; then ro=no; else ro=yes; fi
  echo "node=$NODE_NAME version=$VERSION dirs=$n self=$self ro=$ro" > /www/index.html
}
page
(while true; do sleep 2; page; done) &
exec httpd -f -p 8080 -h /www
"""


def agent_yaml(version: str = "1", selector: dict[str, str] | None = None,
               strategy: str = "RollingUpdate") -> str:
    """The log-agent DaemonSet; `version` is an env value: changing it changes the template."""
    body: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "log-agent", "labels": {"app": "log-agent"}},
        "spec": {
            "selector": {"matchLabels": {"app": "log-agent"}},
            "updateStrategy": {"type": strategy},
            "template": {
                "metadata": {"labels": {"app": "log-agent"}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "agent", "image": "reconciler/busybox:1",
                        "command": ["sh", "-c", AGENT_SCRIPT],
                        "env": [{"name": "VERSION", "value": version},
                                {"name": "NODE_NAME",
                                 "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                        "ports": [{"containerPort": 8080, "hostPort": AGENT_PORT}],
                        "readinessProbe": {"httpGet": {"path": "/", "port": 8080},
                                           "periodSeconds": 1},
                        "volumeMounts": [{"name": "host", "mountPath": "/host",
                                          "readOnly": True}],
                    }],
                    "volumes": [{"name": "host", "hostPath": {"path": "/var/lib"}}],
                },
            },
        },
    }
    if strategy == "RollingUpdate":
        body["spec"]["updateStrategy"]["rollingUpdate"] = {"maxUnavailable": 1}
    if selector:
        body["spec"]["template"]["spec"]["nodeSelector"] = selector
    return json.dumps(body, indent=1)


@dataclass(frozen=True)
class DaemonPod:
    """One pod of the set as `get pods -o json` shows it."""

    name: str
    node: str
    revision: str
    deleting: bool
    ready: bool


def daemon_pods(run: ServiceRun) -> list[DaemonPod]:
    """The pods the DaemonSet owns, by name."""
    out = []
    for p in run.pods():
        meta, spec, status = p["metadata"], p["spec"], p["status"]
        owners = [o for o in meta.get("ownerReferences") or [] if o.get("kind") == "DaemonSet"]
        if not owners:
            continue
        out.append(DaemonPod(
            meta["name"], spec.get("nodeName", ""),
            (meta.get("labels") or {}).get("controller-revision-hash", ""),
            bool(meta.get("deletionTimestamp")),
            status.get("phase") == "Running" and all(
                c.get("ready") for c in status.get("containerStatuses") or [{}])))
    return sorted(out, key=lambda d: d.name)


def per_node(run: ServiceRun) -> dict[str, list[DaemonPod]]:
    out: dict[str, list[DaemonPod]] = {}
    for pod in daemon_pods(run):
        out.setdefault(pod.node, []).append(pod)
    return out


def agent_page(node: str, timeout: float = 3.0) -> str:
    """GET / from the agent's hostPort on `node`'s address ("" when nothing answers)."""
    try:
        with socket.create_connection((ADDRESSES[node], AGENT_PORT), timeout) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            chunks = []
            while data := s.recv(4096):
                chunks.append(data)
    except OSError:
        return ""
    return b"".join(chunks).decode(errors="replace").split("\r\n\r\n", 1)[-1].strip()


def ds_status(run: ServiceRun) -> dict[str, Any]:
    status: dict[str, Any] = run.get_json("ds", "log-agent").get("status") or {}
    return status
