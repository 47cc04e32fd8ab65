"""End to end: ConfigMaps and Secrets consumed by a pod on the real engine (issue 17)."""

from __future__ import annotations

import base64
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.config_kit import (
    APP,
    CONFIG,
    MISSING,
    POD_NAME,
    SECRET,
    SECRET_VALUE,
    SOPS_POD,
    SOPS_VALUE,
    container_id,
    docker_exec,
    fetch,
    sops_secret,
)
from tests.e2e.process_helpers import GitRepo
from tests.e2e.service import ServiceRun, wait_until
from tests.support.fluent_receiver import FluentReceiver, free_port

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]


@pytest.fixture
def receiver() -> Iterator[FluentReceiver]:
    with FluentReceiver(free_port()) as r:
        yield r


@pytest.fixture
def app(svc_factory: list[ServiceRun], tmp_path: Path, receiver: FluentReceiver) -> ServiceRun:
    run = ServiceRun(tmp_path, args=("--proxy-mode", "off"), ui=True,
                     extra_env={"RECONCILER_FLUENTD_ADDRESS": receiver.address})
    svc_factory.append(run)
    run.write("config.yaml", CONFIG.format(conf="version=1"))
    run.write("secret.yaml", SECRET)
    run.write("app.yaml", APP)
    run.start()
    wait_until(lambda: any(p["metadata"]["name"] == POD_NAME for p in run.running()),
               timeout=120, what="the app pod running")
    return run


class TestConfigE2E:
    def test_files_env_modes_and_update_in_place(self, app: ServiceRun) -> None:
        """Files, env and modes as declared; a ConfigMap change reaches the running pod's file."""
        cid = container_id(app.prefix, POD_NAME)
        assert cid
        assert docker_exec(cid, "cat", "/etc/app/app.conf") == "version=1"
        assert docker_exec(cid, "sh", "-c", 'echo "$PASSWORD"').strip() == SECRET_VALUE
        assert docker_exec(cid, "sh", "-c", 'echo "$CFG_mode"').strip() == "fast"
        assert docker_exec(cid, "sh", "-c", 'echo "${ABSENT-unset}"').strip() == "unset"
        assert docker_exec(cid, "cat", "/etc/sec/password") == SECRET_VALUE
        assert docker_exec(cid, "stat", "-L", "-c", "%a", "/etc/sec/password").strip() == "400"
        assert docker_exec(cid, "cat", "/etc/all/conf/mode") == "fast"
        assert docker_exec(cid, "cat", "/etc/all/pw") == SECRET_VALUE
        assert "..data" in docker_exec(cid, "ls", "-a", "/etc/app")
        assert docker_exec(cid, "sh", "-c", "echo x > /etc/app/new 2>/dev/null && echo wrote") == ""
        written = time.monotonic()
        app.write("config.yaml", CONFIG.format(conf="version=2"))
        wait_until(lambda: docker_exec(cid, "cat", "/etc/app/app.conf") == "version=2",
                   timeout=120, what="the mounted file updated in the running container")
        took = time.monotonic() - written
        print(f"\nconfig: file saved -> new content in the running container {took:.2f}s")
        assert container_id(app.prefix, POD_NAME) == cid  # the same container: no restart
        assert docker_exec(cid, "sh", "-c", 'echo "$CFG_mode"').strip() == "fast"
        uid = next(p["metadata"]["uid"] for p in app.pods() if p["metadata"]["name"] == POD_NAME)
        folder = app.tmp / "state.db.volumes" / uid
        assert (folder / "sec" / "password").read_text() == SECRET_VALUE
        (app.desired / "app.yaml").unlink()
        wait_until(lambda: not folder.exists(), timeout=120, what="the pod's volume folders gone")

    def test_missing_configmap_keeps_the_pod_from_starting(self, app: ServiceRun) -> None:
        """A missing ConfigMap is CreateContainerConfigError with kubelet's event words."""
        app.write("lost.yaml", MISSING)

        def waiting() -> str:
            for p in app.pods():
                if p["metadata"]["name"] == "lost":
                    for c in p["status"].get("containerStatuses", []):
                        return str((c.get("state", {}).get("waiting") or {}).get("reason", ""))
            return ""

        wait_until(lambda: waiting() == "CreateContainerConfigError", timeout=240,
                   what="CreateContainerConfigError")
        # Events are written a moment after the status (in batches): wait for them.
        wait_until(lambda: 'configmap "nowhere" not found' in (
            app.cli("events", check=False).stdout + app.cli("describe", "pod", "lost").stdout),
            timeout=30, what="the missing ConfigMap's event")

    def test_secret_value_appears_nowhere(self, app: ServiceRun, receiver: FluentReceiver
                                          ) -> None:
        """Store file, service log, fluentd records, dashboard, describe and plan: no value."""
        encoded = base64.b64encode(SECRET_VALUE.encode()).decode()
        get = app.cli("get", "secret", "app-secret", "-o", "yaml").stdout
        assert encoded in get and "password:" in get  # as kubectl shows it: base64
        describe = app.cli("describe", "secret", "app-secret").stdout
        assert "password:" in describe and f"{len(SECRET_VALUE)} bytes" in describe
        proposed = app.tmp / "proposed"
        shutil.copytree(app.desired, proposed)
        (proposed / "secret.yaml").write_text(
            SECRET.replace(SECRET_VALUE, SECRET_VALUE[::-1]) + f"  other: {SECRET_VALUE}\n")
        plan = app.cli("plan", "--desired", str(proposed), check=False).stdout
        assert "1 to update" in plan
        app.write("secret.yaml", SECRET + "  other: x\n")
        time.sleep(3)  # let the service log the change and ship its records
        pages = [fetch(app.ui_url + path) for path in (
            "/", "/pods", f"/pods/default/{POD_NAME}", "/events", "/api/pods",
            f"/api/pods/default/{POD_NAME}", "/secrets", "/api/secrets", "/configmaps")]
        store = b"".join(p.read_bytes() for p in app.state.parent.glob("state.db*")
                         if p.is_file())
        records = " ".join(repr(e) for e in receiver.entries)
        for where, text in (("describe", describe), ("plan", plan),
                            ("service log", app.output()), ("fluentd", records),
                            ("dashboard", " ".join(pages))):
            for secret in (SECRET_VALUE, encoded, SECRET_VALUE[::-1]):
                assert secret not in text, where
        assert SECRET_VALUE.encode() not in store and encoded.encode() not in store
        assert "(sensitive)" in plan


