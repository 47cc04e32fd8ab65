"""Unit tests of the pull decisions (reconciler.runtime.pullrules): pure, no Docker."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.runtime import pullrules, spec
from reconciler.runtime.configrefs import SECRET, referenced


class TestNeedsPull:
    """kubelet's imagePullPolicy rules, and the image map's offline exception."""

    @pytest.mark.parametrize(("policy", "present", "mapped", "pull"), [
        ("Always", True, False, True),
        ("Always", False, False, True),
        ("IfNotPresent", True, False, False),
        ("IfNotPresent", False, False, True),
        ("Never", True, False, False),
        ("Never", False, False, False),
        ("Always", True, True, False),
        ("Always", False, True, True),
        ("Never", False, True, False),
    ])
    def test_policy(self, policy: str, present: bool, mapped: bool, pull: bool) -> None:
        """Always pulls, IfNotPresent when missing, Never never; a mapped image when missing."""
        assert pullrules.needs_pull(policy, present, mapped=mapped) is pull

    @pytest.mark.parametrize(("image", "policy"), [
        ("busybox", "Always"), ("busybox:latest", "Always"), ("busybox:1.36", "IfNotPresent"),
        ("127.0.0.1:5000/app", "Always"), ("127.0.0.1:5000/app:1", "IfNotPresent"),
        ("app@sha256:abc", "IfNotPresent"),
    ])
    def test_default_policy_from_the_tag(self, image: str, policy: str) -> None:
        """No imagePullPolicy: Always for :latest or no tag, else IfNotPresent."""
        assert spec.pull_policy({"image": image}) == policy

    @given(st.sampled_from(["Always", "IfNotPresent", "Never"]), st.booleans(), st.booleans())
    def test_never_pulls_what_never_may(self, policy: str, present: bool, mapped: bool) -> None:
        """Never never pulls; an image that is present is pulled only under Always, unmapped."""
        pull = pullrules.needs_pull(policy, present, mapped=mapped)
        if policy == "Never":
            assert not pull
        if present and pull:
            assert policy == "Always" and not mapped


class TestReferences:
    """References split as the engine's pull API takes them, and their registry."""

    @pytest.mark.parametrize(("ref", "registry", "params"), [
        ("busybox", "docker.io", {"fromImage": "busybox", "tag": "latest"}),
        ("library/redis:7", "docker.io", {"fromImage": "library/redis", "tag": "7"}),
        ("127.0.0.1:5000/team/app:1", "127.0.0.1:5000",
         {"fromImage": "127.0.0.1:5000/team/app", "tag": "1"}),
        ("localhost/app", "localhost", {"fromImage": "localhost/app", "tag": "latest"}),
        ("registry.example/app@sha256:ab", "registry.example",
         {"fromImage": "registry.example/app@sha256:ab"}),
    ])
    def test_parse(self, ref: str, registry: str, params: dict[str, str]) -> None:
        """The registry is the first part when it has a dot or a port (or is localhost)."""
        parsed = pullrules.parse_ref(ref)
        assert parsed.registry == registry
        assert parsed.pull_params == params

    @pytest.mark.parametrize(("key", "host"), [
        ("https://index.docker.io/v1/", "docker.io"), ("registry-1.docker.io", "docker.io"),
        ("http://127.0.0.1:5000/v2/", "127.0.0.1:5000"), ("Quay.IO", "quay.io"),
    ])
    def test_normalize(self, key: str, host: str) -> None:
        """Config keys with scheme, path or Docker Hub aliases name one host."""
        assert pullrules.normalize_registry(key) == host

    @pytest.mark.parametrize(("registry", "pull_from", "allowed"), [
        ("docker.io", ("*",), True),
        ("docker.io", (), False),
        ("127.0.0.1:5000", ("127.0.0.1",), True),
        ("127.0.0.1:5000", ("127.0.0.1:5001",), False),
        ("r.example.com", ("*.example.com",), True),
        ("docker.io", ("127.0.0.1",), False),
    ])
    def test_pull_from(self, registry: str, pull_from: tuple[str, ...], allowed: bool) -> None:
        """runtime.pull_from: "*", a host (any port), host:port, or a glob."""
        assert pullrules.pull_allowed(registry, pull_from) is allowed


