"""Label selectors: one parser and one matcher for CLI text and manifest selectors.

Used wherever pods are chosen by label: the replica planner (owner selectors), the
endpoints planner (service selectors), the validator (key/value syntax) and the CLI
(`-l`). Mirrors k8s.io/apimachinery/pkg/labels/selector.go (Parse, Requirement.Matches,
Requirement.String, SelectorFromSet) and metav1.LabelSelectorAsSelector, with the
error wording of its parser and of pkg/util/validation (IsQualifiedName,
IsValidLabelValue, in `reconciler.api.names`). The `>`/`<` operators (Gt, Lt)
of that parser are accepted too, as Kubernetes' own parser accepts them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from reconciler.api.names import validate_label_key, validate_label_value

# A matcher over a pod's (or object's) labels: what a parsed selector is handed around as.
LabelPredicate = Callable[[dict[str, str]], bool]
Operator = Literal["=", "==", "!=", "in", "notin", "exists", "!", "gt", "lt"]

_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"


class SelectorError(ValueError):
    """A selector that cannot be parsed or built; the message is Kubernetes' wording."""


def _invalid(value: str, reasons: list[str]) -> SelectorError:
    # field.Invalid with a nil path, as the CLI parser reports it.
    return SelectorError(f'<nil>: Invalid value: "{value}": ' + "; ".join(reasons))


