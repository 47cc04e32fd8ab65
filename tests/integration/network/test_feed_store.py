"""The store's change feed for proxies and their acknowledgements, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.api.types import DesiredObject, Key, Position
from reconciler.network.feed import TableFeed, build_table
from reconciler.planning.diff import diff
from reconciler.store import Store
from reconciler.store.feeds import TOPICS, StoreFeed

WAIT = 30.0  # generous: the machine is shared; the feed answers within milliseconds

SUBSETS = [{"addresses": [{"ip": "172.17.0.9"}], "ports": [{"port": 80}]}]


def _pod(uid: str = "u1", ip: str = "172.17.0.99") -> PodRecord:
    return PodRecord(uid=uid, namespace="default", name=f"p-{uid}", spec={}, spec_hash="h",
                     created_at=datetime.now(UTC), node_name="local", pod_ip=ip)


def _wait_for(feed: StoreFeed, topic: str) -> set[str]:
    """Every topic reported until `topic` is (or WAIT passes)."""
    seen: set[str] = set()
    while topic not in seen:
        got = feed.wait(WAIT)
        if not got:
            break
        seen |= got
    return seen


@pytest.fixture
def feed_store(store_url: str) -> Iterator[tuple[Store, StoreFeed]]:
    store = Store.open(store_url)
    feed = store.feed()
    assert feed.wait(0) == TOPICS  # the first answer: read everything
    yield store, feed
    feed.close()
    store.close()


class TestStoreFeed:
    def test_endpoints_write_of_another_process_is_reported(
        self, feed_store: tuple[Store, StoreFeed], store_url: str
    ) -> None:
        """A `set_endpoints` committed by another process wakes the feed with 'endpoints'."""
        store, feed = feed_store
        before = store.endpoints_revision()
        script = ("import sys; from reconciler.store import Store; s = Store.open(sys.argv[1]);"
                  f" s.set_endpoints('default', 'web', {SUBSETS!r}); s.close()")
        subprocess.run([sys.executable, "-c", script, store_url], check=True, timeout=120)
        assert "endpoints" in _wait_for(feed, "endpoints")
        assert store.endpoints_revision() > before

    def test_only_what_a_proxy_reads_counts(self, feed_store: tuple[Store, StoreFeed]) -> None:
        """A new pod reports 'pods'; a status patch or an unchanged endpoints write nothing."""
        store, feed = feed_store
        store.upsert_pod(_pod())
        assert "pods" in _wait_for(feed, "pods")
        store.set_endpoints("default", "web", SUBSETS)
        assert "endpoints" in _wait_for(feed, "endpoints")
        revision = store.endpoints_revision()
        pod = store.get_pod_by_uid("u1")
        assert pod is not None
        pod.phase = "Running"
        store.patch_pod(pod, "status")
        store.set_endpoints("default", "web", SUBSETS)
        store.upsert_node(NodeRecord(name="local", engine_url="unix:///x", address="10.0.0.1",
                                     created_at=datetime.now(UTC)))
        # The node's address is read by the proxies: the last write must be reported, and
        # nothing before it may be.
        assert _wait_for(feed, "nodes") == {"nodes"}
        assert store.endpoints_revision() == revision

    def test_service_status_is_reported(self, feed_store: tuple[Store, StoreFeed]) -> None:
        """A Service's status (its cluster IP) written by the controller reports 'services'."""
        store, feed = feed_store
        key = Key("Service", "default", "web")
        body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                "spec": {"ports": [{"port": 80}]}}
        store.apply_plan(diff([DesiredObject(key, body, Position("web.yaml", 1), "h1")],
                              store.recorded()))
        assert "services" in _wait_for(feed, "services")
        store.set_status(key, {"clusterIP": "10.96.0.20"})
        assert "services" in _wait_for(feed, "services")


class TestProxyAcks:
    def test_behind_lists_live_proxies_not_at_the_revision(self, any_store: Store) -> None:
        """Only Ready nodes whose proxy reported recently and is behind are waited for."""
        store = any_store
        now = datetime.now(UTC)
        for name, ready in (("a", True), ("b", True), ("c", False)):
            store.upsert_node(NodeRecord(name=name, engine_url="unix:///x", created_at=now,
                                         ready=ready))
        store.ack_proxy("a", 5, "iptables")
        store.ack_proxy("b", 3, "iptables")
        store.ack_proxy("c", 1, "iptables")  # NotReady: not waited for
        store.ack_proxy("ghost", 1, "iptables")  # not a registered node
        assert store.proxies_behind(5, fresh=60) == ["b"]
        assert store.proxies_behind(3, fresh=60) == []
        store.forget_proxy("b")
        assert store.proxies_behind(5, fresh=60) == []
        assert {a.node: a.revision for a in store.proxy_acks()} == {"a": 5, "c": 1, "ghost": 1}

    def test_a_silent_proxy_is_not_waited_for(self, any_store: Store) -> None:
        """An acknowledgement older than `fresh` seconds means a dead proxy: not waited for."""
        store = any_store
        store.upsert_node(NodeRecord(name="a", engine_url="unix:///x", created_at=datetime.now(UTC),
                                     ready=True))
        store.ack_proxy("a", 1, "iptables")
        assert store.proxies_behind(2, fresh=3600) == ["a"]
        assert store.proxies_behind(2, fresh=-1) == []


