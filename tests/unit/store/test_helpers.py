"""Unit tests of the store's pure helpers: URLs and paths, allocation bands."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.planning.allocation import static_band
from reconciler.store.engine import sqlite_file, to_url
from reconciler.store.reader import _sqlite_path


class TestUrls:
    @pytest.mark.parametrize(
        ("given", "backend", "file"),
        [
            ("/srv/state.db", "sqlite", Path("/srv/state.db")),
            ("sqlite:////srv/state.db", "sqlite", Path("/srv/state.db")),
            ("sqlite://", "sqlite", None),
            ("postgresql://u@localhost/reconciler", "postgresql", None),
        ],
    )
    def test_to_url(self, given: str, backend: str, file: Path | None) -> None:
        """Paths become absolute SQLite URLs; other URLs pass through."""
        url = to_url(given)
        assert url.get_backend_name() == backend
        assert sqlite_file(url) == file

    @pytest.mark.parametrize(
        ("given", "path"),
        [
            ("state.db", Path("state.db")),
            ("sqlite:////srv/s.db", Path("/srv/s.db")),
            ("sqlite:////srv/s.db?mode=ro", None),
            ("postgresql://h/db", None),
        ],
    )
    def test_reader_path(self, given: str, path: Path | None) -> None:
        """The fast reader only takes plain SQLite files."""
        assert _sqlite_path(given) == path


class TestStaticBand:
    @pytest.mark.parametrize(
        ("size", "band"),
        [(254, 16), (4094, 255), (2**20 - 2, 256)],
    )
    def test_cluster_ip_band(self, size: int, band: int) -> None:
        """The static band is min(max(16, size/16), 256), as KEP-3070 sets it."""
        assert static_band(size, 16, 16, 256) == band
