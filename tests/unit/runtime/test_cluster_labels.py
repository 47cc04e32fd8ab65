"""The cluster id in the driver's labels: what it stamps, and what it counts as its own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reconciler.api.records import PodRecord
from reconciler.runtime import naming
from reconciler.runtime.types import RuntimeConfig

OURS, THEIRS = "11111111-aaaa", "22222222-bbbb"


class TestRuntimeConfigLabels:
    def test_everything_created_carries_the_cluster_id(self) -> None:
        """`labels` adds the cluster id to the extra labels."""
        config = RuntimeConfig(cluster_id=OURS, extra_labels={"team": "a"})
        assert config.labels == {"team": "a", naming.CLUSTER: OURS}

    def test_no_cluster_id_adds_no_label(self) -> None:
        """Without a store's id (tools, driver tests) nothing is stamped."""
        assert RuntimeConfig(extra_labels={"team": "a"}).labels == {"team": "a"}

    @pytest.mark.parametrize("labels,owned", [
        ({naming.CLUSTER: OURS}, True),
        ({naming.CLUSTER: THEIRS}, False),
        ({}, True),  # made before cluster ids: the caller decides by pod uid
    ])
    def test_owns_everything_but_another_clusters(
        self, labels: dict[str, str], owned: bool
    ) -> None:
        """Objects of another cluster id are never ours; ours and unlabelled ones may be."""
        assert RuntimeConfig(cluster_id=OURS).owns(labels) is owned

    def test_without_a_cluster_id_everything_is_owned(self) -> None:
        """An agent with no cluster id behaves as before ids: the prefix decides."""
        assert RuntimeConfig().owns({naming.CLUSTER: THEIRS})


class TestPodLabels:
    def test_pod_labels_keep_the_cluster_id_of_the_base(self) -> None:
        """pod_labels over config.labels carries the cluster id to every container."""
        pod = PodRecord(uid="u1", namespace="default", name="web", spec={}, spec_hash="h",
                        created_at=datetime.now(UTC))
        labels = naming.pod_labels("rk8s", pod, RuntimeConfig(cluster_id=OURS).labels)
        assert naming.cluster_of(labels) == OURS
        assert naming.cluster_of(naming.pod_labels("rk8s", pod)) == ""
