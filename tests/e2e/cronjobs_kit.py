"""What the CronJob end-to-end tests share: manifests, the runs log, Job and sampling helpers.

Every Job pod appends `start <pod> <epoch>` and, if it is not killed, `end <pod>
<epoch>` to `<cronjob>.log` on a hostPath folder of the test's own, so the file
tells when each run really ran. Schedules are real (`* * * * *`): no test clock.
"""

from __future__ import annotations

import json
import subprocess
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.e2e.service import ServiceRun

CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {name}
spec:
  schedule: "{schedule}"
  concurrencyPolicy: {policy}
  successfulJobsHistoryLimit: {keep}
  jobTemplate:
    metadata:
      labels: {{cron: {name}}}
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          terminationGracePeriodSeconds: 1
          containers:
          - name: {name}
            image: reconciler/busybox:1
            command: ["sh", "-c", "{script}"]
            volumeMounts: [{{name: m, mountPath: /m}}]
          volumes:
          - name: m
            hostPath: {{path: {folder}}}
"""


SCRIPT = ("echo start $HOSTNAME $(date +%s) >> /m/{name}.log; sleep {sleep}; "
          "echo end $HOSTNAME $(date +%s) >> /m/{name}.log")


def cronjob_yaml(folder: Path, name: str, policy: str = "Allow", sleep: int = 1,
                 schedule: str = "* * * * *", keep: int = 3) -> str:
    return CRONJOB.format(name=name, policy=policy, schedule=schedule, folder=folder,
                          keep=keep, script=SCRIPT.format(name=name, sleep=sleep))


def new_run(tmp_path: Path, svc_factory: list[ServiceRun], folder: Path,
            prefix: str | None = None) -> ServiceRun:
    run = ServiceRun(tmp_path, prefix=prefix, extra_env={
        "RECONCILER_RUNTIME_HOST_PATH_ALLOW": str(folder),
        "RECONCILER_NETWORK_PROXY_MODE": "off"})
    svc_factory.append(run)
    return run


def runs(folder: Path, name: str) -> dict[str, dict[str, int]]:
    """Each run's pod: its start and (when it was not killed) end, in epoch seconds."""
    out: dict[str, dict[str, int]] = {}
    path = folder / f"{name}.log"
    for line in path.read_text().splitlines() if path.exists() else []:
        parts = line.split()
        if len(parts) == 3:
            out.setdefault(parts[1], {})[parts[0]] = int(parts[2])
    return out


def overlapping(folder: Path, name: str) -> list[tuple[str, str]]:
    """Pairs of runs whose [start, end] intervals intersect (a run without an end: open)."""
    spans = sorted((r["start"], r.get("end", 1 << 40), pod)
                   for pod, r in runs(folder, name).items() if "start" in r)
    out = []
    for i, (start, _, pod) in enumerate(spans):
        out += [(other, pod) for _, end, other in spans[:i] if start < end]
    return out


def jobs(run: ServiceRun, cronjob: str) -> list[dict[str, Any]]:
    """The Jobs of a CronJob (by its jobTemplate's label), as `get jobs -o json` shows them."""
    got = run.cli("get", "jobs", "-l", f"cron={cronjob}", "-o", "json", check=False)
    if got.returncode != 0 or not got.stdout.strip():
        return []
    items: list[dict[str, Any]] = json.loads(got.stdout).get("items", [])
    return items


def scheduled(job: dict[str, Any]) -> datetime | None:
    value = (job["metadata"].get("annotations") or {}).get(
        "batch.kubernetes.io/cronjob-scheduled-timestamp")
    return datetime.fromisoformat(value) if value else None


def finished(job: dict[str, Any]) -> str:
    return next((c["type"] for c in (job.get("status") or {}).get("conditions") or []
                 if c.get("status") == "True" and c["type"] in ("Complete", "Failed")), "")


class RunningSampler:
    """Counts the running containers of one container name, every 0.3 s, in a thread."""

    def __init__(self, prefix: str, container: str) -> None:
        self.prefix, self.container = prefix, container
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.3):
            out = subprocess.run(
                ["docker", "ps", "--filter", f"label=io.reconciler.prefix={self.prefix}",
                 "--filter", f"label=io.reconciler.container.name={self.container}", "-q"],
                capture_output=True, text=True, check=False).stdout
            self.samples.append(len(out.split()))

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join(10)
        return self.samples
