"""The store schema's head revision and the error for a store that is not there.

A leaf: both the SQLAlchemy side (`engine`) and the SQLAlchemy-free `reader` use these,
so neither has to import the other.
"""

from __future__ import annotations

# The head of migrations/versions; `engine.migrate`, `reader.open_sqlite` and a test rely on it.
HEAD = "0013"


class StoreMissing(FileNotFoundError):
    """The SQLite file does not exist and the caller asked not to create it."""
