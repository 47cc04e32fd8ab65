"""Git revisions as units of change: a new commit is applied whole, or not at all.

Sits between the git source (`reconciler.sources.git.GitSource`, which fetches
the branch and writes each head into an immutable snapshot folder) and the
desired controller. Each new head is loaded from its own snapshot, never from
a working tree another step rewrites, and validated; a snapshot that cannot be
read whole applies nothing (`reconciler.control.sourceguard`), and a revision
with any error is refused (an event and a log line name the commit), so the
previously applied revision stays in force, even across the periodic resync.
The applied SHA is recorded in the store (`reconciler get revision`, with any
credentials in the URL redacted) and on every object it applied.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from reconciler.control.context import DESIRED, Context
from reconciler.control.desired import DesiredController
from reconciler.control.loop import Result, WorkKey
from reconciler.control.sourceguard import COMPONENT, hold_partial
from reconciler.sources.git import GitError, GitSource, Revision

log = logging.getLogger(__name__)

SOURCE = "git-source"


class GitSettings(Protocol):
    """The git section of the service's configuration (`service.config.GitConfig`)."""

    @property
    def url(self) -> str: ...
    @property
    def branch(self) -> str: ...
    @property
    def interval(self) -> float: ...
    @property
    def checkout_dir(self) -> str: ...


def checkout_dir(git: GitSettings, state: str) -> Path:
    if git.checkout_dir:
        return Path(git.checkout_dir)
    if "://" in state:
        return Path("reconciler-checkout")
    return Path(state).resolve().with_name(Path(state).name + ".checkout")


@dataclass
class GitDesired:
    """The git source and the gate in front of the desired controller."""

    ctx: Context
    source: GitSource
    refused: set[str] = field(default_factory=set)
    head: str = ""  # the commit the checkout is at

    @classmethod
    def from_config(cls, git: GitSettings, state: str, ctx: Context) -> GitDesired:
        """Follow `git` (the configuration's git section; `state` the store URL or file)."""
        source = GitSource(git.url, git.branch, checkout_dir(git, state), git.interval)
        desired = cls(ctx, source)
        applied = ctx.store.revision()
        if applied is not None and not applied.revision.startswith("folder"):
            ctx.revision = applied.revision
        try:
            desired.head = source.update()
        except GitError as e:
            log.error("git: first fetch failed: %s; keeping the recorded state", e)
        return desired

    @property
    def root(self) -> Path:
        """Where the loader starts; each pass points it at the snapshot of the head it loads."""
        return self.source.checkout_dir

    def start(self, stop: threading.Event) -> None:
        threading.Thread(
            target=self.source.run, args=(self._on_revision, stop, self._on_status),
            name="git-source", daemon=True,
        ).start()

    def _on_status(self, ok: bool, message: str) -> None:
        # A fetch that keeps failing (unreachable, refused credentials, a lock held) shows in
        # `get cs` while the last good revision stays applied.
        self.ctx.components[SOURCE] = (ok, message)

    def request_sync(self) -> None:
        self.source.request_sync()

    def _on_revision(self, revision: Revision) -> None:
        self.head = revision.sha
        self.ctx.enqueue(DESIRED, "all")

    def controller(self, inner: DesiredController) -> GatedDesired:
        return GatedDesired(self, inner)


@dataclass
class GatedDesired:
    """The desired controller, applying only whole, valid revisions."""

    git: GitDesired
    inner: DesiredController

    def reconcile(self, key: WorkKey) -> Result:
        ctx = self.git.ctx
        head = self.git.head
        if not head:
            return Result.after(5.0)  # no checkout yet; the source keeps trying
        try:
            # Usually made by the source thread already; otherwise made now, from the SHA.
            snapshot = self.git.source.snapshot(head)
        except GitError as e:
            message = f"cannot read revision {head[:12]}, last good state kept: {e}"
            log.error("%s", message)
            ctx.components[COMPONENT] = (False, message)
            return Result.after(5.0)
        loader = self.inner.loader
        loader.root = snapshot
        result = loader.load()
        self.inner.last = result
        # The reader is the only one that prunes: a snapshot is never removed under a load.
        self.git.source.prune_snapshots({head})
        if (held := hold_partial(ctx, result, subject=head[:12])) is not None:
            return held
        if result.errors:
            if head not in self.git.refused:
                self.git.refused.add(head)
                first = "; ".join(d.render() for d in result.errors[:3])
                kept = ctx.revision[:12] or "nothing"
                message = f"revision {head[:12]} refused, {kept} stays applied: {first}"
                log.error("%s", message)
                ctx.event("Revision", "", head[:12], "Warning", "InvalidRevision", message, SOURCE)
            return Result.done()
        if head != ctx.revision:
            ctx.revision = head
            ctx.store.set_revision(head, self.git.source.display_url, ctx.clock())
            log.info("applying revision %s", head[:12])
        return self.inner.apply(result)
