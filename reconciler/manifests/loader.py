"""Loading a desired folder: find manifest files, parse and validate each, then check them together.

The entry point of the manifests package. The service keeps one `FolderLoader`
and calls `.load()` on every change: files whose size and mtime (then content
hash) are unchanged are not parsed again, while the cross-file rules
(reconciler.manifests.crossfile) run over the whole set every time. `load_folder`
and `load_paths` (for `reconciler validate PATH...`) are one-shot loads.
Never raises for bad input: every problem is a Diagnostic. Files are found and
read by reconciler.manifests.discover (only regular files are opened: fifos,
sockets and devices are skipped with a warning), and every check runs under a
guard, so a bug or an input no rule foresaw is "internal error in CHECK" on
that file alone, never an exception out of the loader. The installation's
rules (reconciler.manifests.siterules) run with the cross-file ones.

Read whole or not at all: a folder or file that cannot be read (root gone, a
subfolder's scandir failing, a file vanishing between listing and reading) is
a `ReadFailure` in `LoadResult.unreadable`, as well as an error diagnostic; the
desired controller applies nothing from such a load, since a file it does not
list may be unread rather than removed. A file that parses badly is not a read
failure: its objects are kept, stale, and the rest applies.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reconciler.api.types import Diagnostic, LoadResult, Position, ReadFailure
from reconciler.manifests.crossfile import check_all, internal_message
from reconciler.manifests.discover import File as _File
from reconciler.manifests.discover import SpecialFile, ignored, read_regular, skipped, special_type
from reconciler.manifests.discover import discover as _discover
from reconciler.manifests.discover import failure as _failure
from reconciler.manifests.document import (
    DocumentValidator,
    Located,
    json_node_of,
)
from reconciler.manifests.fields import path_text
from reconciler.manifests.parse import Document, Limits, ParseError, decode, parse_file
from reconciler.manifests.positions import compose_documents, locate
from reconciler.manifests.siterules import SiteChecks, check_site

__all__ = ["FolderLoader", "Limits", "SiteChecks", "ignored", "load_folder", "load_paths"]

KUSTOMIZATION_FILES = frozenset({"kustomization.yaml", "kustomization.yml"})
KUSTOMIZATION = ("kustomization file has no effect here: kustomize is not run, the "
                 "folder's manifests apply as written (its resources, patches, prefixes and "
                 "generators are ignored)")
# A file changed this recently may change again within the same mtime tick without
# its size changing: its content hash is checked again on the next load.
_SETTLE_NS = 2_000_000_000


# Opens a SOPS-encrypted document (reconciler.sources.sops.SopsDecryptor); raises ValueError.
Decrypt = Callable[[dict[str, Any]], dict[str, Any]]


def _sops(value: Any) -> bool:
    """A document with SOPS metadata (a top-level `sops` map with a `mac`)."""
    return isinstance(value, dict) and isinstance(value.get("sops"), dict) \
        and "mac" in value["sops"]


@dataclass
class _Entry:
    """What one file gave, with the stat and hash it was computed from."""

    size: int
    mtime_ns: int
    digest: str
    settled: bool
    objects: list[Located] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    positions: dict[tuple[int, tuple[str | int, ...]], tuple[int, int]] = field(
        default_factory=dict)
    reused: bool = False  # this load took it from the cache unchanged

    @property
    def failed(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)


def _failure_diagnostic(failure: ReadFailure) -> Diagnostic:
    return Diagnostic("error", Position(failure.path or "."), "", failure.render())


def _file_error(name: str, e: ParseError) -> Diagnostic:
    return Diagnostic("error", Position(name, e.line, e.column, e.document), "", e.message)


class FolderLoader:
    """Loads a desired folder again and again, parsing only the files that changed."""

    def __init__(self, root: Path, limits: Limits | None = None,
                 decrypt: Decrypt | None = None, checks: SiteChecks | None = None,
                 whole: bool = True) -> None:
        self.root = Path(root)
        # Whether the files are the whole desired set: then what no file declares is missing.
        self.whole = whole
        self.limits = limits or Limits()
        self.decrypt = decrypt
        self.checks = checks or SiteChecks()
        self._cache: dict[str, _Entry] = {}
        self._last: LoadResult | None = None
        self._last_problems: list[Diagnostic] = []
        self._reread = False  # forget_stats: the next load trusts no stat

    def forget_stats(self) -> None:
        """The next load reads and hashes every file, not trusting unchanged stats (a
        file's content is parsed again only when its hash changed)."""
        self._reread = True

    def load(self) -> LoadResult:
        """Objects, diagnostics, failed files and unreadable paths of the folder as it is now.

        `root` may be reassigned between loads (a git snapshot per commit): the cache
        is by display name and content hash, so unchanged files are still not parsed.
        """
        found = _discover(self.root, "")
        result = self.load_files(found.files, found.problems, found.failures)
        result.device = found.device  # set on a result reused unchanged too
        return result

    def load_files(self, files: list[_File], problems: Iterable[Diagnostic] = (),
                   failures: Iterable[ReadFailure] = ()) -> LoadResult:
        """Like `load`, over given (display name, path, stat or None) files."""
        entries: list[tuple[str, str, _Entry]] = []
        fresh: dict[str, _Entry] = {}
        unreadable = list(failures)
        unchanged = True
        reread, self._reread = self._reread, False
        for name, path, st in files:
            cached = self._cache.get(name)
            entry = self._entry(name, path, st, cached, reread)
            if isinstance(entry, ReadFailure):
                unreadable.append(entry)
                continue
            fresh[name] = entry
            entries.append((name, path, entry))
            unchanged = unchanged and entry is cached and entry.reused
        problems = [*problems, *(_failure_diagnostic(f) for f in unreadable)]
        # Nothing changed: the cross-file rules would find what they found last time.
        if (unchanged and self._last is not None and fresh.keys() == self._cache.keys()
                and problems == self._last_problems):
            return self._last
        self._cache = fresh
        self._last_problems = problems
        self._last = self._combine(entries, problems)
        self._last.unreadable = tuple(unreadable)
        self._last.files = len(entries)
        return self._last

    def _entry(self, name: str, path: str, st: os.stat_result | None,
               cached: _Entry | None, reread: bool = False) -> _Entry | ReadFailure:
        if cached is not None:
            cached.reused = False
        try:
            st = st or os.stat(path)
        except FileNotFoundError as e:
            # Listed, then gone: removed, or replaced mid-way. Only a later listing says which.
            return _failure(name, e, "vanished after it was listed: ")
        except OSError as e:
            return _failure(name, e)
        if (cached is not None and cached.settled and not reread and cached.size == st.st_size
                and cached.mtime_ns == st.st_mtime_ns):
            cached.reused = True
            return cached
        settled = time.time_ns() - st.st_mtime_ns > _SETTLE_NS
        what = special_type(st.st_mode)
        if what:
            return _Entry(st.st_size, st.st_mtime_ns, "", settled,
                          diagnostics=[skipped(name, what)])
        if st.st_size > self.limits.max_file_bytes:
            return _Entry(st.st_size, st.st_mtime_ns, "", settled, diagnostics=[Diagnostic(
                "error", Position(name), "",
                f"file is too large: {st.st_size} bytes (limit {self.limits.max_file_bytes})")])
        try:
            data = read_regular(path, self.limits.max_file_bytes)
        except SpecialFile as e:  # replaced by a fifo or device since the stat
            return _Entry(st.st_size, st.st_mtime_ns, "", False,
                          diagnostics=[skipped(name, e.what)])
        except FileNotFoundError as e:
            return _failure(name, e, "vanished after it was listed: ")
        except OSError as e:
            return _failure(name, e)
        digest = hashlib.sha256(data).hexdigest()
        if cached is not None and cached.digest == digest:
            cached.size, cached.mtime_ns, cached.settled = st.st_size, st.st_mtime_ns, settled
            cached.reused = True
            return cached
        entry = _Entry(st.st_size, st.st_mtime_ns, digest, settled)
        self._validate(name, data, entry)
        return entry

    def _validate(self, name: str, data: bytes, entry: _Entry) -> None:
        if name.rsplit("/", 1)[-1] in KUSTOMIZATION_FILES:
            # Not a manifest: refusing it would fail a whole git revision over a file that
            # `kubectl apply -f` users commit beside their manifests. Never silent either.
            entry.diagnostics.append(Diagnostic("warning", Position(name), "", KUSTOMIZATION))
            return
        try:
            parsed = parse_file(data, name, self.limits)
        except ParseError as e:
            entry.diagnostics.append(_file_error(name, e))
            return
        except Exception as e:  # a parser bug must fail this file only, with its words
            entry.diagnostics.append(Diagnostic("error", Position(name), "",
                                                internal_message("parsing", e)))
            return
        node_of = json_node_of(parsed.text) if name.endswith(".json") else (lambda d: d.node)
        validator = DocumentValidator(name, node_of)
        for doc in parsed.documents:
            try:
                if _sops(doc.value) and not self._decrypted(name, doc, entry):
                    continue
                result = validator.validate(doc)
            except Exception as e:  # a bug must not take the service down: report it
                entry.diagnostics.append(Diagnostic(
                    "error", Position(name, doc.line, doc.column, doc.index), "",
                    internal_message("document validation", e)))
                continue
            entry.objects += result.objects
            entry.diagnostics += result.diagnostics

    def _decrypted(self, name: str, doc: Document, entry: _Entry) -> bool:
        """Open a SOPS document in place with the `decrypt` hook; False (and an error) if not.

        The plaintext stays in memory (this loader's cache of the file's objects).
        """
        try:
            if self.decrypt is None:
                raise ValueError("SOPS-encrypted, and no age key is configured "
                                 "(secrets.sops_age_key_file)")
            doc.value = self.decrypt(doc.value)
            return True
        except ValueError as e:  # sources.sops.SopsError; its messages name no value
            entry.diagnostics.append(Diagnostic(
                "error", Position(name, doc.line, doc.column, doc.index), "",
                f"cannot decrypt this SOPS document: {e}"))
            return False

    def _position(self, path: str, entry: _Entry, located: Located,
                  field_path: tuple[str | int, ...]) -> Position:
        obj = located.obj
        key = (obj.position.document, (*located.prefix, *field_path))
        if key not in entry.positions:
            try:
                nodes = compose_documents(decode(read_regular(path, self.limits.max_file_bytes),
                                                 self.limits))
                # Null documents were skipped when parsing, but they still count in the index.
                node = nodes[obj.position.document] if obj.position.document < len(nodes) else None
                entry.positions[key] = locate(node, key[1]) if node is not None else (
                    obj.position.line, obj.position.column)
            except (OSError, ParseError, yaml.YAMLError):  # changed since: the document's start
                entry.positions[key] = (obj.position.line, obj.position.column)
        line, column = entry.positions[key]
        return Position(obj.position.file, line, column, obj.position.document)

    def _combine(self, entries: list[tuple[str, str, _Entry]],
                 problems: list[Diagnostic]) -> LoadResult:
        diagnostics = list(problems)
        failed = {d.position.file for d in problems if d.severity == "error"}
        where: dict[int, tuple[str, _Entry, Located]] = {}
        candidates = []
        for name, path, entry in entries:
            diagnostics += entry.diagnostics
            if entry.failed:
                failed.add(name)
                continue
            for located in entry.objects:
                where[id(located.obj)] = (path, entry, located)
                candidates.append(located.obj)
        try:
            findings = check_all(candidates, self.whole) + check_site(candidates, self.checks)
        except Exception as e:  # each rule is guarded per object; this is the last resort
            findings = []
            diagnostics.append(Diagnostic("error", Position("."), "",
                                          internal_message("cross-file checks", e)))
        for finding in findings:
            path, entry, located = where[id(finding.obj)]
            position = self._position(path, entry, located, finding.path)
            diagnostics.append(Diagnostic("error" if finding.severity == "error" else "warning",
                                          position, path_text((*located.prefix, *finding.path)),
                                          finding.message))
            if finding.severity == "error":
                failed.add(finding.obj.position.file)
        objects = [o for o in candidates if o.position.file not in failed]
        diagnostics.sort(key=lambda d: (d.position.file, d.position.document, d.position.line,
                                        d.position.column))
        return LoadResult(objects, diagnostics, frozenset(failed))


def load_folder(root: Path, *, limits: Limits | None = None,
                decrypt: Decrypt | None = None) -> LoadResult:
    """Load and validate every manifest under `root`; positions are relative to it."""
    return FolderLoader(root, limits, decrypt).load()


def _display(path: Path, given: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix() if path.is_absolute() \
            else given.as_posix()
    except ValueError:
        return given.as_posix()


def load_paths(root: Path, paths: Iterable[Path], *, limits: Limits | None = None,
               decrypt: Decrypt | None = None, checks: SiteChecks | None = None) -> LoadResult:
    """Load named files and folders (any file named explicitly is read, whatever its suffix).

    Relative paths are taken from `root` and shown as given; absolute ones are
    shown relative to `root` when inside it. Named files are not the whole desired
    set: what none of them declares (a Service's pods, a claim) is not reported missing.
    """
    root = Path(root)
    paths = list(paths)
    files: list[_File] = []
    problems: list[Diagnostic] = []
    failures: list[ReadFailure] = []
    for given in paths:
        given = Path(given)
        path = given if given.is_absolute() else root / given
        shown = _display(path, given, root)
        if path.is_dir():
            found, refused, unread, _ = _discover(path, "" if shown == "." else shown)
            files += found
            problems += refused
            failures += unread
        elif path.exists():
            files.append((shown, str(path), None))
        else:
            problems.append(Diagnostic("error", Position(shown), "", "no such file or folder"))
    seen: set[str] = set()
    unique: list[_File] = []
    for file in files:
        if file[0] not in seen:
            seen.add(file[0])
            unique.append(file)
    whole = all((Path(p) if Path(p).is_absolute() else root / p).is_dir() for p in paths)
    return FolderLoader(root, limits, decrypt, checks, whole).load_files(unique, problems,
                                                                          failures)
