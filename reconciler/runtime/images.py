"""Local images built offline: the busybox image and the pod infrastructure ("pause") image.

Sits under the driver: `scripts/build-images.sh` runs `python -m reconciler.runtime.images`
and the driver calls `ensure_infra_image` when the configured infra image is missing
and cannot be pulled, so both build through this one code path. There is no
registry: each image is a root filesystem assembled from the host's static
binaries (Debian's busybox-static and, when present, catatonit) and imported.
Run as a command it says which image of how many it is at and each step of a
build (`[2/3] reconciler/pause:1: importing 2.8 MB`), as `make run`'s other stages do.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import tarfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import docker
from docker.errors import ImageNotFound

log = logging.getLogger(__name__)

BUSYBOX_IMAGE = "reconciler/busybox:1"
INFRA_IMAGE = "reconciler/pause:1"

BUSYBOX_PATHS = ("/bin/busybox", "/usr/bin/busybox")
CATATONIT_PATHS = ("/usr/bin/catatonit", "/usr/libexec/podman/catatonit")

# Applets linked in the busybox image; `--list` of the host binary decides the rest.
_ESSENTIAL = ("sh", "sleep", "httpd", "nc", "cat", "echo", "hostname", "ls", "timeout")

# PID 1 ignores SIGTERM unless it installs a handler: without catatonit, a shell
# that traps TERM and waits on a child keeps `docker stop` from waiting 10 s.
_SH_PAUSE = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"


class ImageBuildError(RuntimeError):
    """An image could not be built: a static binary it needs is missing."""


@dataclass(frozen=True)
class BuiltImage:
    """What `ensure_*` did: the reference, and whether it was built now or already there."""

    ref: str
    built: bool


# Where a build reports its steps (the command prints them; the driver passes none).
Progress = Callable[[str], None]


def _quiet(step: str) -> None:
    """No progress: the driver's builds are logged once they are done."""


def _find(paths: Iterable[str]) -> str | None:
    for p in paths:
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def _applets(busybox: str) -> list[str]:
    import subprocess

    out = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=False)
    names = {line.strip() for line in out.stdout.splitlines() if line.strip()}
    return sorted(names | set(_ESSENTIAL))


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    tar.addfile(info)


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def _add_symlink(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    tar.addfile(info)


def rootfs_tar(with_catatonit: bool) -> bytes:
    """A root filesystem tar: busybox and its applets, plus catatonit when asked and present."""
    busybox = _find(BUSYBOX_PATHS)
    if busybox is None:
        raise ImageBuildError("busybox not found: apt-get install busybox-static")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "var", "var/www"):
            _add_dir(tar, d, 0o1777 if d == "tmp" else 0o755)
        with open(busybox, "rb") as f:
            _add_file(tar, "bin/busybox", f.read(), 0o755)
        for applet in _applets(busybox):
            if applet != "busybox" and "/" not in applet:
                _add_symlink(tar, f"bin/{applet}", "busybox")
        _add_file(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                  b"nobody:x:65534:65534:nobody:/:/bin/sh\n", 0o644)
        _add_file(tar, "etc/group", b"root:x:0:\nnogroup:x:65534:\n", 0o644)
        catatonit = _find(CATATONIT_PATHS) if with_catatonit else None
        if catatonit is not None:
            with open(catatonit, "rb") as f:
                _add_file(tar, "pause", f.read(), 0o755)
    return buf.getvalue()


def _exists(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
        return True
    except ImageNotFound:
        return False


def _import(client: docker.DockerClient, ref: str, data: bytes, changes: list[str],
            say: Progress = _quiet) -> None:
    repo, tag = ref.rsplit(":", 1)
    say(f"importing {len(data) / 1e6:.1f} MB as {ref}")
    client.api.import_image_from_data(data, repository=repo, tag=tag, changes=changes)


def _rootfs(with_catatonit: bool, say: Progress) -> bytes:
    busybox = _find(BUSYBOX_PATHS)
    applets = len(_applets(busybox)) if busybox is not None else 0
    say(f"assembling a root filesystem: {busybox or 'busybox'} ({applets} applets)"
        + (", catatonit" if with_catatonit else ""))
    return rootfs_tar(with_catatonit)


def ensure_busybox_image(client: docker.DockerClient, ref: str = BUSYBOX_IMAGE,
                         say: Progress = _quiet) -> BuiltImage:
    """Build the busybox image (sh, sleep, httpd, nc, ...) unless it exists."""
    if _exists(client, ref):
        return BuiltImage(ref, built=False)
    _import(client, ref, _rootfs(False, say), ["ENV PATH=/bin", 'CMD ["/bin/sh"]'], say)
    log.info("built %s", ref)
    return BuiltImage(ref, built=True)


def ensure_infra_image(client: docker.DockerClient, ref: str = INFRA_IMAGE,
                       say: Progress = _quiet) -> BuiltImage:
    """Build the pod infrastructure image unless it exists.

    It keeps busybox so that probes of ports that are not published can run `nc`
    inside the pod's network namespace (see docs/runtime.md).
    """
    if _exists(client, ref):
        return BuiltImage(ref, built=False)
    has_catatonit = _find(CATATONIT_PATHS) is not None
    entry = '["/pause", "-P"]' if has_catatonit else f'["/bin/sh", "-c", "{_SH_PAUSE}"]'
    _import(client, ref, _rootfs(has_catatonit, say),
            ["ENV PATH=/bin", f"ENTRYPOINT {entry}"], say)
    log.info("built %s (%s)", ref, "catatonit -P" if has_catatonit else "sh trap")
    return BuiltImage(ref, built=True)


def main(argv: list[str] | None = None) -> int:
    """`python -m reconciler.runtime.images [--host URL] [--prefix P] [--total N]`: build
    both images when missing, saying which of N images each is and each step of a build."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default=os.environ.get("DOCKER_HOST") or None)
    # Another repository than reconciler/: a trial build beside the images in use.
    parser.add_argument("--prefix", default=os.environ.get("RECONCILER_IMAGE_PREFIX")
                        or "reconciler")
    # build-images.sh builds one more image after these two, and counts it in.
    parser.add_argument("--total", type=int, default=2)
    args = parser.parse_args(argv)
    client = docker.DockerClient(base_url=args.host, version="1.41", timeout=120) if args.host \
        else docker.from_env(version="1.41", timeout=120)
    steps = ((ensure_busybox_image, BUSYBOX_IMAGE), (ensure_infra_image, INFRA_IMAGE))
    try:
        for n, (ensure, default) in enumerate(steps, 1):
            ref = f"{args.prefix}/{default.split('/', 1)[1]}"
            stage = f"[{n}/{args.total}] {ref}"

            def say(step: str, stage: str = stage) -> None:
                print(f"build-images: {stage}: {step}", file=sys.stderr, flush=True)

            started = time.monotonic()
            try:
                result = ensure(client, ref, say)
            except Exception as e:  # an engine that does not answer too: name the stage
                say(f"FAILED: {e}")
                return 1
            if result.built:
                say(f"built in {time.monotonic() - started:.1f} s")
            else:
                say("present")
            print(f"{result.ref}: {'built' if result.built else 'present'}", flush=True)
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
