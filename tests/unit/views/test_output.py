"""Unit tests of the CLI's kubectl-style cells, ages and tables, and the Kubernetes JSON shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.api import k8s
from reconciler.api.records import Condition, ContainerStatus, NodeRecord, OwnerRef, PodRecord
from reconciler.views import output

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def pod(*containers: ContainerStatus, **kw: Any) -> PodRecord:
    spec = {"containers": [{"name": c.name, "image": c.image} for c in containers]}
    return PodRecord(
        uid="u",
        namespace="default",
        name="p",
        spec=spec,
        spec_hash="h",
        created_at=T0,
        containers=list(containers),
        **kw,
    )


def running(ready: bool = True, restarts: int = 0) -> ContainerStatus:
    return ContainerStatus(
        "c", "img", state="running", reason="", ready=ready, restart_count=restarts
    )


class TestHumanDuration:
    @pytest.mark.parametrize(
        ("seconds", "text"),
        [
            (5, "5s"),
            (119, "119s"),
            (200, "3m20s"),
            (180, "3m"),
            (12 * 60, "12m"),
            (150 * 60, "150m"),
            (4 * 3600 + 30 * 60, "4h30m"),
            (10 * 3600, "10h"),
            (4 * 86400, "4d"),
            (3 * 86400 + 4 * 3600, "3d4h"),
            (20 * 86400, "20d"),
            (-0.5, "0s"),
            (-5, "<invalid>"),
        ],
    )
    def test_kubectl_formats(self, seconds: float, text: str) -> None:
        """Ages read as kubectl's HumanDuration writes them."""
        assert output.human_duration(timedelta(seconds=seconds)) == text


class TestPodStatus:
    @pytest.mark.parametrize(
        ("containers", "kw", "status"),
        [
            ((running(),), {"phase": "Running"}, "Running"),
            ((ContainerStatus("c", "i"),), {}, "ContainerCreating"),
            ((ContainerStatus("c", "i", reason="CrashLoopBackOff"),), {}, "CrashLoopBackOff"),
            (
                (ContainerStatus("c", "i", state="terminated", reason="Completed", exit_code=0),),
                {"phase": "Succeeded"},
                "Completed",
            ),
            (
                (ContainerStatus("c", "i", state="terminated", reason="", exit_code=3),),
                {"phase": "Failed"},
                "ExitCode:3",
            ),
            ((running(),), {"phase": "Running", "deletion_timestamp": T0}, "Terminating"),
            ((), {"phase": "Pending"}, "Pending"),
            ((), {"phase": "Failed", "reason": "Evicted"}, "Evicted"),
        ],
    )
    def test_status(
        self, containers: tuple[ContainerStatus, ...], kw: dict[str, Any], status: str
    ) -> None:
        """STATUS follows kubectl's reason rules."""
        assert output.pod_status(pod(*containers, **kw)) == status

    def test_init_containers(self) -> None:
        """A pod still running init containers shows Init:i/n."""
        p = pod(ContainerStatus("c", "i", reason="PodInitializing"))
        p.init_containers = [ContainerStatus("i0", "i", state="running", reason="", init=True)]
        p.spec["initContainers"] = [{"name": "i0"}]
        assert output.pod_status(p) == "Init:0/1"

    def test_ready_counts(self) -> None:
        """READY counts ready running containers over the spec's containers."""
        p = pod(running(True), ContainerStatus("d", "i"))
        assert output.pod_ready(p) == "1/2"


class TestCells:
    @pytest.mark.parametrize(
        ("spec", "text"),
        [
            ({"ports": [{"port": 6379, "protocol": "TCP"}]}, "6379/TCP"),
            (
                {"ports": [{"port": 80, "nodePort": 30080}, {"port": 53, "protocol": "UDP"}]},
                "80:30080/TCP,53/UDP",
            ),
            ({}, "<none>"),
        ],
    )
    def test_service_ports(self, spec: dict[str, Any], text: str) -> None:
        """PORT(S) as kubectl prints it."""
        assert output.service_ports(spec) == text

    def test_endpoints_more(self) -> None:
        """More than three endpoints end in "+ N more..."."""
        subsets = [
            {"addresses": [{"ip": f"10.0.0.{i}"} for i in range(5)], "ports": [{"port": 5000}]}
        ]
        assert output.format_endpoints(subsets) == (
            "10.0.0.0:5000,10.0.0.1:5000,10.0.0.2:5000 + 2 more..."
        )

    def test_endpoints_none(self) -> None:
        """No subsets print <none>."""
        assert output.format_endpoints([]) == "<none>"

    @pytest.mark.parametrize(
        ("ready", "unschedulable", "text"),
        [(True, False, "Ready"), (False, True, "NotReady,SchedulingDisabled")],
    )
    def test_node_status(self, ready: bool, unschedulable: bool, text: str) -> None:
        """Node STATUS adds SchedulingDisabled when cordoned."""
        node = NodeRecord(
            "n", "unix://", T0, ready=ready, unschedulable=unschedulable, last_heartbeat=T0
        )
        assert output.node_status(node) == text

    def test_table_pads_like_tabwriter(self) -> None:
        """Columns are padded by three spaces; the last column is not padded."""
        text = output.table(["NAME", "AGE"], [["redis", "5s"]])
        assert text.splitlines() == ["NAME    AGE", "redis   5s"]


class TestK8sPod:
    def test_field_names(self) -> None:
        """A pod renders with Kubernetes' field names."""
        p = pod(
            running(restarts=2),
            phase="Running",
            pod_ip="172.17.0.2",
            host_ip="10.0.0.1",
            node_name="n1",
            start_time=T0,
            labels={"app": "web"},
            owner=OwnerRef("ReplicationController", "web", "rc-uid"),
            conditions=[Condition("Ready", True)],
        )
        out = k8s.pod_to_k8s(p)
        assert out["metadata"]["ownerReferences"][0]["uid"] == "rc-uid"
        assert out["metadata"]["creationTimestamp"] == "2024-01-01T00:00:00Z"
        assert out["spec"]["nodeName"] == "n1"
        assert out["status"]["podIP"] == "172.17.0.2"
        assert out["status"]["hostIP"] == "10.0.0.1"
        assert out["status"]["conditions"] == [{"type": "Ready", "status": "True"}]
        (cs,) = out["status"]["containerStatuses"]
        assert (cs["restartCount"], cs["ready"], list(cs["state"])) == (2, True, ["running"])

    def test_list_wrapper(self) -> None:
        """Several objects are wrapped in a v1 List."""
        out = k8s.as_list([{"kind": "Pod"}])
        assert (out["apiVersion"], out["kind"], out["items"]) == ("v1", "List", [{"kind": "Pod"}])
