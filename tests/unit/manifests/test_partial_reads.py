"""Loading a folder that cannot be read whole: each unread path is a ReadFailure, not an absence."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.api.types import ReadFailure
from reconciler.manifests import loader as loader_module
from reconciler.manifests.loader import FolderLoader, load_folder, load_paths

POD = """apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers: [{{name: app, image: busybox:1.36}}]
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def desired(tmp_path: Path) -> Path:
    root = tmp_path / "desired"
    write(root, "a.yaml", POD.format(name="a"))
    write(root, "team/b.yaml", POD.format(name="b"))
    write(root, "team/deep/c.yaml", POD.format(name="c"))
    return root


def failures(result: Any) -> list[tuple[str, str]]:
    return [(f.path, errno.errorcode.get(f.errno or 0, "")) for f in result.unreadable]


@pytest.fixture
def failing_scandir(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """os.scandir raising the errno mapped to a folder (EIO, EACCES...), as a bad disk or mount."""
    broken: dict[str, int] = {}
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        # The top folder is listed from its fd (discover): the fd names its folder.
        listed = os.readlink(f"/proc/self/fd/{path}") if isinstance(path, int) else path
        for folder, number in broken.items():
            if os.fspath(listed) == folder:
                raise OSError(number, os.strerror(number), folder)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    yield broken


class TestReadFailures:
    def test_complete_folder(self, desired: Path) -> None:
        """A folder read whole is complete and gives every object."""
        result = load_folder(desired)
        assert result.complete and result.unreadable == ()
        assert sorted(o.key.name for o in result.objects) == ["a", "b", "c"]

    def test_missing_root(self, tmp_path: Path) -> None:
        """A root that does not exist is unread (ENOENT), never an empty folder."""
        result = load_folder(tmp_path / "gone")
        assert failures(result) == [("", "ENOENT")] and not result.complete

    def test_root_dangling_symlink(self, tmp_path: Path) -> None:
        """A root that is a symlink to nothing is unread."""
        (tmp_path / "desired").symlink_to(tmp_path / "nowhere")
        assert failures(load_folder(tmp_path / "desired")) == [("", "ENOENT")]

    def test_root_is_a_file(self, tmp_path: Path) -> None:
        """A root that is a file is unread (ENOTDIR)."""
        write(tmp_path, "desired", "not a folder")
        assert failures(load_folder(tmp_path / "desired")) == [("", "ENOTDIR")]

    @pytest.mark.parametrize("number", [errno.EIO, errno.EACCES, errno.ENOTCONN])
    def test_subfolder_scandir_error(self, desired: Path, failing_scandir: dict[str, int],
                                     number: int) -> None:
        """A subfolder whose listing fails is unread, with its errno; the rest is still loaded."""
        failing_scandir[str(desired / "team")] = number
        result = load_folder(desired)
        assert failures(result) == [("team", errno.errorcode[number])]
        assert [o.key.name for o in result.objects] == ["a"]

    def test_root_scandir_error(self, desired: Path, failing_scandir: dict[str, int]) -> None:
        """A root whose listing fails is unread as a whole."""
        failing_scandir[str(desired)] = errno.EIO
        assert failures(load_folder(desired)) == [("", "EIO")]

    def test_subfolder_replaced_by_dangling_symlink(self, desired: Path, tmp_path: Path) -> None:
        """A subfolder that became a symlink to nothing (a mount gone) is unread, not empty."""
        (desired / "team").rename(tmp_path / "moved")
        (desired / "team").symlink_to(tmp_path / "mnt" / "team")
        result = load_folder(desired)
        assert failures(result) == [("team", "ENOENT")]
        assert "dangling symlink" in result.unreadable[0].message

    def test_file_vanished_after_listing(self, desired: Path) -> None:
        """A file listed and then gone before it was read is unread, not removed."""
        path = desired / "a.yaml"
        st = path.stat()
        path.unlink()
        result = FolderLoader(desired).load_files([("a.yaml", str(path), st)])
        assert failures(result) == [("a.yaml", "ENOENT")]
        assert "vanished after it was listed" in result.unreadable[0].message

    def test_file_read_error(self, desired: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A file that cannot be read (EIO) is unread; its folder's other files still load."""
        real_read = loader_module.read_regular

        def failing_read(file: str, limit: int) -> bytes:
            if os.fspath(file).endswith("b.yaml"):
                raise OSError(errno.EIO, os.strerror(errno.EIO), file)
            return real_read(file, limit)

        monkeypatch.setattr(loader_module, "read_regular", failing_read)
        result = load_folder(desired)
        assert failures(result) == [("team/b.yaml", "EIO")]
        assert sorted(o.key.name for o in result.objects) == ["a", "c"]

    def test_failure_is_also_an_error_diagnostic(self, tmp_path: Path) -> None:
        """`reconciler validate` reports a read failure as an error naming the path and errno."""
        (tmp_path / "team").symlink_to(tmp_path / "nowhere")
        result = load_paths(tmp_path, [Path(".")])
        assert [d.render() for d in result.errors] == [
            f"team:1:1: error: cannot read team: ENOENT (dangling symlink to {tmp_path}/nowhere)"]

    def test_empty_folder_is_complete(self, tmp_path: Path) -> None:
        """An existing, readable, empty folder is complete: a legitimate "nothing declared"."""
        result = load_folder(tmp_path)
        assert result.complete and result.objects == []

    def test_invalid_manifest_is_not_a_read_failure(self, desired: Path) -> None:
        """A file that fails to parse is a failed file (kept stale), not an unread one."""
        write(desired, "team/b.yaml", "kind: [unclosed\n")
        result = load_folder(desired)
        assert result.complete and result.failed_files == {"team/b.yaml"}

    def test_recovers_once_readable(self, desired: Path, tmp_path: Path) -> None:
        """The same loader gives a complete load again once the folder is back."""
        loader = FolderLoader(desired)
        loader.load()
        desired.rename(tmp_path / "away")
        assert not loader.load().complete
        (tmp_path / "away").rename(desired)
        result = loader.load()
        assert result.complete and len(result.objects) == 3


class TestReadFailureRender:
    @pytest.mark.parametrize(("failure", "text"), [
        (ReadFailure("team", errno.EIO, "Input/output error"),
         "cannot read team: EIO (Input/output error)"),
        (ReadFailure("", errno.ENOENT, "No such file or directory"),
         "cannot read the desired folder (root): ENOENT (No such file or directory)"),
        (ReadFailure("x.yaml", None, "symlink loop"), "cannot read x.yaml: symlink loop"),
    ])
    def test_names_path_and_errno(self, failure: ReadFailure, text: str) -> None:
        """The message names the path and the errno's symbol."""
        assert failure.render() == text
