"""Label selectors: parsing, matching, canonical form, manifest forms, key/value checks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.api.names import validate_label_key, validate_label_value
from reconciler.api.selectors import (
    EVERYTHING,
    NOTHING,
    Requirement,
    SelectorError,
    from_label_selector,
    from_map,
    from_spec_selector,
    parse,
    requirement,
    to_label_selector,
)

QNAME_HINT = (
    "(e.g. 'MyName',  or 'my.name',  or '123-abc', "
    "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


URP = "unable to parse requirement: "


class TestParse:
    @pytest.mark.parametrize(
        ("text", "canonical"),
        [
            ("app=demo,tier notin (db),!canary", "app=demo,!canary,tier notin (db)"),
            ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
            ("a==b", "a==b"),
            ("a!=b , c", "a!=b,c"),
            ("  ", ""),
            ("a in (in,notin)", "a in (in,notin)"),
            ("a=", "a="),
            ("example.com/app=x", "example.com/app=x"),
            ("a>3,b<4", "a>3,b<4"),
        ],
    )
    def test_canonical_form(self, text: str, canonical: str) -> None:
        """The text form parses and prints as Kubernetes prints it (sorted by key)."""
        assert str(parse(text)) == canonical

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("x=a,", "found '', expected: identifier after ','"),
            (",", "found ',', expected: !, identifier, or 'end of string'"),
            ("!x=a", "found '=', expected: ',' or 'end of string'"),
            ("x in a", "unable to parse requirement: found 'a' expected: '('"),
            ("x=(", "unable to parse requirement: found '(', expected: identifier"),
            ("x y", URP + "found 'y', expected: in, notin, =, ==, !=, gt, lt"),
            ("x in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"),
            ("x in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
            ("x in (=)", URP + "found '=', expected: ',', ')' or identifier"),
            ("a b=c", URP + "found 'b', expected: in, notin, =, ==, !=, gt, lt"),
            (
                "-x=1",
                'unable to parse requirement: <nil>: Invalid value: "-x": name part '
                + "must consist of alphanumeric characters, '-', '_' or '.', and must start "
                + "and end with an alphanumeric character "
                + QNAME_HINT,
            ),
        ],
    )
    def test_syntax_errors(self, text: str, message: str) -> None:
        """Bad text gives the parser errors of k8s.io/apimachinery's selector.go."""
        with pytest.raises(SelectorError) as err:
            parse(text)
        assert str(err.value) == message

    def test_bad_value(self) -> None:
        """A value that is not a label value is refused with the value's path."""
        with pytest.raises(SelectorError, match=r'^unable to parse requirement: values\[0\]\[x\]: '
                                                r'Invalid value: "-a": a valid label must'):
            parse("x=-a")

    def test_round_trip(self) -> None:
        """The canonical form parses back to the same selector."""
        s = parse("tier notin (db,cache),app=demo,!canary,env")
        assert parse(str(s)) == s


class TestMatches:
    @pytest.mark.parametrize(
        ("text", "labels", "expected"),
        [
            ("app=demo", {"app": "demo"}, True),
            ("app=demo", {"app": "web"}, False),
            ("app!=demo", {}, True),
            ("app!=demo", {"app": "demo"}, False),
            ("tier in (a,b)", {"tier": "b"}, True),
            ("tier in (a,b)", {}, False),
            ("tier notin (a,b)", {}, True),
            ("tier notin (a,b)", {"tier": "a"}, False),
            ("canary", {"canary": ""}, True),
            ("!canary", {"canary": ""}, False),
            ("!canary", {"app": "x"}, True),
            ("n>3", {"n": "4"}, True),
            ("n>3", {"n": "x"}, False),
            ("n<3", {}, False),
            ("app=demo,!canary", {"app": "demo", "canary": "1"}, False),
            ("", {"anything": "at all"}, True),
        ],
    )
    def test_matches(self, text: str, labels: dict[str, str], expected: bool) -> None:
        """Each operator matches as labels.Requirement.Matches does."""
        assert parse(text).matches(labels) is expected

    def test_empty_and_nothing(self) -> None:
        """An empty selector matches everything; the nothing selector matches nothing."""
        assert EVERYTHING.empty and EVERYTHING.matches({})
        assert not NOTHING.empty and not NOTHING.matches({})

    @given(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y", ""])),
           st.sampled_from(["a", "b", "c"]), st.sets(st.sampled_from(["x", "y", "z"]), min_size=1))
    def test_in_and_notin_are_complements(self, labels: dict[str, str], key: str,
                                          values: set[str]) -> None:
        """On a present key, `in` and `notin` disagree; on a missing key, only `notin` matches."""
        inside = requirement(key, "in", values).matches(labels)
        outside = requirement(key, "notin", values).matches(labels)
        if key in labels:
            assert inside != outside
        else:
            assert (inside, outside) == (False, True)

    @given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]),
                           st.sampled_from(["x", "y", "z"]), max_size=4))
    def test_from_map_matches_its_own_labels(self, labels: dict[str, str]) -> None:
        """A selector built from a label set matches that set and every superset."""
        s = from_map(labels)
        assert s.matches(labels)
        assert s.matches({**labels, "extra": "1"})
        assert parse(str(s)) == s


