"""The project's validator and planner on a manifest the API is about to write.

Used by kubeapi/writes.py before a change reaches the desired source: the new
text of the one file is loaded as `reconciler validate FILE` would load it
(`load_paths`, so what other files declare is not reported missing), and its
errors become the field causes of a 422 Invalid Status. A write the service
would refuse is thus refused to the client instead, and nothing is written.
For `--dry-run=server`, `verdict` says what `reconciler plan` would say of the
object (create, update with the changed fields, unchanged), sent as a warning.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from reconciler.api.types import Diagnostic, LoadResult
from reconciler.manifests.loader import load_paths
from reconciler.planning.diff import diff


def check(rel: str, text: str) -> LoadResult:
    """The file `rel` loaded and validated as if its text were `text`."""
    with tempfile.TemporaryDirectory(prefix="kubeapi-validate-") as tmp:
        path = Path(tmp) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return load_paths(Path(tmp), [Path(rel)])


def verdict(state: str, loaded: LoadResult, kind: str, name: str) -> str:
    """`reconciler plan`'s line for the object: "update Deployment/default/web (spec.replicas)"."""
    from reconciler.store.opener import open_reader
    from reconciler.store.schema_head import StoreMissing
    from reconciler.store.secrets import open_views, try_key_file

    found = [o for o in loaded.objects if o.key.kind == kind and o.key.name == name]
    if not found:
        return ""
    key = found[0].key
    try:
        store = open_reader(state)
    except StoreMissing:
        return f"create {key}"
    try:
        recorded = {k: v for k, v in store.recorded().items() if k == key}
    finally:
        store.close()
    change = diff(found, open_views(recorded, try_key_file(state))).changes[0]
    fields = f" ({', '.join(change.fields)})" if change.fields else ""
    return f"{change.action} {key}{fields}"


def located(d: Diagnostic) -> dict[str, str]:
    """A Status cause from a diagnostic: the field, and the message with its file and line."""
    where = f"{d.position.file}:{d.position.line}"
    return {"type": "FieldValueInvalid", "field": d.path or "<file>",
            "message": f"{d.message} ({where})"}
