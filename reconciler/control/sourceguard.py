"""The guard in front of every desired pass: a source read only in part applies nothing.

Called first by `DesiredController.apply` (and by the git gate,
`reconciler.control.revisions`) with the load it is about to apply. A load
with unreadable paths (root gone, a subfolder's scandir failing with EIO or
EACCES, a file vanishing between listing and reading) could make absent what
is only unread, so the pass is refused whole: the store keeps the last good
state, a `SourceUnreadable` warning event names the path and errno, the
`desired-source` component (`reconciler get cs`) turns unhealthy with the same
words, and the pass is retried shortly. A complete load marks the component
healthy again. An existing, readable, empty folder is complete: it is a
legitimate "delete everything", as Flux's prune; a missing root never is.
"""

from __future__ import annotations

import logging

from reconciler.api.types import LoadResult
from reconciler.control.context import Context
from reconciler.control.loop import Result

log = logging.getLogger(__name__)

COMPONENT = "desired-source"
REASON = "SourceUnreadable"
# Soon enough that a transient fault (a mount coming back, a file replaced by an
# editor) costs seconds; cheap, since a failing scandir is all one retry does.
RETRY_AFTER = 2.0
# How many unreadable paths a message names; the rest are counted.
SHOWN = 3


def describe(result: LoadResult) -> str:
    """`cannot read team: ENOENT (No such file or directory); ... (+2 more)`."""
    parts = [f.render() for f in result.unreadable[:SHOWN]]
    more = len(result.unreadable) - SHOWN
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def hold_partial(ctx: Context, result: LoadResult, subject: str = "desired") -> Result | None:
    """None when `result` is whole (and say the source is healthy); else the retry to return.

    `subject` names the source in the event: "desired" for the folder, the commit
    for a git revision.
    """
    previous = ctx.components.get(COMPONENT)
    if result.complete:
        if previous is not None and not previous[0]:
            log.info("desired source readable again; applying it")
        ctx.components[COMPONENT] = (True, f"read whole: {len(result.objects)} objects")
        return None
    message = f"nothing applied, last good state kept: {describe(result)}"
    if previous != (False, message):
        # Once per distinct fault: a retry every few seconds must not flood the event table.
        log.error("desired source %s: %s", subject, message)
        ctx.event("Source", "", subject, "Warning", REASON, message, "reconciler")
    ctx.components[COMPONENT] = (False, message)
    return Result.after(RETRY_AFTER)
