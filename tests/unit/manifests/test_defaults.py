"""Defaulting, as the Kubernetes API server does it (reconciler.api.defaults)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reconciler.api.defaults import apply_defaults, content_hash, image_pull_policy


def rc(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "web"},
        "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "web"}]}}}}
    body["spec"].update(spec)
    return body


class TestDefaults:
    """One test per Kubernetes default we apply."""

    @pytest.mark.parametrize(("image", "policy"), [
        ("redis", "Always"), ("redis:latest", "Always"), ("redis:7", "IfNotPresent"),
        ("localhost:5000/redis", "Always"), ("localhost:5000/redis:7", "IfNotPresent"),
        ("redis@sha256:abc", "IfNotPresent"),
    ])
    def test_image_pull_policy(self, image: str, policy: str) -> None:
        """Always for no tag or :latest, else IfNotPresent; a registry port is not a tag."""
        assert image_pull_policy(image) == policy

    def test_rc_selector_labels_and_replicas(self) -> None:
        """An RC's selector and labels default to the template labels; replicas to 1."""
        out = apply_defaults(rc())
        assert out["spec"]["selector"] == {"app": "web"}
        assert out["metadata"]["labels"] == {"app": "web"}
        assert out["spec"]["replicas"] == 1
        assert out["metadata"]["namespace"] == "default"

    def test_explicit_values_are_kept(self) -> None:
        """Defaults never override what was written."""
        out = apply_defaults(rc(replicas=0, selector={"app": "web"}))
        assert out["spec"]["replicas"] == 0

    def test_pod_template_defaults(self) -> None:
        """restartPolicy, dnsPolicy, grace period, service links and pull policy."""
        spec = apply_defaults(rc())["spec"]["template"]["spec"]
        assert (spec["restartPolicy"], spec["dnsPolicy"], spec["terminationGracePeriodSeconds"],
                spec["enableServiceLinks"]) == ("Always", "ClusterFirst", 30, True)
        assert spec["containers"][0]["imagePullPolicy"] == "Always"

    def test_probe_and_port_defaults(self) -> None:
        """Probe timings and httpGet path/scheme; container port protocol TCP."""
        body = rc()
        container = body["spec"]["template"]["spec"]["containers"][0]
        container["ports"] = [{"containerPort": 80}]
        container["livenessProbe"] = {"httpGet": {"port": 80}}
        c = apply_defaults(body)["spec"]["template"]["spec"]["containers"][0]
        assert c["ports"][0]["protocol"] == "TCP"
        assert c["livenessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                                      "periodSeconds": 10, "timeoutSeconds": 1,
                                      "failureThreshold": 3, "successThreshold": 1}

    def test_volume_without_source_is_empty_dir(self) -> None:
        """A volume with no source becomes an emptyDir."""
        body = rc()
        body["spec"]["template"]["spec"]["volumes"] = [{"name": "data"}]
        out = apply_defaults(body)
        assert out["spec"]["template"]["spec"]["volumes"] == [{"name": "data", "emptyDir": {}}]

    def test_service_defaults(self) -> None:
        """type ClusterIP, sessionAffinity None, protocol TCP, targetPort = port."""
        out = apply_defaults({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                              "spec": {"ports": [{"port": 80}]}})
        assert out["spec"] == {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                               "type": "ClusterIP", "sessionAffinity": "None"}

    def test_replicaset_selector_from_template(self) -> None:
        """An older-spelling ReplicaSet gets matchLabels from its template."""
        body = rc()
        body.update(apiVersion="extensions/v1beta1", kind="ReplicaSet")
        assert apply_defaults(body)["spec"]["selector"] == {"matchLabels": {"app": "web"}}

    def test_cluster_scoped_kinds_get_no_namespace(self) -> None:
        """Node and Namespace stay without metadata.namespace."""
        out = apply_defaults({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}})
        assert "namespace" not in out["metadata"]

    def test_input_is_not_changed(self) -> None:
        """apply_defaults returns a copy."""
        body = rc()
        before = copy.deepcopy(body)
        apply_defaults(body)
        assert body == before

    def test_idempotent(self) -> None:
        """Defaulting a defaulted body changes nothing (same hash)."""
        once = apply_defaults(rc())
        assert content_hash(apply_defaults(once)) == content_hash(once)


class TestStatefulSetDefaults:
    def test_statefulset(self) -> None:
        """replicas 1, OrderedReady, RollingUpdate partition 0, history 10, Retain/Retain."""
        body = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
                "spec": {"selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}},
                                      "spec": {"containers": [{"name": "c", "image": "i"}]}},
                         "volumeClaimTemplates": [{"metadata": {"name": "www"}}]}}
        spec = apply_defaults(body)["spec"]
        assert spec["replicas"] == 1 and spec["podManagementPolicy"] == "OrderedReady"
        assert spec["updateStrategy"] == {"type": "RollingUpdate",
                                          "rollingUpdate": {"partition": 0}}
        assert spec["revisionHistoryLimit"] == 10
        assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain",
                                                                "whenScaled": "Retain"}
        claim = spec["volumeClaimTemplates"][0]
        assert (claim["kind"], claim["spec"]["volumeMode"]) == ("PersistentVolumeClaim",
                                                                "Filesystem")
