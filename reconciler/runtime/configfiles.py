"""The host folders behind configMap, secret and projected volumes, swapped atomically.

Called by the node agent (agent.py) on every sync of a pod that has such
volumes: `ConfigVolumes.sync` computes each volume's files
(reconciler.runtime.configrefs) and writes them under
`<volumes_dir>/<pod uid>/<volume>`, the folder sandbox.py bind-mounts
read-only. `remove_pod` deletes a pod's folders with the pod; `sweep` deletes
those of pods that are gone (a pod removed while the service was down).

The layout and the update are Kubernetes' AtomicWriter's: the files live in a
timestamped folder `..<time>`, `..data` is a symlink to it, and each top-level
name is a symlink through `..data`. An update writes a new timestamped folder,
points a `..data_tmp` symlink at it and renames that over `..data`: one
rename(2), so a reader sees the old set or the new one, never a mix. Because
the bind mount is of the folder, not of the files, the swap shows inside
running containers.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from reconciler.runtime.configrefs import (
    ConfigObjects,
    File,
    MountError,
    config_volumes,
    volume_files,
)
from reconciler.runtime.types import PodEvent, PodSync

log = logging.getLogger(__name__)

DATA = "..data"
_TMP = "..data_tmp"


def _payload(folder: Path) -> dict[str, tuple[bytes, int, int]] | None:
    """What `..data` holds now (path -> content, mode, gid), or None when there is none."""
    data = folder / DATA
    if not data.is_symlink():
        return None
    root = folder / os.readlink(data)
    out: dict[str, tuple[bytes, int, int]] = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            p = Path(dirpath) / name
            st = p.stat()
            out[p.relative_to(root).as_posix()] = (p.read_bytes(), st.st_mode & 0o7777, st.st_gid)
    return out


def write_atomic(folder: Path, files: Iterable[File], fs_group: int | None = None) -> bool:
    """Make `folder` hold exactly `files`, in one visible step; False when it already did.

    With the pod's `fsGroup`, as kubelet's SetVolumeOwnership does for these read-only
    volumes: files and folders belong to that group, files are group-readable.
    """
    gid = os.getgid() if fs_group is None else fs_group
    want = {f.path: (f.data, f.mode | (0o440 if fs_group is not None else 0), gid)
            for f in files}
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    if _payload(folder) == want:
        return False
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime()) + f"{time.time_ns() % 10**9:09d}"
    new = folder / stamp
    new.mkdir(mode=0o755)
    for path, (data, mode, _gid) in want.items():
        target = new / path
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if fs_group is not None:
            os.chown(target, -1, fs_group)
        os.chmod(target, mode)
    if fs_group is not None:
        for dirpath, _dirs, _names in os.walk(new):
            os.chown(dirpath, -1, fs_group)
    old = os.readlink(folder / DATA) if (folder / DATA).is_symlink() else None
    tmp = folder / _TMP
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(stamp, tmp)
    os.rename(tmp, folder / DATA)
    # The user-visible names: one symlink per top-level entry, through ..data.
    top = {p.split("/", 1)[0] for p in want}
    for name in top:
        link = folder / name
        if not link.is_symlink():
            os.symlink(f"{DATA}/{name}", link)
    for entry in folder.iterdir():
        if entry.name.startswith(".."):
            continue
        if entry.name not in top and entry.is_symlink():
            entry.unlink()
    if old is not None and old != stamp:
        shutil.rmtree(folder / old, ignore_errors=True)
    return True


def _digest(files: list[File]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.path}\0{f.mode}\0{len(f.data)}\0".encode())
        h.update(f.data)
    return h.hexdigest()


class ConfigVolumes:
    """The config volume folders of one host's pods under `root`."""

    def __init__(self, root: str) -> None:
        self.root = Path(root) if root else None
        self._rooted = False
        # (uid, volume) -> digest of the files last written: an unchanged volume is not read
        # back from disk on every sync.
        self._written: dict[tuple[str, str], str] = {}

    def folder(self, uid: str, volume: str) -> str:
        """The host folder of one config volume (what the container bind-mounts)."""
        if self.root is None:
            raise MountError("no folder for config volumes is configured (runtime.volumes_dir)")
        return str(self.root / uid / volume)

    def sync(self, uid: str, pod_spec: Mapping[str, Any], configs: ConfigObjects
             ) -> tuple[dict[str, str], list[tuple[str, str]], list[str]]:
        """Write every config volume of the pod.

        Returns (volume -> folder, [(volume, why it failed)], [volumes updated in place]).
        A volume that fails keeps what it held: a running pod goes on reading its last
        files, as kubelet leaves a mounted volume when an update fails.
        """
        folders: dict[str, str] = {}
        failed: list[tuple[str, str]] = []
        updated: list[str] = []
        volumes = config_volumes(pod_spec)
        group = (pod_spec.get("securityContext") or {}).get("fsGroup")
        fs_group = int(group) if group is not None else None
        if volumes and not self._rooted:
            self.ensure_root()
            self._rooted = True
        for volume in volumes:
            name = str(volume["name"])
            try:
                folder = Path(self.folder(uid, name))
                files = volume_files(volume, configs)
                digest = _digest(files) + f":{fs_group}"
                existed = (folder / DATA).is_symlink()
                if not existed or self._written.get((uid, name)) != digest:
                    if write_atomic(folder, files, fs_group) and existed:
                        updated.append(name)
                    self._written[(uid, name)] = digest
                folders[name] = str(folder)
            except MountError as e:
                failed.append((name, str(e)))
                if self.root is not None and (self.root / uid / name / DATA).is_symlink():
                    folders[name] = str(self.root / uid / name)
            except OSError as e:
                failed.append((name, f"writing the volume's files failed: {e.strerror or e}"))
        return folders, failed, updated

    def remove_pod(self, uid: str) -> None:
        """Delete the pod's folders (the pod is gone)."""
        if self.root is not None and uid:
            shutil.rmtree(self.root / uid, ignore_errors=True)
        self._written = {k: v for k, v in self._written.items() if k[0] != uid}

    def sweep(self, keep: set[str]) -> list[str]:
        """Delete the folders of pods not in `keep`; the uids removed."""
        if self.root is None or not self.root.is_dir():
            return []
        gone = [p.name for p in self.root.iterdir() if p.is_dir() and p.name not in keep]
        for uid in gone:
            shutil.rmtree(self.root / uid, ignore_errors=True)
        return gone

    def ensure_root(self) -> None:
        """The root folder, private to root: Secret files lie below it."""
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)
            os.chmod(self.root, 0o700)



MOUNT_RETRY = 5.0  # seconds before a volume that could not be made is tried again


def prepare(volumes: ConfigVolumes, pod_uid: str, pod_spec: Mapping[str, Any],
            configs: ConfigObjects, out: PodSync) -> dict[str, str] | None:
    """The agent's step before the sandbox: write the pod's config volumes.

    The volume -> folder map for the mounts, or None when a volume the pod has
    never had cannot be made (the pod stays ContainerCreating with kubelet's
    FailedMount event, and is tried again).
    """
    folders, failed, _updated = volumes.sync(pod_uid, pod_spec, configs)
    for name, why in failed:
        out.events.append(PodEvent("Warning", "FailedMount",
                                   f'MountVolume.SetUp failed for volume "{name}" : {why}'))
    if failed:
        out.requeue(MOUNT_RETRY)
    if any(name not in folders for name, _ in failed):
        return None
    return folders
