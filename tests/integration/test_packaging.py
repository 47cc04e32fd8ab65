"""The built wheel, installed in a fresh venv, validates and reads a store as the checkout does.

The wheel is built from a copy of the sources (no build/ or egg-info left in the
checkout, which other test files read in parallel) without build isolation, with the
dev venv's setuptools and wheel: no index is needed. The fresh venv reaches the
dependencies through a .pth line naming the dev venv's site-packages, which comes
after its own: `reconciler` is imported from the wheel, never from the checkout.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The first test also builds and installs the wheel (the module's fixture): seconds when
# idle, a minute or more on a loaded machine.
pytestmark = [pytest.mark.timeout(600)]

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: %s
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: busybox:1.36}]
"""


def run(*argv: str | Path, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    # No RECONCILER_* from the caller (a RECONCILER_SCHEMAS would hide a missing folder).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RECONCILER_") and k != "PYTHONPATH"}
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    if ok:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with only the built wheel installed; its bin/ folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "reconciler", src / "reconciler",
                    ignore=shutil.ignore_patterns("__pycache__"))
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
        "--no-index", "-w", tmp / "dist", src, cwd=tmp)
    [wheel] = (tmp / "dist").glob("reconciler-*.whl")
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
        "--no-index", wheel, cwd=tmp)
    purelib = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                       cwd=tmp).stdout.strip())
    deps = [sysconfig.get_path("purelib"), *site.getsitepackages()]
    (purelib / "zz-dev-venv.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    return venv / "bin"


class TestWheel:
    def test_the_package_comes_from_the_wheel(self, installed: Path, tmp_path: Path) -> None:
        """reconciler and its schemas are imported from the venv, not the checkout."""
        out = run(installed / "python", "-c",
                  "import reconciler.manifests.schemas as s; print(s.schemas_dir())",
                  cwd=tmp_path).stdout.strip()
        folder = Path(out)
        assert folder.is_relative_to(installed.parent) and (folder / "pod.json").is_file()

    def test_validate_uses_the_shipped_schemas(self, installed: Path, tmp_path: Path) -> None:
        """A valid folder passes; a schema violation is reported with its line, exit 1."""
        good, bad = tmp_path / "good", tmp_path / "bad"
        good.mkdir()
        bad.mkdir()
        (good / "web.yaml").write_text(DEPLOYMENT % "2")
        (bad / "web.yaml").write_text(DEPLOYMENT % '"two"')
        run(installed / "reconciler", "validate", good, cwd=tmp_path)
        done = run(installed / "reconciler", "validate", bad, cwd=tmp_path, ok=False)
        assert done.returncode == 1
        assert "web.yaml:5:" in done.stdout + done.stderr

    def test_get_reads_a_store_the_wheel_created(self, installed: Path, tmp_path: Path) -> None:
        """The migrations ship too: a store is created, and get reads it."""
        state = tmp_path / "state.db"
        run(installed / "python", "-c",
            "import sys\nfrom reconciler.store import Store\n"
            "with Store.open(sys.argv[1]) as s:\n    s.set_revision('0123abcd', 'folder')\n",
            state, cwd=tmp_path)
        out = run(installed / "reconciler", "get", "revision", "--state", state,
                  cwd=tmp_path).stdout
        assert "0123abcd" in out
        done = run(installed / "reconciler", "get", "pods", "--state", state, cwd=tmp_path)
        assert "No resources found" in done.stdout + done.stderr
