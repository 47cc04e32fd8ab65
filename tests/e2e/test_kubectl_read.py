"""kubectl reads the cluster unchanged (issue 22): the real kubectl against `reconciler run`'s API.

One service (module-scoped, proxy off, the Kubernetes API on a loopback port of
its own, plain HTTP) runs a Deployment `web` of 2 behind a Service, a pod
`talker` in namespace `team`, a ConfigMap and a Secret. kubectl (/usr/bin/kubectl)
reads it with a kubeconfig in tmp: discovery, tables (`-o wide`, `get all -A`),
`-o jsonpath`, `-o custom-columns`, `--sort-by`, `--field-selector`, and its own
`describe` rendering. `reconciler api` (read-only, alone) is started on the same
store and refuses a write.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from reconciler.kubeapi.resources import RESOURCES
from tests.e2e.kubectl_kit import KUBECTL, Kubectl, api_service, kubeconfig, kubectl_for, rows
from tests.e2e.process_helpers import pod_yaml
from tests.e2e.service import RECONCILER, ServiceRun, wait_until

__all__ = ["KUBECTL", "Kubectl", "kubeconfig"]  # test_kubectl_write.py imports them here
pytestmark = [
    pytest.mark.docker, pytest.mark.timeout(180),
    pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl is not installed"),
]

WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {tier: front}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: "reconciler/busybox:1", command: [sleep, "3600"]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: fast}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient,
            local_images: None) -> Iterator[ServiceRun]:
    """The running service with its API, every pod Running."""
    files = {"web.yaml": WEB,
             "team.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n---\n"
                          + pod_yaml("talker", labels="app: talker", namespace="team"),
             "secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\n"
                            "stringData: {token: hush}\n"}
    with api_service(tmp_path_factory.mktemp("kread"), files,
                     lambda run: len(run.running()) == 2 and len(run.running("team")) == 1,
                     "2 web pods and talker running") as run:
        yield run


@pytest.fixture(scope="module")
def kubectl(cluster: ServiceRun, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return kubectl_for(cluster, tmp_path_factory.mktemp("kubectl"))


def described_with(kubectl: Kubectl, reason: str, *what: str) -> str:
    """`kubectl describe WHAT` once its Events list `reason` (events are written beside
    the status the test waited for: wait for them, not for a time)."""

    def described() -> str:
        text = kubectl.out("describe", *what)
        return text if reason in text.split("Events:", 1)[-1] else ""

    found: str = wait_until(described, timeout=60, what=f"{reason} in describe {what}")
    return found


class TestDiscovery:
    def test_api_resources(self, kubectl: Kubectl) -> None:
        """api-resources lists every served kind with its short names, group and scope."""
        out = kubectl.out("api-resources")
        lines = {line.split()[0]: line for line in out.splitlines()[1:]}
        assert {"pods", "services", "deployments", "cronjobs", "events", "nodes"} <= set(lines)
        assert "deploy" in lines["deployments"] and "apps/v1" in lines["deployments"]
        assert lines["nodes"].split()[-2] == "false"  # NAMESPACED

    def test_version(self, kubectl: Kubectl) -> None:
        """`kubectl version` reads the server's version."""
        out = json.loads(kubectl.out("version", "-o", "json"))
        assert out["serverVersion"]["minor"] == "32"


