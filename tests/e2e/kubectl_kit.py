"""The real kubectl against reconciler's Kubernetes API (issue 22): a kubeconfig and a runner.

Shared by tests/e2e/test_kubectl_*.py. Each Kubectl has its own kubeconfig and
discovery cache in tmp, so parallel test files never read each other's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.service import ServiceRun, remove_all, wait_until

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


def kubeconfig(path: Path, server: str, user: dict[str, str] | None = None) -> Path:
    """A kubeconfig whose one context points at `server` (`user`: credentials, if any)."""
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "rk",
        "clusters": [{"name": "rk", "cluster": {"server": server}}],
        "users": [{"name": "rk", "user": user or {}}],
        "contexts": [{"name": "rk", "context": {"cluster": "rk", "user": "rk",
                                                 "namespace": "default"}}],
    }))
    return path


class Kubectl:
    """kubectl with its own kubeconfig and discovery cache (in tmp)."""

    def __init__(self, config: Path, cache: Path) -> None:
        self.config, self.cache = config, cache

    def run(self, *args: str, check: bool = True, stdin: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([KUBECTL, "--kubeconfig", str(self.config), "--cache-dir",
                               str(self.cache), "--request-timeout", "30s", *args],
                              capture_output=True, text=True, timeout=60, check=False,
                              input=stdin, env=env)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n"
                                 f"{done.stdout}\n{done.stderr}")
        return done

    def out(self, *args: str) -> str:
        """kubectl's stdout; a failure is an AssertionError with its output."""
        return self.run(*args).stdout


def rows(text: str) -> list[list[str]]:
    """kubectl's table without its header, split on runs of spaces (no cell has two)."""
    return [line.split() for line in text.strip().splitlines()[1:]]


@contextmanager
def api_service(tmp: Path, files: dict[str, str], ready: Callable[[ServiceRun], object],
                what: str, extra_env: dict[str, str] | None = None) -> Iterator[ServiceRun]:
    """`reconciler run` (proxy off) with its API on a free loopback port, on `files` written
    in its desired folder, once `ready(run)`; stopped and its containers removed after."""
    run = ServiceRun(tmp, api=True,
                     extra_env={"RECONCILER_NETWORK_PROXY_MODE": "off", **(extra_env or {})})
    for name, text in files.items():
        run.write(name, text)
    try:
        run.start()
        wait_until(lambda: ready(run), timeout=90, what=what)
        yield run
    finally:
        if run.proc is not None:
            run.stop()
        remove_all(run.prefix)


def kubectl_for(run: ServiceRun, tmp: Path) -> Kubectl:
    """A Kubectl pointed at `run`'s API (kubeconfig and cache in `tmp`)."""
    return Kubectl(kubeconfig(tmp / "config", run.api_url), tmp / "cache")
