"""The bad-input corpus (tests/data/bad/CASE/): each refused at its exact file, line and reason."""

# The expectations table reads best one case per line.
# ruff: noqa: E501

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.api.types import LoadResult
from reconciler.manifests.loader import Limits, load_folder

BAD = Path(__file__).resolve().parents[2] / "data" / "bad"

# case folder, file, line, column (0: any), fragment of the message
CASES: list[tuple[str, str, int, int, str]] = [
    ("alias-bomb", "bomb.yaml", 10, 6, "expands to more than 200000 nodes"),
    ("bad-annotation-key", "pod.yaml", 6, 24, "invalid annotation: key 'Example.COM/owner'"),
    ("bad-cluster-ip", "svc.yaml", 6, 14, "clusterIP '10.0.0.300' is not an IP address"),
    ("bad-label-value", "pod.yaml", 6, 10, "invalid label: value 'not a valid value'"),
    ("bad-quantity", "pod.yaml", 11, 14, "'lots' is not a quantity"),
    ("broken-indent", "pod.yaml", 5, 2, "invalid YAML: did not find expected key"),
    ("comments-only", "pod.yaml", 1, 1, "file holds no objects"),
    ("downwardapi-volume", "pod.yaml", 11, 5, "volume type downwardAPI is not supported"),
    ("deployment-no-selector", "deploy.yaml", 5, 1, "apps/v1 does not default it"),
    ("document-is-list", "pods.yaml", 1, 1, "a document must be an object"),
    ("duplicate-across-files", "a.yaml", 4, 9, "Pod/default/web is declared more than once: also at b.yaml:2:1"),
    ("duplicate-across-files", "b.yaml", 5, 9, "Pod/default/web is declared more than once: also at a.yaml:1:1"),
    ("duplicate-container-names", "pod.yaml", 9, 11, "duplicate container name 'app' (also at spec.containers[0])"),
    ("duplicate-container-ports", "pod.yaml", 14, 22, "duplicate port 80/TCP in this pod"),
    ("duplicate-in-file", "pods.yaml", 4, 9, "declared more than once: also at pods.yaml:10:1 (document 2)"),
    ("duplicate-in-file", "pods.yaml", 13, 9, "declared more than once: also at pods.yaml:1:1"),
    ("duplicate-key", "pod.yaml", 5, 3, "duplicate key 'name'"),
    ("empty-file", "empty.yaml", 1, 1, "file is empty"),
    ("env-value-and-valuefrom", "pod.yaml", 10, 7, "either value or valueFrom, not both"),
    ("externalname-missing", "svc.yaml", 5, 1, "needs spec.externalName"),
    ("host-network", "pod.yaml", 6, 3, "hostNetwork is not supported"),
    ("invalid-json", "pod.json", 4, 1, "invalid JSON: Expecting property name"),
    ("list-bad-item", "list.yaml", 4, 3, "an item must be an object (got string)"),
    ("missing-apiversion", "obj.yaml", 1, 1, "apiVersion: required field is missing"),
    ("missing-image", "pod.yaml", 7, 5, "spec.containers[0].image: required field is missing"),
    ("missing-kind", "obj.yaml", 1, 1, "kind: required field is missing"),
    ("missing-name", "pod.yaml", 3, 1, "metadata.name: required field is missing"),
    ("multi-doc-second-bad", "pods.yaml", 17, 12, "must be of type string (got integer 42) (document 2)"),
    ("node-bad-engine", "node.yaml", 6, 11, "scheme must be unix://, tcp:// or ssh://"),
    ("node-missing-engine", "node.yaml", 5, 1, "spec.engine: required field is missing"),
    ("node-port-clusterip", "svc.yaml", 9, 15, "nodePort is only allowed with type NodePort"),
    ("node-port-range", "svc.yaml", 10, 15, "nodePort 8080 is outside the range 30000-32767"),
    ("node-tcp-no-port", "node.yaml", 6, 11, "a tcp URL needs a port"),
    ("node-typo", "node.yaml", 7, 3, "unknown field 'unschedulabel' (did you mean 'unschedulable'?)"),
    ("port-name-too-long", "pod.yaml", 10, 13, "must be no more than 15 characters"),
    ("privileged", "pod.yaml", 10, 7, "privileged containers are not supported"),
    ("probe-two-handlers", "pod.yaml", 9, 5, "exactly one of exec, httpGet, tcpSocket (found exec, tcpSocket)"),
    ("probe-unknown-port", "pod.yaml", 12, 15, "port 'http' names no port of this container"),
    ("python-tag", "pod.yaml", 4, 9, "unsupported YAML tag"),
    ("rc-no-labels", "rc.yaml", 5, 1, "selector is empty"),
    ("rc-restart-never", "rc.yaml", 10, 22, "must be Always in a ReplicationController template"),
    ("rc-selector-mismatch", "rc.yaml", 6, 3, "selector does not match the pod template labels"),
    ("rs-in-without-values", "rs.yaml", 8, 7, "operator In needs at least one value"),
    ("projected-token", "pod.yaml", 14, 9, "projected serviceAccountToken sources are not"),
    ("service-name-digit", "svc.yaml", 4, 9, "must start with a letter"),
    ("service-ports-unnamed", "svc.yaml", 8, 5, "every port needs a name when there are several"),
    ("statefulset-claims", "sts.yaml", 16, 22, "claim template name 'Data' is not a valid DNS-1123"),
    ("tab-indent", "pod.yaml", 4, 1, "invalid YAML: found character that cannot start any token"),
    ("too-deep", "deep.yaml", 6, 0, "nesting is too deep (limit 64 levels)"),
    ("typo-container-field", "pod.yaml", 9, 5, "unknown field 'imagePulPolicy' (did you mean 'imagePullPolicy'?)"),
    ("typo-spec-field", "pod.yaml", 6, 3, "unknown field 'contianers' (did you mean 'containers'?)"),
    ("typo-top-level", "pod.yaml", 9, 1, "unknown field 'metdata' (did you mean 'metadata'?)"),
    ("unclosed-flow", "pod.yaml", 4, 5, "did not find expected ',' or '}'"),
    ("undeclared-volume", "pod.yaml", 10, 13, "volume 'data' is not declared"),
    ("unknown-kind", "obj.yaml", 2, 7, "unknown kind 'Deploy'"),
    ("unsupported-kind", "cm.yaml", 2, 7, "kind PodTemplate is not supported"),
    ("uppercase-name", "pod.yaml", 4, 9, "'MyPod' is not a valid DNS-1123 subdomain"),
    ("wrong-apiversion", "pod.yaml", 1, 13, "apiVersion 'apps/v1' does not serve kind Pod (use v1)"),
    ("wrong-type-containers", "pod.yaml", 6, 3, "spec.containers: must be of type array"),
    ("wrong-type-port", "pod.yaml", 10, 22, "must be of type integer (got string '80')"),
    ("wrong-type-replicas", "rc.yaml", 6, 13, "must be of type integer (got string 'three')"),
]


