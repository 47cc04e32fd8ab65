"""Hostile and unusual input to the loader: special files, internal errors, encodings, limits.

Real files in a temporary folder, loaded by reconciler.manifests.loader as the
service and `validate` load them.
"""

from __future__ import annotations

import codecs
import json
import os
import socket
import stat
from pathlib import Path

import pytest

from reconciler.manifests import crossfile
from reconciler.manifests.loader import FolderLoader, load_folder, load_paths

POD = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  containers:
  - name: app
    image: busybox:1.36
"""


def rendered(folder: Path) -> list[str]:
    return [d.render() for d in load_folder(folder).diagnostics]


class TestSpecialFiles:
    """Only regular files are opened; the others are skipped with a warning naming the type."""

    def test_fifo_is_skipped(self, tmp_path: Path) -> None:
        """A named pipe (no writer) does not block the load: a warning names it, others load."""
        os.mkfifo(tmp_path / "pipe.yaml")
        (tmp_path / "pod.yaml").write_text(POD.format(name="a"))
        result = load_folder(tmp_path)
        assert [o.key.name for o in result.objects] == ["a"]
        assert [d.render() for d in result.diagnostics] == [
            "pipe.yaml:1:1: warning: skipped: a named pipe (fifo), not a regular file "
            "(only regular files are read)"]

    def test_socket_is_skipped(self, tmp_path: Path) -> None:
        """A unix socket in the folder is named as one and never opened."""
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(str(tmp_path / "app.sock"))
            assert rendered(tmp_path) == [
                "app.sock:1:1: warning: skipped: a socket, not a regular file "
                "(only regular files are read)"]

    def test_device_inside_the_folder_is_skipped(self, tmp_path: Path) -> None:
        """A character device node (like /dev/zero) inside the folder is never read."""
        try:
            os.mknod(tmp_path / "zero.yaml", stat.S_IFCHR | 0o600, os.makedev(1, 5))
        except PermissionError:
            pytest.skip("no permission to make device nodes here")
        assert rendered(tmp_path) == [
            "zero.yaml:1:1: warning: skipped: a character device, not a regular file "
            "(only regular files are read)"]

    def test_symlink_to_a_device_named_explicitly(self, tmp_path: Path) -> None:
        """`validate zero.yaml` with zero.yaml -> /dev/zero: skipped, not read until memory ends."""
        (tmp_path / "zero.yaml").symlink_to("/dev/zero")
        result = load_paths(tmp_path, [Path("zero.yaml"), Path("/dev/zero")])
        assert [d.severity for d in result.diagnostics] == ["warning", "warning"]
        assert all("a character device" in d.message for d in result.diagnostics)

    def test_symlink_to_a_fifo_inside_the_folder(self, tmp_path: Path) -> None:
        """A symlink to a fifo in the folder names the target and its type."""
        os.mkfifo(tmp_path / "real-pipe")
        (tmp_path / "link.yaml").symlink_to(tmp_path / "real-pipe")
        found = rendered(tmp_path)
        assert any(line.startswith("link.yaml:1:1: warning: skipped: symlink to ")
                   and "a named pipe (fifo)" in line for line in found), found

    def test_file_replaced_by_a_fifo_after_listing(self, tmp_path: Path) -> None:
        """A path that became a fifo between listing and reading is skipped, not opened."""
        path = tmp_path / "pod.yaml"
        path.write_text(POD.format(name="a"))
        st = path.stat()
        path.unlink()
        os.mkfifo(path)
        result = FolderLoader(tmp_path).load_files([("pod.yaml", str(path), st)])
        assert result.objects == [] and "a named pipe (fifo)" in result.diagnostics[0].message


SELECTOR_KEYS = """apiVersion: v1
kind: Pod
metadata:
  name: p
  labels: {matchLabels: x, matchExpressions: y}
