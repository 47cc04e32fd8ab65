"""End to end: watch and pods/log of the Kubernetes API (issue 22), with the real kubectl
and the official Python client against `reconciler run` on the local engine.

One service for the file (proxy off: nothing machine-wide), its API on a loopback
port of its own, plain HTTP (`[api] tls = false`), a kubeconfig in the module's
temporary folder. Every test declares pods of its own names.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.runtime import naming
from tests.e2e.kubectl_kit import KUBECTL, Kubectl, kubeconfig
from tests.e2e.process_helpers import pod_yaml
from tests.e2e.service import ServiceRun, service, wait_until

pytestmark = [
    pytest.mark.docker, pytest.mark.timeout(300),
    pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl is not installed"),
]
LABEL = "test: kwatch"


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory, docker_client: Any,
        local_images: None) -> Iterator[ServiceRun]:
    """The service with its Kubernetes API (plain HTTP on loopback), for the whole file."""
    with service(tmp_path_factory.mktemp("kwatch"), api=True,
                 extra_env={"RECONCILER_NETWORK_PROXY_MODE": "off"}) as run:
        yield run


@pytest.fixture(scope="module")
def kubectl(svc: ServiceRun) -> Kubectl:
    return Kubectl(kubeconfig(svc.tmp / "kubeconfig", svc.api_url), svc.tmp / "kcache")


def shell(script: str) -> list[str]:
    return ["sh", "-c", script]


LOGS_POD = pod_yaml("w-logs", shell("echo one; echo two; echo three; sleep 3600"), labels=LABEL)


class Lines:
    """The output lines of a long-running subprocess, collected by a thread."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def having(self, *words: str) -> list[str]:
        return [line for line in self.lines if all(w in line.split() for w in words)]

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def running(svc: ServiceRun, name: str) -> bool:
    return any(p["metadata"]["name"] == name for p in svc.running())


def streaming(kubectl: Kubectl, *args: str) -> Lines:
    return Lines([KUBECTL, "--kubeconfig", str(kubectl.config), "--cache-dir",
                  str(kubectl.cache), *args])


class TestKubectlWatch:
    def test_get_pods_w_sees_a_pod_appear_and_go(self, svc: ServiceRun,
                                                  kubectl: Kubectl) -> None:
        """`kubectl get pods -w` prints a declared pod's arrival and its deletion."""
        # A pod kubectl lists first: once it is printed, everything after comes by the watch.
        svc.write("w-logs.yaml", LOGS_POD)
        wait_until(lambda: running(svc, "w-logs"), 120, what="w-logs running")
        watch = streaming(kubectl, "get", "pods", "-w", "--output-watch-events",
                          "-l", "test=kwatch")
        try:
            wait_until(lambda: watch.having("ADDED", "w-logs"), 60, what="kubectl's list")
            path = svc.write("w-appear.yaml", pod_yaml("w-appear", labels=LABEL))
            wait_until(lambda: watch.having("w-appear", "Running"), 120,
                       what=f"the pod Running; seen: {watch.lines}")
            path.unlink()
            wait_until(lambda: watch.having("DELETED", "w-appear"), 120,
                       what=f"the pod DELETED; seen: {watch.lines}")
        finally:
            watch.stop()


