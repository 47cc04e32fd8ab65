"""kubeapi.versions: since when each served object has had its content (writes' precondition)."""

from __future__ import annotations

from reconciler.kubeapi.versions import Versions

KEY = ("ConfigMap", "default", "settings")


class TestVersions:
    def test_unrelated_revisions_are_no_change(self) -> None:
        """The same content served at later revisions keeps its first one: a version read
        then or after is no conflict, an older one is."""
        v = Versions()
        v.observe(KEY, "a", 5)
        v.observe(KEY, "a", 9)
        assert not v.changed_after(KEY, 5) and not v.changed_after(KEY, 7)
        assert v.changed_after(KEY, 4)

    def test_a_new_content_starts_at_its_revision(self) -> None:
        """A change served at 8: a client that read at 5 (the old content) conflicts."""
        v = Versions()
        v.observe(KEY, "a", 5)
        v.observe(KEY, "b", 8)
        assert v.changed_after(KEY, 5) and not v.changed_after(KEY, 8)

    def test_a_late_older_read_changes_nothing(self) -> None:
        """An earlier content recorded after a newer one (threads racing) is ignored."""
        v = Versions()
        v.observe(KEY, "b", 8)
        v.observe(KEY, "a", 5)
        assert not v.changed_after(KEY, 8)

    def test_unknown_and_forgotten_objects_conflict(self) -> None:
        """Never served (or evicted, least recently served first): any older version is
        refused."""
        v = Versions(kept=1)
        assert v.changed_after(KEY, 100)
        v.observe(KEY, "a", 5)
        v.observe(("ConfigMap", "default", "other"), "x", 6)
        assert v.changed_after(KEY, 5)
