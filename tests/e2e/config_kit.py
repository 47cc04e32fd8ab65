"""Manifests and helpers of the ConfigMap and Secret end-to-end test (test_config.py)."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request

SECRET_VALUE = "Xk9-e2e-secret-value-4417"  # grepped for everywhere it must not be
POD_NAME = "app"

CONFIG = """\
apiVersion: v1
kind: ConfigMap
metadata: {{name: app-config}}
data:
  app.conf: "{conf}"
  mode: fast
"""

SECRET = f"""\
apiVersion: v1
kind: Secret
metadata: {{name: app-secret}}
stringData:
  password: {SECRET_VALUE}
"""

APP = f"""\
apiVersion: v1
kind: Pod
metadata: {{name: {POD_NAME}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: reconciler/busybox:1
    command: ["sleep", "3600"]
    env:
    - name: PASSWORD
      valueFrom: {{secretKeyRef: {{name: app-secret, key: password}}}}
    - name: ABSENT
      valueFrom: {{configMapKeyRef: {{name: app-config, key: nope, optional: true}}}}
    envFrom:
    - {{prefix: CFG_, configMapRef: {{name: app-config}}}}
    volumeMounts:
    - {{name: cfg, mountPath: /etc/app}}
    - {{name: sec, mountPath: /etc/sec}}
    - {{name: all, mountPath: /etc/all}}
  volumes:
  - name: cfg
    configMap: {{name: app-config}}
  - name: sec
    secret: {{secretName: app-secret, defaultMode: 0400}}
  - name: all
    projected:
      sources:
      - configMap: {{name: app-config, items: [{{key: mode, path: conf/mode}}]}}
      - secret: {{name: app-secret, items: [{{key: password, path: pw}}]}}
"""

MISSING = """\
apiVersion: v1
kind: Pod
metadata: {name: lost}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: reconciler/busybox:1
    command: ["sleep", "3600"]
    env:
    - name: X
      valueFrom: {configMapKeyRef: {name: nowhere, key: k}}
"""


def container_id(prefix: str, pod: str, container: str = "main") -> str:
    """The running Docker container of a pod's container (labels of the service's prefix)."""
    out = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=io.reconciler.prefix={prefix}",
         "--filter", f"label=io.reconciler.pod.name={pod}",
         "--filter", f"label=io.reconciler.container.name={container}"],
        capture_output=True, text=True, check=True).stdout.split()
    return out[0] if out else ""


def docker_exec(cid: str, *cmd: str) -> str:
    """Run a command in a container; its output ("" when it failed)."""
    run = subprocess.run(["docker", "exec", cid, *cmd], capture_output=True, text=True,
                         check=False, timeout=30)
    return run.stdout if run.returncode == 0 else ""


def fetch(url: str) -> str:
    """A page's text, whatever its status."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return str(r.read().decode(errors="replace"))
    except urllib.error.HTTPError as e:
        return str(e.read().decode(errors="replace"))


SOPS_VALUE = "git-sops-value-6610"
SOPS_POD = """\
apiVersion: v1
kind: Pod
metadata: {name: fromgit}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: reconciler/busybox:1
    command: ["sleep", "3600"]
    env:
    - name: TOKEN
      valueFrom: {secretKeyRef: {name: git-secret, key: token}}
"""


def sops_secret(recipient: object) -> str:
    """A Secret encrypted for `recipient` as `sops --encrypt --age` writes it."""
    import yaml

    from tests.support.sops_writer import encrypt

    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "git-secret"},
           "stringData": {"token": SOPS_VALUE}}
    return str(yaml.safe_dump(encrypt(doc, recipient), sort_keys=False))  # type: ignore[arg-type]
