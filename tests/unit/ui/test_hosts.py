"""Which Host headers the dashboard answers (DNS rebinding), decided purely."""

from __future__ import annotations

import socket

import pytest

from reconciler.views.hosts import allowed_names, host_allowed, split_host


class TestHostAllowed:
    @pytest.mark.parametrize("header", [
        "127.0.0.1:8080", "localhost:8080", "LOCALHOST", "app.localhost", "[::1]:8080",
        "10.1.2.3:8080", "dash.example.org:8080",
    ])
    def test_ours(self, header: str) -> None:
        """IP literals, localhost names and the configured host are answered."""
        assert host_allowed(header, allowed_names("dash.example.org"))

    @pytest.mark.parametrize("header", [
        "evil.example.com", "evil.example.com:8080", "localhost.evil.com", "", "127.0.0.1.evil.com",
    ])
    def test_foreign_refused(self, header: str) -> None:
        """Any other name (what a rebinding page sends) is refused, as is no Host at all."""
        assert not host_allowed(header, allowed_names("127.0.0.1"))

    def test_wildcard_bind_takes_this_machines_names(self) -> None:
        """Listening on 0.0.0.0, the machine's own host name is answered."""
        names = allowed_names("0.0.0.0")
        assert host_allowed(socket.gethostname() + ":8080", names)
        assert "0.0.0.0" not in names

    def test_split_host(self) -> None:
        """Port, brackets, case and a trailing dot are dropped."""
        assert split_host("[::1]:80") == "::1"
        assert split_host("Example.ORG.:80") == "example.org"
        assert split_host("::1") == "::1"
