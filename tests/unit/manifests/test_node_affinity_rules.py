"""nodeAffinity terms of a Pod and of every pod template, checked as the apiserver checks them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.api.node_affinity import term_matches
from reconciler.manifests.loader import load_folder

_REQ = "requiredDuringSchedulingIgnoredDuringExecution"
_PREF = "preferredDuringSchedulingIgnoredDuringExecution"
_TERMS = f"affinity.nodeAffinity.{_REQ}.nodeSelectorTerms"
_POD_SPEC = {"containers": [{"name": "c", "image": "c:1"}]}
_META = {"metadata": {"labels": {"app": "a"}}}
_WORKLOAD = {"selector": {"matchLabels": {"app": "a"}}}


def _template(restart: str) -> dict[str, Any]:
    return {**_META, "spec": {**_POD_SPEC, "restartPolicy": restart}}


# kind -> (apiVersion, spec holding the pod spec, path of that pod spec in the object)
_KINDS: dict[str, tuple[str, dict[str, Any], str]] = {
    "Pod": ("v1", dict(_POD_SPEC), "spec"),
    "ReplicationController": ("v1", {"selector": {"app": "a"}, "template": _template("Always")},
                              "spec.template.spec"),
    "ReplicaSet": ("apps/v1", {**_WORKLOAD, "template": _template("Always")},
                   "spec.template.spec"),
    "Deployment": ("apps/v1", {**_WORKLOAD, "template": _template("Always")},
                   "spec.template.spec"),
    "DaemonSet": ("apps/v1", {**_WORKLOAD, "template": _template("Always")},
                  "spec.template.spec"),
    "StatefulSet": ("apps/v1", {**_WORKLOAD, "serviceName": "a",
                                "template": _template("Always")}, "spec.template.spec"),
    "Job": ("batch/v1", {"template": _template("Never")}, "spec.template.spec"),
    "CronJob": ("batch/v1", {"schedule": "*/5 * * * *",
                             "jobTemplate": {"spec": {"template": _template("Never")}}},
                "spec.jobTemplate.spec.template.spec"),
}


def _pod_spec(body: dict[str, Any], kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = body
    for part in _KINDS[kind][2].split("."):
        spec = spec[part]
    return spec


def _manifest(kind: str, node_affinity: dict[str, Any]) -> str:
    api, spec, _ = _KINDS[kind]
    body = {"apiVersion": api, "kind": kind, "metadata": {"name": "a"},
            "spec": yaml.safe_load(yaml.safe_dump(spec))}
    _pod_spec(body, kind)["affinity"] = {"nodeAffinity": node_affinity}
    return yaml.safe_dump(body, sort_keys=False)


def _required(*exprs: dict[str, Any], fields: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    term: dict[str, Any] = {"matchExpressions": list(exprs)} if exprs else {}
    if fields:
        term["matchFields"] = list(fields)
    return {_REQ: {"nodeSelectorTerms": [term]}}


def _errors(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "obj.yaml").write_text(text)
    result = load_folder(tmp_path)
    return [d.render() for d in result.diagnostics if d.severity == "error"]


_EXPR = f"{_TERMS}[0].matchExpressions[0]"
_FIELD = f"{_TERMS}[0].matchFields[0]"
# (term's expressions or fields, field path under the pod spec, message fragment)
INVALID: list[tuple[dict[str, Any], str, str]] = [
    (_required({"key": "disk", "operator": "In"}), f"{_EXPR}.values",
     "must be specified when `operator` is 'In' or 'NotIn'"),
    (_required({"key": "disk", "operator": "NotIn", "values": []}), f"{_EXPR}.values",
     "must be specified when `operator` is 'In' or 'NotIn'"),
    (_required({"key": "disk", "operator": "Exists", "values": ["ssd"]}), f"{_EXPR}.values",
     "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"),
    (_required({"key": "disk", "operator": "DoesNotExist", "values": ["ssd"]}),
     f"{_EXPR}.values", "may not be specified"),
    (_required({"key": "cores", "operator": "Gt"}), f"{_EXPR}.values",
     "must be specified single value when `operator` is 'Lt' or 'Gt'"),
    (_required({"key": "cores", "operator": "Lt", "values": ["1", "2"]}), f"{_EXPR}.values",
     "must be specified single value"),
    (_required({"key": "cores", "operator": "Gt", "values": ["many"]}), _EXPR,
     "for 'Gt', 'Lt' operators, the value must be an integer"),
    (_required({"key": "bad key", "operator": "Exists"}), f"{_EXPR}.key",
     "invalid node label key: key 'bad key' is not valid"),
    (_required({"key": "disk", "operator": "In", "values": ["ssd", "-bad"]}),
     f"{_EXPR}.values[1]", "invalid node label value: value '-bad' is not valid"),
    (_required(fields=({"key": "metadata.uid", "operator": "In", "values": ["n1"]},)),
     f"{_FIELD}.key", 'Invalid value: "metadata.uid": not a valid field selector key'),
    (_required(fields=({"key": "metadata.name", "operator": "Exists"},)),
     f"{_FIELD}.operator", 'Invalid value: "Exists": not a valid selector operator'),
    (_required(fields=({"key": "metadata.name", "operator": "In", "values": ["n1", "n2"]},)),
     f"{_FIELD}.values", "must be only one value when `operator` is 'In' or 'NotIn'"),
    (_required(fields=({"key": "metadata.name", "operator": "NotIn", "values": ["N_1"]},)),
     f"{_FIELD}.values[0]", "node name 'N_1' is not a valid DNS-1123 subdomain"),
    ({_REQ: {"nodeSelectorTerms": []}}, f"affinity.nodeAffinity.{_REQ}.nodeSelectorTerms",
     "must have at least one node selector term"),
    ({_PREF: [{"weight": 10, "preference": {"matchExpressions": [
        {"key": "zone", "operator": "In"}]}}]},
     f"affinity.nodeAffinity.{_PREF}[0].preference.matchExpressions[0].values",
     "must be specified when `operator` is 'In' or 'NotIn'"),
    ({_PREF: [{"weight": 0, "preference": {"matchExpressions": [
        {"key": "zone", "operator": "Exists"}]}}]},
     f"affinity.nodeAffinity.{_PREF}[0].weight", "must be at least 1"),
    ({_PREF: [{"weight": 101, "preference": {"matchExpressions": [
        {"key": "zone", "operator": "Exists"}]}}]},
     f"affinity.nodeAffinity.{_PREF}[0].weight", "must be at most 100"),
]
VALID: list[dict[str, Any]] = [
    _required({"key": "cores", "operator": "Gt", "values": ["5"]}),
    _required({"key": "cores", "operator": "Lt", "values": ["10"]}),
    _required({"key": "disk", "operator": "NotIn", "values": ["hdd", "tape"]}),
    _required({"key": "example.com/disk", "operator": "Exists"}),
    _required(fields=({"key": "metadata.name", "operator": "In", "values": ["node-1"]},)),
    _required({"key": "disk", "operator": "In", "values": ["ssd"]},
              fields=({"key": "metadata.name", "operator": "NotIn", "values": ["node-2"]},)),
    {_PREF: [{"weight": 100, "preference": {"matchExpressions": [
        {"key": "zone", "operator": "DoesNotExist"}]}}]},
]
# A node every VALID required term above selects.
_LABELS = {"cores": "8", "disk": "ssd", "example.com/disk": "1"}
_NODE = "node-1"


class TestNodeAffinityRules:
    """Kubernetes' ValidateNodeSelector and ValidatePreferredSchedulingTerms, per pod spec."""

    @pytest.mark.parametrize(("affinity", "where", "message"), INVALID)
    def test_invalid_shape_is_refused_at_its_field(
            self, tmp_path: Path, affinity: dict[str, Any], where: str, message: str) -> None:
        """Each invalid term is an error naming the field it concerns."""
        errors = _errors(tmp_path, _manifest("Pod", affinity))
        assert any(f"error: spec.{where}: " in e and message in e for e in errors), errors

    @pytest.mark.parametrize("affinity", VALID)
    def test_valid_shape_is_accepted(self, tmp_path: Path, affinity: dict[str, Any]) -> None:
        """Gt with an integer, NotIn with values, matchFields metadata.name In one name load."""
        (tmp_path / "obj.yaml").write_text(_manifest("Pod", affinity))
        result = load_folder(tmp_path)
        assert result.diagnostics == [] and len(result.objects) == 1

    @pytest.mark.parametrize("kind", sorted(_KINDS))
    def test_every_pod_template_is_checked(self, tmp_path: Path, kind: str) -> None:
        """A Pod and the template of every workload kind get the rule, at their own path."""
        assert _errors(tmp_path, _manifest(kind, VALID[0])) == []
        errors = _errors(tmp_path, _manifest(kind, INVALID[0][0]))
        assert any(f"{_KINDS[kind][2]}.{INVALID[0][1]}: " in e for e in errors), errors

    def test_error_line_is_the_requirement(self, tmp_path: Path) -> None:
        """The error points at the file and line of the offending requirement."""
        text = _manifest("DaemonSet", _required({"key": "disk", "operator": "Exists"},
                                                {"key": "disk", "operator": "In"}))
        # The requirement's mapping starts on its `- key: disk` line, just above `operator: In`.
        line = next(n for n, t in enumerate(text.splitlines(), 1) if "operator: In" in t) - 1
        [error] = _errors(tmp_path, text)
        where = f"spec.template.spec.{_TERMS}[0].matchExpressions[1].values"
        assert error.startswith(f"obj.yaml:{line}:") and f"error: {where}: " in error, error

    def test_empty_term_warns(self, tmp_path: Path) -> None:
        """A term with no requirement is valid but matches no node: a warning says so."""
        (tmp_path / "obj.yaml").write_text(
            _manifest("Pod", {_REQ: {"nodeSelectorTerms": [{}]}}))
        result = load_folder(tmp_path)
        assert len(result.objects) == 1
        assert [d.severity for d in result.diagnostics] == ["warning"]
        assert "matches no node" in result.diagnostics[0].render()

    @pytest.mark.parametrize("affinity", [a for a, _, _ in INVALID if _REQ in a
                                          and a[_REQ]["nodeSelectorTerms"]])
    def test_refused_terms_match_no_node_in_the_matcher(self, affinity: dict[str, Any]) -> None:
        """What the validator refuses the matcher could not use: the term matches no node."""
        [term] = affinity[_REQ]["nodeSelectorTerms"]
        assert not term_matches(term, _LABELS, _NODE) or _only_syntax_refused(term)

    @pytest.mark.parametrize("affinity", [a for a in VALID if _REQ in a])
    def test_accepted_terms_match_in_the_matcher(self, affinity: dict[str, Any]) -> None:
        """What the validator accepts the matcher parses: the chosen node matches it."""
        [term] = affinity[_REQ]["nodeSelectorTerms"]
        assert term_matches(term, _LABELS, _NODE)


def _only_syntax_refused(term: dict[str, Any]) -> bool:
    # A matchFields name that is no DNS subdomain: the apiserver refuses it, while the
    # matcher (a field selector) would compare it as text and match other nodes by NotIn.
    return any(f["values"] == ["N_1"] for f in term.get("matchFields") or [])
