"""Unit tests of the container spec mapping (reconciler.runtime.spec): pure, no Docker."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.api.records import PodRecord
from reconciler.runtime import spec


def pod(**spec_: Any) -> PodRecord:
    return PodRecord(uid="u1", namespace="ns", name="p", spec=spec_, spec_hash="h",
                     created_at=datetime.now(UTC), labels={"app": "web"})


class TestQuantities:
    """Quantities go through the one parser (reconciler.api.quantity, tested there)."""

    @pytest.mark.parametrize("value", ["", "12x", "Mi", "1.2.3", "-1"])
    def test_invalid(self, value: str) -> None:
        """A malformed or negative limit is refused with SpecError, not a crash."""
        with pytest.raises(spec.SpecError, match="invalid quantity"):
            spec.limits({"resources": {"limits": {"memory": value}}})

    @given(st.integers(min_value=0, max_value=2**40))
    def test_kibibytes(self, n: int) -> None:
        """Any whole number of Ki becomes an exact memory limit."""
        assert spec.limits({"resources": {"limits": {"memory": f"{n}Ki"}}}) == {
            "mem_limit": n * 1024
        }


class TestImages:
    @pytest.mark.parametrize(("image", "mapped"), [
        ("redis:latest", "reconciler/redis:1"),  # exact key
        ("redis", "local/redis:any"),  # bare name
        ("redis:7", "local/redis:any"),  # bare name, any tag
        ("gcr.io/x/web:v4", "reconciler/web:1"),
        ("localhost:5000/app", "localhost:5000/app"),  # a registry port is not a tag
        ("other:1", "other:1"),
    ])
    def test_map_image(self, image: str, mapped: str) -> None:
        """Exact references win over bare names; unknown ones pass through."""
        image_map = {"redis:latest": "reconciler/redis:1", "redis": "local/redis:any",
                     "gcr.io/x/web": "reconciler/web:1", "localhost": "wrong"}
        assert spec.map_image(image, image_map) == mapped

    @pytest.mark.parametrize(("container", "policy"), [
        ({"image": "a"}, "Always"), ({"image": "a:latest"}, "Always"),
        ({"image": "a:1"}, "IfNotPresent"), ({"image": "h:5000/a"}, "Always"),
        ({"image": "a@sha256:00"}, "IfNotPresent"),
        ({"image": "a", "imagePullPolicy": "Never"}, "Never"),
    ])
    def test_pull_policy_default(self, container: dict[str, Any], policy: str) -> None:
        """Kubernetes' default: Always for :latest or no tag, else IfNotPresent."""
        assert spec.pull_policy(container) == policy


class TestCommandAndEnv:
    @pytest.mark.parametrize(("container", "entry", "cmd"), [
        ({}, None, None),
        ({"command": ["a", "b"]}, ["a", "b"], []),  # command alone drops the image's CMD
        ({"args": ["x"]}, None, ["x"]),
        ({"command": ["a"], "args": ["$(V)", "$$(V)"]}, ["a"], ["v", "$(V)"]),
    ])
    def test_command_and_args(self, container: dict[str, Any], entry: list[str] | None,
                              cmd: list[str] | None) -> None:
        """command replaces ENTRYPOINT, args replaces CMD, $(VAR) expands, $$ escapes."""
        assert spec.command_and_args(container, {"V": "v"}) == (entry, cmd)

    def test_env_order_and_field_refs(self) -> None:
        """Caller's extras first, the container's own after (and overriding); fieldRefs resolve."""
        container = {"env": [
            {"name": "A", "value": "a-$(SVC_HOST)"},
            {"name": "SVC_HOST", "value": "mine"},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        ]}
        env = spec.container_env(container, pod(), (("SVC_HOST", "10.0.0.1"),),
                                 pod_ip="172.17.0.2", node_name="n1", host_ip="127.0.0.1")
        assert env == {"SVC_HOST": "mine", "A": "a-10.0.0.1", "NS": "ns", "APP": "web",
                       "NODE": "n1"}

    def test_unsupported_field_ref(self) -> None:
        """An unknown fieldPath is a SpecError, not a silent empty value."""
        container = {"env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.x"}}}]}
        with pytest.raises(spec.SpecError, match="not supported"):
            spec.container_env(container, pod(), (), pod_ip="", node_name="", host_ip="")

    def test_limits(self) -> None:
        """limits to nano_cpus and mem_limit; cpu requests to shares."""
        got = spec.limits({"resources": {"limits": {"cpu": "1500m", "memory": "1Gi"},
                                         "requests": {"cpu": "100m"}}})
        assert got == {"nano_cpus": 1_500_000_000, "mem_limit": 2**30, "cpu_shares": 102}


