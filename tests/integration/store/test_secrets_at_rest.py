"""Secrets at rest: sealed in the store file, opened with the key, re-sealed on rotation."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from reconciler.api.types import Key, LoadResult
from reconciler.manifests.loader import load_folder
from reconciler.planning.diff import diff
from reconciler.store import Store
from reconciler.store import secrets as sec

VALUE = "Zq8-unique-secret-value-7731"
SECRET = f"""apiVersion: v1
kind: Secret
metadata: {{name: db, namespace: default}}
stringData: {{password: {VALUE}}}
"""


def _load(folder: Path, text: str) -> LoadResult:
    (folder / "s.yaml").write_text(text)
    return load_folder(folder)


def _apply(store: Store, result: LoadResult) -> None:
    store.apply_plan(diff(result, store.recorded(), result.failed_files))


class TestKeyFile:
    def test_created_private_with_one_key(self, tmp_path: Path) -> None:
        """A missing key file is created 0600 with one 32-byte key."""
        path = tmp_path / "keys" / "state.key"
        sealer = sec.load_key_file(path, create=True)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(sealer.keys) == 1 and len(sealer.keys[0][1]) == 32
        assert sec.load_key_file(path).keys == sealer.keys

    def test_bad_key_file_is_refused(self, tmp_path: Path) -> None:
        """A line that is no base64 32-byte key is an error naming the line."""
        path = tmp_path / "k"
        path.write_text("k1 c2hvcnQ=\n")
        with pytest.raises(sec.SealError, match=":1:"):
            sec.load_key_file(path)


class TestSealedStore:
    @pytest.fixture
    def store(self, tmp_path: Path) -> Store:
        s = Store.open(str(tmp_path / "state.db"))
        s.sealer = sec.load_key_file(tmp_path / "state.key", create=True)
        return s

    def test_value_is_not_in_the_file(self, store: Store, tmp_path: Path) -> None:
        """After applying a Secret, neither its value nor its base64 is in the SQLite files."""
        folder = tmp_path / "d"
        folder.mkdir()
        _apply(store, _load(folder, SECRET))
        store.close()
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
        assert VALUE.encode() not in raw
        assert base64.b64encode(VALUE.encode()) not in raw

    def test_read_back_opened_and_unchanged(self, store: Store, tmp_path: Path) -> None:
        """The store returns the data with the key, and the next diff sees no change."""
        folder = tmp_path / "d"
        folder.mkdir()
        result = _load(folder, SECRET)
        _apply(store, result)
        obj = store.get_object(Key("Secret", "default", "db"))
        assert obj is not None
        assert base64.b64decode(obj.body["data"]["password"]).decode() == VALUE
        plan = diff(result, store.recorded(), result.failed_files)
        assert [c.action for c in plan.changes] == ["unchanged"]

    def test_without_key_reads_sealed_sizes_and_refuses_writes(self, store: Store,
                                                               tmp_path: Path) -> None:
        """A store without the key shows sizes only, and will not store a Secret."""
        folder = tmp_path / "d"
        folder.mkdir()
        _apply(store, _load(folder, SECRET))
        store.sealer = None
        obj = store.get_object(Key("Secret", "default", "db"))
        assert obj is not None and "data" not in obj.body
        assert sec.sizes(obj.body) == {"password": len(VALUE)}
        with pytest.raises(sec.SealError):
            _apply(store, _load(folder, SECRET.replace("db,", "db2,")))

    def test_rotation_reseals_with_the_new_key(self, store: Store, tmp_path: Path) -> None:
        """add_key + reseal_secrets + drop_old_keys: the data opens with the new key alone."""
        folder = tmp_path / "d"
        folder.mkdir()
        _apply(store, _load(folder, SECRET))
        store.sealer = sec.add_key(tmp_path / "state.key")
        assert store.reseal_secrets() == 1
        store.sealer = sec.drop_old_keys(tmp_path / "state.key")
        assert len(store.sealer.keys) == 1
        obj = store.get_object(Key("Secret", "default", "db"))
        assert obj is not None
        assert base64.b64decode(obj.body["data"]["password"]).decode() == VALUE

    def test_a_box_moved_to_another_secret_does_not_open(self, store: Store) -> None:
        """The box is bound to the Secret's namespace and name."""
        assert store.sealer is not None
        body = {"kind": "Secret", "metadata": {"name": "a", "namespace": "n"},
                "data": {"k": "eA=="}}
        sealed = sec.seal_body(body, store.sealer)
        moved = {**sealed, "metadata": {"name": "b", "namespace": "n"}}
        with pytest.raises(sec.SealError):
            sec.open_body(moved, store.sealer)
