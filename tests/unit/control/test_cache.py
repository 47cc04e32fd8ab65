"""The indexed cache: indexes equal a full scan, selectors equal brute force; copies, feed."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.api.records import NodeRecord, OwnerRef, PodRecord, Resources
from reconciler.api.selectors import Operator, Requirement, Selector, from_map, parse, requirement
from reconciler.api.types import Key
from reconciler.control.cache import (
    BY_KIND,
    BY_LABEL,
    BY_LABEL_KEY,
    BY_NAME,
    BY_NAMESPACE,
    BY_NODE,
    BY_OWNER,
    BY_UID,
    Cache,
    Change,
)
from reconciler.control.cache_records import (
    BY_INTER_POD,
    PATCH_FIELDS,
    copy_pod,
    object_selector,
)
from reconciler.control.indexer import Indexer
from reconciler.scheduling.nodeinfo import build_node_infos
from reconciler.store.records import ObjectRecord

T0 = datetime(2026, 12, 1, tzinfo=UTC)
NODES = ("n1", "n2")


def make_pod(
    uid: str, name: str = "", namespace: str = "default", labels: dict[str, str] | None = None,
    owner: str = "", node: str = "", phase: str = "Running", cpu: str = "", memory: str = "",
    host_port: int = 0, deleting: bool = False,
) -> PodRecord:
    resources: dict[str, Any] = {"requests": {}}
    if cpu:
        resources["requests"]["cpu"] = cpu
    if memory:
        resources["requests"]["memory"] = memory
    ports = [{"containerPort": 80, "hostPort": host_port}] if host_port else []
    spec = {"containers": [{"name": "c", "image": "nginx", "resources": resources,
                            "ports": ports}]}
    return PodRecord(
        uid=uid, namespace=namespace, name=name or uid, spec=spec, spec_hash="h",
        created_at=T0, labels=dict(labels or {}),
        owner=OwnerRef("ReplicationController", "rc-" + owner, owner) if owner else None,
        node_name=node, phase=phase,  # type: ignore[arg-type]
        deletion_timestamp=T0 if deleting else None,
    )


def make_object(
    kind: str, name: str, namespace: str = "default", uid: str = "",
    selector: dict[str, str] | None = None, expressions: list[dict[str, Any]] | None = None,
) -> ObjectRecord:
    spec: dict[str, Any] = {}
    if kind in ("ReplicationController", "Service"):
        spec["selector"] = dict(selector or {})
    elif kind in ("ReplicaSet", "StatefulSet"):
        spec["selector"] = {"matchLabels": dict(selector or {}),
                            "matchExpressions": list(expressions or [])}
    body = {"apiVersion": "v1", "kind": kind,
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    return ObjectRecord(
        key=Key(kind, namespace, name), uid=uid or f"uid-{kind}-{namespace}-{name}",
        api_version="v1", body=body, source_file="f.yaml", line=1, document=0,
        content_hash=str(hash(repr(body))), revision="folder", generation=1, stale=False,
        status=None, created_at=T0, updated_at=T0,
    )


def node(name: str) -> NodeRecord:
    return NodeRecord(name=name, engine_url="unix:///x", created_at=T0, ready=True,
                      capacity=Resources(4000, 8 << 30))


# -- strategies ------------------------------------------------------------------------

NAMESPACES = st.sampled_from(["default", "prod", "dev"])
LABEL_KEYS = st.sampled_from(["app", "tier", "env", "x.io/role"])
LABEL_VALUES = st.sampled_from(["web", "db", "", "1", "5"])
LABELS = st.dictionaries(LABEL_KEYS, LABEL_VALUES, max_size=3)

pods_st = st.builds(
    make_pod,
    uid=st.sampled_from([f"u{i}" for i in range(8)]),
    name=st.sampled_from(["a", "b", "c", "d"]),
    namespace=NAMESPACES,
    labels=LABELS,
    owner=st.sampled_from(["", "o1", "o2"]),
    node=st.sampled_from(["", *NODES]),
    phase=st.sampled_from(["Pending", "Running", "Succeeded", "Failed"]),
    cpu=st.sampled_from(["", "100m", "1", "250m"]),
    memory=st.sampled_from(["", "64Mi", "1Gi"]),
    host_port=st.sampled_from([0, 0, 80, 8080]),
    deleting=st.booleans(),
)

objects_st = st.builds(
    make_object,
    kind=st.sampled_from(["ReplicationController", "ReplicaSet", "Service", "StatefulSet",
                          "ConfigMap"]),
    name=st.sampled_from(["x", "y", "z"]),
    namespace=NAMESPACES,
    uid=st.sampled_from(["o1", "o2", "o3", "o4"]),
    selector=LABELS,
    expressions=st.lists(st.fixed_dictionaries({
        "key": LABEL_KEYS,
        "operator": st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]),
        "values": st.lists(LABEL_VALUES, min_size=1, max_size=2)}).map(
            lambda e: e if e["operator"] in ("In", "NotIn") else {**e, "values": []}),
        max_size=2),
)


@st.composite
def requirements(draw: st.DrawFn) -> Requirement:
    operators: list[Operator] = ["=", "==", "!=", "in", "notin", "exists", "!", "gt", "lt"]
    op = draw(st.sampled_from(operators))
    key = draw(LABEL_KEYS)
    if op in ("exists", "!"):
        return requirement(key, op)
    if op in ("gt", "lt"):
        return requirement(key, op, [draw(st.sampled_from(["0", "3", "7"]))])
    if op in ("=", "==", "!="):
        return requirement(key, op, [draw(LABEL_VALUES)])
    return requirement(key, op, draw(st.lists(LABEL_VALUES, min_size=1, max_size=3)))


selectors_st = st.one_of(
    st.lists(requirements(), max_size=3).map(lambda rs: Selector(tuple(rs))),
    st.just(Selector(nothing=True)),
)


def unique_pods(pods: list[PodRecord]) -> list[PodRecord]:
    """What a store can hold at once: one pod per uid and per namespace/name."""
    seen_uid: set[str] = set()
    seen_name: set[tuple[str, str]] = set()
    out = []
    for p in pods:
        if p.uid in seen_uid or (p.namespace, p.name) in seen_name:
            continue
        seen_uid.add(p.uid)
        seen_name.add((p.namespace, p.name))
        out.append(p)
    return out


ops_st = st.lists(st.one_of(
    st.tuples(st.just("upsert_pod"), pods_st),
    st.tuples(st.just("delete_pod"), st.sampled_from([f"u{i}" for i in range(8)])),
    st.tuples(st.just("patch_pod"), pods_st, st.lists(st.sampled_from(sorted(PATCH_FIELDS)),
                                                      min_size=1, max_size=3)),
    st.tuples(st.just("upsert_object"), objects_st),
    st.tuples(st.just("delete_object"), objects_st.map(lambda o: o.key)),
    st.tuples(st.just("relist"), st.lists(objects_st, max_size=5),
              st.lists(pods_st, max_size=8).map(unique_pods)),
), max_size=30)


# -- the reference model: plain dicts, full scans ---------------------------------------

class Model:
    """What the cache should hold, kept by the simplest possible code."""

    def __init__(self) -> None:
        self.pods: dict[str, PodRecord] = {}
        self.objects: dict[Key, ObjectRecord] = {}

    def apply(self, op: tuple[Any, ...]) -> None:
        name = op[0]
        if name == "upsert_pod":
            pod = op[1]
            self.pods = {u: p for u, p in self.pods.items()
                         if (p.namespace, p.name) != (pod.namespace, pod.name)}
            self.pods[pod.uid] = copy_pod(pod)
        elif name == "delete_pod":
            self.pods.pop(op[1], None)
        elif name == "patch_pod" and op[1].uid in self.pods:
            current = copy_pod(self.pods[op[1].uid])
            for group in op[2]:
                for attr in PATCH_FIELDS[group]:
                    setattr(current, attr, copy_pod(op[1]).__dict__[attr])
            self.pods[current.uid] = current
        elif name == "upsert_object":
            self.objects[op[1].key] = op[1]
        elif name == "delete_object":
            self.objects.pop(op[1], None)
        elif name == "relist":
            self.objects = {o.key: o for o in op[1]}
            self.pods = {p.uid: copy_pod(p) for p in op[2]}


def run(cache: Cache, op: tuple[Any, ...]) -> None:
    if op[0] == "patch_pod":
        cache.patch_pod(op[1], *op[2])
    elif op[0] == "relist":
        cache.replace(op[1], op[2])
    else:
        getattr(cache, op[0])(op[1])


POD_SCANS: dict[str, Callable[[PodRecord], set[str]]] = {
    BY_NAMESPACE: lambda p: {p.namespace},
    BY_OWNER: lambda p: {p.owner.uid} if p.owner else set(),
    BY_NODE: lambda p: {p.node_name} if p.node_name else set(),
    BY_LABEL: lambda p: {f"{k}={v}" for k, v in p.labels.items()},
    BY_LABEL_KEY: lambda p: set(p.labels),
    BY_NAME: lambda p: {f"{p.namespace}/{p.name}"},
}


def check(cache: Cache, model: Model, selectors: list[Selector]) -> None:
    """Every index, query and total of the cache against a full scan of the model."""
    assert {p.uid: p for p in cache.pods()} == model.pods
    assert cache.objects() == sorted(model.objects.values(), key=lambda o: o.key)
    assert cache.recorded() == {k: o.view() for k, o in model.objects.items()}
    for index, scan in POD_SCANS.items():
        expected: dict[str, set[str]] = {}
        for uid, pod in model.pods.items():
            for value in scan(pod):
                expected.setdefault(value, set()).add(uid)
        for value in expected.keys() | cache.pod_index_values(index):
            assert cache.pod_index_keys(index, value) == expected.get(value, set()), (index, value)
    for kind in {k.kind for k in model.objects} | {"Service"}:
        assert [o.key for o in cache.objects_by_index(BY_KIND, kind)] == sorted(
            k for k in model.objects if k.kind == kind)
    for obj in model.objects.values():
        assert obj.key in {o.key for o in cache.objects_by_index(BY_UID, obj.uid)}
    for selector in selectors:
        for namespace in (None, "default", "prod"):
            assert cache.pod_uids(namespace, selector) == {
                u for u, p in model.pods.items()
                if namespace in (None, p.namespace) and selector.matches(p.labels)}, str(selector)
    infos = build_node_infos([node(n) for n in NODES], list(model.pods.values()))
    for name, info in infos.items():
        # The order of used ports means nothing to the NodePorts filter; the cache sorts them.
        assert cache.node_info(node(name)) == dataclasses.replace(
            info, used_ports=sorted(info.used_ports))
    for pod in model.pods.values():
        expected_keys = sorted(
            o.key for o in model.objects.values() if o.key.namespace == pod.namespace
            and (s := object_selector(o)) is not None and s.matches(pod.labels))
        assert [o.key for o in cache.selecting(pod)] == expected_keys


class TestCacheProperties:
    @settings(max_examples=200, deadline=None)
    @given(ops=ops_st, selectors=st.lists(selectors_st, min_size=1, max_size=4))
    def test_indexes_equal_a_full_scan(self, ops: list[tuple[Any, ...]],
                                       selectors: list[Selector]) -> None:
        """Any sequence of writes and relists leaves every index and query equal to a scan."""
        cache, model = Cache(), Model()
        for op in ops:
            run(cache, op)
            model.apply(op)
            check(cache, model, selectors)

    @settings(max_examples=100, deadline=None)
    @given(ops=ops_st)
    def test_feed_replays_to_the_cache(self, ops: list[tuple[Any, ...]]) -> None:
        """A subscriber applying every change ends with the cache's content, versions in order."""
        cache = Cache()
        pods: dict[str, PodRecord] = {}
        objects: dict[Key, ObjectRecord] = {}
        versions: list[int] = []

        def apply(change: Change) -> None:
            versions.append(change.resource_version)
            target: dict[Any, Any] = pods if change.kind == "Pod" else objects
            if change.new is None:
                assert target.pop(change.key) == change.old
            else:
                assert target.get(change.key) == change.old
                target[change.key] = change.new

        cache.subscribe(apply)
        for op in ops:
            run(cache, op)
        assert pods == {p.uid: p for p in cache.pods()}
        assert objects == {o.key: o for o in cache.objects()}
        assert versions == list(range(1, cache.resource_version + 1))