def assert_refused(result: LoadResult, file: str, line: int, column: int, fragment: str) -> None:
    """One error at file:line[:column] whose rendering holds `fragment`; the file failed."""
    rendered = [d.render() for d in result.diagnostics]
    matching = [d for d in result.errors if d.position.file == file and d.position.line == line
                and (column == 0 or d.position.column == column) and fragment in d.render()]
    assert matching, f"no error {file}:{line}:{column} with {fragment!r} in {rendered}"
    assert file in result.failed_files
    assert not [o for o in result.objects if o.position.file == file]
    assert not any("internal error" in r for r in rendered)


class TestBadCorpus:
    """Every committed bad input is refused where and why the table says."""

    def test_every_case_folder_is_in_the_table(self) -> None:
        """No case folder goes unchecked, and the corpus holds at least 40 cases."""
        folders = {p.name for p in BAD.iterdir() if p.is_dir()}
        assert folders == {c[0] for c in CASES}
        assert len(folders) >= 40

    @pytest.mark.parametrize(("case", "file", "line", "column", "fragment"), CASES,
                             ids=[f"{c[0]}:{c[1]}:{c[2]}" for c in CASES])
    def test_case_is_refused_at_its_place(self, case: str, file: str, line: int, column: int,
                                          fragment: str) -> None:
        """The case's file fails with the expected error at the expected line."""
        assert_refused(load_folder(BAD / case), file, line, column, fragment)


class TestGeneratedBadInputs:
    """Bad inputs better made at test time: big, binary, non-UTF-8, symlinks, many documents."""

    def test_oversized_file_is_refused_without_parsing(self, tmp_path: Path) -> None:
        """A file over the size limit is refused by its size alone."""
        (tmp_path / "big.yaml").write_text("a: " + "x" * (1024 * 1024) + "\n")
        assert_refused(load_folder(tmp_path), "big.yaml", 1, 1, "file is too large")

    def test_limit_is_configurable(self, tmp_path: Path) -> None:
        """A smaller max_file_bytes refuses a small file."""
        (tmp_path / "pod.yaml").write_text("apiVersion: v1\nkind: Pod\n")
        result = load_folder(tmp_path, limits=Limits(max_file_bytes=10))
        assert_refused(result, "pod.yaml", 1, 1, "(limit 10)")

    def test_binary_file_is_refused(self, tmp_path: Path) -> None:
        """A file with NUL bytes is reported as binary."""
        (tmp_path / "image.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
        assert_refused(load_folder(tmp_path), "image.yaml", 1, 1, "binary file")

    def test_non_utf8_file_points_at_the_byte(self, tmp_path: Path) -> None:
        """A Latin-1 byte is reported at its line and column."""
        (tmp_path / "pod.yaml").write_bytes(b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: caf\xe9\n")
        assert_refused(load_folder(tmp_path), "pod.yaml", 4, 12, "not UTF-8 text (invalid byte 0xe9)")

    def test_symlink_leaving_the_folder_is_refused(self, tmp_path: Path) -> None:
        """A symlink to a file outside the folder is refused, not followed."""
        outside = tmp_path / "outside.yaml"
        outside.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")
        desired = tmp_path / "desired"
        desired.mkdir()
        os.symlink(outside, desired / "link.yaml")
        assert_refused(load_folder(desired), "link.yaml", 1, 1, "symlink leaves the folder")

    def test_symlinked_folder_leaving_is_refused(self, tmp_path: Path) -> None:
        """A symlink to a folder outside is refused too."""
        (tmp_path / "elsewhere").mkdir()
        desired = tmp_path / "desired"
        desired.mkdir()
        os.symlink(tmp_path / "elsewhere", desired / "more")
        assert_refused(load_folder(desired), "more", 1, 1, "symlink leaves the folder")

    def test_too_many_documents(self, tmp_path: Path) -> None:
        """More documents than the limit are refused at the first one over."""
        (tmp_path / "many.yaml").write_text("---\na: 1\n" * 4)
        result = load_folder(tmp_path, limits=Limits(max_documents=3))
        assert_refused(result, "many.yaml", 1, 1, "too many documents (limit 3)")
