"""kubeapi.writes on PostgreSQL: a write waiting to be applied reads through one store."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.kubeapi import writes
from reconciler.kubeapi.app import Target
from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.validation import check
from reconciler.kubeapi.writes import WriteRequest, Writes
from reconciler.planning.diff import diff
from reconciler.store import Store
from reconciler.store.reader import ReadStore
from tests.unit.kubeapi.store_kit import res

SETTINGS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: default}
data: {a: "1"}
"""


@dataclass
class _Counted(ApiContext):
    """A context that counts the stores it opens."""

    opened: int = 0

    def open_store(self) -> ReadStore:
        self.opened += 1
        return super().open_store()


class TestAppliedWait:
    def test_one_store_for_every_poll(self, postgres_url: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
        """A write no service applies polls the store until APPLY_WAIT, through one store
        (an engine each was ~0.1 s and a connection), and answers with the warning."""
        monkeypatch.setattr(writes, "APPLY_WAIT", 1.0)
        (tmp_path / "settings.yaml").write_text(SETTINGS)
        store = Store.open(postgres_url)
        store.apply_plan(diff(check("settings.yaml", SETTINGS).objects, {}), "folder:abc")
        store.set_revision("folder:abc", "folder")  # the service follows this folder
        store.close()
        ctx = _Counted(state=postgres_url, desired=tmp_path)
        w = Writes(ctx)
        try:
            t = Target(res("ConfigMap"), "default", "settings", None)
            answer = w.write(WriteRequest(t, "PATCH", json.dumps({"data": {"b": "2"}}).encode(),
                                          "application/merge-patch+json", False, "test"))
            assert answer.status_code == 200
            assert "has not applied this change" in answer.headers.get("warning", "")
            assert ctx.opened == 2  # the object served (objects.py), and the one kept
        finally:
            w.close()
