"""The pure diff of desired objects against what the store recorded: a plan per object.

Sits between the manifest loader (`LoadResult`) and the store: the control loop
and `reconciler plan` call `diff(...)`, then `Store.apply_plan(plan)` records it
in one transaction. Nothing here does I/O; the store converts its rows to
`RecordedView` so this module never sees SQLAlchemy.

Rules:
- A desired object whose hash differs from the record is an update, with the
  changed field paths; a new key is a create; an equal hash is unchanged.
- A recorded object missing from the desired set is deleted, unless the file it
  was recorded from failed to load: then it is kept as it was, marked stale. A
  typo must never prune a running workload.
- A recorded object whose file lies in a folder (or is a file) that could not be
  read, or in a folder refused with an error, is kept too: absence from a
  partial listing is not removal. (The
  desired controller applies nothing from a partial load at all; this keeps
  `reconciler plan` and any other caller just as safe.)
- Desired objects that come from a failed file are ignored (the last valid
  version stays in force), as Flux treats a file that fails to build.
- When a key is declared twice (validation reports it), the first by file and
  line wins, so the plan is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.api.types import JSON, DesiredObject, Key, LoadResult, ReadFailure, held_by

Action = Literal["create", "update", "delete", "unchanged"]

# The source_file of an object a controller wrote (a Deployment's ReplicaSets), not a
# manifest: absent from every folder by nature, so never deleted here.
OWNED_SOURCE_PREFIX = "controller:"


@dataclass(frozen=True)
class RecordedView:
    """What the planner needs of a recorded object; the store builds these from its rows."""

    key: Key
    content_hash: str
    body: JSON
    source_file: str
    line: int = 1
    document: int = 0
    stale: bool = False


@dataclass(frozen=True)
class Change:
    """The plan for one object."""

    action: Action
    key: Key
    desired: DesiredObject | None = None  # None for delete
    recorded: RecordedView | None = None  # None for create
    fields: tuple[str, ...] = ()  # changed field paths, for update
    # Unchanged body, but the record's bookkeeping is out of date: the object moved
    # (file, line, document) or it was stale and its file loads again.
    refresh: bool = False


@dataclass(frozen=True)
class Plan:
    """Every object's change, sorted by key, plus the recorded objects kept stale."""

    changes: tuple[Change, ...] = ()
    stale: tuple[RecordedView, ...] = ()  # recorded from a failed file: kept, not deleted
    failed_files: frozenset[str] = field(default_factory=frozenset)

    def of(self, action: Action) -> list[Change]:
        return [c for c in self.changes if c.action == action]

    @property
    def creates(self) -> list[Change]:
        return self.of("create")

    @property
    def updates(self) -> list[Change]:
        return self.of("update")

    @property
    def deletes(self) -> list[Change]:
        return self.of("delete")

    @property
    def unchanged(self) -> list[Change]:
        return self.of("unchanged")

    @property
    def has_changes(self) -> bool:
        """True when applying the plan would create, update or delete an object."""
        return any(c.action != "unchanged" for c in self.changes)

    def summary(self) -> str:
        """`Plan: 1 to create, 2 to update, 0 to delete, 3 unchanged.` (+ stale count)."""
        text = (
            f"Plan: {len(self.creates)} to create, {len(self.updates)} to update, "
            f"{len(self.deletes)} to delete, {len(self.unchanged)} unchanged."
        )
        if self.stale:
            text += f" {len(self.stale)} kept stale (their files have errors or are unreadable)."
        return text


def diff(
    desired: LoadResult | Iterable[DesiredObject],
    recorded: Mapping[Key, RecordedView],
    failed_files: frozenset[str] = frozenset(),
) -> Plan:
    """Compare desired objects with recorded ones; see the module docstring for the rules."""
    unreadable: tuple[ReadFailure, ...] = ()
    if isinstance(desired, LoadResult):
        failed = failed_files | desired.failed_files
        objects: Iterable[DesiredObject] = desired.objects
        unreadable = desired.unreadable
    else:
        failed = failed_files
        objects = desired
    wanted: dict[Key, DesiredObject] = {}
    ordered = sorted(objects, key=lambda o: (o.position.file, o.position.line, o.position.document))
    for obj in ordered:
        if obj.position.file not in failed and obj.key not in wanted:
            wanted[obj.key] = obj

    changes: list[Change] = []
    stale: list[RecordedView] = []
    for key, obj in wanted.items():
        rec = recorded.get(key)
        if rec is None:
            changes.append(Change("create", key, desired=obj))
        elif rec.content_hash != obj.content_hash:
            paths = tuple(changed_paths(rec.body, obj.body))
            changes.append(Change("update", key, desired=obj, recorded=rec, fields=paths))
        else:
            p = obj.position
            moved = (rec.source_file, rec.line, rec.document) != (p.file, p.line, p.document)
            changes.append(
                Change("unchanged", key, desired=obj, recorded=rec, refresh=moved or rec.stale)
            )
    for key, rec in recorded.items():
        if key in wanted or rec.source_file.startswith(OWNED_SOURCE_PREFIX):
            continue
        if _under(rec.source_file, failed) or held_by(rec.source_file, unreadable):
            stale.append(rec)
        else:
            changes.append(Change("delete", key, recorded=rec))
    changes.sort(key=lambda c: c.key)
    stale.sort(key=lambda r: r.key)
    return Plan(tuple(changes), tuple(stale), failed)


def _under(file: str, failed: frozenset[str]) -> bool:
    """`file` failed, or lies in a failed folder (a symlinked folder refused, say)."""
    parts = file.split("/")
    return any("/".join(parts[:i]) in failed for i in range(1, len(parts) + 1))


def changed_paths(old: Any, new: Any, prefix: str = "") -> list[str]:
    """JSON paths where `new` differs from `old` (`spec.containers[0].image`), sorted.

    Lists of different length are reported as a whole: index-wise paths would be
    noise once an element is inserted.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new), key=str):
            path = f"{prefix}.{k}" if prefix else str(k)
            if k not in old or k not in new:
                out.append(path)
            else:
                out.extend(changed_paths(old[k], new[k], path))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out.extend(changed_paths(a, b, f"{prefix}[{i}]"))
        return out
    if old == new and type(old) is type(new):
        return []
    return [prefix]
