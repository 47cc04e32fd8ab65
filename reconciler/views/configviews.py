"""What get and describe show of ConfigMaps and Secrets, as kubectl shows them.

Part of the read side's presentation (`reconciler.views`): the `get` rows
(`configmaps`: NAME DATA AGE; `secrets`: NAME TYPE DATA AGE), their Kubernetes
JSON, and the `describe` text. A Secret's values are never shown by describe
(kubectl prints each key's size in bytes) nor in the table; `get secret -o
yaml|json` prints the base64 data, as kubectl does, only when the store was
opened with the key (reconciler.store.secrets); without it the data is left out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial

from reconciler.api import k8s
from reconciler.api.types import JSON
from reconciler.store.reader import ReadStore
from reconciler.store.records import ObjectRecord
from reconciler.store.secrets import SEALED, Sealer, SealError, is_sealed, open_body, sizes
from reconciler.views import output

Row_ = tuple[str, str, list[str], Callable[[], JSON], bool]  # ns, name, cells, build, stale


def object_json(o: ObjectRecord, sealer: Sealer | None = None) -> JSON:
    """The object as the API shows it; a sealed Secret without its data (no key here)."""
    body = o.body
    if is_sealed(body) and sealer is not None:
        with contextlib.suppress(SealError):
            body = open_body(body, sealer)
    body = {k: v for k, v in body.items() if k != SEALED}
    out = k8s.object_to_k8s(body, uid=o.uid, created_at=o.created_at,
                            generation=o.generation, status=o.status)
    out.pop("status", None)
    return out


def _count(o: ObjectRecord) -> int:
    if o.key.kind == "Secret":
        return len(sizes(o.body))
    return len(o.body.get("data") or {}) + len(o.body.get("binaryData") or {})


def rows(store: ReadStore, kind: str, namespace: str | None,
         keep: Callable[[dict[str, str]], bool] | None, now: object) -> list[Row_]:
    """The `get` rows of one kind: ConfigMap or Secret."""
    out: list[Row_] = []
    # A CLI run by someone who can read the key file gives its store one (cli/get.py).
    sealer: Sealer | None = getattr(store, "sealer", None)
    for o in store.objects(kind, namespace):
        labels = (o.body.get("metadata") or {}).get("labels") or {}
        if keep is not None and not keep(labels):
            continue
        age = output.age(o.created_at, now)  # type: ignore[arg-type]
        cells = [str(_count(o)), age]
        if kind == "Secret":
            cells.insert(0, str(o.body.get("type") or "Opaque"))
        out.append((o.key.namespace, o.key.name, cells, partial(object_json, o, sealer),
                    o.stale))
    return out


def _meta_lines(o: ObjectRecord) -> list[str]:
    meta = o.body.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    lines = [f"Name:         {o.key.name}", f"Namespace:    {o.key.namespace}"]
    label_text = [f"{k}={v}" for k, v in sorted(labels.items())] or ["<none>"]
    lines.append(f"Labels:       {label_text[0]}")
    lines += [f"              {t}" for t in label_text[1:]]
    ann_text = [f"{k}: {v}" for k, v in sorted(annotations.items())] or ["<none>"]
    lines.append(f"Annotations:  {ann_text[0]}")
    lines += [f"              {t}" for t in ann_text[1:]]
    return lines


def describe_secret(o: ObjectRecord) -> str:
    """kubectl's describe of a Secret: type and each key's size, never a value."""
    lines = _meta_lines(o)
    lines += ["", f"Type:  {o.body.get('type') or 'Opaque'}", "", "Data", "===="]
    for key, size in sorted(sizes(o.body).items()):
        lines.append(f"{key}:  {size} bytes")
    return "\n".join(lines) + "\n"


def describe_configmap(o: ObjectRecord) -> str:
    """kubectl's describe of a ConfigMap: each value in full; binary values by size."""
    lines = _meta_lines(o)
    lines += ["", "Data", "===="]
    for key, value in sorted((o.body.get("data") or {}).items()):
        lines += [f"{key}:", "----", str(value), ""]
    lines += ["", "BinaryData", "===="]
    for key, value in sorted((o.body.get("binaryData") or {}).items()):
        lines.append(f"{key}: {len(str(value)) * 3 // 4} bytes")
    return "\n".join(lines) + "\n"


SENSITIVE = "(sensitive)"


def masked(body: JSON | None) -> JSON | None:
    """A Secret body for `plan`: each data value replaced by "(sensitive)" (keys stay)."""
    if body is None or body.get("kind") != "Secret":
        return body
    out = {k: v for k, v in body.items() if k not in (SEALED, "data", "stringData")}
    keys = sorted({*sizes(body), *(body.get("stringData") or {})})
    if keys:
        out["data"] = {k: SENSITIVE for k in keys}
    return out
