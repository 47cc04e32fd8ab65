"""Unit tests of kubeapi/patch.py with the examples of Kubernetes' docs and the RFCs."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.kubeapi.patch import PatchError, json_patch, merge_patch, strategic_merge

# Kubernetes' "Update API Objects in Place Using kubectl patch" task: the patch-demo Deployment.
DEMO: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "patch-demo"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "nginx"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
        "template": {
            "metadata": {"labels": {"app": "nginx"}},
            "spec": {
                "containers": [{"name": "patch-demo-ctr", "image": "nginx"}],
                "tolerations": [{"effect": "NoSchedule", "key": "dedicated",
                                 "value": "test-team"}],
            },
        },
    },
}
ADD_CONTAINER = {"spec": {"template": {"spec": {"containers": [
    {"name": "patch-demo-ctr-2", "image": "redis"}]}}}}


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list(obj["spec"]["template"]["spec"]["containers"])


class TestStrategicMerge:
    def test_containers_merge_by_name(self) -> None:
        """The docs' patch-file.yaml adds a container and keeps the existing one."""
        out = strategic_merge(DEMO, ADD_CONTAINER, "Deployment")
        assert [c["name"] for c in _containers(out)] == ["patch-demo-ctr", "patch-demo-ctr-2"]
        assert _containers(DEMO) == [{"name": "patch-demo-ctr", "image": "nginx"}]

    def test_same_name_merges_fields(self) -> None:
        """An item with an existing merge key merges into that item."""
        patch = {"spec": {"template": {"spec": {"containers": [
            {"name": "patch-demo-ctr", "image": "nginx:1.27"}]}}}}
        out = strategic_merge(DEMO, patch, "Deployment")
        assert _containers(out) == [{"name": "patch-demo-ctr", "image": "nginx:1.27"}]

    def test_tolerations_replace(self) -> None:
        """The docs' patch-tolerations: a list with no merge key is replaced."""
        patch = {"spec": {"template": {"spec": {"tolerations": [
            {"effect": "NoSchedule", "key": "disktype", "value": "ssd"}]}}}}
        out = strategic_merge(DEMO, patch, "Deployment")
        assert out["spec"]["template"]["spec"]["tolerations"] == [
            {"effect": "NoSchedule", "key": "disktype", "value": "ssd"}]

    def test_patch_delete_item(self) -> None:
        """`$patch: delete` in a list item removes the item with that key."""
        two = strategic_merge(DEMO, ADD_CONTAINER, "Deployment")
        patch = {"spec": {"template": {"spec": {"containers": [
            {"name": "patch-demo-ctr", "$patch": "delete"}]}}}}
        assert [c["name"] for c in _containers(strategic_merge(two, patch, "Deployment"))] == [
            "patch-demo-ctr-2"]

    def test_patch_replace_list(self) -> None:
        """`$patch: replace` as a list item replaces the whole list."""
        two = strategic_merge(DEMO, ADD_CONTAINER, "Deployment")
        patch = {"spec": {"template": {"spec": {"containers": [
            {"name": "only", "image": "busybox"}, {"$patch": "replace"}]}}}}
        assert _containers(strategic_merge(two, patch, "Deployment")) == [
            {"name": "only", "image": "busybox"}]

    def test_patch_replace_map(self) -> None:
        """`$patch: replace` in a map replaces the map."""
        patch = {"spec": {"selector": {"matchLabels": {"x": "y"}, "$patch": "replace"}}}
        out = strategic_merge(DEMO, patch, "Deployment")
        assert out["spec"]["selector"] == {"matchLabels": {"x": "y"}}

    def test_retain_keys(self) -> None:
        """The docs' retainKeys example: Recreate drops rollingUpdate."""
        patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
        out = strategic_merge(DEMO, patch, "Deployment")
        assert out["spec"]["strategy"] == {"type": "Recreate"}

    def test_null_deletes_key(self) -> None:
        """A null value deletes the key, as in a merge patch."""
        out = strategic_merge(DEMO, {"spec": {"strategy": None}}, "Deployment")
        assert "strategy" not in out["spec"]

    def test_ports_by_kind(self) -> None:
        """A Service's ports merge by port; a container's by containerPort."""
        svc = {"kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": 8080}]}}
        out = strategic_merge(svc, {"spec": {"ports": [{"port": 80, "name": "http"},
                                                       {"port": 443}]}}, "Service")
        assert out["spec"]["ports"] == [{"port": 80, "targetPort": 8080, "name": "http"},
                                        {"port": 443}]
        pod = {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]}}
        out = strategic_merge(pod, {"spec": {"containers": [
            {"name": "c", "ports": [{"containerPort": 80, "name": "web"}]}]}}, "Pod")
        assert out["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "name": "web"}]

    def test_env_merges_by_name(self) -> None:
        """env entries merge by name inside a container."""
        pod = {"spec": {"containers": [{"name": "c", "env": [{"name": "A", "value": "1"}]}]}}
        out = strategic_merge(pod, {"spec": {"containers": [
            {"name": "c", "env": [{"name": "B", "value": "2"}]}]}}, "Pod")
        assert out["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"},
                                                       {"name": "B", "value": "2"}]

    def test_finalizers_union_and_delete_primitive(self) -> None:
        """finalizers merge as a set; $deleteFromPrimitiveList removes values."""
        obj = {"metadata": {"finalizers": ["a", "b"]}}
        out = strategic_merge(obj, {"metadata": {"finalizers": ["b", "c"]}}, "Pod")
        assert out["metadata"]["finalizers"] == ["a", "b", "c"]
        out = strategic_merge(obj, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
                              "Pod")
        assert out["metadata"]["finalizers"] == ["b"]

    def test_set_element_order_tolerated(self) -> None:
        """$setElementOrder (what kubectl apply sends) is accepted and not written."""
        patch = {"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "patch-demo-ctr"}],
            "containers": [{"name": "patch-demo-ctr", "image": "nginx:2"}]}}}}
        out = strategic_merge(DEMO, patch, "Deployment")
        assert "$setElementOrder/containers" not in out["spec"]["template"]["spec"]
        assert _containers(out)[0]["image"] == "nginx:2"

    def test_item_without_merge_key(self) -> None:
        """An item missing its merge key is a PatchError."""
        with pytest.raises(PatchError):
            strategic_merge(DEMO, {"spec": {"template": {"spec": {"containers": [
                {"image": "x"}]}}}}, "Deployment")


