"""Opening SOPS-encrypted manifests with an age identity, in memory, at load time.

Sits between a source and the manifests loader: the loader
(reconciler.manifests.loader) hands every parsed document that carries SOPS
metadata (a top-level `sops` map with a `mac`) to the `decrypt` hook the
service built from `secrets.sops_age_key_file` (`SopsDecryptor`), and validates
what comes back; the plaintext is never written anywhere. As Flux's
kustomize-controller does, this opens files made by the `sops` tool with age
recipients (`sops --encrypt --age age1... --encrypted-regex '^(data|stringData)$'`).

The format is SOPS's (getsops/sops, stores and aes cipher): the data key is an
age-encrypted 32-byte key (one `sops.age[].enc` stanza per recipient); each
encrypted leaf is `ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<t>]`,
sealed with that key and the leaf's path (`key:key:`) as additional data; the
`mac` is the SHA-512 of every leaf's plaintext in document order (only the
encrypted ones with `mac_only_encrypted`), sealed with `lastmodified` as
additional data. A document that fails any check is refused whole, with a
message that names no value.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pyrage
from pyrage import x25519

_ENC = re.compile(r"^ENC\[AES256_GCM,data:(.*),iv:(.*),tag:(.*),type:(.*)\]$", re.DOTALL)
_DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"


class SopsError(ValueError):
    """A SOPS document that cannot be opened: no matching identity, a bad MAC, a bad value."""


def is_sops(doc: Any) -> bool:
    """Whether a parsed document carries SOPS metadata."""
    return isinstance(doc, dict) and isinstance(doc.get("sops"), dict) and "mac" in doc["sops"]


def load_identities(path: Path) -> list[x25519.Identity]:
    """The age identities of a key file (`AGE-SECRET-KEY-1...` lines, as age-keygen writes)."""
    out = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line.startswith("AGE-SECRET-KEY-"):
            try:
                out.append(x25519.Identity.from_str(line))
            except Exception as e:  # pyrage.IdentityError
                raise SopsError(f"{path}: not an age identity: {type(e).__name__}") from None
    if not out:
        raise SopsError(f"{path}: holds no age identity (AGE-SECRET-KEY-1...)")
    return out


def _data_key(meta: dict[str, Any], identities: list[x25519.Identity]) -> bytes:
    stanzas = [s for s in meta.get("age") or [] if isinstance(s, dict) and s.get("enc")]
    if not stanzas:
        raise SopsError("encrypted for no age recipient (only age is supported here)")
    for stanza in stanzas:
        try:
            key = pyrage.decrypt(str(stanza["enc"]).encode(), identities)
        except Exception:  # pyrage.DecryptError: not one of ours
            continue
        if len(key) == 32:
            return bytes(key)
    recipients = ", ".join(str(s.get("recipient", "?")) for s in stanzas)
    raise SopsError(f"no configured age identity opens it (recipients: {recipients})")


def _open(value: str, key: bytes, aad: str) -> Any:
    m = _ENC.match(value)
    if m is None:
        raise SopsError("a value that should be encrypted is not in SOPS's ENC[...] form")
    data, iv, tag, type_ = (base64.b64decode(m.group(i)) if i < 4 else m.group(i)
                            for i in range(1, 5))
    assert isinstance(data, bytes) and isinstance(iv, bytes) and isinstance(tag, bytes)
    # Imported here: only a SOPS file needs it, and it costs a service start 0.1 s of CPU.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        plain = AESGCM(key).decrypt(iv, data + tag, aad.encode())
    except Exception:  # InvalidTag
        raise SopsError(f"a value at {aad!r} does not open (altered, or moved)") from None
    if type_ == "str":
        return plain.decode()
    if type_ == "int":
        return int(plain)
    if type_ == "float":
        return float(plain)
    if type_ == "bool":
        return plain.decode() == "True"
    if type_ == "bytes":
        return plain
    raise SopsError(f"a value of unsupported SOPS type {type_!r}")


def _to_bytes(value: Any) -> bytes:
    """SOPS's ToBytes: what a leaf contributes to the MAC."""
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, bytes):
        return value
    if isinstance(value, float):
        return repr(value).encode() if value != int(value) else str(int(value)).encode()
    if value is None:
        return b""
    return str(value).encode()


def _rules(meta: dict[str, Any]) -> Callable[[list[str]], bool]:
    """Whether the leaf at a path is encrypted, by the file's own rules (as sops decides)."""
    enc_re, unenc_re = meta.get("encrypted_regex"), meta.get("unencrypted_regex")
    enc_suffix, unenc_suffix = meta.get("encrypted_suffix"), meta.get("unencrypted_suffix")
    if not any((enc_re, unenc_re, enc_suffix, unenc_suffix)):
        unenc_suffix = _DEFAULT_UNENCRYPTED_SUFFIX

    def encrypted(path: list[str]) -> bool:
        if unenc_suffix:
            return not any(p.endswith(unenc_suffix) for p in path)
        if enc_suffix:
            return any(p.endswith(enc_suffix) for p in path)
        if enc_re:
            return any(re.search(enc_re, p) for p in path)
        return not any(re.search(str(unenc_re), p) for p in path)

    return encrypted


def decrypt(doc: dict[str, Any], identities: list[x25519.Identity]) -> dict[str, Any]:
    """The plaintext document (without its `sops` metadata); SopsError when it cannot be."""
    meta = doc["sops"]
    key = _data_key(meta, identities)
    encrypted = _rules(meta)
    only_encrypted = bool(meta.get("mac_only_encrypted"))
    digest = hashlib.sha512()

    def walk(value: Any, path: list[str]) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, [*path, str(k)]) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, path) for v in value]  # list items share their key's path
        secret = encrypted(path)
        plain = _open(str(value), key, ":".join(path) + ":") if secret else value
        if secret or not only_encrypted:
            digest.update(_to_bytes(plain))
        return plain

    body = {k: walk(v, [str(k)]) for k, v in doc.items() if k != "sops"}
    stamp = meta.get("lastmodified")
    if isinstance(stamp, datetime):
        stamp = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    mac = _open(str(meta["mac"]), key, str(stamp))
    if str(mac).upper() != digest.hexdigest().upper():
        raise SopsError("the MAC does not match: the file was changed after it was encrypted")
    return body


class SopsDecryptor:
    """The loader's hook: opens SOPS documents with the identities of one key file.

    The file is read on every use, so a replaced key needs no restart; a missing
    or bad file is the error of the documents that needed it.
    """

    def __init__(self, key_file: str = "") -> None:
        # As the sops tool: $SOPS_AGE_KEY_FILE when nothing is configured.
        self.key_file = key_file or os.environ.get("SOPS_AGE_KEY_FILE", "")

    def __call__(self, doc: dict[str, Any]) -> dict[str, Any]:
        if not self.key_file:
            raise SopsError("SOPS-encrypted, and no age key is configured "
                            "(secrets.sops_age_key_file)")
        try:
            identities = load_identities(Path(self.key_file))
        except OSError as e:
            raise SopsError(f"cannot read the age key file {self.key_file}: "
                            f"{e.strerror or e}") from None
        return decrypt(doc, identities)
