"""Service environment variables, exactly as the kubelet's envvars.FromServices sets them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from reconciler.planning.service_env import (
    ServiceInfo,
    env_name,
    service_env,
    service_info,
    services_for_env,
)

REDIS = ServiceInfo("redis", "default", "10.111.14.203", (("redis", 6379, "TCP"),))
KUBERNETES = ServiceInfo("kubernetes", "default", "10.96.0.1", (("https", 443, "TCP"),))


class TestServiceEnv:
    def test_seed_env(self) -> None:
        """The seed's `env` output: every REDIS_* and KUBERNETES_* variable, with its value."""
        env = dict(service_env([REDIS, KUBERNETES], "default"))
        assert env == {
            "REDIS_SERVICE_HOST": "10.111.14.203",
            "REDIS_SERVICE_PORT": "6379",
            "REDIS_SERVICE_PORT_REDIS": "6379",
            "REDIS_PORT": "tcp://10.111.14.203:6379",
            "REDIS_PORT_6379_TCP": "tcp://10.111.14.203:6379",
            "REDIS_PORT_6379_TCP_PROTO": "tcp",
            "REDIS_PORT_6379_TCP_PORT": "6379",
            "REDIS_PORT_6379_TCP_ADDR": "10.111.14.203",
            "KUBERNETES_SERVICE_HOST": "10.96.0.1",
            "KUBERNETES_SERVICE_PORT": "443",
            "KUBERNETES_SERVICE_PORT_HTTPS": "443",
            "KUBERNETES_PORT": "tcp://10.96.0.1:443",
            "KUBERNETES_PORT_443_TCP": "tcp://10.96.0.1:443",
            "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
            "KUBERNETES_PORT_443_TCP_PORT": "443",
            "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1",
        }

    def test_order(self) -> None:
        """Services by name; within one, FromServices' order (host, ports, then link vars)."""
        names = [n for n, _ in service_env([REDIS, KUBERNETES], "default")]
        assert names[:3] == ["KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT",
                             "KUBERNETES_SERVICE_PORT_HTTPS"]
        assert names[3:5] == ["KUBERNETES_PORT", "KUBERNETES_PORT_443_TCP"]

    def test_several_ports_and_udp(self) -> None:
        """Only the first port gives _SERVICE_PORT and _PORT; each port gets its link vars."""
        dns = ServiceInfo("kube-dns", "default", "10.96.0.10",
                          (("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")))
        env = dict(service_env([dns], "default"))
        assert env["KUBE_DNS_SERVICE_PORT"] == "53"
        assert env["KUBE_DNS_SERVICE_PORT_DNS_TCP"] == "53"
        assert env["KUBE_DNS_PORT"] == "udp://10.96.0.10:53"
        assert env["KUBE_DNS_PORT_53_UDP_PROTO"] == "udp"
        assert env["KUBE_DNS_PORT_53_TCP"] == "tcp://10.96.0.10:53"

    def test_unnamed_port(self) -> None:
        """An unnamed first port gives no _SERVICE_PORT_<NAME> variable."""
        env = dict(service_env([ServiceInfo("web", "default", "10.0.0.5", (("", 80, "TCP"),))],
                               "default"))
        assert not any(k.startswith("WEB_SERVICE_PORT_") for k in env)
        assert len(env) == 7

    @pytest.mark.parametrize("ip", ["", "None"])
    def test_no_cluster_ip(self, ip: str) -> None:
        """Headless, ExternalName and unallocated services announce nothing."""
        assert service_env([ServiceInfo("h", "default", ip, (("", 80, "TCP"),))], "default") == []

    def test_namespace_only(self) -> None:
        """Only the pod's namespace, plus the master service of default."""
        other = ServiceInfo("redis", "prod", "10.0.0.9", (("", 6379, "TCP"),))
        env = dict(service_env([other, KUBERNETES, REDIS], "prod"))
        assert env["REDIS_SERVICE_HOST"] == "10.0.0.9"
        assert "KUBERNETES_SERVICE_HOST" in env

    def test_service_links_off(self) -> None:
        """enableServiceLinks false keeps only the master service."""
        env = dict(service_env([REDIS, KUBERNETES], "default", enable_service_links=False))
        assert {k.split("_")[0] for k in env} == {"KUBERNETES"}

    def test_env_name(self) -> None:
        """Names are upper-cased and dashes become underscores."""
        assert env_name("redis-master") == "REDIS_MASTER"

    def test_ipv6(self) -> None:
        """An IPv6 cluster IP is bracketed in URLs, as net.JoinHostPort does."""
        env = dict(service_env([ServiceInfo("v6", "default", "fd00::1", (("", 80, "TCP"),))],
                               "default"))
        assert env["V6_PORT"] == "tcp://[fd00::1]:80"
        assert env["V6_PORT_80_TCP_ADDR"] == "fd00::1"


class TestServiceInfo:
    def test_from_body(self) -> None:
        """A body with an allocated cluster IP; protocol defaults to TCP."""
        body = {"metadata": {"name": "redis", "namespace": "default"},
                "spec": {"ports": [{"name": "redis", "port": 6379}]}}
        assert service_info(body, "10.1.2.3") == ServiceInfo(
            "redis", "default", "10.1.2.3", (("redis", 6379, "TCP"),))

    def test_declared_and_external_name(self) -> None:
        """A declared clusterIP wins; ExternalName has none."""
        declared = {"metadata": {"name": "a"}, "spec": {"clusterIP": "None", "ports": []}}
        assert service_info(declared, "10.1.2.3").cluster_ip == "None"
        ext = {"metadata": {"name": "b"}, "spec": {"type": "ExternalName", "externalName": "x.y"}}
        assert service_info(ext, "10.1.2.3").cluster_ip == ""


@dataclass(frozen=True)
class _Obj:
    body: dict[str, Any]


class _Store:
    """An in-memory stand-in for the store's two reads."""

    def __init__(self, bodies: list[dict[str, Any]], allocated: dict[str, str]) -> None:
        self.bodies, self.allocated = bodies, allocated

    def objects(self, kind: str | None = None, namespace: str | None = None) -> list[_Obj]:
        return [_Obj(b) for b in self.bodies
                if b["kind"] == kind and b["metadata"]["namespace"] == namespace]

    def cluster_ips(self) -> dict[str, str]:
        return dict(self.allocated)


class TestServicesForEnv:
    def test_reads_allocations(self) -> None:
        """Services of the namespace and `kubernetes` of default, with allocated IPs."""
        def svc(ns: str, name: str) -> dict[str, Any]:
            return {"kind": "Service", "metadata": {"namespace": ns, "name": name},
                    "spec": {"ports": [{"port": 80}]}}
        store = _Store([svc("prod", "web"), svc("default", "kubernetes"), svc("default", "db")],
                       {"prod/web": "10.0.0.2", "default/kubernetes": "10.0.0.1"})
        infos = services_for_env(store, "prod")
        assert sorted((i.namespace, i.name, i.cluster_ip) for i in infos) == [
            ("default", "kubernetes", "10.0.0.1"), ("prod", "web", "10.0.0.2")]
