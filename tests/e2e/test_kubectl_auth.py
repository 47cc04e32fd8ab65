"""kubectl over TLS with the credentials reconciler makes (issue 22): certificates, tokens, roles.

One service (module-scoped, proxy off) serves its Kubernetes API with `[api] tls =
true`, making its CA, certificates and admin kubeconfig in tmp. It listens on the
local engine's bridge address (docker0's gateway: an address of this machine that is
not loopback, so a client here reaches it from a non-loopback address, with no
machine-wide change and no traffic leaving the machine). The real kubectl then uses
the generated kubeconfig (client certificate, with `explain` and its client-side
validation of a List) and a read-only bearer token from the tokens file; a request
without credentials and one with a foreign Host header are refused.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import shutil
import ssl
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import yaml

from reconciler.kubeapi.certs import Pki, kubeconfig_text
from tests.e2e.process_helpers import pod_yaml
from tests.e2e.service import ServiceRun, remove_all, wait_until
from tests.support.fluent_receiver import free_port

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
pytestmark = [
    pytest.mark.docker, pytest.mark.timeout(180),
    pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl is not installed"),
]
READ_ONLY_TOKEN = "k4-read-only-0123456789abcdef"
LIST = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: listed}
  data: {a: b}
"""
UNAUTHORIZED = "You must be logged in to the server"  # how kubectl words a 401
NEW_CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: added, namespace: default}
data: {a: b}
"""


class Cluster:
    """The service, its PKI and kubeconfig, and kubectl with any kubeconfig."""

    def __init__(self, run: ServiceRun, tmp: Path, address: str) -> None:
        self.run, self.tmp, self.address = run, tmp, address
        self.pki = Pki(tmp / "pki")
        self.kubeconfig = tmp / "kubeconfig"

    def kubectl(self, config: Path, *args: str, check: bool = True,
                stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([KUBECTL, "--kubeconfig", str(config), "--cache-dir",
                               str(self.tmp / f"cache-{config.name}"), "--request-timeout",
                               "30s", *args], input=stdin, capture_output=True, text=True,
                              timeout=60, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n"
                                 f"{done.stdout}\n{done.stderr}")
        return done

    def config_with(self, name: str, *, token: str | None = None) -> Path:
        """A kubeconfig for the same server and CA, with a token or no credentials."""
        path = self.tmp / name
        path.write_text(kubeconfig_text(f"https://{self.address}",
                                        self.pki.ca_cert.read_bytes(), token=token))
        return path


def _bridge_gateway(client: docker.DockerClient) -> str:
    """The host's address on the default bridge, as pods reach it. Docker 20.10 leaves
    `Gateway` out of the bridge's IPAM config when dockerd chose the subnet itself; the
    gateway is then the subnet's first address, which it puts on the bridge."""
    configs = client.networks.get("bridge").attrs["IPAM"]["Config"]
    gateway = next((c["Gateway"] for c in configs if c.get("Gateway")), "")
    if not gateway:
        subnet = next((c["Subnet"] for c in configs if c.get("Subnet")), "")
        if not subnet:
            pytest.fail("the local engine's bridge has neither a gateway nor a subnet")
        gateway = str(next(ipaddress.ip_network(subnet).hosts()))
    return str(gateway)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient,
            local_images: None) -> Iterator[Cluster]:
    """The running service with its TLS API and a pod `web` Running."""
    tmp = tmp_path_factory.mktemp("kauth")
    address = f"{_bridge_gateway(docker_client)}:{free_port()}"
    (tmp / "tokens").write_text(f"{READ_ONLY_TOKEN},viewer,read-only\n")
    (tmp / "tokens").chmod(0o600)
    run = ServiceRun(tmp, api=True, extra_env={
        "RECONCILER_NETWORK_PROXY_MODE": "off", "RECONCILER_API_ADDRESS": address,
        "RECONCILER_API_TLS": "true", "RECONCILER_API_PKI": str(tmp / "pki"),
        "RECONCILER_API_TOKENS": str(tmp / "tokens"),
        "RECONCILER_API_KUBECONFIG": str(tmp / "kubeconfig"),
    })
    run.write("web.yaml", pod_yaml("web", labels="app: web"))
    run.write("secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\n"
              "stringData: {token: hush}\n")
    c = Cluster(run, tmp, address)
    try:
        run.start()
        wait_until(lambda: len(run.running()) == 1, timeout=90, what="pod web running")
        yield c
    finally:
        if run.proc is not None:
            run.stop()
        remove_all(run.prefix)


