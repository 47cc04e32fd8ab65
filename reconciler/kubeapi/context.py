"""What one API server serves: the store, the desired source, and what the caller may see.

Built by `reconciler.service.app` (`reconciler run`) from its configuration, or
by `reconciler api` (read-only, from flags), and handed to every module of the
package (`app.create_app(ctx)`, each module's `routes(ctx)`). It holds only
settings: a request opens the store itself (`open_store`), as `reconciler get`
does, so a server never holds a connection or a snapshot between requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reconciler.store.opener import open_reader
from reconciler.store.reader import ReadStore


@dataclass(frozen=True)
class GitTarget:
    """The git repository the desired state follows (the service's `[git]` section)."""

    url: str
    branch: str = "main"
    checkout_dir: Path | None = None


@dataclass
class ApiContext:
    """The settings of one API server; see the module docstring."""

    state: str  # the store: a SQLite path or an SQLAlchemy URL
    read_only: bool = False  # `reconciler api`: writes answer 405
    desired: Path | None = None  # the desired folder; None when unknown
    git: GitTarget | None = None  # set when the desired state follows git
    # Secrets' data (base64, as Kubernetes shows it) needs the store's key file; None:
    # `<state>.key`. `show_secret_data` False hides data from every caller (K4's
    # roles decide per request on top of this).
    key_file: Path | None = None
    show_secret_data: bool = True
    # "host:port" the server listens on, filled in once bound (discovery names it).
    address: str = ""
    extra: dict[str, object] = field(default_factory=dict)  # room for other modules' settings

    def open_store(self) -> ReadStore:
        """The store, read-only (the stdlib reader for a SQLite file at the head schema)."""
        return open_reader(self.state)
