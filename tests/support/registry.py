"""A real image registry for tests: Debian's distribution registry on loopback, TLS and htpasswd.

`start_registry` makes a throwaway CA and a server certificate for 127.0.0.1, an
htpasswd file (`htpasswd -Bbn`), a registry configuration with filesystem storage
in the test's folder, starts `docker-registry serve` on a free loopback port, and
trusts the CA for the default test engine through
/etc/docker/certs.d/127.0.0.1:PORT/ca.crt (read per pull: no engine restart). On
exit the registry stops, and the certs.d folder and every local tag of the
registry's images are removed. `push` puts a local image into it with the SDK.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import ImageNotFound

from tests.support.fluent_receiver import free_port

CERTS_D = Path("/etc/docker/certs.d")
REGISTRY_BIN = "docker-registry"


@dataclass(frozen=True)
class Registry:
    """A running registry: its address, its one user, and the CA that signed its certificate."""

    host: str  # "127.0.0.1:PORT"
    username: str
    password: str
    ca: Path
    log: Path
    process: subprocess.Popen[bytes]

    def ref(self, path: str) -> str:
        """`path` ("team/app:1") as a reference in this registry."""
        return f"{self.host}/{path}"

    def dockerconfigjson(self, password: str | None = None) -> str:
        """A .dockerconfigjson value for this registry (by default with the right password)."""
        secret = self.password if password is None else password
        auth = base64.b64encode(f"{self.username}:{secret}".encode()).decode()
        return json.dumps({"auths": {self.host: {"username": self.username,
                                                 "password": secret, "auth": auth}}})

    def push(self, client: docker.DockerClient, local: str, path: str) -> str:
        """Tag the local image `local` as `path` here, push it, drop the local tag; its image id.

        The local tag goes so that the engine has to pull it back.
        """
        repo, tag = self.ref(path).rsplit(":", 1)
        image = client.images.get(local)
        image.tag(repo, tag)
        try:
            for msg in client.api.push(repo, tag, stream=True, decode=True,
                                       auth_config={"username": self.username,
                                                    "password": self.password}):
                if msg.get("error"):
                    raise AssertionError(f"push {repo}:{tag}: {msg['error']}")
        finally:
            client.images.remove(f"{repo}:{tag}", noprune=True)
        return str(image.id)

    def manifest_gets(self) -> int:
        """How many manifest reads (pulls, by tag) the registry's access log shows so far."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return sum(1 for line in text.splitlines()
                   if "/manifests/" in line and ('"GET ' in line or "method=GET" in line))


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA, and a server key and certificate for 127.0.0.1 signed by it."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.crt", "-days", "2", "-subj", "/CN=reconciler test registry CA", cwd=folder)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
             "server.csr", "-subj", "/CN=127.0.0.1", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext",
             cwd=folder)
    return folder / "ca.crt", folder / "server.crt", folder / "server.key"


def _config(folder: Path, port: int, cert: Path, key: Path, htpasswd: Path) -> Path:
    config = folder / "config.yml"
    config.write_text(f"""\
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {folder / "data"}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  secret: {uuid.uuid4().hex}
  tls:
    certificate: {cert}
    key: {key}
auth:
  htpasswd:
    realm: reconciler-test
    path: {htpasswd}
""")
    return config


def _answers(host: str, ca: Path) -> bool:
    """The registry answers /v2/ over TLS with our CA (401: it wants credentials, as it should)."""
    context = ssl.create_default_context(cafile=str(ca))
    try:
        with urllib.request.urlopen(f"https://{host}/v2/", context=context, timeout=5):
            return True
    except urllib.error.HTTPError as e:
        return e.code == 401
    except OSError:
        return False


def _remove_tags(client: docker.DockerClient, host: str) -> None:
    """Every reference to the registry's images: tags, and the digests pulls leave behind."""
    # The list call's own summaries: `images.list()` inspects each image after listing,
    # and one that another test removes in between fails it with 404.
    for image in client.api.images():
        refs = [*(image.get("RepoTags") or []), *(image.get("RepoDigests") or [])]
        for ref in refs:
            if ref.startswith(f"{host}/"):
                with contextlib.suppress(ImageNotFound, docker.errors.APIError):
                    client.images.remove(ref, force=True, noprune=False)


@contextlib.contextmanager
def start_registry(folder: Path, client: docker.DockerClient) -> Iterator[Registry]:
    """A registry on a free loopback port, trusted by the default engine; gone afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, cert, key = _certificates(folder)
    username, password = "puller", f"pw-{uuid.uuid4().hex[:12]}"
    htpasswd = folder / "htpasswd"
    made = subprocess.run(["htpasswd", "-Bbn", username, password], check=True,
                          capture_output=True, text=True, timeout=60)
    htpasswd.write_text(made.stdout)
    port = free_port()
    host = f"127.0.0.1:{port}"
    trust = CERTS_D / host
    trust.mkdir(parents=True, exist_ok=True)
    shutil.copy(ca, trust / "ca.crt")
    log = folder / "registry.log"
    with open(log, "ab") as out:
        process = subprocess.Popen([REGISTRY_BIN, "serve", str(_config(folder, port, cert, key,
                                                                        htpasswd))],
                                   stdout=out, stderr=subprocess.STDOUT)
    registry = Registry(host, username, password, ca, log, process)
    try:
        deadline = time.monotonic() + 60
        while not _answers(host, ca):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"registry did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield registry
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        shutil.rmtree(trust, ignore_errors=True)
        _remove_tags(client, host)