class TestManifestForms:
    def test_match_labels_and_expressions(self) -> None:
        """matchLabels and matchExpressions are ANDed (the kubia ReplicaSet shape)."""
        s = from_label_selector({
            "matchLabels": {"tier": "web"},
            "matchExpressions": [{"key": "app", "operator": "In", "values": ["kubia"]},
                                 {"key": "canary", "operator": "DoesNotExist"}],
        })
        assert str(s) == "app in (kubia),!canary,tier=web"
        assert s.matches({"app": "kubia", "tier": "web"})
        assert not s.matches({"app": "kubia", "tier": "web", "canary": "1"})
        assert to_label_selector(s) == {
            "matchLabels": {"tier": "web"},
            "matchExpressions": [{"key": "app", "operator": "In", "values": ["kubia"]},
                                 {"key": "canary", "operator": "DoesNotExist"}],
        }

    def test_null_and_empty(self) -> None:
        """A null label selector selects nothing; {} selects everything."""
        assert from_label_selector(None) == NOTHING
        assert from_label_selector({}).empty

    @pytest.mark.parametrize(
        ("expr", "message"),
        [
            ({"key": "a", "operator": "Has"}, '"Has" is not a valid label selector operator'),
            ({"key": "a", "operator": "In", "values": []},
             "values: Invalid value: []string{}: for 'in', 'notin' operators, "
             "values set can't be empty"),
            ({"key": "a", "operator": "Exists", "values": ["x"]},
             'values: Invalid value: []string{"x"}: values set must be empty for exists '
             "and does not exist"),
        ],
    )
    def test_bad_expressions(self, expr: dict[str, object], message: str) -> None:
        """Bad matchExpressions give LabelSelectorAsSelector's errors."""
        with pytest.raises(SelectorError) as err:
            from_label_selector({"matchExpressions": [expr]})
        assert str(err.value) == message

    def test_from_map(self) -> None:
        """An RC selector map is equality on every pair, sorted by key."""
        assert str(from_map({"b": "2", "a": "1"})) == "a=1,b=2"
        assert from_map({}).empty and from_map(None).empty


class TestSpecSelector:
    """`from_spec_selector`, the one matcher the manifest validator now uses too."""

    @pytest.mark.parametrize(("selector", "labels", "selected"), [
        ({"app": "web"}, {"app": "web", "tier": "fe"}, True),
        ({"app": "web"}, {"app": "db"}, False),
        ({}, {"app": "web"}, True),
        (None, {}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "web"}, True),
        ({"matchLabels": {"app": "web"}}, {}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]}]},
         {"tier": "be"}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]}]}, {}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["fe"]}]},
         {}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["fe"]}]},
         {"tier": "fe"}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"tier": ""}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]},
         {"tier": "x"}, False),
        ({"matchLabels": {"app": "web"},
          "matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"app": "web"}, False),
    ])
    def test_forms(self, selector: dict[str, Any] | None, labels: dict[str, str],
                   selected: bool) -> None:
        """Map and LabelSelector forms select as the validator's former matcher did."""
        assert from_spec_selector(selector).matches(labels) is selected


class TestLabelSyntax:
    @pytest.mark.parametrize("key", ["app", "example.com/app", "a.b_c-d", "A1", "x" * 63])
    def test_valid_keys(self, key: str) -> None:
        """Qualified names with an optional DNS subdomain prefix are valid keys."""
        assert validate_label_key(key) == []

    @pytest.mark.parametrize(
        ("key", "first_error"),
        [
            ("", "name part must be non-empty"),
            ("x" * 64, "name part must be no more than 63 characters"),
            ("/app", "prefix part must be non-empty"),
            ("Example.com/app", "prefix part a lowercase RFC 1123 subdomain must consist"),
            ("a/b/c", "a qualified name must consist of"),
            ("-app", "name part must consist of alphanumeric characters"),
        ],
    )
    def test_invalid_keys(self, key: str, first_error: str) -> None:
        """Invalid keys give IsQualifiedName's messages."""
        errors = validate_label_key(key)
        assert errors and errors[0].startswith(first_error)

    @pytest.mark.parametrize(("value", "valid"), [("", True), ("a-b_c.d", True), ("-a", False),
                                                  ("a" * 63, True), ("a" * 64, False),
                                                  ("a b", False)])
    def test_values(self, value: str, valid: bool) -> None:
        """Label values may be empty; otherwise they follow the qualified-name rule."""
        assert (validate_label_value(value) == []) is valid


KEYS = st.sampled_from(["app", "tier", "example.com/role", "a.b-c_d", "n"])
VALUES = st.sampled_from(["", "web", "db", "in", "notin", "v1.2", "A_b-C"])
REQUIREMENTS = st.one_of(
    st.builds(lambda k, op, v: requirement(k, op, [v]), KEYS, st.sampled_from(["=", "==", "!="]),
              VALUES),
    st.builds(lambda k, op, vs: requirement(k, op, vs), KEYS, st.sampled_from(["in", "notin"]),
              st.sets(VALUES, min_size=1, max_size=3)),
    st.builds(lambda k, op: requirement(k, op), KEYS, st.sampled_from(["exists", "!"])),
)


class TestProperties:
    @given(st.lists(REQUIREMENTS, max_size=5),
           st.dictionaries(KEYS, VALUES, max_size=5))
    def test_text_round_trip_keeps_meaning(self, reqs: list[Requirement],
                                           labels: dict[str, str]) -> None:
        """Any selector prints to text that parses back to an equal, equally matching selector."""
        s = EVERYTHING.add(*reqs)
        back = parse(str(s))
        assert back == s
        assert back.matches(labels) == s.matches(labels)
        assert s.matches(labels) == all(r.matches(labels) for r in reqs)
