"""The fast schema check agrees with jsonschema, the reference, on real and generated documents."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.manifests import fastcheck, kinds, schemas

CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "k8s-corpus" / "real"
BASE: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
    "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}],
                             "resources": {"limits": {"cpu": "100m"}},
                             "livenessProbe": {"httpGet": {"port": "http"}}}]},
}
PATHS = [("metadata", "name"), ("metadata", "labels", "a"), ("spec", "containers"),
         ("spec", "containers", 0, "image"), ("spec", "containers", 0, "ports", 0, "containerPort"),
         ("spec", "containers", 0, "resources", "limits", "cpu"),
         ("spec", "containers", 0, "livenessProbe", "httpGet", "port"), ("spec", "restartPolicy"),
         ("spec", "containers", 0, "extra"), ("metadata",), ("apiVersion",)]
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=False),
                   st.sampled_from(["", "x", "100m", "Always", "v1", "-1", "1.5Gi"]),
                   st.just([]), st.just({}), st.just([{"name": "x"}]))


def agree(schema: str, body: Any) -> None:
    assert fastcheck.checker(schema)(body) == schemas.validator(schema).is_valid(body), body


class TestFastCheck:
    """fastcheck.checker(schema) == jsonschema's is_valid."""

    @pytest.mark.parametrize("schema", sorted({k.schema for k in kinds.KINDS.values()}))
    def test_every_schema_compiles(self, schema: str) -> None:
        """Each schema uses only keywords the fast check implements."""
        assert callable(fastcheck.checker(schema))

    def test_real_corpus(self) -> None:
        """Agreement on every document of the real-world corpus."""
        if not CORPUS.is_dir():
            pytest.skip("../shared/k8s-corpus is absent")
        count = 0
        for path in sorted(CORPUS.rglob("*.y*ml")):
            try:
                docs = list(yaml.safe_load_all(path.read_text()))
            except yaml.YAMLError:
                continue
            for doc in docs:
                if isinstance(doc, dict):
                    info, _, _ = kinds.lookup(doc.get("apiVersion"), doc.get("kind"))
                    if info is not None:
                        agree(info.schema, doc)
                        count += 1
        assert count > 50

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.tuples(st.sampled_from(PATHS), VALUES), max_size=3))
    def test_generated_mutations(self, edits: list[tuple[tuple[Any, ...], Any]]) -> None:
        """Agreement on a valid pod with random fields replaced by random values."""
        body = copy.deepcopy(BASE)
        for path, value in edits:
            target: Any = body
            for step in path[:-1]:
                inside_dict = isinstance(target, dict) and step in target
                inside_list = (isinstance(target, list) and isinstance(step, int)
                               and step < len(target))
                if inside_dict or inside_list:
                    target = target[step]
                else:
                    target = None
                    break
            last = path[-1]
            in_list = isinstance(target, list) and isinstance(last, int) and last < len(target)
            if isinstance(target, dict) or in_list:
                target[last] = value
        agree("pod.json", body)