class TestMergePatch:
    @pytest.mark.parametrize(("target", "patch", "result"), [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ])
    def test_rfc7386_examples(self, target: Any, patch: Any, result: Any) -> None:
        """Every example of RFC 7386's appendix A."""
        assert merge_patch(target, patch) == result

    def test_lists_replace(self) -> None:
        """A merge patch replaces a container list whole (unlike a strategic one)."""
        out = merge_patch(DEMO, ADD_CONTAINER)
        assert [c["name"] for c in _containers(out)] == ["patch-demo-ctr-2"]


class TestJsonPatch:
    @pytest.mark.parametrize(("target", "ops", "result"), [
        ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}],
         {"foo": "bar", "baz": "qux"}),
        ({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}],
         {"foo": ["bar", "qux", "baz"]}),
        ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
        ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}],
         {"foo": ["bar", "baz"]}),
        ({"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}],
         {"baz": "boo", "foo": "bar"}),
        ({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
         [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
         {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
        ({"foo": ["all", "grass", "cows", "eat"]},
         [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
         {"foo": ["all", "cows", "eat", "grass"]}),
        ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
         {"foo": ["bar", ["abc", "def"]]}),
        ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
        ({"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}],
         {"a": {"b": 1}, "c": {"b": 1}}),
    ])
    def test_rfc6902_examples(self, target: Any, ops: Any, result: Any) -> None:
        """The examples of RFC 6902's appendix A."""
        assert json_patch(target, ops) == result

    @pytest.mark.parametrize("ops", [
        [{"op": "test", "path": "/baz", "value": "bar"}],
        [{"op": "add", "path": "/baz/bat", "value": "qux"}],
        [{"op": "replace", "path": "/nope", "value": 1}],
        [{"op": "remove", "path": "/foo/5"}],
        [{"op": "frob", "path": "/foo"}],
        {"op": "add"},
    ])
    def test_errors(self, ops: Any) -> None:
        """A failed test, an absent parent or index, or an unknown op is a PatchError."""
        with pytest.raises(PatchError):
            json_patch({"baz": "qux", "foo": ["a"]}, ops)

    def test_target_unchanged(self) -> None:
        """The target object is not modified."""
        target = {"spec": {"replicas": 1}}
        json_patch(target, [{"op": "replace", "path": "/spec/replicas", "value": 3}])
        assert target == {"spec": {"replicas": 1}}
