"""Syntax of names, labels, quantities and URLs, as Kubernetes' validation package defines them.

Pure predicates used by reconciler.manifests.semantic; each returns an error
message ("" when valid) so every caller reports the same words.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_QUANTITY = re.compile(
    r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$"
)
_C_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def dns1123_label(value: str) -> str:
    """A DNS-1123 label: at most 63 lowercase letters, digits and '-', alphanumeric at both ends."""
    if len(value) > 63:
        return f"{value!r} is longer than 63 characters"
    if not _DNS1123_LABEL.match(value):
        return (f"{value!r} is not a valid DNS-1123 label (lowercase letters, digits and '-', "
                "starting and ending with a letter or digit)")
    return ""


def dns1123_subdomain(value: str) -> str:
    """A DNS-1123 subdomain: labels joined by '.', at most 253 characters."""
    if len(value) > 253:
        return f"{value!r} is longer than 253 characters"
    if not _DNS1123_SUBDOMAIN.match(value):
        return (f"{value!r} is not a valid DNS-1123 subdomain (lowercase letters, digits, "
                "'-' and '.', starting and ending with a letter or digit)")
    return ""


def label_key(key: str) -> str:
    """A label or annotation key: [DNS subdomain prefix and '/'] then a name of 63 at most."""
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix:
            return f"key {key!r} has an empty prefix"
        problem = dns1123_subdomain(prefix)
        if problem:
            return f"key {key!r}: prefix {problem}"
    if not name:
        return f"key {key!r} has an empty name"
    if len(name) > 63:
        return f"key {key!r}: name part is longer than 63 characters"
    if not _LABEL_NAME.match(name):
        return (f"key {key!r} is not valid (letters, digits, '-', '_' and '.', starting and "
                "ending with a letter or digit)")
    return ""


def label_value(value: str) -> str:
    """A label value: empty, or at most 63 characters of the label-name alphabet."""
    if value == "":
        return ""
    if len(value) > 63:
        return f"value {value!r} is longer than 63 characters"
    if not _LABEL_NAME.match(value):
        return (f"value {value!r} is not valid (letters, digits, '-', '_' and '.', starting and "
                "ending with a letter or digit)")
    return ""


def port_name(value: str) -> str:
    """An IANA service name: at most 15 characters, lowercase, at least one letter, no '--'."""
    if len(value) > 15:
        return f"port name {value!r} is longer than 15 characters"
    if not _IANA_SVC_NAME.match(value):
        return (f"port name {value!r} is not valid (lowercase letters, digits and '-', "
                "starting and ending with a letter or digit)")
    if "--" in value:
        return f"port name {value!r} must not contain '--'"
    if not any(c.isalpha() for c in value):
        return f"port name {value!r} must contain at least one letter"
    return ""


def quantity(value: object) -> str:
    """A Kubernetes quantity: a number with an optional suffix (100m, 0.5, 128Mi, 1G)."""
    if isinstance(value, bool):
        return f"{value!r} is not a quantity"
    if isinstance(value, int | float):
        return "" if value >= 0 else f"quantity {value!r} must not be negative"
    if not isinstance(value, str) or not _QUANTITY.match(value):
        return f"{value!r} is not a quantity (examples: 100m, 0.5, 128Mi, 1G)"
    if value.startswith("-"):
        return f"quantity {value!r} must not be negative"
    return ""


def env_name(value: str) -> str:
    """An environment variable name; Kubernetes accepts any printable name, we warn on odd ones."""
    if not value or "=" in value:
        return f"environment variable name {value!r} is not valid"
    return ""


def c_identifier(value: str) -> bool:
    """Whether a name is a C identifier (usable from a shell)."""
    return bool(_C_IDENTIFIER.match(value))


def engine_url(value: str) -> str:
    """A Docker engine URL: unix:///path, tcp://host:port or ssh://[user@]host[:port]."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as e:
        return f"engine {value!r} is not a valid URL ({e})"
    if parts.scheme == "unix":
        if parts.netloc or not parts.path.startswith("/"):
            return f"engine {value!r}: a unix URL is unix:///absolute/path/to/docker.sock"
        return ""
    if parts.scheme in ("tcp", "ssh"):
        if not parts.hostname:
            return f"engine {value!r} names no host"
        if parts.scheme == "tcp" and port is None:
            return f"engine {value!r}: a tcp URL needs a port (tcp://HOST:2376)"
        if parts.path not in ("", "/"):
            return f"engine {value!r}: unexpected path {parts.path!r}"
        return ""
    return f"engine {value!r}: scheme must be unix://, tcp:// or ssh://"