spec:
  containers: [{name: app, image: busybox, ports: [{name: http, containerPort: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  selector: {matchLabels: x}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: ReplicationController
metadata: {name: r}
spec:
  selector: {matchExpressions: y}
  template:
    metadata: {labels: {matchExpressions: y}}
    spec:
      containers: [{name: app, image: busybox}]
"""


class TestInternalErrors:
    """No exception leaves the loader; a failing check fails its own file only."""

    def test_label_keys_named_like_selector_fields(self, tmp_path: Path) -> None:
        """`matchLabels` and `matchExpressions` as label keys of map selectors are just keys."""
        (tmp_path / "all.yaml").write_text(SELECTOR_KEYS)
        result = load_folder(tmp_path)
        assert result.diagnostics == []
        assert sorted(o.key.name for o in result.objects) == ["p", "r", "s"]

    def test_a_raising_rule_fails_that_file_only(self, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
        """An exception in a cross-file rule is `internal error in CHECK` on the object's file."""
        def broken(svc: object, index: object) -> list[crossfile.CrossFinding]:
            raise KeyError("boom")

        monkeypatch.setattr(crossfile, "_unselected", broken)
        (tmp_path / "svc.yaml").write_text(
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
            "spec: {selector: {app: a}, ports: [{port: 80}]}\n")
        (tmp_path / "pod.yaml").write_text(POD.format(name="a"))
        result = load_folder(tmp_path)
        assert [d.render() for d in result.diagnostics] == [
            "svc.yaml:1:1: error: internal error in Service selector: KeyError: 'boom'"]
        assert result.failed_files == frozenset({"svc.yaml"})
        assert [o.key.name for o in result.objects] == ["a"]

    def test_a_raising_document_check_fails_that_file_only(
            self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """An exception while validating a document is reported at that document."""
        from reconciler.manifests import document

        def broken(body: object, info: object) -> object:
            raise ValueError("unexpected")

        monkeypatch.setattr(document, "_validate_object", broken)
        (tmp_path / "pod.yaml").write_text(POD.format(name="a"))
        assert rendered(tmp_path) == [
            "pod.yaml:1:1: error: internal error in document validation: ValueError: unexpected"]


class TestEncodings:
    """UTF-8 with or without BOM and UTF-16 with a BOM are read; binary is refused."""

    @pytest.mark.parametrize("encode", [
        lambda t: t.encode(), lambda t: codecs.BOM_UTF8 + t.encode(),
        lambda t: codecs.BOM_UTF16_LE + t.encode("utf-16-le"),
        lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be"),
    ], ids=["utf-8", "utf-8-bom", "utf-16-le", "utf-16-be"])
    def test_decoded_and_validated(self, tmp_path: Path, encode: object) -> None:
        """The same Pod in each encoding loads, and errors keep their line and column."""
        assert callable(encode)
        (tmp_path / "pod.yaml").write_bytes(encode(POD.format(name="a")))
        (tmp_path / "bad.yaml").write_bytes(encode(POD.format(name="Bad_Name")))
        result = load_folder(tmp_path)
        assert [o.key.name for o in result.objects] == ["a"]
        assert [d.render()[:18] for d in result.errors] == ["bad.yaml:4:9: erro"]

    def test_binary_is_refused(self, tmp_path: Path) -> None:
        """Bytes with NULs and no BOM are a binary file."""
        (tmp_path / "x.yaml").write_bytes(bytes(range(256)))
        assert rendered(tmp_path) == [
            "x.yaml:1:1: error: binary file (contains NUL bytes); not a manifest"]


class TestSizeBounds:
    """A file of many tiny nodes is refused from its events, before values are built."""

    def test_too_many_nodes(self, tmp_path: Path) -> None:
        """210,000 scalars in 420 KB: refused as over the node limit, at the node."""
        (tmp_path / "many.yaml").write_text("x: [" + ",".join(["1"] * 210_000) + "]\n")
        found = rendered(tmp_path)
        assert found == ["many.yaml:1:399995: error: file has more than 200000 nodes (size limit)"]


class TestApiserverLimits:
    """The apiserver's own limits, in its words."""

    def test_annotations_total_size(self, tmp_path: Path) -> None:
        """Annotations over 256 KiB in total: Too long: must have at most 262144 bytes."""
        big = "x" * (130 * 1024)
        (tmp_path / "pod.yaml").write_text(POD.format(name="a").replace(
            "  labels:", f"  annotations: {{a: {big}, b: {big}}}\n  labels:"))
        found = rendered(tmp_path)
        assert len(found) == 1 and "metadata.annotations: Too long: must have at most 262144 " \
            "bytes" in found[0], found

    def test_request_above_limit(self, tmp_path: Path) -> None:
        """A request above its limit: Invalid value: "2": must be less than or equal to ..."""
        (tmp_path / "pod.yaml").write_text(POD.format(name="a") + (
            "    resources: {requests: {cpu: '2', memory: 64Mi}, "
            "limits: {cpu: '1', memory: 128Mi}}\n"))
        assert rendered(tmp_path) == [
            'pod.yaml:10:33: error: spec.containers[0].resources.requests.cpu: Invalid value: '
            '"2": must be less than or equal to cpu limit of 1']

    def test_name_too_long(self, tmp_path: Path) -> None:
        """A name over 253 characters: must be no more than 253 characters."""
        (tmp_path / "pod.yaml").write_text(POD.format(name="a" * 254))
        found = rendered(tmp_path)
        assert found[0] == ("pod.yaml:4:9: error: metadata.name: must be no more than 253 "
                            "characters (got 254)"), found

    def test_duplicate_keys_in_json(self, tmp_path: Path) -> None:
        """A JSON object with a key twice is refused at the second one, as in YAML."""
        (tmp_path / "pod.json").write_text(
            '{"apiVersion": "v1", "kind": "Pod",\n'
            ' "metadata": {"name": "a", "name": "b"},\n'
            ' "spec": {"containers": [{"name": "c", "image": "busybox"}]}}\n')
        assert rendered(tmp_path) == ["pod.json:2:28: error: duplicate key 'name'"]
        assert json.loads((tmp_path / "pod.json").read_text())["metadata"] == {"name": "b"}


class TestNoSecretEcho:
    """Messages about fields that may be secret name the field and type, never the value."""

    def test_env_value_and_secret_data(self, tmp_path: Path) -> None:
        """An env value and Secret data of the wrong type: the type is named, not the value."""
        (tmp_path / "pod.yaml").write_text(POD.format(name="a") + (
            "    env: [{name: TOKEN, value: 8675309}, {name: T2, value: {hunter2: x}}]\n"))
        (tmp_path / "secret.yaml").write_text(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {pw: 424242}\n")
        found = rendered(tmp_path)
        assert found == [
            "pod.yaml:10:32: error: spec.containers[0].env[0].value: must be of type string "
            "(got integer; value not shown)",
            "pod.yaml:10:53: error: spec.containers[0].env[1].value: must be of type string "
            "(got object; value not shown)",
            "secret.yaml:4:12: error: data.pw: must be of type string (got integer; value not "
            "shown)"]
        assert not any(s in "".join(found) for s in ("8675309", "hunter2", "424242"))
