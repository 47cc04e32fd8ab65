"""The project's validator on a manifest the API is about to write: 422 causes with file and line.

Used by kubeapi/writes.py before a change reaches the desired source: the new
text of the one file is loaded as `reconciler validate FILE` would load it
(`load_paths`, so what other files declare is not reported missing), and its
errors become the field causes of a 422 Invalid Status. A write the service
would refuse is thus refused to the client instead, and nothing is written.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from reconciler.api.types import Diagnostic
from reconciler.manifests.loader import load_paths


def problems(rel: str, text: str) -> list[Diagnostic]:
    """The errors of the file `rel` if its text were `text`."""
    with tempfile.TemporaryDirectory(prefix="kubeapi-validate-") as tmp:
        path = Path(tmp) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return load_paths(Path(tmp), [Path(rel)]).errors


def located(d: Diagnostic) -> dict[str, str]:
    """A Status cause from a diagnostic: the field, and the message with its file and line."""
    where = f"{d.position.file}:{d.position.line}"
    return {"type": "FieldValueInvalid", "field": d.path or "<file>",
            "message": f"{d.message} ({where})"}
