"""How the CLI names a Docker engine it could not reach: one line, node, URL and reason.

Used by the commands that talk to engines directly (`logs`, `exec`, `top`). The
driver's `HostUnreachable` reason carries the HTTP library's chain of wrapped
exceptions ("HTTPConnectionPool(...): Max retries exceeded ... NewConnectionError
(...: [Errno 111] Connection refused)"); a user needs the last cause only.
"""

from __future__ import annotations

import re

from reconciler.api.records import NodeRecord

DEFAULT_URL = "unix:///var/run/docker.sock"
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")(\]]+)")
# `FileNotFoundError(2, 'No such file or directory')`, as urllib3 wraps a unix socket's error.
_OSERROR = re.compile(r"Error\(-?\d+, '([^']+)'\)")


def short_reason(reason: str, node: str = "") -> str:
    """The last OS-level cause in `reason`, else its first line without the node prefix."""
    found = _ERRNO.findall(reason) or _OSERROR.findall(reason)
    if found:
        return str(found[-1]).strip().rstrip(".,:")
    if "timed out" in reason.lower() or "timeout" in reason.lower():
        return "timed out"
    text = reason.splitlines()[0] if reason else "no answer"
    if node and text.startswith(f"{node}: "):
        text = text[len(node) + 2:]
    return text[:200]


def unreachable(node: NodeRecord, reason: str) -> str:
    """`node NAME (URL) is unreachable: REASON`."""
    url = node.engine_url or DEFAULT_URL
    return f"node {node.name} ({url}) is unreachable: {short_reason(reason, node.name)}"
