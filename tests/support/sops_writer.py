"""A SOPS writer for tests: encrypts a document as `sops --encrypt --age R` does (YAML store).

The project only reads SOPS files (reconciler.sources.sops); tests need files to
read, and the sops binary is not packaged for these machines. This follows the
format of getsops/sops (AES-256-GCM per leaf with a 32-byte IV and the leaf's
path as additional data, the SHA-512 MAC sealed with `lastmodified`, the data
key age-encrypted per recipient in ASCII armor); the reader was also checked
against a file written by sops 3.9 itself (docs/config.md).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from typing import Any

import pyrage
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pyrage import x25519

LASTMODIFIED = "2026-01-02T03:04:05Z"


def _armor(data: bytes) -> str:
    b64 = base64.b64encode(data).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN AGE ENCRYPTED FILE-----\n" + "\n".join(lines) + \
        "\n-----END AGE ENCRYPTED FILE-----\n"


def _seal(key: bytes, plain: bytes, aad: str, type_: str) -> str:
    iv = os.urandom(32)
    out = AESGCM(key).encrypt(iv, plain, aad.encode())
    data, tag = out[:-16], out[-16:]
    b = base64.b64encode
    return f"ENC[AES256_GCM,data:{b(data).decode()},iv:{b(iv).decode()}," \
           f"tag:{b(tag).decode()},type:{type_}]"


def _plain(value: Any) -> tuple[bytes, str]:
    if isinstance(value, bool):
        return (b"True" if value else b"False"), "bool"
    if isinstance(value, int):
        return str(value).encode(), "int"
    return str(value).encode(), "str"


def encrypt(doc: dict[str, Any], recipient: x25519.Recipient,
            encrypted_regex: str = "^(data|stringData)$") -> dict[str, Any]:
    """The document as sops would write it for one age recipient."""
    key = os.urandom(32)
    digest = hashlib.sha512()

    def walk(value: Any, path: list[str]) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, [*path, str(k)]) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, path) for v in value]
        plain, type_ = _plain(value)
        digest.update(plain)
        if any(re.search(encrypted_regex, p) for p in path):
            return _seal(key, plain, ":".join(path) + ":", type_)
        return value

    out = {k: walk(v, [str(k)]) for k, v in doc.items()}
    out["sops"] = {
        "age": [{"recipient": str(recipient),
                 "enc": _armor(pyrage.encrypt(key, [recipient]))}],
        "lastmodified": LASTMODIFIED,
        "mac": _seal(key, digest.hexdigest().upper().encode(), LASTMODIFIED, "str"),
        "encrypted_regex": encrypted_regex,
        "version": "3.9.0",
    }
    return out
