"""`reconciler secrets rotate-key` on a real store file, as a user runs it."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

from reconciler.api.types import Key
from reconciler.manifests.loader import load_folder
from reconciler.planning.diff import diff
from reconciler.store import Store
from reconciler.store import secrets as sec

RECONCILER = str(Path(sys.executable).with_name("reconciler"))
VALUE = "rotate-me-value-9931"


class TestRotateKey:
    def test_rotation_reseals_and_drops_the_old_key(self, tmp_path: Path) -> None:
        """After rotation the key file holds one new key and the Secret opens with it."""
        state, key = tmp_path / "state.db", tmp_path / "state.db.key"
        folder = tmp_path / "d"
        folder.mkdir()
        (folder / "s.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
                                       f"stringData: {{v: {VALUE}}}\n")
        store = Store.open(str(state))
        store.sealer = old = sec.load_key_file(key, create=True)
        result = load_folder(folder)
        store.apply_plan(diff(result, store.recorded(), result.failed_files))
        store.close()
        run = subprocess.run([RECONCILER, "secrets", "rotate-key", "--state", str(state)],
                             capture_output=True, text=True, timeout=60, check=False)
        assert run.returncode == 0, run.stderr
        assert "1 Secret(s) sealed" in run.stdout
        new = sec.load_key_file(key)
        assert len(new.keys) == 1 and new.current != old.current
        store = Store.open(str(state))
        store.sealer = new
        obj = store.get_object(Key("Secret", "default", "s"))
        store.close()
        assert obj is not None
        assert base64.b64decode(obj.body["data"]["v"]).decode() == VALUE
