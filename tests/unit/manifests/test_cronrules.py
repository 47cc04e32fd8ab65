"""CronJob manifests through the loader: defaults and the rules of manifests/cronrules.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.manifests.loader import load_folder

CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata: {{name: {name}}}
spec:
  schedule: "{schedule}"
{extra}  jobTemplate:
    metadata: {{labels: {{app: x}}}}
    spec:
      template:
        spec:
          restartPolicy: {policy}
          containers: [{{name: c, image: "busybox:1"}}]
"""


def load(tmp_path: Path, name: str = "tick", schedule: str = "*/5 * * * *",
         policy: str = "Never", extra: str = "") -> tuple[list[Any], list[str]]:
    (tmp_path / "cj.yaml").write_text(CRONJOB.format(name=name, schedule=schedule,
                                                     policy=policy, extra=extra))
    result = load_folder(tmp_path)
    return [o.body for o in result.objects], [d.render() for d in result.diagnostics]


class TestCronJobManifest:
    def test_valid_cronjob_is_defaulted(self, tmp_path: Path) -> None:
        """A valid CronJob loads with Kubernetes' defaults filled in."""
        bodies, diags = load(tmp_path, extra="  timeZone: Europe/Paris\n")
        assert diags == []
        spec = bodies[0]["spec"]
        assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"],
                spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["dnsPolicy"] == "ClusterFirst"

    @pytest.mark.parametrize(("kwargs", "words"), [
        ({"schedule": "61 * * * *"}, "spec.schedule: invalid schedule: minute"),
        ({"schedule": "0 0 30 2 *"}, "never fires"),
        ({"schedule": "@every 1m"}, "@every is not supported"),
        ({"extra": "  timeZone: Mars/Olympus\n"}, "spec.timeZone: unknown time zone"),
        ({"policy": "Always"}, "must be OnFailure or Never"),
        ({"name": "n" * 53}, "no more than 52 characters"),
        ({"extra": "  concurrencyPolicy: Sometimes\n"}, "concurrencyPolicy"),
    ])
    def test_refused(self, tmp_path: Path, kwargs: dict[str, str], words: str) -> None:
        """Each bad field is an error naming the field, and the CronJob is not loaded."""
        bodies, diags = load(tmp_path, **kwargs)
        assert bodies == []
        assert any(words in d for d in diags), diags
