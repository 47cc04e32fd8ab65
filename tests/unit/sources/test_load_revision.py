"""The folder source's revision: a content hash of what a load applies (issue 21)."""

from __future__ import annotations

from reconciler.api.types import DesiredObject, Key, LoadResult, Position
from reconciler.sources.folder import load_revision


def obj(name: str, content: str, kind: str = "ConfigMap") -> DesiredObject:
    return DesiredObject(Key(kind, "default", name), {"kind": kind}, Position(f"{name}.yaml"),
                         content)


class TestLoadRevision:
    def test_same_content_same_revision(self) -> None:
        """The same objects in any order give the same revision, marked as a folder's."""
        a = load_revision(LoadResult(objects=[obj("a", "h1"), obj("b", "h2")]))
        b = load_revision(LoadResult(objects=[obj("b", "h2"), obj("a", "h1")]))
        assert a == b and a.startswith("folder:") and len(a) == len("folder:") + 16

    def test_any_change_a_new_revision(self) -> None:
        """A changed content, a removed object, a renamed kind or a failed file change it."""
        base = LoadResult(objects=[obj("a", "h1"), obj("b", "h2")])
        variants = [
            LoadResult(objects=[obj("a", "h1"), obj("b", "h3")]),
            LoadResult(objects=[obj("a", "h1")]),
            LoadResult(objects=[obj("a", "h1"), obj("b", "h2", kind="Secret")]),
            LoadResult(objects=[obj("a", "h1"), obj("b", "h2")],
                       failed_files=frozenset({"c.yaml"})),
        ]
        seen = {load_revision(base)} | {load_revision(v) for v in variants}
        assert len(seen) == 1 + len(variants)
