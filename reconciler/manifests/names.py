"""Syntax of names, labels, quantities and URLs, worded for the manifest validator.

Pure predicates used by reconciler.manifests.semantic; each returns an error
message ("" when valid) so every caller reports the same words. The verdicts
come from the one set of validators in `reconciler.api.names` and the one
quantity parser in `reconciler.api.quantity`; this module only phrases them
with the offending value in the sentence, and a length limit with the
apiserver's words ("must be no more than 63 characters").
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from reconciler.api import names as syntax
from reconciler.api.quantity import QuantityError, parse_quantity

_C_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def dns1123_label(value: str) -> str:
    """A DNS-1123 label: at most 63 lowercase letters, digits and '-', alphanumeric at both ends."""
    if not syntax.validate_dns1123_label(value):
        return ""
    if len(value) > syntax.DNS1123_LABEL_MAX:
        return f"{value!r}: must be no more than {syntax.DNS1123_LABEL_MAX} characters"
    return (f"{value!r} is not a valid DNS-1123 label (lowercase letters, digits and '-', "
            "starting and ending with a letter or digit)")


def dns1123_subdomain(value: str) -> str:
    """A DNS-1123 subdomain: labels joined by '.', at most 253 characters."""
    if not syntax.validate_dns1123_subdomain(value):
        return ""
    if len(value) > syntax.DNS1123_SUBDOMAIN_MAX:
        return f"{value!r}: must be no more than {syntax.DNS1123_SUBDOMAIN_MAX} characters"
    return (f"{value!r} is not a valid DNS-1123 subdomain (lowercase letters, digits, "
            "'-' and '.', starting and ending with a letter or digit)")


def label_key(key: str) -> str:
    """A label or annotation key: [DNS subdomain prefix and '/'] then a name of 63 at most."""
    if not syntax.validate_label_key(key):
        return ""
    # Invalid: say which part, as a person fixing the file needs it.
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return f"key {key!r} has an empty prefix"
    if slash and dns1123_subdomain(prefix):
        return f"key {key!r}: prefix {dns1123_subdomain(prefix)}"
    if not name:
        return f"key {key!r} has an empty name"
    if len(name) > syntax.QUALIFIED_NAME_MAX:
        return (f"key {key!r}: name part must be no more than {syntax.QUALIFIED_NAME_MAX} "
                "characters")
    return (f"key {key!r} is not valid (letters, digits, '-', '_' and '.', starting and "
            "ending with a letter or digit)")


def label_value(value: str) -> str:
    """A label value: empty, or at most 63 characters of the label-name alphabet."""
    if not syntax.validate_label_value(value):
        return ""
    if len(value) > syntax.LABEL_VALUE_MAX:
        return f"value {value!r}: must be no more than {syntax.LABEL_VALUE_MAX} characters"
    return (f"value {value!r} is not valid (letters, digits, '-', '_' and '.', starting and "
            "ending with a letter or digit)")


def port_name(value: str) -> str:
    """An IANA service name: at most 15 characters, lowercase, at least one letter, no '--'."""
    reasons = syntax.validate_port_name(value)
    if not reasons:
        return ""
    if len(value) > syntax.PORT_NAME_MAX:
        return f"port name {value!r} is longer than {syntax.PORT_NAME_MAX} characters"
    if any("alpha-numeric" in r or "begin or end" in r for r in reasons):
        return (f"port name {value!r} is not valid (lowercase letters, digits and '-', "
                "starting and ending with a letter or digit)")
    if "--" in value:
        return f"port name {value!r} must not contain '--'"
    return f"port name {value!r} must contain at least one letter"


def quantity(value: object) -> str:
    """A Kubernetes quantity: a number with an optional suffix (100m, 0.5, 128Mi, 1G)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return f"{value!r} is not a quantity (examples: 100m, 0.5, 128Mi, 1G)"
    try:
        amount = parse_quantity(value)
    except QuantityError:
        return f"{value!r} is not a quantity (examples: 100m, 0.5, 128Mi, 1G)"
    if amount < 0:
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
