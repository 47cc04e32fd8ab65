"""The one set of name and label validators (reconciler.api.names), on every case either set had."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.api import names
from reconciler.manifests import names as worded
from reconciler.manifests.configkinds import key_problem
from reconciler.runtime.configrefs import ConfigObjects, env_from


class TestDns1123:
    @pytest.mark.parametrize(("value", "ok"), [
        ("web", True), ("web-1", True), ("1web", True), ("Web", False), ("web-", False),
        ("-web", False), ("a" * 63, True), ("a" * 64, False), ("a.b", False), ("", False),
    ])
    def test_label(self, value: str, ok: bool) -> None:
        """IsDNS1123Label: lowercase alphanumerics and '-', 63 at most."""
        assert (names.validate_dns1123_label(value) == []) is ok
        assert (worded.dns1123_label(value) == "") is ok

    @pytest.mark.parametrize(("value", "ok"), [
        ("web.example.com", True), ("example.com", True), ("web..x", False), ("Web.x", False),
        ("a" * 253, True), ("a" * 254, False), (".x", False), ("", False),
    ])
    def test_subdomain(self, value: str, ok: bool) -> None:
        """IsDNS1123Subdomain: labels joined by dots, 253 at most."""
        assert (names.validate_dns1123_subdomain(value) == []) is ok
        assert (worded.dns1123_subdomain(value) == "") is ok

    def test_reasons(self) -> None:
        """Too long and malformed are both named, in Kubernetes' words."""
        reasons = names.validate_dns1123_label("A" * 64)
        assert reasons[0] == "must be no more than 63 characters"
        assert reasons[1].startswith("a lowercase RFC 1123 label must consist")

    @given(st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True))
    def test_generated_labels(self, value: str) -> None:
        """Anything matching Kubernetes' DNS-1123 label regex is a label and a subdomain."""
        assert names.validate_dns1123_label(value) == []
        assert names.validate_dns1123_subdomain(value) == []


class TestLabels:
    @pytest.mark.parametrize(("key", "ok"), [
        ("app", True), ("app.kubernetes.io/name", True), ("My_Key.1", True), ("A1", True),
        ("example.com/app", True), ("x" * 63, True), ("/x", False), ("example.com/", False),
        ("Example.com/x", False), ("a b", False), ("x" * 64, False), ("", False),
        ("a/b/c", False), ("-app", False),
    ])
    def test_key(self, key: str, ok: bool) -> None:
        """IsQualifiedName: [DNS subdomain prefix and '/'] then a name of 63 at most."""
        assert (names.validate_label_key(key) == []) is ok
        assert (worded.label_key(key) == "") is ok

    @pytest.mark.parametrize(("value", "ok"), [
        ("", True), ("v1.2_3-x", True), ("a" * 63, True), ("-x", False), ("a b", False),
        ("x" * 64, False),
    ])
    def test_value(self, value: str, ok: bool) -> None:
        """IsValidLabelValue: empty, or 63 label characters starting and ending alphanumeric."""
        assert (names.validate_label_value(value) == []) is ok
        assert (worded.label_value(value) == "") is ok

    @pytest.mark.parametrize(("key", "words"), [
        ("/x", "has an empty prefix"), ("Example.com/x", "prefix 'Example.com' is not a valid"),
        ("example.com/", "has an empty name"), ("x" * 64, "name part must be no more than 63"),
        ("a b", "is not valid (letters"),
    ])
    def test_key_wording(self, key: str, words: str) -> None:
        """The validator's sentence names the part of the key that is wrong."""
        assert words in worded.label_key(key)


class TestPortNames:
    @pytest.mark.parametrize(("value", "ok", "words"), [
        ("http", True, ""), ("http-alt", True, ""), ("a1", True, ""),
        ("123", False, "at least one letter"), ("1-2", False, "at least one letter"),
        ("a--b", False, "must not contain '--'"), ("HTTP", False, "is not valid"),
        ("a-very-long-name-x", False, "longer than 15"), ("a-", False, "is not valid"),
        ("", False, "is not valid"),
    ])
    def test_port_name(self, value: str, ok: bool, words: str) -> None:
        """IsValidPortName: 15 at most, lowercase, a letter, no '--', no hyphen at either end."""
        assert (names.validate_port_name(value) == []) is ok
        assert words in worded.port_name(value)
        assert (worded.port_name(value) == "") is ok


class TestQuantityWording:
    @pytest.mark.parametrize(("value", "words"), [
        ("100m", ""), (0.25, ""), ("1e3", ""), (" 1Gi", ""), ("lots", "is not a quantity"),
        ("1e3Mi", "is not a quantity"), (True, "is not a quantity"), (None, "is not a quantity"),
        (float("inf"), "is not a quantity"), ("-1", "must not be negative"),
        (-2, "must not be negative"),
    ])
    def test_quantity(self, value: object, words: str) -> None:
        """The validator's quantity check is the one parser's verdict, worded."""
        got = worded.quantity(value)
        assert (got == "") is (words == "")
        assert words in got


class TestConfigKeysAndEnvNames:
    @pytest.mark.parametrize(("key", "ok", "words"), [
        ("app.conf", True, ""), ("KEY_NAME", True, ""), (".hidden", True, ""),
        ("", False, "1 to 253"), ("k" * 254, False, "1 to 253"), (".", False, "must not be '.'"),
        ("..", False, "must not be '..'"), ("..data", False, "must not start with '..'"),
        ("a/b", False, "alphanumeric"), ("a b", False, "alphanumeric"),
    ])
    def test_config_map_key(self, key: str, ok: bool, words: str) -> None:
        """IsConfigMapKey decides; the validator words the first reason for the author."""
        assert (names.validate_config_map_key(key) == []) is ok
        assert words in key_problem(key)
        assert (key_problem(key) == "") is ok

    @pytest.mark.parametrize(("name", "ok"), [
        ("PATH", True), ("my.env-name", True), ("_x1", True), ("1ABC", False), ("A=B", False),
        ("", False), ("..x", False), (".x", True),
    ])
    def test_env_var_name(self, name: str, ok: bool) -> None:
        """IsEnvVarName: letters, digits, '_', '-', '.', no leading digit, no '..' prefix."""
        assert (names.validate_env_var_name(name) == []) is ok

    def test_env_from_skips_invalid_names(self) -> None:
        """envFrom keeps the keys that are variable names and skips the others, as kubelet."""
        container = {"envFrom": [{"configMapRef": {"name": "cfg"}}]}
        configs = ConfigObjects("default", {("ConfigMap", "cfg"): {
            "GOOD": b"1", "1BAD": b"2", "..BAD": b"3", "ok.too": b"4"}})
        assert [k for k, _ in env_from(container, configs)] == ["GOOD", "ok.too"]
