"""The API's certificates: a CA, the server's, an admin client's, and the admin kubeconfig.

Made by `reconciler install` (reconciler.cli.service) and, for what is still
missing, by the service before it serves TLS (`server.py`); nothing here ever
overwrites a file, so a CA an operator replaced or a kubeconfig they edited stays.
Keys are ECDSA P-256 (fast to make, accepted by kubectl and every client library),
written 0600 before any byte goes in. The role of a client certificate is its
organization (O=reconciler:read-write or reconciler:read-only), as Kubernetes reads
groups from O; `auth.py` maps it. `PeerCertH11Protocol` is how the peer's
certificate reaches the app: uvicorn puts no TLS details in the ASGI scope, so the
protocol copies them into the per-connection `scope["state"]`.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import logging
import os
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from uvicorn.protocols.http.h11_impl import H11Protocol

from reconciler.kubeapi.context import ApiContext

log = logging.getLogger("reconciler.kubeapi")

DEFAULT_PKI_DIR = Path("/etc/reconciler/pki")
DEFAULT_KUBECONFIG = Path("/etc/reconciler/kubeconfig")
ROLE_PREFIX = "reconciler:"
READ_WRITE, READ_ONLY = "read-write", "read-only"
VALID_DAYS = 5 * 365
PEER_CERT = "tls_peercert"  # the key in scope["state"]


@dataclass(frozen=True)
class Pki:
    """The files of one certificate folder (`[api] pki`)."""

    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def ca_cert(self) -> Path:
        return self.path("ca.crt")

    @property
    def server_cert(self) -> Path:
        return self.path("server.crt")

    @property
    def server_key(self) -> Path:
        return self.path("server.key")

    @property
    def client_cert(self) -> Path:
        return self.path("admin.crt")

    @property
    def client_key(self) -> Path:
        return self.path("admin.key")


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create `path` with `mode` and write `data`; refuse (FileExistsError) to replace it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)  # the umask may have taken bits off


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
             ) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS)))


def _load_ca(pki: Pki) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    key = serialization.load_pem_private_key(pki.path("ca.key").read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{pki.path('ca.key')}: not an ECDSA key")
    return cert, key


def _make_ca(pki: Pki) -> None:
    key = _new_key()
    name = _name("reconciler-ca")
    cert = (_builder(name, name, key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .sign(key, hashes.SHA256()))
    _write_new(pki.path("ca.key"), _key_pem(key), 0o600)
    _write_new(pki.ca_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def issue(pki: Pki, common: str, *, org: str | None = None, hosts: Iterable[str] = (),
          client: bool = False) -> tuple[bytes, bytes]:
    """A certificate signed by the CA: (cert PEM, key PEM). Server when `hosts`, else client."""
    ca_cert, ca_key = _load_ca(pki)
    key = _new_key()
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (_builder(_name(common, org), ca_cert.subject, key)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def server_hosts(listen_host: str = "") -> list[str]:
    """The names the server certificate is valid for: loopback, this machine, the bind host."""
    hosts = ["localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn()]
    if listen_host not in ("", "0.0.0.0", "::"):
        hosts.append(listen_host)
    return [h.lower() for h in dict.fromkeys(hosts) if h]


def ensure_pki(directory: Path, hosts: Iterable[str] = ()) -> list[Path]:
    """Make what is missing of the CA, server and admin certificates; the files created."""
    pki = Pki(directory)
    made: list[Path] = []
    if not pki.ca_cert.exists():
        _make_ca(pki)
        made += [pki.path("ca.key"), pki.ca_cert]
    names = [*server_hosts(), *(h for h in hosts if h not in ("", "0.0.0.0", "::"))]
    pairs = ((pki.server_cert, pki.server_key, {"hosts": names}),
             (pki.client_cert, pki.client_key,
              {"org": ROLE_PREFIX + READ_WRITE, "client": True}))
    for cert_path, key_path, how in pairs:
        if cert_path.exists() or key_path.exists():
            continue
        common = "reconciler-api" if cert_path == pki.server_cert else "admin"
        cert, key = issue(pki, common, **how)
        _write_new(key_path, key, 0o600)
        _write_new(cert_path, cert, 0o644)
        made += [key_path, cert_path]
    return made


def kubeconfig_text(server: str, ca_pem: bytes, cert_pem: bytes | None = None,
                    key_pem: bytes | None = None, token: str | None = None,
                    name: str = "reconciler", user: str = "admin") -> str:
    """A kubeconfig for `server`: the CA, and a client certificate or a bearer token."""
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    creds: dict[str, Any] = {}
    if cert_pem and key_pem:
        creds = {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)}
    elif token:
        creds = {"token": token}
    cluster: dict[str, Any] = {"server": server}
    if server.startswith("https:"):
        cluster["certificate-authority-data"] = b64(ca_pem)
    doc = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": f"{user}@{name}", "user": creds}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{user}@{name}",
                                                "namespace": "default"}}],
        "current-context": name,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def write_kubeconfig(path: Path, server: str, pki: Pki) -> bool:
    """Write the admin kubeconfig at `path` (0600) unless it exists; True when written."""
    if path.exists():
        return False
    text = kubeconfig_text(server, pki.ca_cert.read_bytes(), pki.client_cert.read_bytes(),
                           pki.client_key.read_bytes())
    _write_new(path, text.encode(), 0o600)
    return True


def server_ssl_options(pki: Pki) -> dict[str, Any]:
    """uvicorn.Config's TLS arguments: the server's pair, and client certificates optional."""
    return {"ssl_certfile": str(pki.server_cert), "ssl_keyfile": str(pki.server_key),
            "ssl_ca_certs": str(pki.ca_cert), "ssl_cert_reqs": ssl.CERT_OPTIONAL,
            "http": PeerCertH11Protocol}


def peer_role(peercert: dict[str, Any] | None) -> tuple[str, str] | None:
    """(user, role) of a verified client certificate (`SSLSocket.getpeercert()`), or None.

    An organization naming no role we know gives read-only: a certificate proves who,
    not that they may write.
    """
    if not peercert:
        return None
    fields = {k: v for rdn in peercert.get("subject", ()) for k, v in rdn}
    user = str(fields.get("commonName", ""))
    org = str(fields.get("organizationName", ""))
    role = READ_WRITE if org == ROLE_PREFIX + READ_WRITE else READ_ONLY
    return (user or "unknown", role)


def serve_options(ctx: ApiContext, address: str, *, tls: bool, pki_dir: Path,
                  tokens: Path | None = None, kubeconfig: Path | None = None,
                  anonymous_write: bool = False) -> dict[str, Any]:
    """Prepare `ctx` and return uvicorn's extra arguments for serving on `address`.

    TLS: the certificates and the admin kubeconfig are made when missing. Plain HTTP
    (`tls` False) is for loopback only: a ValueError for any other address; there,
    `anonymous_write` lets callers without credentials write too (never with TLS).
    """
    host = address.rpartition(":")[0].strip("[]") or "127.0.0.1"
    ctx.extra.update(tls=tls, tokens=str(tokens) if tokens else "",
                     anonymous_write=anonymous_write and not tls)
    if not tls:
        if not _loopback(host):
            raise ValueError(f"plain HTTP serves loopback only, not {address}: turn TLS on "
                             "([api] tls = true, or `reconciler api --tls`) to serve beyond "
                             "this machine")
        return {}
    for path in ensure_pki(pki_dir, [host]):
        log.info("created %s", path)
    missing = cert_misses(Pki(pki_dir).server_cert, host)
    if missing:
        log.warning("%s", missing)
    if kubeconfig is not None and write_kubeconfig(kubeconfig, local_url(address), Pki(pki_dir)):
        log.info("wrote the admin kubeconfig %s (0600)", kubeconfig)
    return server_ssl_options(Pki(pki_dir))


def cert_misses(cert_path: Path, host: str) -> str:
    """A warning when the server certificate does not name `host` (kept from an older
    address); "" when it does, or for a wildcard bind."""
    if host in ("0.0.0.0", "::"):
        return ""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        names: set[str] = set()
    else:
        names = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
        names |= {n.lower() for n in san.get_values_for_type(x509.DNSName)}
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        host = host.lower()
    if host in names:
        return ""
    return (f"{cert_path} does not name {host}: clients that connect to it refuse the "
            f"server; remove {cert_path} and its key, then `reconciler install --systemd` "
            "(or a start outside systemd) makes it again")


def local_url(address: str) -> str:
    """The https URL of the API on `address` for a client on this machine."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    return f"https://{'[' + host + ']' if ':' in host else host}:{port}"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class PeerCertH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with the verified client certificate in scope["state"]."""

    def connection_made(self, transport: Any) -> None:
        # app_state is copied into each request's scope["state"]: a per-connection copy
        # carries this connection's peer and no other's.
        ssl_object = transport.get_extra_info("ssl_object")
        peer = ssl_object.getpeercert() if ssl_object is not None else None
        self.app_state = {**self.app_state, PEER_CERT: peer or None}
        super().connection_made(transport)