# --- requirements and selectors -------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    """One `key op values` term; values are kept sorted, as Kubernetes prints them."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        op = self.operator
        if op in ("=", "==", "in"):
            return present and labels[self.key] in self.values
        if op in ("!=", "notin"):
            return not present or labels[self.key] not in self.values
        if op == "exists":
            return present
        if op == "!":
            return not present
        if not present:
            return False
        try:
            have, want = int(labels[self.key]), int(self.values[0])
        except ValueError:
            return False
        return have > want if op == "gt" else have < want

    def __str__(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return "!" + self.key
        values = ",".join(self.values)
        if self.operator in ("in", "notin"):
            return f"{self.key} {self.operator} ({values})"
        symbol = {"gt": ">", "lt": "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{values}"


def requirement(key: str, operator: Operator, values: Iterable[str] = ()) -> Requirement:
    """NewRequirement: a checked requirement; raises SelectorError with Kubernetes' wording."""
    vals = tuple(sorted(set(values)))
    go_vals = "[]string{" + ", ".join(f'"{v}"' for v in vals) + "}"
    errors: list[str] = []
    key_errs = validate_label_key(key)
    if key_errs:
        errors.append(f'key: Invalid value: "{key}": ' + "; ".join(key_errs))
    if operator in ("in", "notin") and not vals:
        errors.append(f"values: Invalid value: {go_vals}: "
                      "for 'in', 'notin' operators, values set can't be empty")
    if operator in ("=", "==", "!=") and len(vals) != 1:
        errors.append(f"values: Invalid value: {go_vals}: "
                      "exact-match compatibility requires one single value")
    if operator in ("exists", "!") and vals:
        errors.append(f"values: Invalid value: {go_vals}: "
                      "values set must be empty for exists and does not exist")
    if operator in ("gt", "lt"):
        if len(vals) != 1:
            errors.append(f"values: Invalid value: {go_vals}: "
                      "for 'Gt', 'Lt' operators, exactly one value is required")
        for i, v in enumerate(vals):
            if not re.fullmatch(r"[+-]?\d+", v):
                errors.append(f'values[{i}]: Invalid value: "{v}": '
                              "for 'Gt', 'Lt' operators, the value must be an integer")
    for i, v in enumerate(vals):
        value_errs = validate_label_value(v)
        if value_errs:
            errors.append(f'values[{i}][{key}]: Invalid value: "{v}": ' + "; ".join(value_errs))
    if errors:
        raise SelectorError(errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")
    return Requirement(key, operator, vals)


@dataclass(frozen=True)
class Selector:
    """An AND of requirements, sorted by key. `nothing` selects no object at all."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    @property
    def empty(self) -> bool:
        """True when it does not restrict selection (it matches every label set)."""
        return not self.nothing and not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.nothing:
            return False
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def add(self, *reqs: Requirement) -> Selector:
        return Selector(_sorted((*self.requirements, *reqs)), self.nothing)


EVERYTHING = Selector()
NOTHING = Selector(nothing=True)


def _sorted(reqs: Iterable[Requirement]) -> tuple[Requirement, ...]:
    # A stable sort by key only, as ByKey does: two terms on one key keep their order.
    return tuple(sorted(reqs, key=lambda r: r.key))


def from_map(labels: Mapping[str, str] | None) -> Selector:
    """SelectorFromSet: equality on every pair (an RC's spec.selector); empty matches all."""
    if not labels:
        return EVERYTHING
    return Selector(_sorted(requirement(k, "=", [str(v)]) for k, v in labels.items()))


_EXPRESSION_OPERATORS: dict[str, Operator] = {
    "In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!",
}
# A NodeSelectorRequirement's operators: a LabelSelectorRequirement's and Gt, Lt.
_NODE_OPERATORS: dict[str, Operator] = {**_EXPRESSION_OPERATORS, "Gt": "gt", "Lt": "lt"}


def _expressions(exprs: Iterable[Mapping[str, Any]],
                 operators: Mapping[str, Operator]) -> list[Requirement]:
    reqs: list[Requirement] = []
    for expr in exprs:
        op_name = expr.get("operator", "")
        op = operators.get(op_name)
        if op is None:
            raise SelectorError(f'"{op_name}" is not a valid label selector operator')
        values = [str(v) for v in expr.get("values") or []]
        reqs.append(requirement(str(expr.get("key", "")), op, values))
    return reqs


def from_label_selector(selector: Mapping[str, Any] | None) -> Selector:
    """LabelSelectorAsSelector: matchLabels and matchExpressions, ANDed.

    A null selector selects nothing; an empty one ({}) selects everything.
    """
    if selector is None:
        return NOTHING
    reqs = [requirement(k, "=", [str(v)]) for k, v in (selector.get("matchLabels") or {}).items()]
    reqs += _expressions(selector.get("matchExpressions") or [], _EXPRESSION_OPERATORS)
    return Selector(_sorted(reqs))


def from_node_selector_requirements(exprs: Sequence[Mapping[str, Any]]) -> Selector:
    """NodeSelectorRequirementsAsSelector: a NodeSelectorTerm's matchExpressions, ANDed.

    The operators are a LabelSelector's and Gt, Lt (one integer value); no expressions
    select nothing. An invalid requirement raises SelectorError, as Kubernetes' parse
    error makes the whole term match no node.
    """
    if not exprs:
        return NOTHING
    return Selector(_sorted(_expressions(exprs, _NODE_OPERATORS)))


def from_spec_selector(selector: Mapping[str, Any] | None) -> Selector:
    """A `spec.selector` in either form: a LabelSelector (matchLabels, matchExpressions: a
    ReplicaSet's, a StatefulSet's) or an equality map (a ReplicationController's, a Service's).

    An absent or empty selector selects everything, as an empty map does.
    """
    if selector and ("matchLabels" in selector or "matchExpressions" in selector):
        return from_label_selector(selector)
    return from_map(selector)


def to_label_selector(selector: Selector) -> dict[str, Any]:
    """The manifest form (matchLabels + matchExpressions) of a selector, for `-o yaml`."""
    match_labels: dict[str, str] = {}
    expressions: list[dict[str, Any]] = []
    names = {"in": "In", "notin": "NotIn", "exists": "Exists", "!": "DoesNotExist"}
    for r in selector.requirements:
        if r.operator in ("=", "=="):
            match_labels[r.key] = r.values[0]
        elif r.operator in names:
            expr: dict[str, Any] = {"key": r.key, "operator": names[r.operator]}
            if r.values:
                expr["values"] = list(r.values)
            expressions.append(expr)
        else:
            raise SelectorError(f"operator {r.operator!r} has no label selector form")
    out: dict[str, Any] = {}
    if match_labels:
        out["matchLabels"] = match_labels
    if expressions:
        out["matchExpressions"] = expressions
    return out


# --- the text form: Lexer and Parser of selector.go -----------------------------------

_ERROR, _END, _CLOSE, _COMMA, _NOT, _DEQ, _EQ, _GT, _ID, _IN, _LT, _NEQ, _NOTIN, _OPEN = range(14)
_TOKENS = {")": _CLOSE, ",": _COMMA, "!": _NOT, "==": _DEQ, "=": _EQ, ">": _GT, "in": _IN,
           "<": _LT, "!=": _NEQ, "notin": _NOTIN, "(": _OPEN}
_SPECIAL = set("=!(),><")
_SPACE = set(" \t\r\n")


def _lex(text: str) -> list[tuple[int, str]]:
    items: list[tuple[int, str]] = []
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in _SPACE:
            pos += 1
        if pos >= n:
            items.append((_END, ""))
            return items
        if text[pos] in _SPECIAL:
            # Longest operator made of special symbols, as scanSpecialSymbol does.
            buf, last, end = "", (_ERROR, ""), pos
            while end < n and text[end] in _SPECIAL:
                buf += text[end]
                if buf in _TOKENS:
                    last = (_TOKENS[buf], buf)
                elif last[0] != _ERROR:
                    break
                end += 1
            if last[0] == _ERROR:
                items.append((_ERROR, f"error expected: keyword found '{buf}'"))
                pos = end
            else:
                items.append(last)
                pos += len(last[1])
            continue
        start = pos
        while pos < n and text[pos] not in _SPECIAL and text[pos] not in _SPACE:
            pos += 1
        word = text[start:pos]
        items.append((_TOKENS.get(word, _ID), word))


class _Parser:
    """The recursive descent of selector.go; `in`/`notin` read as identifiers in value context."""

    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[int, str]:
        tok, lit = self.items[min(self.pos, len(self.items) - 1)]
        return (_ID, lit) if values and tok in (_IN, _NOTIN) else (tok, lit)

    def take(self, values: bool = True) -> tuple[int, str]:
        item = self.peek(values)
        self.pos += 1
        return item

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.peek()
            if tok == _END:
                return reqs
            if tok not in (_ID, _NOT):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                reqs.append(self.requirement())
            except SelectorError as e:
                raise SelectorError(f"unable to parse requirement: {e}") from None
            tok, lit = self.take()
            if tok == _END:
                return reqs
            if tok != _COMMA:
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            tok, lit = self.peek()
            if tok not in (_ID, _NOT):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        tok, lit = self.take()
        negated = tok == _NOT
        if negated:
            tok, lit = self.take()
        if tok != _ID:
            raise SelectorError(f"found '{lit}', expected: identifier")
        key_errs = validate_label_key(lit)
        if key_errs:
            raise _invalid(lit, key_errs)
        # `!key` is complete by itself: what follows it is left to the caller, as in Go.
        if negated:
            return requirement(lit, "!")
        if self.peek()[0] in (_END, _COMMA):
            return requirement(lit, "exists")
        key = lit
        tok, lit = self.take(values=False)
        ops: dict[int, Operator] = {_IN: "in", _EQ: "=", _DEQ: "==", _GT: "gt", _LT: "lt",
                                    _NOTIN: "notin", _NEQ: "!="}
        if tok not in ops:
            raise SelectorError(f"found '{lit}', expected: {_BINARY_OPERATORS}")
        op = ops[tok]
        values = self.value_set() if op in ("in", "notin") else self.exact_value()
        return requirement(key, op, values)

    def value_set(self) -> set[str]:
        tok, lit = self.take()
        if tok != _OPEN:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.peek()
        if tok == _CLOSE:
            self.take()
            return {""}
        if tok not in (_ID, _COMMA):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self.identifiers()
        if self.take()[0] != _CLOSE:
            raise SelectorError(f"found '{lit}', expected: ')'")
        return values

    def identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self.take()
            if tok == _ID:
                values.add(lit)
                tok2, lit2 = self.peek()
                if tok2 == _CLOSE:
                    return values
                if tok2 != _COMMA:
                    raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            elif tok == _COMMA:
                # "(,", ",)" and ",," each stand for the empty value.
                if not values:
                    values.add("")
                tok2, _ = self.peek()
                if tok2 == _CLOSE:
                    values.add("")
                    return values
                if tok2 == _COMMA:
                    values.add("")
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        tok, _ = self.peek()
        if tok in (_END, _COMMA):
            return {""}
        tok, lit = self.take()
        if tok == _ID:
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")


def parse(text: str) -> Selector:
    """labels.Parse: the CLI form, e.g. `app=demo,tier notin (db),!canary`; "" selects all."""
    return Selector(_sorted(_Parser(text).parse()))
