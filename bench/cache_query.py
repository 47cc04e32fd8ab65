"""`python -m bench.cache_query`: a selector's pods among 10,000, via the cache vs a scan.

A figure for issue 23, not yet in `make bench`: 10,000 pods of 100 replication
controllers (100 pods each) in one namespace of a real SQLite store; the query
is one controller's selector. Compared: the store's list with a label predicate
(what the controllers do today), a Python scan of records already in memory,
and the cache (uids only, and copies of the records). Also the time a write by
another process takes to reach a following cache.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from reconciler.api.records import OwnerRef, PodRecord
from reconciler.api.selectors import from_map
from reconciler.control.cache import Cache
from reconciler.control.follow import follow
from reconciler.store import Store

PODS, OWNERS = 10_000, 100


def pods() -> list[PodRecord]:
    now = datetime.now(UTC)
    out = []
    for i in range(PODS):
        rc = i % OWNERS
        spec = {"containers": [{"name": "web", "image": "nginx:1.25",
                                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                                "ports": [{"containerPort": 80}]}]}
        out.append(PodRecord(
            uid=f"uid-{i}", namespace="default", name=f"rc-{rc}-{i}", spec=spec,
            spec_hash="h", created_at=now, labels={"app": f"rc-{rc}", "tier": "web"},
            owner=OwnerRef("ReplicationController", f"rc-{rc}", f"rc-uid-{rc}"),
            node_name=f"node-{i % 2}", phase="Running"))
    return out


def timed(fn: Callable[[], object], runs: int) -> float:
    """Median milliseconds of `runs` calls."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    selector = from_map({"app": "rc-7"})
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "state.db"
        store = Store.open(str(db))
        records = pods()
        store.upsert_pods(records)
        cache = Cache()
        start = time.perf_counter()
        cache.replace([], store.list_pods())
        fill = (time.perf_counter() - start) * 1000
        assert len(cache.pods("default", selector)) == PODS // OWNERS
        rows = [
            ("store.list_pods(ns, selector) [today]",
             timed(lambda: store.list_pods("default", selector.matches), 5)),
            ("scan of 10,000 records in memory",
             timed(lambda: [p for p in records if p.namespace == "default"
                            and selector.matches(p.labels)], 20)),
            ("cache.pod_uids(ns, selector)", timed(lambda: cache.pod_uids("default", selector),
                                                   200)),
            ("cache.pods(ns, selector) (copies)", timed(lambda: cache.pods("default", selector),
                                                        50)),
            ("cache.node_usage(node)", timed(lambda: cache.node_usage("node-0"), 200)),
            ("full list + replace (a relist, no change)",
             timed(lambda: cache.replace([], store.list_pods(), copy=False), 3)),
        ]
        print(f"{PODS} pods, {OWNERS} owners; first fill {fill:.0f} ms")
        for name, ms in rows:
            print(f"  {name:45s} {ms:10.3f} ms")
        follower = follow(store, resync=3600)
        lags = []
        # When the cache took each change in: the writer's exit (and so subprocess.run's
        # return) comes later than that, after its interpreter's teardown.
        seen: dict[object, float] = {}
        follower.cache.subscribe(lambda change: seen.setdefault(change.key, time.time()))
        for n in range(5):
            code = ("import sys; from datetime import UTC, datetime;"
                    "from reconciler.api.records import PodRecord;"
                    "from reconciler.store import Store;"
                    "s = Store.open(sys.argv[1]);"
                    "s.upsert_pod(PodRecord(uid=sys.argv[2], namespace='x', name=sys.argv[2],"
                    " spec={}, spec_hash='h', created_at=datetime.now(UTC)));"
                    "print(__import__('time').time())")
            out = subprocess.run([sys.executable, "-c", code, str(db), f"x{n}"],
                                 check=True, capture_output=True, text=True).stdout
            committed = float(out.split()[-1])
            while f"x{n}" not in seen:
                time.sleep(0.001)
            lags.append((seen[f"x{n}"] - committed) * 1000)
        follower.stop()
        store.close()
        print(f"  another process's write -> cache (5 runs)   median {statistics.median(lags):.0f}"
              f" ms, max {max(lags):.0f} ms (relist of {PODS} pods included)")


if __name__ == "__main__":
    main()
