"""Loading folders: discovery, multi-document YAML, Lists, KYAML, JSON, positions, the cache."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from reconciler.api.defaults import content_hash
from reconciler.api.types import Key
from reconciler.manifests import discover as discover_module
from reconciler.manifests.loader import FolderLoader, ignored, load_folder, load_paths

POD = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  containers:
  - name: app
    image: busybox:1.36
    ports:
    - {{name: http, containerPort: 80}}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


class TestDiscovery:
    """Which files a folder load reads."""

    @pytest.mark.parametrize(("name", "skip"), [
        (".pod.yaml.swp", True), ("pod.yaml~", True), (".#pod.yaml", True), ("4913", True),
        (".git", True), ("pod.yaml", False), ("pod.yml", False), ("pod.json", False),
    ])
    def test_ignored_names(self, name: str, skip: bool) -> None:
        """Editor leftovers and hidden entries are ignored, manifests are not."""
        assert ignored(name) is skip

    def test_recursive_and_filtered(self, tmp_path: Path) -> None:
        """Nested folders are read; hidden folders, leftovers and other suffixes are not."""
        write(tmp_path, "a/b/one.yaml", POD.format(name="one"))
        write(tmp_path, "two.yml", POD.format(name="two"))
        write(tmp_path, ".git/three.yaml", POD.format(name="three"))
        write(tmp_path, "four.yaml~", POD.format(name="four"))
        write(tmp_path, "README.md", "# not a manifest\n")
        result = load_folder(tmp_path)
        assert sorted(o.key.name for o in result.objects) == ["one", "two"]
        assert {o.position.file for o in result.objects} == {"a/b/one.yaml", "two.yml"}
        assert result.diagnostics == []

    def test_symlink_inside_the_folder_is_followed(self, tmp_path: Path) -> None:
        """A symlink to a file inside the folder is loaded under its own name."""
        write(tmp_path, "real/pod.yaml", POD.format(name="one"))
        os.symlink(tmp_path / "real", tmp_path / "alias")
        result = load_folder(tmp_path / "real")
        assert [o.key.name for o in result.objects] == ["one"]


    def test_a_symlinked_root_swapped_mid_walk_is_read_from_one_target(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`ln -sfn v2 desired` between the root's listing and a subfolder's: all of v1."""
        write(tmp_path, "v1/db.yaml", POD.format(name="db"))
        write(tmp_path, "v1/team/web.yaml", POD.format(name="web"))
        write(tmp_path, "v2/db.yaml", POD.format(name="db"))
        write(tmp_path, "v2/web.yaml", POD.format(name="web"))  # moved up a folder
        os.mkdir(tmp_path / "v2" / "team")
        desired = tmp_path / "desired"
        desired.symlink_to(tmp_path / "v1")
        real_scandir = discover_module.os.scandir
        calls = 0

        def scandir_then_swap(path: str) -> object:
            nonlocal calls
            listing = list(real_scandir(path))
            calls += 1
            if calls == 1:  # the root is listed: the release switches under the walk
                (tmp_path / "next").symlink_to(tmp_path / "v2")
                os.replace(tmp_path / "next", desired)
            return iter(listing)

        monkeypatch.setattr(discover_module.os, "scandir", scandir_then_swap)
        result = load_folder(desired)
        assert sorted(o.key.name for o in result.objects) == ["db", "web"]


class TestDocuments:
    """Multi-document files, Lists, flow style and JSON."""

    def test_multi_document_with_end_markers(self, tmp_path: Path) -> None:
        """`---` separates and `...` ends documents; null documents are skipped."""
        text = "---\n" + POD.format(name="a") + "...\n---\n" + POD.format(name="b") + "---\n"
        write(tmp_path, "pods.yaml", text)
        result = load_folder(tmp_path)
        assert [(o.key.name, o.position.document, o.position.line) for o in result.objects] == [
            ("a", 0, 2), ("b", 1, 15)]

    def test_list_items_become_objects(self, tmp_path: Path) -> None:
        """Each item of a kind: List is an object, positioned at its item."""
        items = [json.loads(json.dumps({"apiVersion": "v1", "kind": "Namespace",
                                        "metadata": {"name": n}})) for n in ("x", "y")]
        write(tmp_path, "list.yaml", "apiVersion: v1\nkind: List\nitems:\n"
              + "".join(f"- {json.dumps(i)}\n" for i in items))
        result = load_folder(tmp_path)
        assert [(o.key, o.position.line) for o in result.objects] == [
            (Key("Namespace", "", "x"), 4), (Key("Namespace", "", "y"), 5)]

    def test_kyaml_flow_style(self, tmp_path: Path) -> None:
        """Flow-style YAML (KYAML) loads like block style."""
        write(tmp_path, "pod.yaml", '{\n  apiVersion: "v1",\n  kind: "Pod",\n'
              '  metadata: {name: "k"},\n'
              '  spec: {containers: [{name: "app", image: "nginx:1.25"}]},\n}\n')
        result = load_folder(tmp_path)
        assert [o.key.name for o in result.objects] == ["k"]

    def test_json_file_with_positions(self, tmp_path: Path) -> None:
        """A JSON manifest loads, and its errors still carry line and column."""
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j"},
                "spec": {"containers": [{"name": "app", "image": 5}]}}
        write(tmp_path, "pod.json", json.dumps(body, indent=2))
        result = load_folder(tmp_path)
        [error] = result.errors
        assert (error.position.file, error.position.line) == ("pod.json", 11)
        assert error.path == "spec.containers[0].image"

    def test_content_hash_is_of_the_defaulted_body(self, tmp_path: Path) -> None:
        """content_hash is sha256 of the canonical JSON of the defaulted body."""
        write(tmp_path, "pod.yaml", POD.format(name="a"))
        [obj] = load_folder(tmp_path).objects
        assert obj.content_hash == content_hash(obj.body)
        assert obj.body["spec"]["restartPolicy"] == "Always"

    def test_same_content_same_hash_whatever_the_layout(self, tmp_path: Path) -> None:
        """Key order, flow style and comments do not change the hash."""
        write(tmp_path, "a/pod.yaml", POD.format(name="a"))
        write(tmp_path, "b/pod.yaml", "# comment\nkind: Pod\napiVersion: v1\n"
              "spec: {containers: [{image: 'busybox:1.36', name: app, ports: "
              "[{containerPort: 80, name: http}]}]}\nmetadata: {labels: {app: a}, name: a}\n")
        [a] = load_folder(tmp_path / "a").objects
        [b] = load_folder(tmp_path / "b").objects
        assert a.content_hash == b.content_hash


