"""The Services a pod start reads for its environment, from the cache (control/pods.py)."""

from __future__ import annotations

import dataclasses

from reconciler.control.cache import Cache
from reconciler.control.pods import _CachedServices
from reconciler.planning.service_env import services_for_env
from reconciler.store.records import ObjectRecord
from tests.unit.control.test_cache import make_object


class _NoStore:
    """The store is asked only while a Service has no allocated address yet."""

    def cluster_ips(self) -> dict[str, str]:
        raise AssertionError("every Service has its address in its status")


def _service(name: str, namespace: str, ip: str) -> ObjectRecord:
    return dataclasses.replace(make_object("Service", name, namespace),
                               status={"clusterIP": ip})


class TestCachedServices:
    def test_a_pod_outside_default_is_told_about_the_master_service(self) -> None:
        """A pod in `team` gets its namespace's Services and default/kubernetes, with IPs."""
        cache = Cache()
        cache.replace([_service("app", "team", "10.96.0.20"),
                       _service("kubernetes", "default", "10.96.0.1"),
                       _service("other", "default", "10.96.0.30")], [])
        found = services_for_env(_CachedServices(cache, _NoStore()), "team")  # type: ignore[arg-type]
        assert {(s.namespace, s.name, s.cluster_ip) for s in found} == {
            ("team", "app", "10.96.0.20"), ("default", "kubernetes", "10.96.0.1")}