class TestIndexer:
    def test_empty_sets_are_dropped(self) -> None:
        """A value whose last key leaves is forgotten, so node and pod names do not leak."""
        idx: Indexer[str, str] = Indexer({"first": lambda s: (s[0],)})
        idx.put("k", "apple")
        idx.put("k", "banana")
        assert idx.index_values("first") == {"b"}
        idx.remove("k")
        assert idx.index_values("first") == frozenset()

    def test_by_index_is_a_snapshot(self) -> None:
        """by_index returns an immutable set that later writes do not change."""
        idx: Indexer[str, str] = Indexer({"first": lambda s: (s[0],)})
        idx.put("k1", "apple")
        found = idx.by_index("first", "a")
        idx.put("k2", "avocado")
        assert found == {"k1"}
        assert idx.by_index("first", "a") == {"k1", "k2"}


class TestReads:
    def test_pods_are_copies(self) -> None:
        """Changing a pod read from the cache changes neither the cache nor its indexes."""
        cache = Cache()
        cache.replace([], [make_pod("u1", labels={"app": "web"})])
        pod = cache.pods()[0]
        pod.labels["app"] = "db"
        pod.spec["containers"][0]["image"] = "evil"
        again = cache.pod("u1")
        assert again is not None and again.labels == {"app": "web"}
        assert again.spec["containers"][0]["image"] == "nginx"
        assert cache.pod_uids(selector=parse("app=web")) == {"u1"}

    def test_bound_pods_with_inter_pod_rules_are_indexed(self) -> None:
        """Only bound pods with pod (anti-)affinity are filed under the inter-pod index, and
        they leave it when deleted: the scheduler lists every pod only while one is there."""
        cache = Cache()
        guard = make_pod("u1", node="a")
        term = {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "h"}
        guard.spec["affinity"] = {"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term]}}
        pending = dataclasses.replace(copy_pod(guard), uid="u2", name="p2", node_name="")
        cache.replace([], [guard, pending, make_pod("u3", node="a")])
        assert cache.pod_index_keys(BY_INTER_POD, "bound") == {"u1"}
        cache.delete_pod("u1")
        assert cache.pod_index_keys(BY_INTER_POD, "bound") == frozenset()

    def test_written_pod_is_copied_in(self) -> None:
        """A caller changing its pod after writing it through does not change the cache."""
        cache = Cache()
        pod = make_pod("u1", labels={"app": "web"})
        cache.upsert_pod(pod)
        pod.labels["app"] = "db"
        assert cache.pod_uids(selector=parse("app=web")) == {"u1"}

    def test_objects_are_copies(self) -> None:
        """An object's body read from the cache is the caller's own."""
        cache = Cache()
        cache.upsert_object(make_object("Service", "s", selector={"app": "web"}))
        obj = cache.object(Key("Service", "default", "s"))
        assert obj is not None
        obj.body["spec"]["selector"]["app"] = "db"
        again = cache.object(Key("Service", "default", "s"))
        assert again is not None and again.body["spec"]["selector"] == {"app": "web"}

    def test_recorded_view(self) -> None:
        """recorded() gives the planner's view of every object, as the store's recorded() does."""
        cache = Cache()
        svc = make_object("Service", "s", selector={"app": "web"})
        cache.replace([svc], [])
        assert cache.recorded() == {svc.key: svc.view()}

    def test_sorted_as_the_store_lists(self) -> None:
        """Pods come sorted by namespace and name; objects by key."""
        cache = Cache()
        cache.replace([make_object("Service", "b"), make_object("ConfigMap", "a")],
                      [make_pod("u1", "z"), make_pod("u2", "a", namespace="prod"),
                       make_pod("u3", "b")])
        assert [p.name for p in cache.pods()] == ["b", "z", "a"]
        assert [o.key.kind for o in cache.objects()] == ["ConfigMap", "Service"]


class TestSelectorQueries:
    @pytest.mark.parametrize(("text", "expected"), [
        ("app=web", {"u1", "u2"}),
        ("app in (web,db)", {"u1", "u2", "u3"}),
        ("app=web,tier=front", {"u1"}),
        ("app", {"u1", "u2", "u3"}),
        ("!app", {"u4"}),
        ("app!=web", {"u3", "u4"}),
        ("app notin (web,db)", {"u4"}),
        ("tier,app notin (db)", {"u1"}),
        ("replicas>2", {"u4"}),
        ("", {"u1", "u2", "u3", "u4"}),
    ])
    def test_selector(self, text: str, expected: set[str]) -> None:
        """Equality, set-based, existence and numeric requirements select as the matcher does."""
        cache = Cache()
        cache.replace([], [
            make_pod("u1", labels={"app": "web", "tier": "front"}),
            make_pod("u2", labels={"app": "web"}),
            make_pod("u3", labels={"app": "db", "tier": "back"}),
            make_pod("u4", labels={"replicas": "3"}),
        ])
        assert cache.pod_uids(selector=parse(text)) == expected

    def test_filters_combine(self) -> None:
        """Namespace, node, owner and selector are intersected."""
        cache = Cache()
        cache.replace([], [
            make_pod("u1", labels={"app": "web"}, node="n1", owner="o1"),
            make_pod("u2", labels={"app": "web"}, node="n2", owner="o1"),
            make_pod("u3", labels={"app": "web"}, node="n1", owner="o1", namespace="prod"),
        ])
        assert cache.pod_uids("default", from_map({"app": "web"}), node="n1",
                              owner_uid="o1") == {"u1"}
        assert cache.pod_uids(owner_uid="nobody") == frozenset()


class TestWriteThrough:
    def test_same_name_new_uid_replaces(self) -> None:
        """A re-created pod (same namespace/name, new uid) replaces the old one, as in the store."""
        cache = Cache()
        cache.upsert_pod(make_pod("old", "web-0", node="n1", cpu="1"))
        cache.upsert_pod(make_pod("new", "web-0", node="n1", cpu="1"))
        assert [p.uid for p in cache.pods()] == ["new"]
        assert cache.node_usage("n1").requested_cpu == 1000

    def test_patch_writes_its_groups_only(self) -> None:
        """A status patch leaves the labels the cache holds, as patch_pods leaves other columns."""
        cache = Cache()
        cache.upsert_pod(make_pod("u1", labels={"app": "web"}, phase="Pending"))
        stale = make_pod("u1", labels={"app": "old"}, phase="Running")
        assert cache.patch_pod(stale, "status")
        pod = cache.pod("u1")
        assert pod is not None and pod.phase == "Running" and pod.labels == {"app": "web"}

    def test_patch_of_missing_pod(self) -> None:
        """Patching a pod the cache does not hold is refused, as the store refuses it."""
        assert not Cache().patch_pod(make_pod("u1"), "status")

    def test_relist_keeps_newer_writes(self) -> None:
        """A relist listed before a write-through does not undo that write."""
        cache = Cache()
        cache.replace([], [make_pod("u1", labels={"v": "1"})])
        mark = cache.write_mark()
        cache.upsert_pod(make_pod("u1", labels={"v": "2"}))
        cache.upsert_pod(make_pod("u2"))
        cache.replace([], [make_pod("u1", labels={"v": "1"})], written_after=mark)
        pod = cache.pod("u1")
        assert pod is not None and pod.labels == {"v": "2"}
        assert cache.pod("u2") is not None
        cache.replace([], [make_pod("u1", labels={"v": "1"})])
        assert cache.pod("u2") is None

    def test_unchanged_relist_changes_nothing(self) -> None:
        """Relisting what the cache holds makes no change and no notification."""
        cache = Cache()
        pods = [make_pod("u1"), make_pod("u2")]
        assert cache.replace([], pods) == 2
        seen: list[Change] = []
        cache.subscribe(seen.append)
        assert cache.replace([], pods) == 0
        assert seen == [] and cache.resource_version == 2


class TestFeed:
    def test_same_record_again_is_no_change(self) -> None:
        """Writing through a pod or object equal to the cached one tells subscribers nothing."""
        cache = Cache()
        cache.upsert_pod(make_pod("u1"))
        cache.upsert_object(make_object("Service", "s"))
        seen: list[Change] = []
        cache.subscribe(seen.append)
        cache.upsert_pod(make_pod("u1"))
        cache.upsert_object(make_object("Service", "s"))
        cache.delete_pod("nobody")
        assert seen == [] and cache.resource_version == 2

    def test_failing_subscriber_does_not_stop_others(self) -> None:
        """One subscriber raising is logged; the next still gets the change, the write stands."""
        cache = Cache()
        seen: list[Change] = []

        def broken(_change: Change) -> None:
            raise RuntimeError("boom")

        cache.subscribe(broken)
        cache.subscribe(seen.append)
        cache.upsert_pod(make_pod("u1"))
        assert [c.key for c in seen] == ["u1"] and cache.pod("u1") is not None

    def test_unsubscribe(self) -> None:
        """After unsubscribing, no more changes arrive."""
        cache = Cache()
        seen: list[Change] = []
        stop = cache.subscribe(seen.append)
        cache.upsert_pod(make_pod("u1"))
        stop()
        cache.delete_pod("u1")
        assert [c.new is not None for c in seen] == [True]

    def test_order_under_concurrent_writers(self) -> None:
        """Writers on many threads: each subscriber sees resource versions in order, none lost."""
        cache = Cache()
        versions: list[int] = []
        cache.subscribe(lambda c: versions.append(c.resource_version))

        def writer(n: int) -> None:
            for i in range(200):
                cache.upsert_pod(make_pod(f"{n}-{i % 7}", labels={"i": str(i)}))

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert versions == list(range(1, cache.resource_version + 1))
        assert cache.resource_version == 800


class TestNodeUsage:
    def test_counts_bound_live_pods(self) -> None:
        """Bound, unfinished pods count; pending-unbound and finished ones do not."""
        cache = Cache()
        cache.replace([], [
            make_pod("u1", node="n1", cpu="250m", memory="64Mi", host_port=80, owner="o1"),
            make_pod("u2", node="n1", phase="Succeeded", cpu="1"),
            make_pod("u3", cpu="1"),
        ])
        usage = cache.node_usage("n1")
        assert (usage.requested_cpu, usage.requested_memory, usage.pods) == (250, 64 << 20, 1)
        assert usage.owners == {"o1": 1} and usage.used_ports == {("TCP", "0.0.0.0", 80): 1}

    def test_moves_with_the_pod(self) -> None:
        """A pod rescheduled or deleted takes its usage with it."""
        cache = Cache()
        cache.upsert_pod(make_pod("u1", node="n1", cpu="1"))
        cache.upsert_pod(dataclasses.replace(make_pod("u1", cpu="1"), node_name="n2"))
        assert cache.node_usage("n1").pods == 0 and cache.node_usage("n2").requested_cpu == 1000
        cache.delete_pod("u1")
        assert cache.node_usages() == {}


class TestSelecting:
    def test_controllers_and_services_selecting_a_pod(self) -> None:
        """An RC, a ReplicaSet and a Service of the pod's namespace that match it are found."""
        cache = Cache()
        cache.replace([
            make_object("ReplicationController", "web", selector={"app": "web"}),
            make_object("ReplicaSet", "any", expressions=[{"key": "app", "operator": "Exists"}]),
            make_object("Service", "db", selector={"app": "db"}),
            make_object("Service", "web", selector={"app": "web"}, namespace="prod"),
            make_object("Service", "manual"),
        ], [])
        found = cache.selecting(make_pod("u1", labels={"app": "web"}))
        assert [str(o.key) for o in found] == [
            "ReplicaSet/default/any", "ReplicationController/default/web"]


class TestThreadSafety:
    def test_readers_see_consistent_answers_during_writes(self) -> None:
        """While writers relabel pods, every selector answer holds only pods that match it."""
        cache = Cache()
        cache.replace([], [make_pod(f"u{i}", labels={"app": "a"}) for i in range(50)])
        stop = threading.Event()
        wrong: list[str] = []

        def writer() -> None:
            i = 0
            while not stop.is_set():
                i += 1
                cache.upsert_pod(make_pod(f"u{i % 50}", labels={"app": "ab"[i % 2]}))

        def reader() -> None:
            for _ in range(300):
                for pod in cache.pods(selector=parse("app=b")):
                    if pod.labels.get("app") != "b":
                        wrong.append(pod.uid)

        writers = [threading.Thread(target=writer) for _ in range(2)]
        for t in writers:
            t.start()
        readers = [threading.Thread(target=reader) for _ in range(2)]
        for t in readers:
            t.start()
        for t in readers:
            t.join()
        stop.set()
        for t in writers:
            t.join()
        assert wrong == []
        assert len(cache.pods()) == 50