class TestFolderLoader:
    """Reloading: only changed files are parsed; cross-file rules see the whole set."""

    def _age(self, folder: Path) -> None:
        old = time.time() - 60
        for p in folder.rglob("*.yaml"):
            os.utime(p, (old, old))

    def test_unchanged_reload_returns_the_same_result(self, tmp_path: Path) -> None:
        """Nothing changed: the previous result is returned as is."""
        for i in range(5):
            write(tmp_path, f"p{i}.yaml", POD.format(name=f"p{i}"))
        self._age(tmp_path)
        loader = FolderLoader(tmp_path)
        first = loader.load()
        assert loader.load() is first

    def test_changed_file_is_reparsed(self, tmp_path: Path) -> None:
        """A changed file gives its new objects; the others stay as they were."""
        write(tmp_path, "a.yaml", POD.format(name="a"))
        write(tmp_path, "b.yaml", POD.format(name="b"))
        self._age(tmp_path)
        loader = FolderLoader(tmp_path)
        before = {o.key.name: o for o in loader.load().objects}
        write(tmp_path, "b.yaml", POD.format(name="c"))
        after = {o.key.name: o for o in loader.load().objects}
        assert sorted(after) == ["a", "c"]
        assert after["a"] is before["a"]

    def test_same_size_same_mtime_edit_is_seen_while_recent(self, tmp_path: Path) -> None:
        """A fresh file is hashed again, so an edit within one mtime tick is not missed."""
        path = write(tmp_path, "a.yaml", POD.format(name="a"))
        loader = FolderLoader(tmp_path)
        loader.load()
        stat = path.stat()
        path.write_text(POD.format(name="b"))  # same length
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert [o.key.name for o in loader.load().objects] == ["b"]

    def test_cross_file_duplicate_appears_and_clears(self, tmp_path: Path) -> None:
        """A new duplicate fails both files; removing it restores both objects."""
        write(tmp_path, "a.yaml", POD.format(name="a"))
        self._age(tmp_path)
        loader = FolderLoader(tmp_path)
        assert len(loader.load().objects) == 1
        write(tmp_path, "b.yaml", POD.format(name="a"))
        result = loader.load()
        assert result.failed_files == {"a.yaml", "b.yaml"} and result.objects == []
        (tmp_path / "b.yaml").unlink()
        assert [o.position.file for o in loader.load().objects] == ["a.yaml"]

    def test_removed_file_disappears(self, tmp_path: Path) -> None:
        """A deleted file's objects are gone from the next load."""
        write(tmp_path, "a.yaml", POD.format(name="a"))
        loader = FolderLoader(tmp_path)
        loader.load()
        (tmp_path / "a.yaml").unlink()
        assert loader.load().objects == []


class TestLoadPaths:
    """`reconciler validate PATH...`: files and folders as given."""

    def test_files_and_folders_as_given(self, tmp_path: Path) -> None:
        """A named file of any suffix is read; positions keep the names as given."""
        write(tmp_path, "dir/a.yaml", POD.format(name="a"))
        write(tmp_path, "svc.yaml.sed", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
              "spec: {ports: [{port: 80}]}\n")
        result = load_paths(tmp_path, [Path("dir"), Path("svc.yaml.sed")])
        assert sorted(o.position.file for o in result.objects) == ["dir/a.yaml", "svc.yaml.sed"]

    def test_missing_path_is_an_error(self, tmp_path: Path) -> None:
        """A path that does not exist is reported, not raised."""
        result = load_paths(tmp_path, [Path("nope.yaml")])
        assert [d.message for d in result.errors] == ["no such file or folder"]
