"""The emptied-folder verdict of reconciler.control.sourceguard (pure)."""

from __future__ import annotations

import os

from reconciler.control.sourceguard import emptied_elsewhere

ROOT_FS = os.makedev(254, 1)
NFS = os.makedev(0, 52)


class TestEmptiedElsewhere:
    def test_another_filesystem_with_objects_recorded_is_held(self) -> None:
        """No manifest, objects recorded, another device than at the last apply: held."""
        why = emptied_elsewhere(True, ROOT_FS, NFS)
        assert why is not None
        assert "device 254:1" in why and "(0:52)" in why and "empty manifest file" in why

    def test_same_filesystem_is_a_deliberate_delete(self) -> None:
        """The files removed on the folder's own filesystem: applied, as Flux prunes."""
        assert emptied_elsewhere(True, NFS, NFS) is None

    def test_nothing_recorded_has_nothing_to_lose(self) -> None:
        """An empty store: a first start on an empty folder applies."""
        assert emptied_elsewhere(False, ROOT_FS, NFS) is None

    def test_no_recorded_device_applies(self) -> None:
        """A git revision, or a row from before devices were recorded: nothing to compare."""
        assert emptied_elsewhere(True, ROOT_FS, None) is None

    def test_an_unreadable_device_is_held(self) -> None:
        """No device known for the listing: held."""
        why = emptied_elsewhere(True, None, NFS)
        assert why is not None and "device unknown" in why
