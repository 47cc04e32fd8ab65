"""A Deployment's revisions for `rollout history` and `rollout undo`: git log joined with the store.

Part of the CLI (`reconciler.cli.rollout`). Two sources, joined by pod
template: the git history of the manifest file (`git log` of that file, each
commit's template read with `git show SHA:PATH`, hashed with the controller's
own `pod_template_hash`), and the ReplicaSets the controller recorded (their
`deployment.kubernetes.io/revision` numbers, as kubectl numbers revisions).
When the store has the Deployment's ReplicaSets, their numbers are the
revisions and git tells which commit introduced each template; without them
(store absent, service not run yet) the numbers are counted from git the way
the controller counts: a template seen again takes the next number.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from reconciler.api.defaults import apply_defaults
from reconciler.api.types import JSON, Key
from reconciler.planning import deployment as plan
from reconciler.store.reader import ReadStore
from reconciler.views.deployments import replica_sets


@dataclass(frozen=True)
class Commit:
    """A commit of the manifest file that changed the Deployment's pod template."""

    sha: str
    subject: str
    template: JSON  # as written in that commit
    defaulted: JSON  # as the store holds it, which the controller hashes


@dataclass(frozen=True)
class Revision:
    """One revision: its number, template, ReplicaSet (if recorded) and where it came from."""

    number: int
    template: JSON  # what undo writes: as a commit wrote it, else the ReplicaSet's, no hash label
    defaulted: JSON  # for comparisons: the template with the API's defaults filled in
    replica_set: str = ""
    source: str = ""  # short git SHA, or "folder:<content hash>"
    cause: str = ""  # kubernetes.io/change-cause, else the commit subject

    @property
    def hash(self) -> str:
        return plan.pod_template_hash(self.defaulted)


def defaulted(template: JSON) -> JSON:
    """The template as the loader stores it (the API server's defaults), so hashes compare."""
    body = apply_defaults({"kind": "Deployment", "metadata": {}, "spec": {"template": template}})
    result: JSON = body["spec"]["template"]
    return result


def _git(cwd: Path, *args: str) -> str | None:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False,
                          env={**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"})
    return done.stdout if done.returncode == 0 else None


def _template_in(text: str, key: Key) -> JSON | None:
    """The pod template of `key` in a manifest text, or None (absent, unparsable)."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    except yaml.YAMLError:
        return None
    items = [i for d in docs for i in (d.get("items") if d.get("kind") == "List" else [d]) or []]
    for d in items:
        meta = d.get("metadata") or {}
        if (d.get("kind") == key.kind and meta.get("name") == key.name
                and (meta.get("namespace") or "default") == key.namespace):
            template = (d.get("spec") or {}).get("template")
            return template if isinstance(template, dict) else None
    return None


def git_commits(path: Path, key: Key) -> list[Commit]:
    """The commits (oldest first) of `path` where the object's pod template changed."""
    folder = path.parent
    top = _git(folder, "rev-parse", "--show-toplevel")
    if top is None:
        return []
    root = Path(top.strip()).resolve()
    rel = path.resolve().relative_to(root).as_posix()
    log = _git(root, "log", "--reverse", "--format=%H%x00%s", "--", rel)
    out: list[Commit] = []
    for line in (log or "").splitlines():
        sha, _, subject = line.partition("\0")
        text = _git(root, "show", f"{sha}:{rel}")
        template = _template_in(text, key) if text is not None else None
        if template is None:
            continue
        full = defaulted(template)
        if not out or not plan.equal_ignore_hash(out[-1].defaulted, full):
            out.append(Commit(sha, subject, template, full))
    return out


def _introduced_by(commits: list[Commit], template: JSON) -> Commit | None:
    """The last commit that turned the template into this one."""
    found = [c for c in commits if plan.equal_ignore_hash(c.defaulted, template)]
    return found[-1] if found else None


def _subject(path: Path, sha: str) -> str:
    return (_git(path.parent, "log", "-1", "--format=%s", sha, "--") or "").strip()


def revisions(store: ReadStore | None, key: Key, path: Path | None) -> list[Revision]:
    """The Deployment's revisions, oldest first (see the module docstring for the sources)."""
    commits = git_commits(path, key) if path is not None else []
    deployment = store.get_object(key) if store is not None else None
    owned = replica_sets(store, deployment) if store is not None and deployment else []
    if not owned:
        return _counted(commits)
    out = []
    for rs in owned:
        template = full = plan.without_hash((rs.body.get("spec") or {}).get("template") or {})
        notes = (rs.body.get("metadata") or {}).get("annotations") or {}
        commit = _introduced_by(commits, template)
        if commit is not None:
            # The template exactly as the user wrote it: an undo then hashes the same.
            source, subject, template = commit.sha[:12], commit.subject, commit.template
        else:
            sha = notes.get(plan.SOURCE_REVISION, "")
            if sha and sha != "folder":
                source = sha[:12]
                subject = _subject(path, sha) if path is not None else ""
            else:
                source, subject = f"folder:{notes.get(plan.SOURCE_HASH, '')[:12]}", ""
        out.append(Revision(plan.revision_of(rs.body), template, full, rs.key.name, source,
                            notes.get(plan.CHANGE_CAUSE) or subject))
    return out


def _counted(commits: list[Commit]) -> list[Revision]:
    """Revisions from git alone, numbered as the controller would had it seen each commit."""
    latest: dict[str, tuple[int, Commit]] = {}
    for n, c in enumerate(commits, start=1):
        latest[plan.pod_template_hash(c.defaulted)] = (n, c)
    ordered = sorted(latest.values(), key=lambda nc: nc[0])
    return [Revision(n, c.template, c.defaulted, "", c.sha[:12], c.subject)
            for n, c in ordered]
