"""kubeapi.writes: the resourceVersion precondition against a real store and desired folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.kubeapi import objects
from reconciler.kubeapi.app import Target
from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.validation import check
from reconciler.kubeapi.writes import WriteRequest, Writes
from reconciler.planning.diff import diff
from reconciler.store import Store
from tests.unit.kubeapi.store_kit import res

SETTINGS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: default}
data: {a: "1"}
"""


@pytest.fixture
def ctx(tmp_path: Path) -> ApiContext:
    """A desired folder declaring ConfigMap settings, and a store that applied it.

    Applied as a git revision: the folder writer's writes then answer without waiting for
    a service (none runs here), their changes left unapplied.
    """
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "settings.yaml").write_text(SETTINGS)
    state = tmp_path / "state.db"
    store = Store.open(str(state))
    store.apply_plan(diff(check("settings.yaml", SETTINGS).objects, {}), "git:abc")
    store.set_revision("git:abc", "git")
    store.close()
    return ApiContext(state=str(state), desired=desired)


def _write(writes: Writes, method: str, body: Any,
           content_type: str = "application/json") -> tuple[int, Any]:
    t = Target(res("ConfigMap"), "default", "settings", None)
    answer = writes.write(WriteRequest(t, method, json.dumps(body).encode(), content_type,
                                       False, "test"))
    return answer.status_code, json.loads(bytes(answer.body))


def _declared(ctx: ApiContext) -> dict[str, Any]:
    assert ctx.desired is not None
    return dict(yaml.safe_load((ctx.desired / "settings.yaml").read_text())["data"])


class TestPendingChanges:
    def test_a_put_read_before_an_unapplied_write_conflicts(self, ctx: ApiContext) -> None:
        """B read the object; A's patch is written, not applied yet (the store revision did
        not move); B's PUT naming the version it read is a 409, and A's change stays."""
        writes = Writes(ctx)
        read = objects.get_object(ctx, res("ConfigMap"), "default", "settings")
        assert read is not None
        code, _ = _write(writes, "PATCH", {"data": {"b": "2"}}, "application/merge-patch+json")
        assert code == 200 and _declared(ctx) == {"a": "1", "b": "2"}
        read["data"]["a"] = "9"
        code, answer = _write(writes, "PUT", read)
        assert code == 409 and "not applied yet" in answer["message"], answer
        assert _declared(ctx) == {"a": "1", "b": "2"}

    def test_a_patch_naming_no_version_builds_on_the_unapplied_write(
            self, ctx: ApiContext) -> None:
        """A patch without a resourceVersion (kubectl label, scale) is made to the object as
        declared: both changes are kept."""
        writes = Writes(ctx)
        assert _write(writes, "PATCH", {"data": {"b": "2"}}, "application/merge-patch+json"
                      )[0] == 200
        code, answer = _write(writes, "PATCH", {"data": {"c": "3"}},
                              "application/merge-patch+json")
        assert code == 200 and answer["data"] == {"a": "1", "b": "2", "c": "3"}
        assert answer["metadata"]["resourceVersion"]
        assert _declared(ctx) == {"a": "1", "b": "2", "c": "3"}

    def test_a_put_with_nothing_pending_goes_through(self, ctx: ApiContext) -> None:
        """With the manifest as the store applied it, a PUT of the version served is written."""
        read = objects.get_object(ctx, res("ConfigMap"), "default", "settings")
        assert read is not None
        read["data"]["a"] = "9"
        code, answer = _write(Writes(ctx), "PUT", read)
        assert code == 200, answer
        assert _declared(ctx) == {"a": "9"}