def _https(c: Cluster, path: str, host: str, *, cert: bool = True
           ) -> tuple[int, dict[str, object]]:
    """GET `path` with the given Host header, with the admin certificate or no credentials."""
    ctx = ssl.create_default_context(cafile=str(c.pki.ca_cert))
    if cert:
        ctx.load_cert_chain(str(c.pki.client_cert), str(c.pki.client_key))
    name, port = c.address.rsplit(":", 1)
    conn = http.client.HTTPSConnection(name, int(port), context=ctx, timeout=30)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        conn.close()


class TestAdminKubeconfig:
    def test_the_service_wrote_a_root_only_kubeconfig(self, cluster: Cluster) -> None:
        """The kubeconfig the service made is 0600 and points at its https address."""
        assert stat.S_IMODE(cluster.kubeconfig.stat().st_mode) == 0o600
        server = yaml.safe_load(cluster.kubeconfig.read_text())["clusters"][0]["cluster"]
        assert server["server"] == f"https://{cluster.address}"

    def test_get_pods(self, cluster: Cluster) -> None:
        """kubectl verifies the server against the CA and lists the pod with its certificate."""
        out = cluster.kubectl(cluster.kubeconfig, "get", "pods", "-o", "name").stdout
        assert out.split() == ["pod/web"]

    def test_explain_deployment_spec_strategy(self, cluster: Cluster) -> None:
        """kubectl explain reads the OpenAPI v3 document made from our schemas."""
        out = cluster.kubectl(cluster.kubeconfig, "explain", "deployment.spec.strategy").stdout
        assert "KIND:       Deployment" in out and "FIELD: strategy <Object>" in out
        assert "replace existing pods with new ones" in out
        assert "RollingUpdate" in out and "rollingUpdate\t<Object>" in out

    def test_client_side_validation_of_a_list(self, cluster: Cluster) -> None:
        """kubectl checks a `kind: List` against /openapi/v2 (protobuf): a typo stops it."""
        typo = LIST.replace("data:", "dta:")
        done = cluster.kubectl(cluster.kubeconfig, "apply", "--dry-run=server", "-f", "-",
                               stdin=typo, check=False)
        assert done.returncode != 0
        assert 'unknown field "dta" in io.k8s.api.core.v1.ConfigMap' in done.stderr
        out = cluster.kubectl(cluster.kubeconfig, "explain", "--output", "plaintext-openapiv2",
                              "deployment.spec.strategy").stdout
        assert "replace existing pods with new ones" in out

    def test_admin_applies_and_is_named(self, cluster: Cluster) -> None:
        """The read-write certificate writes; the service's log names its user."""
        done = cluster.kubectl(cluster.kubeconfig, "apply", "-f", "-", stdin=NEW_CONFIGMAP)
        assert "configmap/added created" in done.stdout
        wait_until(lambda: "(user admin)" in cluster.run.output(), timeout=30,
                   what="the write logged with its user")
        assert any("name: added" in p.read_text()
                   for p in cluster.run.desired.rglob("*.yaml"))

    def test_exec_over_tls(self, cluster: Cluster) -> None:
        """kubectl exec's WebSocket carries the client certificate too; read-only may not exec."""
        out = cluster.kubectl(cluster.kubeconfig, "exec", "web", "--", "echo", "hi").stdout
        assert out.strip() == "hi"
        viewer = cluster.config_with("viewer", token=READ_ONLY_TOKEN)
        done = cluster.kubectl(viewer, "exec", "web", "--", "echo", "hi", check=False)
        assert done.returncode != 0 and "hi" not in done.stdout

    def test_admin_sees_secret_data(self, cluster: Cluster) -> None:
        """The read-write role gets a Secret's data."""
        data = cluster.kubectl(cluster.kubeconfig, "get", "secret", "creds", "-o",
                               "jsonpath={.data.token}").stdout
        assert data == "aHVzaA=="


