"""The OpenAPI v2 document in protobuf, the form kubectl's client-side validation asks for.

kubectl validates a document on the client (against /openapi/v2) when the server's
OpenAPI v3 says nothing of server-side validation for its kind, which is always the
case for a `kind: List` file; and it asks for /openapi/v2 only as protobuf (gnostic's
`openapi.v2.Document`, google/gnostic's openapiv2/OpenAPIv2.proto). `openapi.py` serves
this encoding of the same v2 document it serves as JSON. Only what kubectl's parser
(kube-openapi's `proto.NewOpenAPIData`) reads is encoded: the info, and every
definition with its type, format, description, required fields, properties, items,
map values, bounds and `x-` extensions (whose values protobuf carries as YAML text);
paths, enums and defaults are left out. A hand-written encoder: protobuf's wire format
for these few messages is short, and the project has no protobuf dependency.
"""

from __future__ import annotations

import struct
from typing import Any

import yaml

# Field numbers of the messages used, from OpenAPIv2.proto.
DOC_SWAGGER, DOC_INFO, DOC_DEFINITIONS = 1, 2, 9
INFO_TITLE, INFO_VERSION = 1, 2
NAMED_NAME, NAMED_VALUE = 1, 2
ANY_YAML = 2
SCHEMA_STRINGS = {"$ref": 1, "format": 2, "description": 4, "pattern": 13}
SCHEMA_DOUBLES = {"maximum": 7, "minimum": 9}
SCHEMA_INTS = {"maxLength": 11, "minLength": 12, "maxItems": 14, "minItems": 15}
SCHEMA_REQUIRED, SCHEMA_ADDITIONAL, SCHEMA_TYPE, SCHEMA_ITEMS = 19, 21, 22, 23
SCHEMA_PROPERTIES, SCHEMA_EXTENSIONS = 25, 31
ADDITIONAL_SCHEMA, ADDITIONAL_BOOLEAN = 1, 2


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1  # negative int64s are ten bytes of two's complement
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, data: bytes) -> bytes:
    """A length-delimited field (wire type 2): strings and embedded messages."""
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _text(number: int, value: str) -> bytes:
    return _field(number, value.encode()) if value else b""


def _named(name: str, value: bytes) -> bytes:
    return _text(NAMED_NAME, name) + _field(NAMED_VALUE, value)


def schema(node: dict[str, Any]) -> bytes:
    """One `openapi.v2.Schema` message from a JSON schema object of the v2 document."""
    out = bytearray()
    for key, number in SCHEMA_STRINGS.items():
        if isinstance(node.get(key), str):
            out += _text(number, node[key])
    for key, number in SCHEMA_DOUBLES.items():
        if isinstance(node.get(key), int | float):
            out += _varint(number << 3 | 1) + struct.pack("<d", float(node[key]))
    for key, number in SCHEMA_INTS.items():
        if isinstance(node.get(key), int):
            out += _varint(number << 3) + _varint(node[key])
    for name in node.get("required") or ():
        out += _text(SCHEMA_REQUIRED, str(name))
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        out += _field(SCHEMA_ADDITIONAL, _field(ADDITIONAL_SCHEMA, schema(extra)))
    elif isinstance(extra, bool):
        out += _field(SCHEMA_ADDITIONAL, _varint(ADDITIONAL_BOOLEAN << 3) + _varint(int(extra)))
    if isinstance(node.get("type"), str):
        out += _field(SCHEMA_TYPE, _text(1, node["type"]))
    if isinstance(node.get("items"), dict):
        out += _field(SCHEMA_ITEMS, _field(1, schema(node["items"])))
    if isinstance(node.get("properties"), dict):
        props = b"".join(_field(1, _named(k, schema(v))) for k, v in node["properties"].items())
        out += _field(SCHEMA_PROPERTIES, props)
    for key, value in node.items():
        if key.startswith("x-"):
            text = yaml.safe_dump(value, default_flow_style=False)
            out += _field(SCHEMA_EXTENSIONS, _named(key, _text(ANY_YAML, text)))
    return bytes(out)


def document(doc: dict[str, Any]) -> bytes:
    """The `openapi.v2.Document` message of a v2 document (its info and definitions)."""
    info = doc.get("info") or {}
    out = _text(DOC_SWAGGER, str(doc.get("swagger", "2.0")))
    out += _field(DOC_INFO, _text(INFO_TITLE, str(info.get("title", "")))
                  + _text(INFO_VERSION, str(info.get("version", ""))))
    definitions = b"".join(_field(1, _named(name, schema(node)))
                           for name, node in (doc.get("definitions") or {}).items())
    return out + _field(DOC_DEFINITIONS, definitions)
