"""What get, describe and plan show of ConfigMaps and Secrets (reconciler.views.configviews)."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.api.types import Key
from reconciler.store.records import ObjectRecord
from reconciler.store.secrets import Sealer, seal_body
from reconciler.views.configviews import (
    SENSITIVE,
    describe_configmap,
    describe_secret,
    masked,
    object_json,
)

VALUE = "c2VjcmV0LXZhbHVl"  # "secret-value"
SEALER = Sealer((("k1", b"\x01" * 32),))
SECRET = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
          "metadata": {"name": "db", "namespace": "default", "labels": {"app": "x"}},
          "data": {"password": VALUE}}


def _record(body: dict[str, object]) -> ObjectRecord:
    return ObjectRecord(key=Key(str(body["kind"]), "default", "db"), uid="u", api_version="v1",
                        body=body, source_file="s.yaml", line=1, document=0,
                        content_hash="h", revision="", generation=1, stale=False, status=None,
                        created_at=datetime(2026, 1, 1, tzinfo=UTC),
                        updated_at=datetime(2026, 1, 1, tzinfo=UTC))


class TestSecretViews:
    def test_describe_shows_sizes_never_values(self) -> None:
        """kubectl's Data section: `key:  N bytes`, from a sealed body too."""
        for body in (SECRET, seal_body(SECRET, SEALER)):
            text = describe_secret(_record(body))
            assert "password:  12 bytes" in text and "Type:  Opaque" in text
            assert VALUE not in text and "secret-value" not in text

    def test_json_with_and_without_the_key(self) -> None:
        """-o yaml has base64 data with the key, none without it, never the sealed box."""
        sealed = _record(seal_body(SECRET, SEALER))
        assert object_json(sealed, SEALER)["data"] == {"password": VALUE}
        bare = object_json(sealed)
        assert "data" not in bare and "reconciler.dev/sealed" not in bare

    def test_plan_masks_every_value(self) -> None:
        """plan's YAML has each key with "(sensitive)"; other kinds pass through."""
        assert masked(SECRET)["data"] == {"password": SENSITIVE}  # type: ignore[index]
        assert masked({"kind": "ConfigMap", "data": {"a": "b"}}) == \
            {"kind": "ConfigMap", "data": {"a": "b"}}


class TestConfigMapViews:
    def test_describe_shows_values(self) -> None:
        """A ConfigMap's values are shown in full, as kubectl does."""
        body = {"kind": "ConfigMap", "metadata": {"name": "db"}, "data": {"a.conf": "x=1"}}
        assert "a.conf:\n----\nx=1" in describe_configmap(_record(body))