class TestGet:
    def test_pods_wide(self, kubectl: Kubectl, cluster: ServiceRun) -> None:
        """`get pods -o wide`: reconciler get's columns, with IP and NODE, every pod Running."""
        out = kubectl.out("get", "pods", "-o", "wide")
        header = out.splitlines()[0].split()
        assert header[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        assert header[5:7] == ["IP", "NODE"]
        found = rows(out)
        assert len(found) == 2 and all(r[0].startswith("web-") for r in found)
        assert all(r[2] == "Running" and r[6] == "local" for r in found)

    def test_all_namespaces(self, kubectl: Kubectl) -> None:
        """`get all -A`: pods, services, deployments and replicasets of every namespace,
        names prefixed by kind, a NAMESPACE column."""
        out = kubectl.out("get", "all", "-A")
        assert "NAMESPACE" in out.splitlines()[0]
        for name in ("pod/talker", "service/web", "deployment.apps/web", "replicaset.apps/web-"):
            assert name in out, out
        assert any(line.split()[0] == "team" for line in out.splitlines())

    def test_jsonpath(self, kubectl: Kubectl) -> None:
        """`-o jsonpath` walks our objects as kubectl's own."""
        out = kubectl.out("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}/"
                          "{.metadata.labels.tier}/{.metadata.resourceVersion}")
        replicas, tier, rv = out.split("/")
        assert (replicas, tier) == ("2", "front") and int(rv) > 0

    def test_custom_columns_and_sort(self, kubectl: Kubectl) -> None:
        """`-o custom-columns` with `--sort-by`, across namespaces."""
        out = kubectl.out("get", "pods", "-A", "--sort-by=.metadata.name",
                          "-o", "custom-columns=NS:.metadata.namespace,NAME:.metadata.name,"
                          "PHASE:.status.phase")
        found = rows(out)
        names = [r[1] for r in found]
        assert names == sorted(names) and len(names) == 3
        assert ["team", "talker", "Running"] in found

    def test_field_selector(self, kubectl: Kubectl) -> None:
        """`--field-selector` on status.phase and spec.nodeName; an unknown field is refused."""
        out = kubectl.out("get", "pods", "-A", "--field-selector",
                          "status.phase=Running,spec.nodeName=local", "-o", "name")
        assert len(out.split()) == 3
        assert kubectl.out("get", "pods", "--field-selector", "status.phase!=Running",
                           "-o", "name").strip() == ""
        bad = kubectl.run("get", "pods", "--field-selector", "spec.image=x", check=False)
        assert bad.returncode != 0 and "field label not supported" in bad.stderr

    def test_label_selector_and_missing(self, kubectl: Kubectl) -> None:
        """`-l` selects by label; a missing name is kubectl's NotFound."""
        assert len(kubectl.out("get", "pods", "-l", "app=web", "-o", "name").split()) == 2
        missing = kubectl.run("get", "pod", "nope", check=False)
        assert missing.returncode != 0
        assert 'Error from server (NotFound): pods "nope" not found' in missing.stderr

    def test_nodes_and_events(self, kubectl: Kubectl) -> None:
        """`get nodes` shows the local host Ready; `get events` lists the pods' events."""
        nodes = rows(kubectl.out("get", "nodes"))
        assert nodes[0][:2] == ["local", "Ready"]
        # Events are written beside the pods' status: wait for them, not for a time.
        wait_until(lambda: "Started" in kubectl.out("get", "events", "--field-selector",
                                                    "involvedObject.kind=Pod"),
                   timeout=60, what="the pods' Started events")
        assert "pod/web-" in kubectl.out("get", "events")

    def test_secret_and_configmap(self, kubectl: Kubectl) -> None:
        """A Secret shows its data base64 (the service's key is readable); a ConfigMap its data."""
        token = kubectl.out("get", "secret", "creds", "-o", "jsonpath={.data.token}")
        assert token == "aHVzaA=="
        assert kubectl.out("get", "cm", "settings", "-o", "jsonpath={.data.mode}") == "fast"


class TestDescribe:
    def test_describe_pod(self, kubectl: Kubectl) -> None:
        """kubectl's own `describe pod`: node, status, containers, and the pod's events."""
        out = described_with(kubectl, "Started", "pod", "-n", "team", "talker")
        assert "Namespace:    team" in out
        assert "Status:       Running" in out
        assert "Node:         local/" in out

    def test_describe_deployment(self, kubectl: Kubectl) -> None:
        """kubectl's own `describe deployment`: replicas, selector, and its ReplicaSet."""
        out = kubectl.out("describe", "deployment", "web")
        assert "Selector:               app=web" in out
        assert "2 desired" in out
        assert "NewReplicaSet:" in out and "web-" in out


    def test_describe_service(self, kubectl: Kubectl, cluster: ServiceRun) -> None:
        """`describe service`: its endpoints (kubectl reads EndpointSlices) are the web pods."""
        ips = sorted(f"{p['status']['podIP']}:80" for p in cluster.running())

        def endpoints() -> list[str]:
            # The endpoints follow the pods' readiness: wait for them, not for a time.
            out = kubectl.out("describe", "service", "web")
            line = next(li for li in out.splitlines() if li.startswith("Endpoints:"))
            return sorted(line.split()[1].split(","))

        wait_until(lambda: endpoints() == ips, timeout=60, what="the web pods as endpoints")
        assert "IP Families:              IPv4" in kubectl.out("describe", "service", "web")

    def test_describe_node(self, kubectl: Kubectl) -> None:
        """`describe node`: its heartbeat Lease, its pods, and its events (no uid in the store:
        the derived one matches kubectl's involvedObject.uid field selector)."""
        out = described_with(kubectl, "NodeReady", "node", "local")
        assert "HolderIdentity:  local" in out
        assert "Non-terminated Pods:          (3 in total)" in out


class TestPythonClient:
    def test_every_kind_deserializes(self, cluster: ServiceRun) -> None:
        """The official Python client lists every served kind into its typed models (which
        validate required fields), with our resourceVersion."""
        kube = pytest.importorskip("kubernetes.client")
        config = kube.Configuration()
        config.host = cluster.api_url
        api = kube.ApiClient(config)
        apis = {"": kube.CoreV1Api, "apps": kube.AppsV1Api, "batch": kube.BatchV1Api,
                "discovery.k8s.io": kube.DiscoveryV1Api,
                "coordination.k8s.io": kube.CoordinationV1Api,
                "autoscaling": kube.AutoscalingV2Api, "policy": kube.PolicyV1Api,
                "networking.k8s.io": kube.NetworkingV1Api, "storage.k8s.io": kube.StorageV1Api,
                "rbac.authorization.k8s.io": kube.RbacAuthorizationV1Api}
        counts = {}
        for r in RESOURCES:
            snake = re.sub(r"(?<!^)(?=[A-Z])", "_", r.kind).lower()
            verb = f"list_{snake}_for_all_namespaces" if r.namespaced else f"list_{snake}"
            listed = getattr(apis[r.group](api), verb)()
            assert int(listed.metadata.resource_version) > 0
            counts[r.kind] = len(listed.items)
        assert counts["Pod"] == 3 and counts["Node"] == 1 and counts["Secret"] == 1
        assert counts["EndpointSlice"] == 1 and counts["Deployment"] == 1
        api.close()


class TestStandalone:
    def test_reconciler_api_reads_and_refuses_writes(self, cluster: ServiceRun,
                                                     tmp_path: Path) -> None:
        """`reconciler api` alone serves the same pods and answers a write with 405."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with (tmp_path / "api.log").open("wb") as log:
            proc = subprocess.Popen([RECONCILER, "api", "--address", f"127.0.0.1:{port}",
                                     "--state", str(cluster.state)],
                                    stdout=subprocess.DEVNULL, stderr=log)
        try:
            k = Kubectl(kubeconfig(tmp_path / "config", f"http://127.0.0.1:{port}"),
                        tmp_path / "cache")
            wait_until(lambda: k.run("get", "--raw", "/version", check=False).returncode == 0,
                       timeout=60, what="reconciler api answering")
            assert len(k.out("get", "pods", "-o", "name").split()) == 2
            refused = k.run("delete", "pod", "-n", "team", "talker", check=False)
            assert refused.returncode != 0 and "read-only" in refused.stderr
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)


class TestStale:
    def test_stale_column(self, kubectl: Kubectl, cluster: ServiceRun) -> None:
        """A manifest that stops loading keeps its pod, which kubectl shows STALE, as
        reconciler get does (last in this file: it breaks team.yaml)."""
        cluster.write("team.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: talker\n")

        def stale_rows() -> list[list[str]]:
            out = kubectl.out("get", "pods", "-n", "team")
            return rows(out) if out.splitlines()[0].split()[-1] == "STALE" else []

        found = wait_until(stale_rows, timeout=60, what="talker shown STALE")
        assert found[0][0] == "talker" and found[0][-1] == "yes"
