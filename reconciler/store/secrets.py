"""Secrets at rest: the AES-256-GCM key file, and sealing a Secret's data before it is stored.

Sits inside the store: `ObjectsMixin.apply_plan` seals every Secret body it
writes, and `recorded()`/`objects()` open them again when the store was given a
`Sealer` (the service, and CLI commands run by someone who can read the key).
A sealed body keeps what `describe` and `get` show without the key (metadata,
type, key names and sizes, as kubectl's describe shows them) and holds the data
itself as one AEAD box, bound to the Secret's namespace and name so a box cannot
be moved to another Secret. The key file holds named keys, one a line
(`<id> <base64 key>`); the first is the one that seals, the others still open
older boxes until `rotate` has re-sealed everything (docs/config.md).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEALED = "reconciler.dev/sealed"  # the field of a stored Secret body that holds the box
_ALG = "AES-256-GCM"
_NONCE = 12


class SealError(RuntimeError):
    """A Secret cannot be sealed or opened: no key, an unknown key id, or a forged box."""


@dataclass(frozen=True)
class Sealer:
    """Named AES-256 keys; the first seals, any opens what it sealed."""

    keys: tuple[tuple[str, bytes], ...]

    @property
    def current(self) -> str:
        return self.keys[0][0]

    def _key(self, key_id: str) -> bytes:
        for kid, key in self.keys:
            if kid == key_id:
                return key
        raise SealError(f"no key {key_id!r} in the key file (rotated away?)")

    def seal(self, plain: bytes, aad: bytes) -> str:
        nonce = os.urandom(_NONCE)
        box = _aesgcm()(self.keys[0][1]).encrypt(nonce, plain, aad)
        return base64.b64encode(nonce + box).decode("ascii")

    def open(self, key_id: str, box: str, aad: bytes) -> bytes:
        raw = base64.b64decode(box)
        try:
            return _aesgcm()(self._key(key_id)).decrypt(raw[:_NONCE], raw[_NONCE:], aad)
        except Exception as e:  # InvalidTag: a box altered, or sealed for another Secret
            raise SealError(f"cannot open a sealed Secret with key {key_id!r}: "
                            f"{type(e).__name__}") from None

    def tag(self, text: str) -> str:
        """A keyed digest: a change detector for a Secret that says nothing of its content."""
        return hmac.new(self.keys[0][1], text.encode(), hashlib.sha256).hexdigest()


def _parse(text: str, path: Path) -> Sealer:
    keys: list[tuple[str, bytes]] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kid, _, b64 = line.partition(" ")
        try:
            key = base64.b64decode(b64.strip(), validate=True)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise SealError(f"{path}:{n}: not '<id> <base64 of 32 bytes>'")
        keys.append((kid, key))
    if not keys:
        raise SealError(f"{path}: holds no key")
    return Sealer(tuple(keys))


def _new_line() -> str:
    return f"k{secrets.token_hex(4)} {base64.b64encode(_aesgcm().generate_key(256)).decode()}\n"


def _aesgcm() -> type[AESGCM]:
    # Imported when a Secret is sealed or opened: every `reconciler get` reads this module,
    # and loading cryptography's cipher bindings was a tenth of a `get pods`.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` as a file only its owner reads (0600 from the start)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_key_file(path: Path, *, create: bool = False) -> Sealer:
    """The keys in `path`; with `create`, a new file with one fresh key when it is missing."""
    path = Path(path)
    if not path.exists() and create:
        _write_private(path, "# reconciler Secret encryption keys: the first one seals\n"
                       + _new_line())
    return _parse(path.read_text(), path)


def add_key(path: Path) -> Sealer:
    """Put a fresh key first in the key file (the old ones still open old boxes)."""
    text = path.read_text()
    lines = [ln for ln in text.splitlines(keepends=True) if ln.startswith("#")]
    rest = [ln for ln in text.splitlines(keepends=True) if not ln.startswith("#")]
    _write_private(path, "".join([*lines, _new_line(), *rest]))
    return _parse(path.read_text(), path)


def drop_old_keys(path: Path) -> Sealer:
    """Keep only the sealing key (after every box was re-sealed with it)."""
    sealer = _parse(path.read_text(), path)
    kid, key = sealer.keys[0]
    _write_private(path, "# reconciler Secret encryption keys: the first one seals\n"
                   f"{kid} {base64.b64encode(key).decode()}\n")
    return _parse(path.read_text(), path)


def _aad(body: dict[str, Any]) -> bytes:
    meta = body.get("metadata") or {}
    return f"Secret/{meta.get('namespace', '')}/{meta.get('name', '')}".encode()


def is_sealed(body: dict[str, Any]) -> bool:
    return isinstance(body.get(SEALED), dict)


def seal_body(body: dict[str, Any], sealer: Sealer | None) -> dict[str, Any]:
    """The body to store for a Secret: `data` replaced by a box and the sizes kubectl shows."""
    if is_sealed(body):
        return body
    if sealer is None:
        raise SealError("a Secret cannot be stored: no encryption key is configured "
                        "(secrets.key_file)")
    data = dict(body.get("data") or {})
    out = {k: v for k, v in body.items() if k not in ("data", "stringData")}
    plain = json.dumps(data, sort_keys=True).encode()
    out[SEALED] = {"alg": _ALG, "key": sealer.current, "sizes": sizes(body),
                   "box": sealer.seal(plain, _aad(body))}
    return out


def open_body(body: dict[str, Any], sealer: Sealer) -> dict[str, Any]:
    """The stored Secret body with its `data` back (SealError when the key cannot open it)."""
    if not is_sealed(body):
        return body
    sealed = body[SEALED]
    data = json.loads(sealer.open(str(sealed["key"]), str(sealed["box"]), _aad(body)))
    out = {k: copy.deepcopy(v) for k, v in body.items() if k != SEALED}
    out["data"] = data
    return out


def sizes(body: dict[str, Any]) -> dict[str, int]:
    """Key -> decoded size in bytes of a Secret body, sealed or not (what describe shows)."""
    if is_sealed(body):
        return {str(k): int(v) for k, v in (body[SEALED].get("sizes") or {}).items()}
    out: dict[str, int] = {}
    for k, v in (body.get("data") or {}).items():
        try:
            out[str(k)] = len(base64.b64decode(v))
        except ValueError:
            out[str(k)] = len(str(v))
    return out


KEY_FILE_ENV = "RECONCILER_SECRETS_KEY_FILE"


def key_file_for(state: str, configured: str = "") -> Path:
    """The key file of a store: the configured one, $RECONCILER_SECRETS_KEY_FILE, <state>.key."""
    if configured or os.environ.get(KEY_FILE_ENV):
        return Path(configured or os.environ[KEY_FILE_ENV])
    path = state[len("sqlite:///"):] if state.startswith("sqlite:///") else state
    return Path((path if "://" not in path else "reconciler-state") + ".key")


def try_key_file(state: str) -> Sealer | None:
    """The store's keys when this user can read them (a CLI run as root), else None."""
    try:
        return load_key_file(key_file_for(state))
    except (OSError, SealError):
        return None


def open_views(views: dict[Any, Any], sealer: Sealer | None) -> dict[Any, Any]:
    """Recorded views (planning.diff.RecordedView) with Secret bodies and hashes opened.

    For `plan` from the CLI, which reads the store without it: with the key, an
    unchanged Secret is seen unchanged; without it, every Secret looks changed.
    """
    from dataclasses import replace

    from reconciler.api.defaults import content_hash

    if sealer is None:
        return views
    out = dict(views)
    for key, view in views.items():
        if getattr(key, "kind", "") == "Secret" and is_sealed(view.body):
            with contextlib.suppress(SealError):
                body = open_body(view.body, sealer)
                out[key] = replace(view, body=body, content_hash=content_hash(body))
    return out
