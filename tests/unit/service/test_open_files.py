"""The service raises its own open-files soft limit to the hard limit at start."""

from __future__ import annotations

import resource
import subprocess
import sys

CHILD = ("from reconciler.service.limits import raise_open_files_limit; "
         "print(*raise_open_files_limit())")


def _low_soft_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))


class TestRaiseOpenFilesLimit:
    def test_soft_raised_to_hard(self) -> None:
        """A process started with a soft limit of 256 ends with soft == hard."""
        out = subprocess.run([sys.executable, "-c", CHILD], preexec_fn=_low_soft_limit,
                             capture_output=True, text=True, check=True, timeout=120).stdout
        soft, hard = (int(x) for x in out.split())
        _, expected_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert hard == expected_hard and soft == hard and soft > 256
