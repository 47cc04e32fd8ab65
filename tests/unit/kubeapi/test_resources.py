"""kubeapi.resources: the resource table discovery and routing read."""

from __future__ import annotations

from reconciler.kubeapi.listings import API_LISTINGS
from reconciler.kubeapi.resources import (
    RESOURCES,
    api_resource,
    group_versions,
    in_group_version,
    resource_for,
    resource_of_kind,
)


class TestResourceTable:
    def test_lookup_by_path(self) -> None:
        """Core kinds under "" and v1, the others under their group."""
        pods = resource_for("", "v1", "pods")
        assert pods is not None and pods.kind == "Pod" and pods.base_path == "/api/v1"
        deploy = resource_for("apps", "v1", "deployments")
        assert deploy is not None and deploy.group_version == "apps/v1"
        assert resource_for("", "v1", "deployments") is None

    def test_every_kind_has_a_loader(self) -> None:
        """Each served kind is loaded by a Listing (and so has get's columns)."""
        assert all(r.kind in API_LISTINGS for r in RESOURCES)

    def test_names_are_unique(self) -> None:
        """Plurals per group and short names are unambiguous, as kubectl needs."""
        plurals = [(r.group, r.plural) for r in RESOURCES]
        shorts = [s for r in RESOURCES for s in r.short_names]
        assert len(plurals) == len(set(plurals)) and len(shorts) == len(set(shorts))

    def test_all_category(self) -> None:
        """`get all` covers the workloads and services, as kubectl's "all" does."""
        names = {r.plural for r in RESOURCES if "all" in r.categories}
        assert {"pods", "services", "deployments", "replicasets", "jobs"} <= names
        assert "configmaps" not in names and "events" not in names

    def test_groups(self) -> None:
        """apps and batch are groups with v1; the core group is not listed among them."""
        groups = group_versions()
        assert groups["apps"] == ["v1"] and groups["batch"] == ["v1"] and "" not in groups
        assert {r.plural for r in in_group_version("batch", "v1")} == {"jobs", "cronjobs"}

    def test_api_resource_entries(self) -> None:
        """The APIResourceList entries: the resource, then its subresources (scale as Scale)."""
        deploy = resource_of_kind("Deployment")
        assert deploy is not None
        entries = api_resource(deploy)
        assert entries[0]["shortNames"] == ["deploy"] and entries[0]["categories"] == ["all"]
        scale = next(e for e in entries if e["name"] == "deployments/scale")
        assert scale["kind"] == "Scale" and scale["group"] == "autoscaling"
