"""Config volume folders on a real disk: the ..data swap, modes, removal (runtime.configfiles)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from reconciler.runtime.configfiles import DATA, ConfigVolumes, write_atomic
from reconciler.runtime.configrefs import ConfigObjects, File


class TestWriteAtomic:
    def test_layout_is_kubelets(self, tmp_path: Path) -> None:
        """Files live in a timestamped folder behind ..data; names are symlinks through it."""
        folder = tmp_path / "v"
        assert write_atomic(folder, [File("a", b"1", 0o400), File("d/b", b"2", 0o644)])
        assert os.readlink(folder / DATA).startswith("..")
        assert os.readlink(folder / "a") == f"{DATA}/a"
        assert (folder / "a").read_bytes() == b"1"
        assert (folder / "d" / "b").read_bytes() == b"2"
        assert (folder / "a").stat().st_mode & 0o777 == 0o400

    def test_unchanged_is_not_rewritten(self, tmp_path: Path) -> None:
        """The same files again change nothing."""
        folder = tmp_path / "v"
        write_atomic(folder, [File("a", b"1", 0o644)])
        before = os.readlink(folder / DATA)
        assert not write_atomic(folder, [File("a", b"1", 0o644)])
        assert os.readlink(folder / DATA) == before

    def test_update_swaps_and_cleans(self, tmp_path: Path) -> None:
        """An update points ..data at a new folder, drops removed names and the old folder."""
        folder = tmp_path / "v"
        write_atomic(folder, [File("a", b"1", 0o644), File("gone", b"x", 0o644)])
        old = os.readlink(folder / DATA)
        assert write_atomic(folder, [File("a", b"2", 0o644)])
        assert (folder / "a").read_bytes() == b"2"
        assert not (folder / "gone").exists() and not (folder / "gone").is_symlink()
        assert not (folder / old).exists()

    def test_readers_never_see_a_mix(self, tmp_path: Path) -> None:
        """While updates run, a reader of two files always sees one version of both."""
        folder = tmp_path / "v"
        write_atomic(folder, [File("a", b"0", 0o644), File("b", b"0", 0o644)])
        stop = threading.Event()
        mixed: list[tuple[bytes, bytes]] = []

        def read() -> None:
            while not stop.is_set():
                try:
                    data = os.readlink(folder / DATA)
                    pair = ((folder / data / "a").read_bytes(), (folder / data / "b").read_bytes())
                except FileNotFoundError:
                    continue  # the old folder was removed after the swap: read again
                if pair[0] != pair[1]:
                    mixed.append(pair)

        reader = threading.Thread(target=read)
        reader.start()
        for i in range(1, 200):
            v = str(i).encode()
            write_atomic(folder, [File("a", v, 0o644), File("b", v, 0o644)])
        stop.set()
        reader.join()
        assert mixed == []


class TestConfigVolumes:
    SPEC = {"volumes": [{"name": "cfg", "configMap": {"name": "cm"}},
                        {"name": "e", "emptyDir": {}}]}

    def test_sync_failure_keeps_last_files_and_remove(self, tmp_path: Path) -> None:
        """A pod's folder is written, kept when its ConfigMap goes, and removed with the pod."""
        vols = ConfigVolumes(str(tmp_path / "vols"))
        folders, failed, _ = vols.sync("uid1", self.SPEC,
                                       ConfigObjects("ns", {("ConfigMap", "cm"): {"k": b"v"}}))
        assert failed == [] and list(folders) == ["cfg"]
        assert (tmp_path / "vols").stat().st_mode & 0o777 == 0o700
        folders, failed, _ = vols.sync("uid1", self.SPEC, ConfigObjects("ns", {}))
        assert failed == [("cfg", 'configmap "cm" not found')]
        assert (Path(folders["cfg"]) / "k").read_bytes() == b"v"
        assert vols.sweep({"other"}) == ["uid1"]
        assert not (tmp_path / "vols" / "uid1").exists()


class TestFsGroup:
    def test_files_belong_to_the_pods_fs_group(self, tmp_path: Path) -> None:
        """With fsGroup, files and folders get that group and files are group-readable."""
        vols = ConfigVolumes(str(tmp_path / "vols"))
        spec = {"securityContext": {"fsGroup": 2000},
                "volumes": [{"name": "s", "secret": {"secretName": "s", "defaultMode": 0o400}}]}
        folders, failed, _ = vols.sync("u", spec, ConfigObjects("ns", {("Secret", "s"): {
            "k": b"v"}}))
        assert failed == []
        target = Path(folders["s"]) / "k"
        st = target.stat()
        assert st.st_gid == 2000 and st.st_mode & 0o777 == 0o440
        assert (Path(folders["s"]) / os.readlink(Path(folders["s"]) / DATA)).stat().st_gid == 2000
