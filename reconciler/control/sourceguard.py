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

Nor is a mount that went: its mount point is an empty folder on the filesystem
beneath. So a folder with no manifest file at all, while objects are recorded,
on another filesystem (`st_dev`) than the one its last applied revision was read
from, is held the same way (`emptied_elsewhere`, reason `SourceEmptied`), across
restarts too, as the device is recorded with the revision. A user who means to
delete everything there leaves one empty manifest file in the folder.
"""

from __future__ import annotations

import logging
import os

from reconciler.api.types import LoadResult
from reconciler.control.context import Context
from reconciler.control.loop import Result

log = logging.getLogger(__name__)

COMPONENT = "desired-source"
REASON = "SourceUnreadable"
EMPTIED = "SourceEmptied"
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


def emptied_elsewhere(recorded: bool, device: int | None, applied: int | None) -> str | None:
    """Why a folder with no manifest file must not apply, or None when it may.

    `recorded`: objects are in the store; `device`: the st_dev the folder's (empty)
    listing was read from (`LoadResult.device`; None when unknown); `applied`: the
    st_dev of the revision applied last (None for a git revision or one recorded
    before devices were).
    """
    if not recorded or applied is None or device == applied:
        return None
    now = "unknown" if device is None else _device(device)
    return (f"the desired folder has no manifest file and is on another filesystem (device "
            f"{now}) than at the last apply ({_device(applied)}), as when its mount is gone; "
            "to delete everything on purpose, leave an empty manifest file in it "
            "(e.g. empty.yaml)")


def _device(dev: int) -> str:
    return f"{os.major(dev)}:{os.minor(dev)}"


def hold_partial(ctx: Context, result: LoadResult, subject: str = "desired",
                 emptied: str | None = None) -> Result | None:
    """None when `result` is whole (and say the source is healthy); else the retry to return.

    `subject` names the source in the event: "desired" for the folder, the commit
    for a git revision. `emptied` is `emptied_elsewhere`'s verdict on a whole load.
    """
    previous = ctx.components.get(COMPONENT)
    if result.complete and emptied is None:
        if previous is not None and not previous[0]:
            log.info("desired source readable again; applying it")
        ctx.components[COMPONENT] = (True, f"read whole: {len(result.objects)} objects")
        return None
    reason, why = (REASON, describe(result)) if not result.complete else (EMPTIED, emptied)
    message = f"nothing applied, last good state kept: {why}"
    if previous != (False, message):
        # Once per distinct fault: a retry every few seconds must not flood the event table.
        log.error("desired source %s: %s", subject, message)
        ctx.event("Source", "", subject, "Warning", reason, message, "reconciler")
    ctx.components[COMPONENT] = (False, message)
    return Result.after(RETRY_AFTER)
