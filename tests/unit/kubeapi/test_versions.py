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
        assert not v.changed_after(KEY, 5, 9) and not v.changed_after(KEY, 7, 9)
        assert v.changed_after(KEY, 4, 9)

    def test_a_new_content_starts_at_its_revision(self) -> None:
        """A change served at 8: a client that read at 5 (the old content) conflicts."""
        v = Versions()
        v.observe(KEY, "a", 5)
        v.observe(KEY, "b", 8)
        assert v.changed_after(KEY, 5, 9) and not v.changed_after(KEY, 8, 9)

    def test_a_late_older_read_changes_nothing(self) -> None:
        """An earlier content recorded after a newer one (threads racing) is ignored."""
        v = Versions()
        v.observe(KEY, "b", 8)
        v.observe(KEY, "a", 5)
        assert not v.changed_after(KEY, 8, 9)

    def test_unknown_and_forgotten_objects_conflict(self) -> None:
        """Never served (or evicted, least recently served first): any older version is
        refused."""
        v = Versions(kept=1)
        assert v.changed_after(KEY, 100, 100)
        v.observe(KEY, "a", 5)
        v.observe(("ConfigMap", "default", "other"), "x", 6)
        assert v.changed_after(KEY, 5, 9)

    def test_a_version_never_given_out_conflicts(self) -> None:
        """A version above the store revision served now was never given out (unless the
        watch hub made it up): refused."""
        v = Versions()
        v.observe(KEY, "a", 5)
        assert v.changed_after(KEY, 12, 9) and not v.changed_after(KEY, 9, 9)

    def test_a_made_up_version_vouches_for_its_content_only(self) -> None:
        """The hub gave the object out at 10 with content b (no store revision 10 yet):
        a write naming 10 goes through while b is served, and conflicts once a store
        revision 10 serves another content."""
        v = Versions()
        v.observe(KEY, "a", 9)
        v.observe(KEY, "b", 9)
        v.observe_made_up(KEY, "b", 10)
        assert not v.changed_after(KEY, 10, 9)
        v.observe(KEY, "c", 10)
        assert v.changed_after(KEY, 10, 10)

    def test_a_forgotten_object_conflicts_until_read_again(self) -> None:
        """Served while the store moved: every version conflicts until the next read."""
        v = Versions()
        v.observe(KEY, "a", 5)
        v.forget(KEY)
        assert v.changed_after(KEY, 5, 5) and v.changed_after(KEY, 7, 7)
        v.observe(KEY, "b", 7)
        assert not v.changed_after(KEY, 7, 7)
