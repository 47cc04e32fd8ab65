"""Unit tests of kubeapi/docedit.py and kubeapi/sourcewrite.py: text edits, folder and git."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.kubeapi.docedit import dump, edit_object, parse_object, remove_object
from reconciler.kubeapi.sourcewrite import (
    Change,
    FolderWriter,
    GitWriter,
    SourceConflict,
    SourceWriteError,
    writer_for,
)

FILE = """# the web tier
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # keep me
  labels:
    app: web
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: web
        image: "nginx:1"   # pinned
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
"""


def _web() -> dict[str, Any]:
    return dict(parse_object(FILE, "Deployment", "default", "web"))


class TestEditObject:
    def test_scalar_change_keeps_comments(self) -> None:
        """A changed scalar is replaced in place; comments and quoting stay."""
        want = _web()
        want["spec"]["replicas"] = 5
        want["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
        out = edit_object(FILE, "Deployment", "default", "web", want)
        assert out == FILE.replace("replicas: 2", "replicas: 5").replace('"nginx:1"',
                                                                          '"nginx:2"')

    def test_label_added_and_removed(self) -> None:
        """A key is added after the mapping's last one and a removed key's line goes."""
        want = _web()
        want["metadata"]["labels"] = {"tier": "front"}
        out = edit_object(FILE, "Deployment", "default", "web", want)
        assert "    tier: front\n" in out and "app: web" not in out
        assert "# keep me" in out and "# pinned" in out
        assert parse_object(out, "Deployment", "default", "web") == want

    def test_list_append(self) -> None:
        """A new container is appended with the list's own indentation."""
        want = _web()
        want["spec"]["template"]["spec"]["containers"].append({"name": "b", "image": "busybox"})
        out = edit_object(FILE, "Deployment", "default", "web", want)
        assert "      - name: b\n        image: busybox\n" in out and "# pinned" in out

    def test_flow_mapping_insert(self) -> None:
        """A flow-style document gets its new key inside the braces."""
        svc = parse_object(FILE, "Service", "default", "web")
        svc["metadata"]["labels"] = {"a": "b"}
        out = edit_object(FILE, "Service", "default", "web", svc)
        assert "metadata: {name: web, labels: {a: b}}" in out
        assert out.startswith(FILE.split("---")[0])

    def test_flow_mapping_removal(self) -> None:
        """Keys removed from a flow mapping go with their commas; the rest stays."""
        text = "kind: ConfigMap\nmetadata: {name: c}\ndata: {a: '1', b: '2', c: '3'}  # x\n"
        for keep, line in ((["a", "b"], "data: {a: '1', b: '2'}  # x"),
                           (["b", "c"], "data: {b: '2', c: '3'}  # x"),
                           ([], "data: {}  # x"),
                           (["a", "c", "d"], "data: {a: '1', c: '3', d: '4'}  # x")):
            want = {"kind": "ConfigMap", "metadata": {"name": "c"},
                    "data": {k: v for k, v in {"a": "1", "b": "2", "c": "3", "d": "4"}.items()
                             if k in keep}}
            out = edit_object(text, "ConfigMap", "default", "c", want)
            assert out.splitlines()[2] == line

    def test_empty_flow_mapping_filled(self) -> None:
        """`labels: {}` gets its first key in place."""
        text = "kind: ConfigMap\nmetadata: {name: c, labels: {}}\n"
        want = {"kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "b"}}}
        out = edit_object(text, "ConfigMap", "default", "c", want)
        assert out == "kind: ConfigMap\nmetadata: {name: c, labels: {a: b}}\n"

    def test_fallback_rewrites_one_document(self) -> None:
        """A change it cannot place re-writes only that document, and the result is right."""
        want = _web()
        want["spec"]["template"]["spec"]["containers"] = []
        out = edit_object(FILE, "Deployment", "default", "web", want)
        assert parse_object(out, "Deployment", "default", "web") == want
        assert out.endswith("metadata: {name: web}\nspec: {ports: [{port: 80}]}\n")

    def test_json_file(self) -> None:
        """A JSON manifest stays JSON."""
        text = '{\n  "apiVersion": "v1", "kind": "ConfigMap",\n  "metadata": {"name": "c"},\n' \
               '  "data": {"a": "1"}\n}\n'
        want = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                "data": {"a": "2", "b": "3"}}
        out = edit_object(text, "ConfigMap", "default", "c", want)
        assert out == text.replace('"data": {"a": "1"}', '"data": {"a": "2", "b": "3"}')

    def test_unchanged(self) -> None:
        """Wanting what is written gives the same text."""
        assert edit_object(FILE, "Deployment", "default", "web", _web()) == FILE


