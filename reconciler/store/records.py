"""Plain records the store hands out besides `reconciler.api.records`: objects, endpoints, leases.

Pure dataclasses with no SQLAlchemy import, shared by the SQLAlchemy `Store`
and the stdlib `reader.Reader` that the CLI uses for speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reconciler.api.types import JSON, Key
from reconciler.planning.diff import RecordedView


@dataclass(frozen=True)
class ObjectRecord:
    """A desired object as recorded: its body as last applied, bookkeeping and status."""

    key: Key
    uid: str  # stable for the life of the object: pods' ownerReferences point at it
    api_version: str
    body: JSON
    source_file: str
    line: int
    document: int
    content_hash: str
    revision: str  # source revision (git SHA or "folder") it was last applied from
    generation: int  # bumped each time the body's hash changes, as metadata.generation
    stale: bool  # its file currently fails to load: this is the last valid version
    status: JSON | None
    created_at: datetime
    updated_at: datetime

    def view(self) -> RecordedView:
        """The planner's view of this record."""
        return RecordedView(
            self.key,
            self.content_hash,
            self.body,
            self.source_file,
            self.line,
            self.document,
            self.stale,
        )


@dataclass(frozen=True)
class RevisionRecord:
    """One application of the desired state."""

    revision: str  # a git SHA, or "folder"
    source: str  # the folder path or repository URL
    applied_at: datetime
    device: int | None = None  # a folder's st_dev when it was applied (sourceguard)


@dataclass(frozen=True)
class EndpointsRecord:
    """The endpoints of one service; `subsets` has Kubernetes' Endpoints shape."""

    namespace: str
    name: str
    subsets: list[JSON]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class LeaseRecord:
    """Who holds a lease, until when (by the database's clock), and at which epoch."""

    name: str
    holder: str  # "" once released
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime
    epoch: int = 0  # rises on each takeover, never reset


@dataclass(frozen=True)
class ComponentRecord:
    """One component's health as the running service last published it."""

    name: str
    healthy: bool
    message: str
    updated_at: datetime
