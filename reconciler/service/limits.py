"""The process's own resource limits, raised at start by the long-running commands.

`reconciler run` (reconciler/service/app.py) and `reconciler proxy`
(reconciler/cli/proxy.py) call `raise_open_files_limit` before they open anything:
the userspace proxy holds two descriptors per connection, capped per service
(network.max_connections), and the soft default of 1,024 would run out long before
the caps, taking the store's and Docker's connections with it.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)

UNLIMITED_SOFT = 1 << 20  # what "unlimited" hard means for the soft limit (the unit's value)


def raise_open_files_limit() -> tuple[int, int]:
    """Raise RLIMIT_NOFILE's soft limit to the hard one; (soft, hard) after.

    The unit sets LimitNOFILE for the hard limit; started by hand, the shell's hard
    limit is what we get.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, UNLIMITED_SOFT)
    if soft < target or soft == resource.RLIM_INFINITY:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:  # a container's seccomp, an odd kernel
            log.warning("open files limit not raised: %s", exc)
    return resource.getrlimit(resource.RLIMIT_NOFILE)