class TestReadOnlyToken:
    def test_lists_but_sees_no_secret_data(self, cluster: Cluster) -> None:
        """A read-only token lists pods and Secrets; the Secrets come without data."""
        config = cluster.config_with("viewer", token=READ_ONLY_TOKEN)
        assert cluster.kubectl(config, "get", "pods", "-o", "name").stdout.split() == ["pod/web"]
        secret = json.loads(cluster.kubectl(config, "get", "secret", "creds", "-o",
                                            "json").stdout)
        assert secret["metadata"]["name"] == "creds" and "data" not in secret

    def test_cannot_apply(self, cluster: Cluster) -> None:
        """kubectl apply with a read-only token is Forbidden and the desired folder is unchanged."""
        config = cluster.config_with("viewer", token=READ_ONLY_TOKEN)
        before = sorted(p.name for p in cluster.run.desired.rglob("*"))
        done = cluster.kubectl(config, "apply", "-f", "-", stdin=NEW_CONFIGMAP, check=False)
        assert done.returncode != 0 and "Forbidden" in done.stderr
        assert sorted(p.name for p in cluster.run.desired.rglob("*")) == before

    def test_can_i_and_whoami(self, cluster: Cluster) -> None:
        """kubectl auth can-i and whoami answer from the roles (what k9s and Headlamp ask)."""
        viewer = cluster.config_with("viewer", token=READ_ONLY_TOKEN)
        assert cluster.kubectl(viewer, "auth", "can-i", "list", "pods").stdout.strip() == "yes"
        denied = cluster.kubectl(viewer, "auth", "can-i", "create", "deployments", check=False)
        assert denied.returncode == 1
        assert denied.stdout.strip() == "no - the read-only role may only get, list, watch"
        admin = cluster.kubectl(cluster.kubeconfig, "auth", "can-i", "create", "deployments")
        assert admin.stdout.strip() == "yes"
        rules = cluster.kubectl(viewer, "auth", "can-i", "--list").stdout
        assert "*.*" in rules and "[get list watch]" in rules
        who = cluster.kubectl(viewer, "auth", "whoami", "-o", "jsonpath={.status.userInfo}")
        assert json.loads(who.stdout) == {"username": "viewer",
                                          "groups": ["reconciler:read-only"]}

    def test_a_wrong_token_is_unauthorized(self, cluster: Cluster) -> None:
        """A token not in the tokens file is a 401."""
        config = cluster.config_with("wrong", token="not-a-token")
        done = cluster.kubectl(config, "get", "pods", check=False)
        assert done.returncode != 0 and UNAUTHORIZED in done.stderr


class TestRefused:
    def test_no_credentials_from_beyond_loopback(self, cluster: Cluster) -> None:
        """Without credentials, from this machine's non-loopback address: a 401 Status.

        (kubectl itself, given a kubeconfig without credentials, answers a 401 by asking
        for a user name on its terminal, as with any Kubernetes server.)
        """
        code, body = _https(cluster, "/api/v1/pods", cluster.address, cert=False)
        assert code == 401 and body["kind"] == "Status" and body["reason"] == "Unauthorized"
        assert "beyond loopback" in str(body["message"])

    def test_a_foreign_host_header(self, cluster: Cluster) -> None:
        """A Host name that could be rebound is refused (403 Status) even with a certificate."""
        assert _https(cluster, "/api/v1/pods", cluster.address)[0] == 200
        code, body = _https(cluster, "/api/v1/pods", "evil.example.com")
        assert code == 403 and body["kind"] == "Status" and body["reason"] == "Forbidden"
