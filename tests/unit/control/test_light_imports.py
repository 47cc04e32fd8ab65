"""The controllers load without SQLAlchemy: the store they see is the narrow port.

import-linter counts the lazy import in `Context.start_cache` (the cache follows the
concrete store), so the import-time promise is pinned here, in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "alembic", "reconciler.store.store", "reconciler.store.engine")


def loaded_after(module: str) -> list[str]:
    """The HEAVY modules a fresh interpreter holds after importing `module`."""
    code = (f"import sys, {module}\n"
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    return done.stdout.split()


class TestLightImports:
    @pytest.mark.parametrize("module", [
        "reconciler.control.context", "reconciler.control.registry",
    ])
    def test_no_sqlalchemy_at_import(self, module: str) -> None:
        """Importing the context (and every controller, via the registry) loads no SQLAlchemy."""
        assert loaded_after(module) == []
