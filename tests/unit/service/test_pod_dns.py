"""Which nameserver pods get from the service's settings, by `network.proxy_mode`."""

from __future__ import annotations

import pytest

from reconciler.service.app import settings
from reconciler.service.config import load_config


class TestPodNameserver:
    @pytest.mark.parametrize("mode", ["iptables", "userspace", "agents"])
    def test_cluster_dns_when_something_serves_it(self, mode: str) -> None:
        """The embedded proxy, or each machine's agent ("agents"), answers at dns_ip."""
        config = load_config(None, {"RECONCILER_NETWORK_PROXY_MODE": mode})
        assert settings(config, "desired").dns_ip == "10.96.0.10"

    def test_engine_resolver_when_off(self) -> None:
        """"off": nothing answers at dns_ip, so pods keep the engine's own resolver."""
        config = load_config(None, {"RECONCILER_NETWORK_PROXY_MODE": "off"})
        assert settings(config, "desired").dns_ip == ""
