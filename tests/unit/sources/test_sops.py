"""SOPS-encrypted manifests opened with an age identity (reconciler.sources.sops), in memory."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyrage import x25519

from reconciler.manifests.loader import load_folder
from reconciler.sources.sops import SopsDecryptor, SopsError, decrypt, is_sops
from tests.support.sops_writer import encrypt

VALUE = "sops-plain-value-5521"
SECRET: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Secret",
    "metadata": {"name": "db", "labels": {"app": "x"}},
    "type": "Opaque",
    "stringData": {"password": VALUE, "port": 5432, "debug": True},
}


# As a Kubernetes Secret must be: string values (SECRET also has an int and a bool for sops).
VALID = {**copy.deepcopy(SECRET), "stringData": {"password": VALUE}}


@pytest.fixture
def identity() -> x25519.Identity:
    return x25519.Identity.generate()


class TestDecrypt:
    def test_round_trip_and_regex(self, identity: x25519.Identity) -> None:
        """Only data/stringData are encrypted; decrypting gives the document back."""
        enc = encrypt(SECRET, identity.to_public())
        assert is_sops(enc) and VALUE not in yaml.safe_dump(enc)
        assert enc["metadata"] == SECRET["metadata"]
        assert decrypt(enc, [identity]) == SECRET

    def test_values_swapped_between_keys_do_not_open(self, identity: x25519.Identity) -> None:
        """A value moved to another path fails its additional data."""
        enc = encrypt(SECRET, identity.to_public())
        s = enc["stringData"]
        s["password"], s["port"] = s["port"], s["password"]
        with pytest.raises(SopsError, match="does not open"):
            decrypt(enc, [identity])

    def test_changed_clear_field_fails_the_mac(self, identity: x25519.Identity) -> None:
        """Editing an unencrypted field after encryption is caught by the MAC."""
        enc = encrypt(SECRET, identity.to_public())
        enc["metadata"]["name"] = "other"
        with pytest.raises(SopsError, match="MAC does not match"):
            decrypt(enc, [identity])

    def test_other_identity_is_refused(self, identity: x25519.Identity) -> None:
        """A file for another recipient names its recipients, not its content."""
        enc = encrypt(SECRET, x25519.Identity.generate().to_public())
        with pytest.raises(SopsError, match="no configured age identity") as e:
            decrypt(enc, [identity])
        assert VALUE not in str(e.value)


class TestLoader:
    def _folder(self, tmp_path: Path, identity: x25519.Identity) -> Path:
        folder = tmp_path / "desired"
        folder.mkdir()
        (folder / "db.sops.yaml").write_text(
            yaml.safe_dump(encrypt(VALID, identity.to_public()), sort_keys=False))
        return folder

    def test_loaded_with_the_key(self, tmp_path: Path, identity: x25519.Identity) -> None:
        """With the age key file the Secret loads, stringData merged into data."""
        key = tmp_path / "age.txt"
        key.write_text(f"# public key: {identity.to_public()}\n{identity}\n")
        result = load_folder(self._folder(tmp_path, identity),
                             decrypt=SopsDecryptor(str(key)))
        assert result.errors == []
        [obj] = result.objects
        assert base64.b64decode(obj.body["data"]["password"]).decode() == VALUE
        assert "sops" not in obj.body

    def test_without_a_key_the_file_fails(self, tmp_path: Path, identity: x25519.Identity,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
        """No key configured: the file is an error that says so; nothing loads."""
        monkeypatch.delenv("SOPS_AGE_KEY_FILE", raising=False)
        result = load_folder(self._folder(tmp_path, identity), decrypt=SopsDecryptor(""))
        assert result.objects == []
        [error] = result.errors
        assert "no age key is configured" in error.render()