class TestVolumes:
    def test_host_path_allow_list(self, tmp_path: Path) -> None:
        """hostPath must lie under an allowed root, symlinks resolved."""
        allowed = tmp_path / "ok"
        (allowed / "sub").mkdir(parents=True)
        (tmp_path / "escape").symlink_to("/etc")
        assert spec.host_path_allowed(str(allowed / "sub"), (str(allowed),))
        assert not spec.host_path_allowed(str(tmp_path / "okay"), (str(allowed),))
        assert not spec.host_path_allowed(str(tmp_path / "escape"), (str(tmp_path),))
        with pytest.raises(spec.SpecError, match="not under an allowed path"):
            spec.check_volumes({"volumes": [{"name": "h", "hostPath": {"path": "/etc"}}]},
                               (str(allowed),))

    def test_unsupported_volume_kind(self) -> None:
        """A volume kind the driver does not implement is refused by name."""
        with pytest.raises(spec.SpecError, match="nfs is not supported"):
            spec.check_volumes({"volumes": [{"name": "s", "nfs": {}}]}, ())

    def test_mounts(self) -> None:
        """emptyDir -> the pod's Docker volume, Memory -> tmpfs, hostPath -> bind, readOnly."""
        pod_spec = {"volumes": [{"name": "e", "emptyDir": {}},
                                {"name": "m", "emptyDir": {"medium": "Memory"}},
                                {"name": "h", "hostPath": {"path": "/srv"}}]}
        container = {"volumeMounts": [{"name": "e", "mountPath": "/e"},
                                      {"name": "m", "mountPath": "/m"},
                                      {"name": "h", "mountPath": "/h", "readOnly": True}]}
        got = spec.container_mounts(container, pod_spec, {"e": "vol-e"})
        assert got.binds == {"vol-e": {"bind": "/e", "mode": "rw"},
                             "/srv": {"bind": "/h", "mode": "ro"}}
        assert got.tmpfs == {"/m": ""}

    def test_claim_volume_names(self) -> None:
        """A claim's volume is named after the claim (and namespace outside default)."""
        pvc = {"claimName": "www-web-0"}
        pod_spec = {"volumes": [{"name": "www", "persistentVolumeClaim": pvc},
                                {"name": "e", "emptyDir": {}}]}
        assert spec.claim_volumes("default", pod_spec) == {"www": "www-web-0"}
        assert spec.claim_volumes("shop", pod_spec) == {"www": "www-web-0.shop"}

    def test_claim_volume_checked(self) -> None:
        """persistentVolumeClaim is accepted with a claimName and refused without one."""
        pvc = {"claimName": "c"}
        spec.check_volumes({"volumes": [{"name": "w", "persistentVolumeClaim": pvc}]}, ())
        with pytest.raises(spec.SpecError, match="claimName is required"):
            spec.check_volumes({"volumes": [{"name": "w", "persistentVolumeClaim": {}}]}, ())

    def test_claim_mounts(self) -> None:
        """A claim volume binds its named volume; the source's readOnly makes the mount ro."""
        pod_spec = {"volumes": [
            {"name": "w", "persistentVolumeClaim": {"claimName": "www-web-0"}},
            {"name": "r", "persistentVolumeClaim": {"claimName": "data", "readOnly": True}}]}
        container = {"volumeMounts": [{"name": "w", "mountPath": "/w"},
                                      {"name": "r", "mountPath": "/r"}]}
        got = spec.container_mounts(container, pod_spec, spec.claim_volumes("default", pod_spec))
        assert got.binds == {"www-web-0": {"bind": "/w", "mode": "rw"},
                             "data": {"bind": "/r", "mode": "ro"}}

    def test_fluentd_log_config(self) -> None:
        """The fluentd driver is async and tags namespace, pod and container."""
        got = spec.log_config("127.0.0.1:24224", pod(), "c")
        assert got == {"type": "fluentd", "config": {"fluentd-address": "127.0.0.1:24224",
                                                     "fluentd-async": "true",
                                                     "tag": "kube.ns.p.c"}}

    def test_json_file_log_config_rotates(self) -> None:
        """Without fluentd, json-file keeps kubelet's 10 MiB x 5 files."""
        assert spec.log_config(None, pod(), "c") == {
            "type": "json-file", "config": {"max-size": "10m", "max-file": "5"}}