def config_json(auths: dict[str, dict[str, str]]) -> bytes:
    return json.dumps({"auths": auths}).encode()


class TestCredentials:
    """Credentials from imagePullSecrets and Docker config files, in kubelet's order."""

    def test_username_password(self) -> None:
        """A dockerconfigjson Secret gives its registry's username and password."""
        data = {".dockerconfigjson": config_json({"127.0.0.1:5000": {"username": "u",
                                                                       "password": "p"}})}
        [cred] = pullrules.secret_credentials("regcred", data)
        assert (cred.registry, cred.username, cred.password) == ("127.0.0.1:5000", "u", "p")
        assert cred.source == 'secret "regcred"'

    def test_auth_field(self) -> None:
        """The base64 `auth` field stands for username:password."""
        auth = base64.b64encode(b"user:pa:ss").decode()
        data = {".dockerconfigjson": config_json({"r.example": {"auth": auth}})}
        [cred] = pullrules.secret_credentials("c", data)
        assert (cred.username, cred.password) == ("user", "pa:ss")

    def test_legacy_dockercfg(self) -> None:
        """A kubernetes.io/dockercfg Secret has the hosts at the top level."""
        data = {".dockercfg": json.dumps({"https://index.docker.io/v1/": {
            "username": "u", "password": "p"}}).encode()}
        [cred] = pullrules.secret_credentials("old", data)
        assert cred.registry == "docker.io"

    @pytest.mark.parametrize("raw", [b"", b"not json", b"[]", b'{"auths": 3}',
                                     b'{"auths": {"h": {"auth": "%%%"}}}'])
    def test_unreadable_gives_none(self, raw: bytes) -> None:
        """Broken content gives no credentials instead of an error: the pull goes without."""
        assert pullrules.parse_docker_config(raw, "x") == []

    def test_matching_keeps_order_and_drops_repeats(self) -> None:
        """Only the registry's credentials, in the given order, each once."""
        creds = [pullrules.Credential("127.0.0.1:5000", "a", "1", "s1"),
                 pullrules.Credential("other:1", "b", "2", "s2"),
                 pullrules.Credential("127.0.0.1:5000", "a", "1", "s3"),
                 pullrules.Credential("127.0.0.1", "c", "3", "node")]
        found = pullrules.matching(creds, "127.0.0.1:5000")
        assert [c.source for c in found] == ["s1", "node"]

    def test_header_round_trip(self) -> None:
        """X-Registry-Auth is base64url JSON of username, password and server address."""
        header = pullrules.Credential("h:1", "u", "p", "s").header()
        assert json.loads(base64.urlsafe_b64decode(header)) == {
            "username": "u", "password": "p", "serveraddress": "h:1"}

    def test_pull_secrets_are_referenced(self) -> None:
        """imagePullSecrets are Secrets the pod names, so the pod controller reads them."""
        spec_ = {"imagePullSecrets": [{"name": "a"}, {"name": "b"}], "containers": []}
        assert pullrules.pull_secret_names(spec_) == ["a", "b"]
        assert {(SECRET, "a"), (SECRET, "b")} <= referenced(spec_)


class TestErrors:
    """Which engine errors mean "no registry answered" and which are refusals."""

    @pytest.mark.parametrize(("error", "unreachable", "auth"), [
        ('Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused',
         True, False),
        ("dial tcp: lookup registry-1.docker.io: no such host", True, False),
        ("unauthorized: authentication required", False, True),
        ("manifest for x:1 not found: manifest unknown", False, False),
        ("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer", False, False),
    ])
    def test_classify(self, error: str, unreachable: bool, auth: bool) -> None:
        """Connection failures are unreachable; an answer, even a refusal, is not."""
        assert pullrules.is_unreachable(error) is unreachable
        assert pullrules.is_auth_error(error) is auth

    @pytest.mark.parametrize(("failures", "delay"), [(1, 10.0), (2, 20.0), (5, 160.0),
                                                     (6, 300.0), (60, 300.0)])
    def test_backoff(self, failures: int, delay: float) -> None:
        """Pull back-off: 10 s doubling per failure, at most 5 min."""
        assert pullrules.backoff_delay(failures, 10.0, 300.0) == delay
