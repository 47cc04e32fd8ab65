"""Unit tests of kubeapi/certs.py: the CA, the server and admin certificates, the kubeconfig."""

from __future__ import annotations

import base64
import ipaddress
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from reconciler.kubeapi import certs
from reconciler.kubeapi.context import ApiContext


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> certs.Pki:
    directory = tmp_path_factory.mktemp("pki") / "pki"
    certs.ensure_pki(directory, ["10.1.2.3", "api.example.test"])
    return certs.Pki(directory)


class TestEnsurePki:
    def test_makes_a_ca_and_two_signed_certificates_with_private_keys(
            self, pki: certs.Pki) -> None:
        """CA, server and admin certificates exist; keys are 0600, certificates 0644."""
        ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
        for cert_path, key_path in ((pki.server_cert, pki.server_key),
                                    (pki.client_cert, pki.client_key)):
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            cert.verify_directly_issued_by(ca)
            assert _mode(key_path) == 0o600 and _mode(cert_path) == 0o644
        assert _mode(pki.path("ca.key")) == 0o600

    def test_server_certificate_names_loopback_and_the_given_hosts(self, pki: certs.Pki) -> None:
        """kubectl checks the server's name: loopback, localhost and the bound host are in it."""
        cert = x509.load_pem_x509_certificate(pki.server_cert.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
        assert {"127.0.0.1", "::1", "10.1.2.3"} <= ips
        assert {"localhost", "api.example.test"} <= set(san.get_values_for_type(x509.DNSName))

    def test_admin_certificate_carries_the_read_write_role(self, pki: certs.Pki) -> None:
        """The admin's organization is its role, as Kubernetes reads groups from O."""
        cert = x509.load_pem_x509_certificate(pki.client_cert.read_bytes())
        org = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
        assert org == "reconciler:read-write"

    def test_never_overwrites(self, pki: certs.Pki) -> None:
        """A second run makes nothing and changes no byte; a missing file alone is remade."""
        before = {p.name: p.read_bytes() for p in pki.directory.iterdir()}
        assert certs.ensure_pki(pki.directory) == []
        assert {p.name: p.read_bytes() for p in pki.directory.iterdir()} == before
        pki.client_cert.unlink()
        pki.client_key.unlink()
        made = certs.ensure_pki(pki.directory)
        assert sorted(p.name for p in made) == ["admin.crt", "admin.key"]
        assert pki.ca_cert.read_bytes() == before["ca.crt"]


class TestKubeconfig:
    def test_written_0600_with_the_ca_and_client_certificate(
            self, pki: certs.Pki, tmp_path: Path) -> None:
        """The admin kubeconfig embeds the CA and the admin pair and is for root only."""
        path = tmp_path / "kubeconfig"
        assert certs.write_kubeconfig(path, "https://127.0.0.1:6443", pki)
        assert _mode(path) == 0o600
        doc = yaml.safe_load(path.read_text())
        cluster = doc["clusters"][0]["cluster"]
        assert cluster["server"] == "https://127.0.0.1:6443"
        assert base64.b64decode(cluster["certificate-authority-data"]) == pki.ca_cert.read_bytes()
        user = doc["users"][0]["user"]
        assert base64.b64decode(user["client-certificate-data"]) == pki.client_cert.read_bytes()
        assert doc["current-context"] == doc["contexts"][0]["name"]

    def test_an_existing_kubeconfig_is_kept(self, pki: certs.Pki, tmp_path: Path) -> None:
        """An edited kubeconfig is never replaced."""
        path = tmp_path / "kubeconfig"
        path.write_text("mine\n")
        assert not certs.write_kubeconfig(path, "https://127.0.0.1:6443", pki)
        assert path.read_text() == "mine\n"

    def test_token_kubeconfig(self, pki: certs.Pki) -> None:
        """A kubeconfig for a bearer token carries the token and no client certificate."""
        doc = yaml.safe_load(certs.kubeconfig_text("https://h:1", b"CA", token="t0k"))
        assert doc["users"][0]["user"] == {"token": "t0k"}


class TestServeOptions:
    def test_plain_http_is_for_loopback_only(self, tmp_path: Path) -> None:
        """tls = false on an address beyond loopback is refused before anything listens."""
        ctx = ApiContext(state="x.db")
        assert certs.serve_options(ctx, "127.0.0.1:6443", tls=False, pki_dir=tmp_path) == {}
        with pytest.raises(ValueError, match="loopback only"):
            certs.serve_options(ctx, "0.0.0.0:6443", tls=False, pki_dir=tmp_path)
        assert not any(tmp_path.iterdir())

    def test_anonymous_write_never_with_tls(self, tmp_path: Path) -> None:
        """anonymous_write holds on plain HTTP only: with TLS, callers need credentials."""
        plain, tls = ApiContext(state="x.db"), ApiContext(state="x.db")
        certs.serve_options(plain, "127.0.0.1:6443", tls=False, pki_dir=tmp_path,
                            anonymous_write=True)
        certs.serve_options(tls, "127.0.0.1:6443", tls=True, pki_dir=tmp_path / "pki",
                            anonymous_write=True)
        assert plain.extra["anonymous_write"] is True and tls.extra["anonymous_write"] is False

    def test_tls_makes_the_pki_and_kubeconfig_for_the_bound_address(self, tmp_path: Path) -> None:
        """TLS on 10.9.8.7: certificates valid for it, a kubeconfig pointing at it."""
        ctx = ApiContext(state="x.db")
        opts = certs.serve_options(ctx, "10.9.8.7:7443", tls=True, pki_dir=tmp_path / "pki",
                                   tokens=tmp_path / "tokens", kubeconfig=tmp_path / "kc")
        assert opts["ssl_certfile"] == str(tmp_path / "pki" / "server.crt")
        assert opts["http"] is certs.PeerCertH11Protocol
        assert ctx.extra == {"tls": True, "tokens": str(tmp_path / "tokens"),
                             "anonymous_write": False}
        server = yaml.safe_load((tmp_path / "kc").read_text())["clusters"][0]["cluster"]["server"]
        assert server == "https://10.9.8.7:7443"
        cert = x509.load_pem_x509_certificate((tmp_path / "pki" / "server.crt").read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert ipaddress.ip_address("10.9.8.7") in san.get_values_for_type(x509.IPAddress)


    def test_a_certificate_kept_from_another_address_is_named(self, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture
                                                              ) -> None:
        """A server certificate that does not name the new bind address is a warning."""
        ctx = ApiContext(state="x.db")
        certs.serve_options(ctx, "127.0.0.1:7443", tls=True, pki_dir=tmp_path)
        assert certs.cert_misses(tmp_path / "server.crt", "127.0.0.1") == ""
        with caplog.at_level("WARNING", logger="reconciler.kubeapi"):
            certs.serve_options(ctx, "10.9.8.6:7443", tls=True, pki_dir=tmp_path)
        assert "does not name 10.9.8.6" in caplog.text


class TestPeerRole:
    @pytest.mark.parametrize(("org", "role"), [
        ("reconciler:read-write", "read-write"), ("reconciler:read-only", "read-only"),
        ("system:masters", "read-only"), (None, "read-only"),
    ])
    def test_role_from_organization(self, org: str | None, role: str) -> None:
        """Only O=reconciler:read-write may write; any other certificate reads."""
        subject = [(("commonName", "ann"),)]
        if org:
            subject.insert(0, (("organizationName", org),))
        assert certs.peer_role({"subject": tuple(subject)}) == ("ann", role)

    def test_no_certificate_is_no_one(self) -> None:
        """A connection without a client certificate has no certificate identity."""
        assert certs.peer_role(None) is None
        assert certs.peer_role({}) is None


class TestInstall:
    def test_install_makes_the_api_credentials_once(self, tmp_path: Path) -> None:
        """`reconciler install` makes the PKI, a 0600 kubeconfig and tokens file; never twice."""
        cmd = [str(Path(sys.executable).with_name("reconciler")), "install", "--systemd",
               "--prefix", str(tmp_path)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        etc = tmp_path / "etc" / "reconciler"
        made = {p: p.read_bytes() for p in [*etc.glob("pki/*"), etc / "kubeconfig",
                                             etc / "tokens"]}
        assert {p.name for p in made} >= {"ca.crt", "server.key", "admin.crt", "kubeconfig",
                                          "tokens"}
        assert _mode(etc / "kubeconfig") == _mode(etc / "tokens") == 0o600
        server = yaml.safe_load((etc / "kubeconfig").read_text())["clusters"][0]["cluster"]
        assert server["server"] == "https://127.0.0.1:6443"
        assert "\ntls = true\n" in (etc / "config.toml").read_text()
        again = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)
        assert "kept      " + str(etc / "kubeconfig") in again.stdout
        assert {p: p.read_bytes() for p in made} == made
