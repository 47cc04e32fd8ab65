"""Name, label, quantity and engine URL syntax (reconciler.manifests.names)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.manifests import names


class TestNames:
    """Each predicate accepts what Kubernetes accepts and names the problem otherwise."""

    @pytest.mark.parametrize(("value", "ok"), [
        ("web", True), ("web-1", True), ("1web", True), ("Web", False), ("web-", False),
        ("-web", False), ("a" * 63, True), ("a" * 64, False), ("a.b", False),
    ])
    def test_dns1123_label(self, value: str, ok: bool) -> None:
        """Lowercase alphanumerics and '-', 63 at most."""
        assert (names.dns1123_label(value) == "") is ok

    @pytest.mark.parametrize(("value", "ok"), [
        ("web.example.com", True), ("web..x", False), ("Web.x", False), ("a" * 254, False),
    ])
    def test_dns1123_subdomain(self, value: str, ok: bool) -> None:
        """Labels joined by dots, 253 at most."""
        assert (names.dns1123_subdomain(value) == "") is ok

    @pytest.mark.parametrize(("key", "ok"), [
        ("app", True), ("app.kubernetes.io/name", True), ("My_Key.1", True), ("/x", False),
        ("example.com/", False), ("Example.com/x", False), ("a b", False), ("x" * 64, False),
    ])
    def test_label_key(self, key: str, ok: bool) -> None:
        """[prefix/]name with a DNS subdomain prefix."""
        assert (names.label_key(key) == "") is ok

    @pytest.mark.parametrize(("value", "ok"), [
        ("", True), ("v1.2_3-x", True), ("-x", False), ("a b", False), ("x" * 64, False),
    ])
    def test_label_value(self, value: str, ok: bool) -> None:
        """Empty, or 63 label characters starting and ending alphanumeric."""
        assert (names.label_value(value) == "") is ok

    @pytest.mark.parametrize(("value", "ok"), [
        ("http", True), ("http-alt", True), ("a1", True), ("123", False), ("a--b", False),
        ("HTTP", False), ("a-very-long-name-x", False),
    ])
    def test_port_name(self, value: str, ok: bool) -> None:
        """IANA service names: 15 at most, a letter, no '--'."""
        assert (names.port_name(value) == "") is ok

    @pytest.mark.parametrize(("value", "ok"), [
        ("100m", True), ("0.5", True), (1, True), (0.25, True), ("128Mi", True), ("1G", True),
        ("1e3", True), ("lots", False), ("1 Gi", False), ("-1", False), (True, False),
    ])
    def test_quantity(self, value: object, ok: bool) -> None:
        """Numbers with optional suffixes; never negative."""
        assert (names.quantity(value) == "") is ok

    @pytest.mark.parametrize(("value", "ok"), [
        ("unix:///var/run/docker.sock", True), ("tcp://10.0.0.2:2376", True),
        ("ssh://me@host", True), ("tcp://host", False), ("http://h:1", False),
        ("unix://relative.sock", False), ("tcp://h:99999", False),
    ])
    def test_engine_url(self, value: str, ok: bool) -> None:
        """unix:///path, tcp://host:port, ssh://[user@]host."""
        assert (names.engine_url(value) == "") is ok

    @given(st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True))
    def test_generated_labels_are_accepted(self, value: str) -> None:
        """Anything matching Kubernetes' DNS-1123 label regex is accepted."""
        assert names.dns1123_label(value) == ""