class TestRemoveObject:
    def test_one_of_two_documents(self) -> None:
        """Removing one object keeps the other document byte for byte."""
        out = remove_object(FILE, "Service", "default", "web")
        assert out is not None and out == FILE.split("---")[0]

    def test_first_document(self) -> None:
        """Removing the first object leaves the second loadable."""
        out = remove_object(FILE, "Deployment", "default", "web")
        assert out is not None
        assert [d["kind"] for d in yaml.safe_load_all(out) if d] == ["Service"]

    def test_last_object(self) -> None:
        """A file left with no object is to be removed (None)."""
        assert remove_object(dump({"kind": "ConfigMap", "metadata": {"name": "c"}}),
                             "ConfigMap", "default", "c") is None

    def test_list_item(self) -> None:
        """An item of a `kind: List` goes from its list."""
        text = dump({"apiVersion": "v1", "kind": "List", "items": [
            {"kind": "ConfigMap", "metadata": {"name": "a"}},
            {"kind": "ConfigMap", "metadata": {"name": "b"}}]})
        out = remove_object(text, "ConfigMap", "default", "a")
        assert out is not None
        assert [i["metadata"]["name"] for i in yaml.safe_load(out)["items"]] == ["b"]

CONFIG = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: '1'}\n"


class TestFolderWriter:
    def test_write_and_remove(self, tmp_path: Path) -> None:
        """Files are created (with folders), replaced and removed under the root."""
        writer = FolderWriter(tmp_path)
        with writer.session() as s:
            s.write([Change("default/deployment-web.yaml", "a: 1\n")], "create")
        assert (tmp_path / "default/deployment-web.yaml").read_text() == "a: 1\n"
        with writer.session() as s:
            assert s.read("default/deployment-web.yaml") == "a: 1\n"
            s.write([Change("default/deployment-web.yaml", None)], "delete")
        assert not (tmp_path / "default").exists()

    def test_locate(self, tmp_path: Path) -> None:
        """The file declaring an object is found in subfolders; hidden folders are skipped."""
        (tmp_path / "team").mkdir()
        (tmp_path / ".git").mkdir()
        (tmp_path / ".git" / "web.yaml").write_text(FILE)
        (tmp_path / "team" / "web.yaml").write_text(FILE)
        (tmp_path / "notes.txt").write_text(FILE)
        with FolderWriter(tmp_path).session() as s:
            assert s.locate("Service", "default", "web") == ("team/web.yaml", FILE)
            assert s.locate("Service", "other", "web") is None

    def test_locate_reads_the_loaders_files(self, tmp_path: Path) -> None:
        """A file the loader refuses (a symlink leaving the folder) declares nothing: the
        object is found where the loader reads it."""
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "web.yaml").write_text(FILE)
        root = tmp_path / "desired"
        root.mkdir()
        (root / "0-link.yaml").symlink_to(outside / "web.yaml")
        (root / "web.yaml").write_text(FILE)
        with FolderWriter(root).session() as s:
            assert s.locate("Deployment", "default", "web") == ("web.yaml", FILE)

    def test_outside_root_refused(self, tmp_path: Path) -> None:
        """A path leaving the root is refused."""
        with FolderWriter(tmp_path / "d").session() as s, pytest.raises(SourceWriteError):
            s.write([Change("../x.yaml", "a: 1\n")], "escape")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare repository with one commit on main holding web.yaml."""
    bare = tmp_path / "origin.git"
    _git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    seed = tmp_path / "seed"
    _git(tmp_path, "init", "-q", "-b", "main", str(seed))
    (seed / "web.yaml").write_text(FILE)
    _git(seed, "add", "web.yaml")
    _git(seed, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "seed")
    _git(seed, "push", "-q", str(bare), "main")
    return bare


class TestGitWriter:
    def test_commit_on_branch(self, origin: Path, tmp_path: Path) -> None:
        """A write is one commit on the branch, with the message given; the file changed."""
        writer = GitWriter(str(origin), "main", tmp_path / "work.git")
        with writer.session() as s:
            text = s.read("web.yaml")
            assert text == FILE
            want = copy.deepcopy(parse_object(text, "Deployment", "default", "web"))
            want["spec"]["replicas"] = 4
            done = s.write([Change("web.yaml", edit_object(text, "Deployment", "default", "web",
                                                           want)),
                            Change("ns/configmap-c.yaml", "kind: ConfigMap\n")],
                           "kubectl scale: deployment default/web")
        assert done.startswith("committed ")
        assert _git(origin, "log", "-1", "--format=%s", "main").strip() == \
            "kubectl scale: deployment default/web"
        assert "replicas: 4" in _git(origin, "show", "main:web.yaml")
        assert _git(origin, "show", "main:ns/configmap-c.yaml") == "kind: ConfigMap\n"
        with writer.session() as s:
            s.write([Change("ns/configmap-c.yaml", None)], "remove")
        assert "configmap-c" not in _git(origin, "ls-tree", "-r", "--name-only", "main")

    def test_moved_branch_conflicts(self, origin: Path, tmp_path: Path) -> None:
        """A branch that moved after the read refuses the push: SourceConflict."""
        writer = GitWriter(str(origin), "main", tmp_path / "work.git")
        other = GitWriter(str(origin), "main", tmp_path / "other.git")
        with writer.session() as s:
            with other.session() as o:
                o.write([Change("x.yaml", "kind: ConfigMap\n")], "someone else")
            with pytest.raises(SourceConflict):
                s.write([Change("y.yaml", "kind: ConfigMap\n")], "late")

    def test_modes_kept(self, tmp_path: Path) -> None:
        """An executable manifest stays 100755; a symlinked one is written where it points,
        the link kept."""
        bare, seed = tmp_path / "modes.git", tmp_path / "modes"
        _git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
        _git(tmp_path, "init", "-q", "-b", "main", str(seed))
        (seed / ".real").mkdir()
        (seed / ".real" / "web.yaml").write_text(FILE)
        (seed / "web.yaml").symlink_to(".real/web.yaml")
        (seed / "run.yaml").write_text(CONFIG)
        (seed / "run.yaml").chmod(0o755)
        _git(seed, "add", ".")
        _git(seed, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "seed")
        _git(seed, "push", "-q", str(bare), "main")
        writer = GitWriter(str(bare), "main", tmp_path / "work.git")
        with writer.session() as s:
            s.write([Change("web.yaml", FILE.replace("replicas: 2", "replicas: 3")),
                     Change("run.yaml", CONFIG.replace("a: '1'", "a: '2'"))], "edit")
        tree = {line.split("\t")[1]: line.split()[0]
                for line in _git(bare, "ls-tree", "-r", "main").splitlines()}
        assert tree == {"web.yaml": "120000", ".real/web.yaml": "100644",
                        "run.yaml": "100755"}
        assert _git(bare, "show", "main:web.yaml") == ".real/web.yaml"
        assert "replicas: 3" in _git(bare, "show", "main:.real/web.yaml")
        assert "a: '2'" in _git(bare, "show", "main:run.yaml")

    def test_writer_for(self, tmp_path: Path) -> None:
        """Git when a URL is set, else the folder, else none."""
        assert isinstance(writer_for(tmp_path, "repo", "main", tmp_path / "w"), GitWriter)
        assert isinstance(writer_for(tmp_path, None, "main", None), FolderWriter)
        assert writer_for(None, None, "main", None) is None


_KEYS = st.sampled_from(["a", "b", "c", "name", "x-y", "app.kubernetes.io/part"])
_SCALARS = st.one_of(st.integers(-5, 5), st.booleans(),
                     st.text("abz: #'\"-", min_size=0, max_size=6))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, min_size=1, max_size=3),
    st.dictionaries(_KEYS, inner, min_size=1, max_size=3)), max_leaves=8)
_DATA = st.dictionaries(_KEYS, _VALUES, min_size=1, max_size=4)


class TestEditProperty:
    @settings(max_examples=30, deadline=None)
    @given(before=_DATA, after=_DATA, flow=st.booleans())
    def test_any_edit_reads_back(self, before: dict[str, Any], after: dict[str, Any],
                                 flow: bool) -> None:
        """Whatever the change, the edited document reads back as wanted and the other
        document of the file is kept byte for byte."""
        obj = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": before}
        other = "# keep\nkind: Secret\nmetadata: {name: s}\n"
        body = yaml.safe_dump(obj, sort_keys=False, default_flow_style=flow)
        text = body + "---\n" + other
        want = {**obj, "data": after}
        out = edit_object(text, "ConfigMap", "default", "c", want)
        assert parse_object(out, "ConfigMap", "default", "c") == want
        assert out.endswith("---\n" + other)
