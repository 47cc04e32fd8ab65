"""runtime: everything that talks to Docker engines (the effects side of pods).

The Docker SDK imports paramiko when it is imported itself (docker.transport.sshconn),
for ssh:// engines only: 0.2 s of CPU in every service start and every CLI call that
reaches an engine, a quarter of a service's imports. paramiko is stood in for here by a
module that imports the real one at the first use of one of its names (an ssh:// engine's
connect). importlib's LazyLoader cannot do it on Python 3.11: `import paramiko` reads the
module's `__spec__`, and any attribute read runs the lazy module.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

_IMPORTING = threading.Lock()  # two engines' threads may both use paramiko first


class _Deferred(types.ModuleType):
    """A module whose names are the real module's, imported at the first name looked up."""

    def __getattr__(self, name: str) -> Any:  # only for names this stand-in lacks
        with _IMPORTING:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
        return getattr(real, name)


def _defer(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return  # not installed: docker-py says ssh:// is unsupported, as it would anyway
    stand_in = _Deferred(name)
    stand_in.__spec__ = spec
    sys.modules[name] = stand_in


_defer("paramiko")
