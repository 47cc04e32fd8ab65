"""Benchmark 7, validation: load and validate 10,000 generated manifests.

No Docker: a folder of 10,000 files (Pods, Services and ReplicationControllers
in equal thirds, each valid) is loaded three ways: `reconciler validate DIR`
as a user runs it (the goal), a cold in-process `load_folder` (parse, schema,
semantic and cross-file checks), and the service's warm reload with nothing
changed (`FolderLoader.load()` again: stat and cross-file checks only).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.harness import workdir
from bench.report import Goal, Row
from reconciler.manifests.loader import FolderLoader, load_folder

NAME = "validation"
COUNT = 10_000
RECONCILER = str(Path(sys.executable).with_name("reconciler"))

TEMPLATES = (
    """\
apiVersion: v1
kind: Pod
metadata:
  name: pod-{i}
  labels: {{app: app-{i}, tier: web}}
spec:
  containers:
  - name: web
    image: reconciler/busybox:1
    command: ["httpd", "-f", "-p", "8080"]
    ports: [{{containerPort: 8080, name: http}}]
    resources: {{limits: {{cpu: 100m, memory: 64Mi}}}}
""",
    """\
apiVersion: v1
kind: Service
metadata: {{name: svc-{i}}}
spec:
  selector: {{app: app-{i}}}
  ports: [{{port: 80, targetPort: http}}]
""",
    """\
apiVersion: v1
kind: ReplicationController
metadata: {{name: rc-{i}}}
spec:
  replicas: 2
  selector: {{app: rc-{i}}}
  template:
    metadata: {{labels: {{app: rc-{i}}}}}
    spec:
      containers:
      - name: main
        image: reconciler/busybox:1
        command: ["sleep", "3600"]
        env: [{{name: MODE, value: bench}}]
""",
)


def generate(folder: Path, count: int = COUNT) -> None:
    """`count` valid manifests, one per file, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"m{i:05d}.yaml").write_text(TEMPLATES[i % len(TEMPLATES)].format(i=i))


def run(args: object = None) -> list[Row]:
    with workdir("valid") as tmp:
        folder = tmp / "desired"
        generate(folder)
        t0 = time.perf_counter()
        cli = subprocess.run([RECONCILER, "validate", str(folder)], capture_output=True,
                             text=True, timeout=600, check=False)
        t_cli = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = load_folder(folder)
        t_cold = time.perf_counter() - t0
        loader = FolderLoader(folder)
        loader.load()
        t0 = time.perf_counter()
        loader.load()
        t_warm = time.perf_counter() - t0
    errors = sum(1 for d in result.diagnostics if d.severity == "error")
    objects = len(result.objects)
    # Every file is valid: the time counts only with exit 0 and no error found.
    wrong = ", ".join(w for w in (f"exit {cli.returncode}" if cli.returncode else "",
                                  f"{errors} errors" if errors else "",
                                  f"{objects:,} of {COUNT:,} objects" if objects != COUNT
                                  else "") if w)
    return [
        Row(NAME, f"`reconciler validate` of {COUNT:,} files", t_cli, "s", Goal("max", 3.0),
            f"exit {cli.returncode}, {errors} errors", failed=wrong),
        Row(NAME, "cold load_folder, in process", t_cold, "s", Goal("max", 3.0),
            f"{objects:,} objects, {errors} errors", failed=wrong),
        Row(NAME, "warm reload, nothing changed", t_warm, "s"),
    ]