class TestSopsFromGit:
    def test_encrypted_secret_in_git_reaches_the_pod(self, svc_factory: list[ServiceRun],
                                                     tmp_path: Path) -> None:
        """A SOPS file committed to git is decrypted in memory; the pod gets the value."""
        from pyrage import x25519

        identity = x25519.Identity.generate()
        key = tmp_path / "age.agekey"
        key.write_text(f"{identity}\n")
        key.chmod(0o600)
        repo = GitRepo(tmp_path / "git").init()
        repo.commit({"secret.sops.yaml": sops_secret(identity.to_public()),
                     "pod.yaml": SOPS_POD}, "an encrypted secret and its pod")
        assert SOPS_VALUE not in repo.git("show", "HEAD")
        run = ServiceRun(tmp_path, args=("--proxy-mode", "off", "--git", str(repo.bare),
                                         "--branch", "main", "--interval", "1s"),
                         extra_env={"RECONCILER_SECRETS_SOPS_AGE_KEY_FILE": str(key)})
        svc_factory.append(run)
        run.start()
        wait_until(lambda: any(p["metadata"]["name"] == "fromgit" for p in run.running()),
                   timeout=120, what="the pod of the git revision running")
        cid = container_id(run.prefix, "fromgit")
        assert docker_exec(cid, "sh", "-c", 'echo "$TOKEN"').strip() == SOPS_VALUE
        store = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*") if p.is_file())
        assert SOPS_VALUE.encode() not in store and SOPS_VALUE not in run.output()