class TestKubectlLogs:
    def test_logs_tail_and_errors(self, svc: ServiceRun, kubectl: Kubectl) -> None:
        """`kubectl logs` prints the container's output; --tail, unknown pod and container."""
        svc.write("w-logs.yaml", LOGS_POD)
        wait_until(lambda: running(svc, "w-logs"), 120, what="w-logs running")
        wait_until(lambda: "three" in kubectl.run("logs", "w-logs", check=False).stdout, 60,
                   what="the pod's three lines")
        assert kubectl.out("logs", "w-logs").split() == ["one", "two", "three"]
        assert kubectl.out("logs", "w-logs", "--tail=1").split() == ["three"]
        stamped = kubectl.out("logs", "w-logs", "--timestamps", "--tail=1").split()
        assert stamped[1] == "three" and stamped[0].endswith("Z"), stamped
        missing = kubectl.run("logs", "w-nope", check=False)
        assert 'pods "w-nope" not found' in missing.stderr, missing.stderr
        wrong = kubectl.run("logs", "w-logs", "-c", "nope", check=False)
        assert "container nope is not valid for pod w-logs" in wrong.stderr, wrong.stderr

    def test_exec_over_websocket(self, svc: ServiceRun, kubectl: Kubectl) -> None:
        """`kubectl exec` runs in the container: its output, stderr, stdin and exit code."""
        wait_until(lambda: running(svc, "w-logs"), 120, what="w-logs running")
        out = kubectl.run("exec", "w-logs", "--", "sh", "-c", "echo out; echo err >&2; exit 3",
                          check=False)
        assert (out.returncode, out.stdout) == (3, "out\n"), out
        assert "err" in out.stderr.split(), out.stderr
        piped = subprocess.run(
            [KUBECTL, "--kubeconfig", str(kubectl.config), "--cache-dir", str(kubectl.cache),
             "exec", "-i", "w-logs", "--", "cat"],
            input="piped\n", capture_output=True, text=True, timeout=60, check=False)
        assert (piped.returncode, piped.stdout) == (0, "piped\n"), piped

    def test_exec_ended_when_the_client_goes(self, svc: ServiceRun, kubectl: Kubectl,
                                             docker_client: Any) -> None:
        """A client that goes away mid-command (kubectl killed): the command, its child
        and the Docker exec end in the container."""
        svc.write("w-logs.yaml", LOGS_POD)
        wait_until(lambda: running(svc, "w-logs"), 120, what="w-logs running")
        container = docker_client.containers.list(filters={"label": [
            f"{naming.POD_NAME}=w-logs", f"{naming.CONTAINER}=main"]})[0]

        def commands() -> list[str]:
            return [p[-1] for p in container.top()["Processes"]]

        execs = set(container.attrs.get("ExecIDs") or [])
        client = streaming(kubectl, "exec", "w-logs", "--", "sh", "-c",
                           "sleep 3601 & echo started; wait")
        try:
            wait_until(lambda: client.having("started"), 60, what="the command started")
            assert "sleep 3601" in commands()
        finally:
            client.stop()
        wait_until(lambda: "sleep 3601" not in commands(), 60,
                   what=f"the command ended; running: {commands()}")

        def execs_running() -> list[str]:
            # The engine drops an exec from ExecIDs once its shim reports the exit, which
            # can come a moment after its processes are gone from `top`.
            container.reload()
            return sorted(set(container.attrs.get("ExecIDs") or []) - execs)

        wait_until(lambda: not execs_running(), 30,
                   what=f"every Docker exec of the command ended: {execs_running()}")

    def test_attach_is_refused_naming_reconciler_exec(self, svc: ServiceRun,
                                                      kubectl: Kubectl) -> None:
        """`kubectl attach` gets a 405 that names `reconciler exec`."""
        wait_until(lambda: running(svc, "w-logs"), 120, what="w-logs running")
        out = kubectl.run("attach", "w-logs", check=False)
        assert out.returncode != 0
        assert "reconciler exec" in out.stderr, out.stderr

    def test_logs_f_streams_new_lines(self, svc: ServiceRun, kubectl: Kubectl) -> None:
        """`kubectl logs -f` keeps printing what the container prints after it started."""
        svc.write("w-follow.yaml", pod_yaml("w-follow", shell(
            "i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done"), labels=LABEL))
        wait_until(lambda: running(svc, "w-follow"), 120, what="w-follow running")
        follow = streaming(kubectl, "logs", "-f", "w-follow", "--tail=1")
        try:
            first = wait_until(lambda: follow.having("tick"), 60, what="a first tick")[0]
            start = int(first.split()[1])
            wait_until(lambda: any(int(line.split()[1]) >= start + 3
                                   for line in follow.having("tick")), 60,
                       what=f"three more ticks after {first}")
            assert follow.proc.poll() is None  # still following
        finally:
            follow.stop()


class Informer:
    """An informer-like loop of the Python client: list, then watch from the list's
    version; a dropped stream is watched again from the last version seen, a 410 relists."""

    def __init__(self, server: str) -> None:
        from kubernetes import client

        conf = client.Configuration()
        conf.host = server
        self.api: Any = client.CoreV1Api(client.ApiClient(conf))
        self.names: set[str] = set()
        self.lists = 0
        self.resumes = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _list(self) -> str:
        listed = self.api.list_namespaced_pod("default", label_selector="test=kwatch")
        self.names = {str(p.metadata.name) for p in listed.items}
        self.lists += 1
        return str(listed.metadata.resource_version)

    def _run(self) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        watcher: Any = watch.Watch
        rv = ""
        while not self.stopped.is_set():
            try:
                if not rv:
                    rv = self._list()
                else:
                    self.resumes += 1
                for ev in watcher().stream(
                        self.api.list_namespaced_pod, "default", label_selector="test=kwatch",
                        resource_version=rv, timeout_seconds=30, allow_watch_bookmarks=True):
                    obj = ev["raw_object"]
                    rv = obj["metadata"]["resourceVersion"]
                    if ev["type"] in ("ADDED", "MODIFIED"):
                        self.names.add(obj["metadata"]["name"])
                    elif ev["type"] == "DELETED":
                        self.names.discard(obj["metadata"]["name"])
            except ApiException as e:
                if e.status == 410:
                    rv = ""  # too old: list again
                else:
                    time.sleep(0.5)
            except Exception:  # the service is restarting: watch again from rv
                time.sleep(0.5)


class TestPythonClient:
    def test_informer_across_a_restart(self, svc: ServiceRun) -> None:
        """The official client's list+watch loop follows pods across a service restart."""
        svc.write("w-inf-a.yaml", pod_yaml("w-inf-a", labels=LABEL))
        informer = Informer(svc.api_url)
        try:
            wait_until(lambda: "w-inf-a" in informer.names, 60, what="w-inf-a listed")
            svc.write("w-inf-b.yaml", pod_yaml("w-inf-b", labels=LABEL))
            wait_until(lambda: "w-inf-b" in informer.names, 60, what="w-inf-b watched")
            lists = informer.lists
            svc.stop()
            (svc.desired / "w-inf-a.yaml").unlink()  # deleted while the service is down
            svc.write("w-inf-c.yaml", pod_yaml("w-inf-c", labels=LABEL))
            svc.start()
            wait_until(lambda: {"w-inf-b", "w-inf-c"} <= informer.names
                       and "w-inf-a" not in informer.names, 120,
                       what=f"the informer after the restart: {informer.names}")
            assert informer.resumes >= 1  # it watched again from its version first
            print(f"\ninformer: {informer.lists - lists} relist(s) after the restart, "
                  f"{informer.resumes} watch(es) resumed from a version")
        finally:
            informer.stopped.set()
