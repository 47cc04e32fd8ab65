"""kubeapi.server: addresses, the `[api]` section, and a server's start and refusal to start."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.server import split_address, start_api_server
from reconciler.service.config import load_config


class TestAddresses:
    def test_split(self) -> None:
        """host:port, a bare :port on loopback, IPv6 in brackets; garbage refused."""
        assert split_address("127.0.0.1:6443") == ("127.0.0.1", 6443)
        assert split_address(":6443") == ("127.0.0.1", 6443)
        assert split_address("[::1]:6443") == ("::1", 6443)
        with pytest.raises(ValueError):
            split_address("localhost")


class TestConfig:
    def test_default_is_loopback(self) -> None:
        """`[api] address` defaults to 127.0.0.1:6443."""
        assert load_config(env={}).api.address == "127.0.0.1:6443"

    def test_environment_turns_it_off(self) -> None:
        """RECONCILER_API_ADDRESS="" turns the API off (as the e2e services do)."""
        assert load_config(env={"RECONCILER_API_ADDRESS": ""}).api.address == ""


class TestStart:
    def test_free_port_and_close(self, tmp_path: Path) -> None:
        """Port 0 picks a free port, which the context learns; close() stops the thread."""
        ctx = ApiContext(state=str(tmp_path / "state.db"))
        server = start_api_server(ctx, "127.0.0.1:0")
        assert server is not None
        try:
            assert ctx.address == server.address and not server.address.endswith(":0")
        finally:
            server.close()
        assert not server.thread.is_alive()

    def test_empty_address_is_off(self, tmp_path: Path) -> None:
        """An empty address starts nothing."""
        assert start_api_server(ApiContext(state=str(tmp_path / "x.db")), "") is None

    def test_port_taken(self, tmp_path: Path) -> None:
        """A port already taken is an OSError for the caller (the service logs it)."""
        with socket.socket() as held:
            held.bind(("127.0.0.1", 0))
            held.listen()
            port = held.getsockname()[1]
            with pytest.raises(OSError, match="cannot listen"):
                start_api_server(ApiContext(state=str(tmp_path / "x.db")),
                                 f"127.0.0.1:{port}")
