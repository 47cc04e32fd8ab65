"""Rules across the desired set: named targetPorts, and the Node kind end to end."""

from __future__ import annotations

from pathlib import Path

from reconciler.api.types import Key
from reconciler.manifests.loader import load_folder

RC = """apiVersion: v1
kind: ReplicationController
metadata:
  name: web
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: web:1
        ports:
        - {name: http, containerPort: 5000}
"""
SVC = """apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: %s
"""


class TestTargetPorts:
    """A Service's named targetPort against the pod templates its selector matches."""

    def test_existing_name_is_accepted(self, tmp_path: Path) -> None:
        """targetPort http names a port of the matched template: no diagnostic."""
        (tmp_path / "rc.yaml").write_text(RC)
        (tmp_path / "svc.yaml").write_text(SVC % "http")
        result = load_folder(tmp_path)
        assert result.diagnostics == [] and len(result.objects) == 2

    def test_missing_name_is_a_warning_at_the_field(self, tmp_path: Path) -> None:
        """A name no matched template declares is a warning at svc.yaml's targetPort line."""
        (tmp_path / "rc.yaml").write_text(RC)
        (tmp_path / "svc.yaml").write_text(SVC % "web-port")
        result = load_folder(tmp_path)
        [warning] = result.diagnostics
        assert warning.render().startswith(
            "svc.yaml:9:17: warning: spec.ports[0].targetPort: targetPort 'web-port' is not")
        assert len(result.objects) == 2  # a warning never fails a file

    def test_no_matching_pods_means_no_check(self, tmp_path: Path) -> None:
        """When nothing in the set matches the selector there is no targetPort to check against
        (only the warning that the selector matches nothing)."""
        (tmp_path / "svc.yaml").write_text(SVC % "web-port")
        found = load_folder(tmp_path).diagnostics
        assert [(d.severity, d.path) for d in found] == [("warning", "spec.selector")], found
        assert "matches no Pod or pod template" in found[0].message


class TestNodeKind:
    """The Docker host kind, reconciler.dev/v1 Node."""

    def test_node_is_loaded_and_defaulted(self, tmp_path: Path) -> None:
        """A Node is cluster-scoped, keeps its labels and gets unschedulable false."""
        (tmp_path / "nodes.yaml").write_text(
            "apiVersion: reconciler.dev/v1\nkind: Node\nmetadata:\n  name: host-b\n"
            "  labels: {disk: ssd}\nspec:\n  engine: tcp://10.250.0.2:2376\n"
            "  address: 10.250.0.2\n  tls: {ca: /etc/ca.pem, cert: c.pem, key: k.pem}\n"
            "  capacity: {cpu: 2, memory: 4Gi}\n")
        [node] = load_folder(tmp_path).objects
        assert node.key == Key("Node", "", "host-b")
        assert node.body["spec"]["unschedulable"] is False
        assert node.body["metadata"] == {"name": "host-b", "labels": {"disk": "ssd"}}