class TestListenDetector:
    def test_a_lost_connection_counts_as_every_change(self, postgres_url: str) -> None:
        """The LISTEN connection killed: `wait` says "maybe everything", reconnects, and
        later notifications arrive again."""
        import psycopg

        from reconciler.store.changes import ALL, ListenDetector
        from reconciler.store.engine import to_url

        store = Store.open(postgres_url)
        detector = ListenDetector(to_url(postgres_url))
        try:
            assert not detector.wait(0.2)
            conninfo = to_url(postgres_url).set(drivername="postgresql").render_as_string(
                hide_password=False)
            with psycopg.connect(conninfo, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE query LIKE 'LISTEN%' AND datname = current_database()")
            assert detector.wait(WAIT)
            assert ALL in detector.topics()
            while detector.wait(0.5):  # the reconnection's own "maybe"
                detector.topics()
            store.set_endpoints("default", "web", SUBSETS)
            assert detector.wait(WAIT)
            assert detector.topics() == {"endpoints"}
        finally:
            detector.close()
            store.close()


class _WholePods:
    """A store seen without its narrow pod read: the table is built from whole pods."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        if name == "pod_network":
            raise AttributeError(name)
        return getattr(self._store, name)


class TestNarrowPodRead:
    def test_the_table_from_the_narrow_read_equals_the_one_from_whole_pods(
            self, any_store: Store) -> None:
        """Placed, addressed, published and terminating pods make the same proxy table
        whether the feed reads whole pods or only their placement and addresses."""
        store = any_store
        now = datetime.now(UTC)
        store.upsert_node(NodeRecord(name="local", engine_url="unix:///x", address="10.0.0.1",
                                     created_at=now))
        store.upsert_node(NodeRecord(name="hostb", engine_url="tcp://b", address="10.0.0.2",
                                     created_at=now))
        pods = [_pod("u1", "172.17.0.9"), _pod("u2", "172.18.0.3"), _pod("u3", "172.17.0.10"),
                _pod("u4", "")]
        pods[1].node_name, pods[1].host_ip, pods[1].ports = "hostb", "10.0.0.2", {"80/TCP": 30080}
        pods[2].deletion_timestamp = now
        store.upsert_pods(pods)
        store.apply_plan(diff([DesiredObject(
            Key("Service", "default", "web"),
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
             "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
            Position("web.yaml", 1, 1), "h")], {}), "sha")
        store.set_status(Key("Service", "default", "web"), {"clusterIP": "10.96.0.5"})
        store.set_endpoints("default", "web", [{
            "addresses": [{"ip": p.pod_ip, "targetRef": {"kind": "Pod", "name": p.name}}
                          for p in pods[:3]],
            "ports": [{"port": 80}]}])
        narrow = build_table(store, "local")
        assert narrow == build_table(_WholePods(store), "local")
        assert [e.host_port for e in narrow.services[0].ports[0].endpoints] == [0, 0, 30080]
        assert ("172.18.0.3", "hostb", "10.0.0.2") in narrow.pod_hosts


class TestHeartbeatTopic:
    def test_a_heartbeat_alone_does_not_recompose_and_an_address_change_does(
            self, any_store: Store) -> None:
        """A nodes change with the same addresses (a heartbeat's write) gives back the table
        as it was; a node whose address moved gives a table routing to the new address."""
        store = any_store
        now = datetime.now(UTC)
        node = NodeRecord(name="hostb", engine_url="tcp://b", address="10.0.0.2", created_at=now)
        store.upsert_node(node)
        pod = _pod("u1", "172.18.0.3")
        pod.node_name = "hostb"
        store.upsert_pod(pod)
        feed = TableFeed(store)
        first = feed.refresh(TOPICS)
        node.last_heartbeat = datetime.now(UTC)
        store.upsert_node(node)
        assert feed.refresh({"nodes"}) is first
        node.address = "10.0.0.9"
        store.upsert_node(node)
        moved = feed.refresh({"nodes"})
        assert moved.pod_hosts == (("172.18.0.3", "hostb", "10.0.0.9"),)
        assert first.pod_hosts == (("172.18.0.3", "hostb", "10.0.0.2"),)
