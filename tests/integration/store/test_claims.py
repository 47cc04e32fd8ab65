"""Integration tests of persistent volume claims in the state store, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.api.records import ClaimRecord, OwnerRef
from reconciler.store import Store
from reconciler.store import engine as engines
from reconciler.store.opener import open_reader
from reconciler.store.reader import Reader

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WEB = OwnerRef("StatefulSet", "web", "sts-1", "apps/v1")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    yield s
    s.close()


def claim(name: str, namespace: str = "default", owner: OwnerRef | None = WEB) -> ClaimRecord:
    return ClaimRecord(
        namespace, name, "", owner, storage="1Gi", access_modes=["ReadWriteOnce"],
        labels={"app": "nginx"},
    )  # fmt: skip


class TestClaimsStore:
    def test_ensure_inserts_and_fills_in(self, store: Store) -> None:
        """ensure_claims inserts new claims with a uid, the volume name and a creation time."""
        made = store.ensure_claims([claim("www-web-0"), claim("www-web-0", "shop")])
        assert [(c.namespace, c.name, c.volume) for c in made] == [
            ("default", "www-web-0", "www-web-0"),
            ("shop", "www-web-0", "www-web-0.shop"),
        ]
        assert all(c.uid and c.created_at for c in made)
        assert made[0].storage == "1Gi" and made[0].access_modes == ["ReadWriteOnce"]
        assert made[0].labels == {"app": "nginx"} and made[0].owner == WEB
        assert store.get_claim("default", "www-web-0") == made[0]

    def test_ensure_keeps_existing_and_moves_owner(self, store: Store) -> None:
        """An existing claim keeps uid and node; a new set's ensure makes it the owner."""
        first = store.ensure_claims([claim("www-web-0")])[0]
        assert store.bind_claim("default", "www-web-0", "hostb")
        new_owner = OwnerRef("StatefulSet", "web", "sts-2", "apps/v1")
        again = store.ensure_claims([claim("www-web-0", owner=new_owner)])[0]
        assert again.uid == first.uid and again.node_name == "hostb"
        assert again.owner == new_owner

    def test_list_by_namespace_and_owner(self, store: Store) -> None:
        """list_claims filters by namespace and owner uid, sorted by namespace and name."""
        other = OwnerRef("StatefulSet", "db", "sts-9", "apps/v1")
        store.ensure_claims([claim("b"), claim("a"), claim("c", "shop"), claim("d", owner=other)])
        assert [c.name for c in store.list_claims()] == ["a", "b", "d", "c"]
        assert [c.name for c in store.list_claims("default", owner_uid="sts-1")] == ["a", "b"]
        assert [c.name for c in store.claims("shop")] == ["c"]

    def test_bind_only_once(self, store: Store) -> None:
        """bind_claim binds an unbound claim once; a bound or missing claim is left alone."""
        store.ensure_claims([claim("www-web-0")])
        assert store.bind_claim("default", "www-web-0", "local")
        assert not store.bind_claim("default", "www-web-0", "hostb")
        assert not store.bind_claim("default", "nope", "hostb")
        found = store.get_claim("default", "www-web-0")
        assert found is not None and found.node_name == "local"

    def test_mark_deleted_then_delete(self, store: Store) -> None:
        """mark_claims_deleted keeps the first timestamp; delete_claim removes the record."""
        made = store.ensure_claims([claim("www-web-0"), claim("www-web-1")])
        store.mark_claims_deleted(made[:1], T0)
        store.mark_claims_deleted(made, datetime(2024, 6, 1, tzinfo=UTC))
        marked = {c.name: c.deletion_timestamp for c in store.list_claims()}
        assert marked == {"www-web-0": T0, "www-web-1": datetime(2024, 6, 1, tzinfo=UTC)}
        assert store.delete_claim("default", "www-web-0")
        assert not store.delete_claim("default", "www-web-0")
        assert [c.name for c in store.list_claims()] == ["www-web-1"]

    def test_reader_matches_store(self, tmp_path: Path) -> None:
        """The CLI's stdlib reader returns the same claims as the store."""
        store = Store.open(str(tmp_path / "state.db"))
        store.ensure_claims([claim("www-web-0"), claim("x", "shop", owner=None)])
        store.bind_claim("default", "www-web-0", "local")
        store.mark_claims_deleted(store.list_claims("shop"), T0)
        reader = open_reader(str(tmp_path / "state.db"))
        assert isinstance(reader, Reader)
        assert reader.claims() == store.claims()
        assert reader.list_claims("default", "sts-1") == store.list_claims("default", "sts-1")
        assert reader.get_claim("shop", "x") == store.get_claim("shop", "x")
        reader.close()
        store.close()


class TestClaimsMigration:
    def test_upgrade_0003_to_0004_keeps_data(self, tmp_path: Path) -> None:
        """A store at 0003 keeps its rows and gains an empty, usable claims table."""
        path = tmp_path / "state.db"
        engine = engines.create(str(path))
        engines.migrate(engine, target="0003")
        engine.dispose()
        with sqlite3.connect(path) as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
            assert "components" in tables and "claims" not in tables
            db.execute(
                "INSERT INTO components (name, healthy, message, updated_at)"
                " VALUES ('scheduler', 1, 'ok', '2024-01-01 00:00:00')"
            )
        store = Store.open(str(path))
        assert engines.current_revision(store.engine) == engines.HEAD
        assert [c.name for c in store.list_components()] == ["scheduler"]
        assert store.list_claims() == []
        store.ensure_claims([claim("www-web-0")])
        assert [c.volume for c in store.list_claims()] == ["www-web-0"]
        store.close()
