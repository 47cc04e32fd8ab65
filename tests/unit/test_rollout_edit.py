"""The pod template rewrite behind `rollout undo` and `rollout restart`: every other byte kept."""

from __future__ import annotations

import copy
import json

import pytest

from reconciler.api.manifest_edit import EditError
from reconciler.api.types import JSON
from reconciler.cli.rollout_edit import set_template, template_of

DEP = """\
# the website's example
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  labels:
    app: nginx
spec:
  replicas: 3   # three
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx   # keep me
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2  # the tag
        ports:
        - containerPort: 80
---
kind: Service
apiVersion: v1
metadata: {name: x}
"""
NAME = ("Deployment", "default", "nginx-deployment")


def _template() -> JSON:
    return template_of(DEP, *NAME)


class TestSetTemplate:
    def test_image_change_touches_one_scalar(self) -> None:
        """A new image replaces the tag only; the comment after it stays."""
        t = _template()
        t["spec"]["containers"][0]["image"] = "nginx:1.16.1"
        out = set_template(DEP, *NAME, t)
        assert out == DEP.replace("nginx:1.14.2  #", "nginx:1.16.1  #")

    def test_added_annotation_is_new_lines(self) -> None:
        """An annotation added to template metadata is inserted; the rest is byte for byte."""
        t = _template()
        t["metadata"]["annotations"] = {"kubectl.kubernetes.io/restartedAt": "2026-12-03T07:00:00Z"}
        out = set_template(DEP, *NAME, t)
        assert template_of(out, *NAME) == t
        assert out.replace(
            "      annotations:\n        kubectl.kubernetes.io/restartedAt:"
            " '2026-12-03T07:00:00Z'\n", "") == DEP

    def test_round_trip(self) -> None:
        """Adding a sidecar and env, then undoing it, gives back the original text."""
        t = _template()
        changed = copy.deepcopy(t)
        changed["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
        changed["spec"]["containers"].append({"name": "side", "image": "busybox"})
        out = set_template(DEP, *NAME, changed)
        assert template_of(out, *NAME) == changed
        assert "# the tag" in out and "# keep me" in out and "replicas: 3   # three" in out
        assert set_template(out, *NAME, t) == DEP

    def test_json_stays_json(self) -> None:
        """A JSON manifest is edited into JSON that still parses, the change applied."""
        text = json.dumps({"apiVersion": "apps/v1", "kind": "Deployment",
                           "metadata": {"name": "j"}, "spec": {"template": _template()}},
                          indent=2)
        t = _template()
        t["metadata"]["annotations"] = {"a": "b"}
        t["spec"]["containers"][0]["image"] = "nginx:2"
        out = set_template(text, "Deployment", "default", "j", t)
        assert json.loads(out)["spec"]["template"] == t

    def test_missing_object(self) -> None:
        """An object the file does not declare is an EditError."""
        with pytest.raises(EditError):
            set_template(DEP, "Deployment", "default", "other", _template())

    def test_folded_command_keeps_its_lines(self) -> None:
        """A word changed inside a multi-line plain scalar is replaced alone, folding kept."""
        text = DEP.replace("        image: nginx:1.14.2  # the tag\n",
                           "        image: nginx:1.14.2  # the tag\n"
                           "        args:\n        - echo v1 and more\n"
                           "          && exec httpd -f\n")
        t = template_of(text, *NAME)
        t["spec"]["containers"][0]["args"] = ["echo v2 and more && exec httpd -f"]
        assert set_template(text, *NAME, t) == text.replace("echo v1", "echo v2")
