"""End to end: images pulled from a real registry with TLS and htpasswd auth (issue 21).

The registry is Debian's distribution registry on a loopback port
(tests/support/registry.py), its CA trusted by the default engine through
certs.d; images are local ones pushed into it with the SDK, their local tags
removed so the service has to pull them. The service runs as a user runs it.
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from reconciler.runtime.images import BUSYBOX_IMAGE, INFRA_IMAGE
from tests.e2e.service import ServiceRun, wait_until
from tests.support.registry import Registry, start_registry

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient,
             local_images: None) -> Iterator[Registry]:
    """One registry for this file's tests; each test pushes under a path of its own."""
    with start_registry(tmp_path_factory.mktemp("registry"), docker_client) as reg:
        yield reg


@pytest.fixture
def run(svc_factory: list[ServiceRun], tmp_path: Path) -> ServiceRun:
    """The service on the local engine, without a proxy (no machine-wide state)."""
    service = ServiceRun(tmp_path, args=("--proxy-mode", "off"))
    svc_factory.append(service)
    return service.start()


def secret(name: str, config_json: str) -> str:
    encoded = base64.b64encode(config_json.encode()).decode()
    return f"""\
apiVersion: v1
kind: Secret
metadata: {{name: {name}}}
type: kubernetes.io/dockerconfigjson
data: {{.dockerconfigjson: {encoded}}}
"""


def pod(name: str, image: str, *, pull_secret: str = "regcred", policy: str = "") -> str:
    policy_line = f"    imagePullPolicy: {policy}\n" if policy else ""
    return f"""\
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
  imagePullSecrets: [{{name: {pull_secret}}}]
  containers:
  - name: main
    image: "{image}"
    command: ["sleep", "3600"]
{policy_line}"""


def running(run: ServiceRun, name: str) -> bool:
    return any(p["metadata"]["name"] == name for p in run.running())


def waiting_reason(run: ServiceRun, name: str) -> str:
    for p in run.pods():
        if p["metadata"]["name"] == name:
            for c in p["status"].get("containerStatuses") or []:
                return str(((c.get("state") or {}).get("waiting") or {}).get("reason") or "")
    return ""


def describe(run: ServiceRun, name: str) -> str:
    return run.cli("describe", "pod", name).stdout


def container_image(run: ServiceRun, name: str) -> str:
    """The image id the pod's `main` container runs."""
    out = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=io.reconciler.prefix={run.prefix}",
         "--filter", f"label=io.reconciler.pod.name={name}",
         "--filter", "label=io.reconciler.container.name=main"],
        capture_output=True, text=True, check=True).stdout.split()
    assert len(out) == 1, out
    inspect = subprocess.run(["docker", "inspect", "-f", "{{.Image}}", out[0]],
                             capture_output=True, text=True, check=True)
    return inspect.stdout.strip()


def unique(path: str) -> str:
    return f"t{uuid.uuid4().hex[:8]}/{path}"


class TestPullFromRegistry:
    """Pulls per imagePullPolicy with imagePullSecrets, against the real registry."""

    def test_right_secret_pulls_and_runs(self, registry: Registry, run: ServiceRun,
                                         docker_client: docker.DockerClient) -> None:
        """A pod whose pull secret holds the right password pulls the image and runs it."""
        ref = registry.ref(unique("app:1"))
        image_id = registry.push(docker_client, BUSYBOX_IMAGE, ref.split("/", 1)[1])
        run.write("regcred.yaml", secret("regcred", registry.dockerconfigjson()))
        run.write("pod.yaml", pod("pulled", ref))
        wait_until(lambda: running(run, "pulled"), 120, what="the pulled pod running")
        text = describe(run, "pulled")
        assert f'Pulling image "{ref}"' in text
        assert f'Successfully pulled image "{ref}"' in text
        assert "Image size:" in text
        assert container_image(run, "pulled") == image_id

    def test_wrong_password_is_err_image_pull(self, registry: Registry, run: ServiceRun,
                                              docker_client: docker.DockerClient) -> None:
        """A wrong password: ErrImagePull (then back-off) with the registry's own message."""
        ref = registry.ref(unique("app:1"))
        registry.push(docker_client, BUSYBOX_IMAGE, ref.split("/", 1)[1])
        run.write("regcred.yaml", secret("regcred", registry.dockerconfigjson("not-it")))
        run.write("pod.yaml", pod("refused", ref))
        wait_until(lambda: waiting_reason(run, "refused") in ("ErrImagePull", "ImagePullBackOff"),
                   120, what="ErrImagePull")
        text = wait_until(lambda: (t := describe(run, "refused")) and
                          "unauthorized: authentication required" in t and t,
                          60, what="the registry's message in the pod's events")
        assert f'Failed to pull image "{ref}"' in text
        assert not running(run, "refused")

    def test_if_not_present_pulls_once(self, registry: Registry, run: ServiceRun,
                                       docker_client: docker.DockerClient) -> None:
        """IfNotPresent: the first pod pulls, the second uses the image on the machine."""
        ref = registry.ref(unique("app:2"))
        registry.push(docker_client, BUSYBOX_IMAGE, ref.split("/", 1)[1])
        run.write("regcred.yaml", secret("regcred", registry.dockerconfigjson()))
        run.write("a.yaml", pod("first", ref, policy="IfNotPresent"))
        wait_until(lambda: running(run, "first"), 120, what="the first pod running")
        reads = registry.manifest_gets()
        run.write("b.yaml", pod("second", ref, policy="IfNotPresent"))
        wait_until(lambda: running(run, "second"), 120, what="the second pod running")
        text = describe(run, "second")
        assert f'Container image "{ref}" already present on machine' in text
        assert "Pulling image" not in text
        assert registry.manifest_gets() == reads

    def test_always_pulls_a_moved_tag(self, registry: Registry, run: ServiceRun,
                                      docker_client: docker.DockerClient) -> None:
        """No tag means Always: once the tag moved in the registry, a new pod runs the new image."""
        path = unique("moving")
        ref = registry.ref(path)  # no tag: :latest, policy Always
        old = registry.push(docker_client, BUSYBOX_IMAGE, f"{path}:latest")
        run.write("regcred.yaml", secret("regcred", registry.dockerconfigjson()))
        run.write("a.yaml", pod("before", ref))
        wait_until(lambda: running(run, "before"), 120, what="the first pod running")
        assert container_image(run, "before") == old
        new = registry.push(docker_client, INFRA_IMAGE, f"{path}:latest")
        assert new != old
        run.write("b.yaml", pod("after", ref))
        wait_until(lambda: running(run, "after"), 120, what="the second pod running")
        assert container_image(run, "after") == new
        assert f'Successfully pulled image "{ref}"' in describe(run, "after")
