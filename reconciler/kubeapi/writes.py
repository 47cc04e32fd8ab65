"""POST, PUT, PATCH and DELETE of the Kubernetes API, turned into changes of the desired source.

The write half of issue 22, gathered by `app.create_app` (`routes(ctx)`) on the
same paths as the reads. A write never touches the store's objects: the object
as served (objects.py), with the changes its manifest has had since the store
applied it, is patched (patch.py), the difference is carried over to the manifest
as written (changes.py, docedit.py) and the file is written or committed
(sourcewrite.py); the service then converges from it as from any edit. A write
carrying a resourceVersion from before the object's last change is a 409 Conflict
(versions.py).
The answer comes once the service has applied the change to the store (up to
APPLY_WAIT), so a read right after it shows the change; it is the object as it
will be once converged. `?dryRun=All` answers the
same and writes nothing. Deleting a pod keeps `reconciler delete pod`'s meaning
(marked in the store; its controller or manifest brings it back), and so does
deleting a claim no manifest declares (a StatefulSet's); any other delete
removes the object's document (and its file when it was the last).

Refused with a Status saying why: a read-only server (`reconciler api`), status
writes, server-side apply, kinds with no manifest (events), and objects no
manifest declares (a ReplicaSet's pods: change the owner's manifest instead).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reconciler.api.manifest_edit import EditError
from reconciler.api.types import Key
from reconciler.kubeapi import changes, docedit, objects, status
from reconciler.kubeapi.app import RESOURCE_PATHS, Target, target
from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.patch import PatchError, json_patch, merge_patch, strategic_merge
from reconciler.kubeapi.resources import Resource
from reconciler.kubeapi.sourcewrite import (
    Change,
    FolderWriter,
    GitWriter,
    Session,
    SourceConflict,
    SourceWriteError,
    writer_for,
)
from reconciler.kubeapi.validation import check, located, verdict
from reconciler.kubeapi.versions import versions_for
from reconciler.sources.trigger import request_sync as signal_local

if TYPE_CHECKING:
    from reconciler.store import Store
    from reconciler.store.reader import ReadStore

log = logging.getLogger(__name__)
JSON = Any
NOT_WRITABLE = ("Event", "ComponentStatus")
# How long a write waits for the service to apply it before answering (the folder's watch
# takes about a second, a commit the fetch the write asks for: a few), and how often it looks.
APPLY_WAIT = 15.0
APPLY_POLL = 0.2


@dataclass(frozen=True)
class WriteRequest:
    """What one write asks: the target, the method, the body, and who asks."""

    t: Target
    method: str
    body: bytes
    content_type: str
    dry_run: bool
    client: str  # "kubectl scale kubectl/v1.32.3 (linux/amd64) ...": command and User-Agent


def routes(ctx: ApiContext) -> list[BaseRoute]:
    """POST on collections; PUT, PATCH and DELETE on objects and their subresources."""
    writes = Writes(ctx)
    found: list[BaseRoute] = []
    for path in RESOURCE_PATHS:
        if "{name}" in path:
            found.append(Route(path, writes.handle, methods=["PUT", "PATCH", "DELETE"]))
        else:
            found.append(Route(path, writes.handle, methods=["POST"]))
    return found


class Writes:
    """The handlers, with the writer of the context's source."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        git = ctx.git
        work = Path(f"{git.checkout_dir}.kubeapi.git") if git and git.checkout_dir else None
        self.writer = writer_for(ctx.desired, git.url if git else None,
                                 git.branch if git else "main", work)
        # Opening a PostgreSQL store costs a new engine (~0.1 s), and a write waiting to
        # be applied reads up to APPLY_WAIT / APPLY_POLL times: one serves every read.
        self._keep_store = "://" in ctx.state and not ctx.state.startswith("sqlite")
        self._kept: ReadStore | None = None
        self._kept_lock = threading.Lock()

    @contextmanager
    def _reading(self) -> Iterator[ReadStore]:
        """The store to read, for one use: the kept one (PostgreSQL), else a new reader."""
        if not self._keep_store:
            store = self.ctx.open_store()
            try:
                yield store
            finally:
                store.close()
            return
        with self._kept_lock:
            if self._kept is None:
                self._kept = self.ctx.open_store()
            store = self._kept
        try:
            yield store
        except Exception:  # perhaps a broken connection: a new store next time
            with self._kept_lock:
                if self._kept is store:
                    self._kept = None
            with suppress(Exception):
                store.close()
            raise

    def close(self) -> None:
        """Close the kept store, if any."""
        with self._kept_lock:
            kept, self._kept = self._kept, None
        if kept is not None:
            kept.close()

    async def handle(self, request: Request) -> Response:
        t = target(request)
        if isinstance(t, Response):
            return t
        if self.ctx.read_only:
            return status.method_not_allowed(
                "this API server is read-only: change the desired folder or git instead")
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if "protobuf" in content_type or "cbor" in content_type:
            # kubectl's generators (`create configmap NAME`) send typed protobuf, which this
            # server does not decode; `create -f`, apply, patch, edit and scale send JSON.
            return status.status_response(
                415, "UnsupportedMediaType",
                f"this server reads JSON bodies, not {content_type}: use `kubectl create "
                "... --dry-run=client -o yaml | kubectl apply -f -`, or `kubectl create -f`")
        q = request.query_params
        # The commit (or log line) names the client: kubectl's command and its User-Agent.
        client = " ".join(filter(None, (request.headers.get("kubectl-command"),
                                        request.headers.get("user-agent"))))
        user = request.scope.get("state", {}).get("user", "")  # who auth.py let in
        if user and user != "anonymous":
            client = f"{client} (user {user})"
        req = WriteRequest(t, request.method, await request.body(), content_type,
                           "All" in q.getlist("dryRun"), client or "an API client")
        return await run_in_threadpool(self.write, req)

    def write(self, req: WriteRequest) -> Response:
        t = req.t
        if t.resource.kind in NOT_WRITABLE:
            return status.method_not_allowed(
                f"{t.resource.plural} are not declared in manifests: they cannot be written")
        if t.subresource == "status":
            return status.method_not_allowed(
                f"{t.resource.plural}/status is written by reconciler's controllers only")
        if t.subresource not in (None, "scale"):
            return status.method_not_allowed(f"{t.resource.plural}/{t.subresource} cannot "
                                             "be written")
        if self.writer is None:
            return status.method_not_allowed("this server does not know the desired source")
        try:
            if req.method == "POST":
                return self._create(req)
            if req.method == "DELETE":
                return self._delete(req)
            return self._update(req)
        except SourceConflict as exc:
            return status.status_response(409, "Conflict", str(exc))
        except SourceWriteError as exc:
            return status.status_response(500, "InternalError", str(exc))
        except (PatchError, EditError, ValueError, yaml.YAMLError) as exc:
            return status.bad_request(str(exc))

    # -- create ---------------------------------------------------------------------------

    def _create(self, req: WriteRequest) -> Response:
        t = req.t
        body = _body(req)
        if not isinstance(body, dict):
            return status.bad_request("the body of a create is one object")
        meta = body.setdefault("metadata", {})
        name = meta.get("name")
        if not name:
            return status.invalid(t.resource, "", [{"type": "FieldValueRequired",
                                                    "field": "metadata.name",
                                                    "message": "Required value"}])
        if body.get("kind") != t.resource.kind:
            return status.bad_request(f'the body is a {body.get("kind")}, the path names '
                                      f"{t.resource.plural}")
        namespace = (t.namespace or meta.get("namespace") or "default") \
            if t.resource.namespaced else None
        if namespace:
            meta["namespace"] = namespace
        if objects.get_object(self.ctx, t.resource, namespace, name) is not None:
            return status.status_response(409, "AlreadyExists", f'{_qualified(t.resource)} '
                                          f'"{name}" already exists',
                                          status.object_details(t.resource, name))
        manifest = changes.strip(body)
        with self._session() as s:
            if s.locate(t.resource.kind, namespace or "", name) is not None:
                return status.status_response(409, "AlreadyExists", f'{_qualified(t.resource)} '
                                              f'"{name}" is already declared',
                                              status.object_details(t.resource, name))
            rel = changes.new_file(t.resource.kind, namespace, name)
            current = s.read(rel)
            text = docedit.dump(manifest)
            text = text if current is None else current.rstrip("\n") + "\n---\n" + text
            note = self._validate(t.resource, name, rel, text, req.dry_run)
            if isinstance(note, Response):
                return note
            if not req.dry_run:
                self._write(s, req, Change(rel, text), "create", namespace, name)
        served = {**manifest, "metadata": {**manifest["metadata"],
                                           "creationTimestamp": _now()}}
        late = "" if req.dry_run else self._applied(Key(t.resource.kind, namespace or "", name),
                                                    rel, text)
        return JSONResponse(served, status_code=201, headers=_warning(note) or _late(late))

    # -- update (PUT, PATCH, scale) --------------------------------------------------------

    def _update(self, req: WriteRequest) -> Response:
        t = req.t
        assert t.name is not None
        served = objects.get_object(self.ctx, t.resource, t.namespace, t.name)
        if served is None:
            return status.not_found(t.resource, t.name)
        namespace = t.namespace or ""
        with self._session() as s:
            found = s.locate(t.resource.kind, namespace, t.name)
            if found is None:
                return _no_manifest(t, served)
            rel, text = found
            manifest = docedit.parse_object(text, t.resource.kind, namespace, t.name)
            if "sops" in manifest:
                return _encrypted(rel)
            # The change is made to the object as its manifest now declares it, not as the
            # store last applied it: a second write before the service has applied the
            # first (`label color-` right after `label color=blue`) builds on the first.
            base, pending = self._as_declared(t.resource, namespace, t.name, served, rel, text)
            # Patched without its resourceVersion: `sent` then names one only when the
            # client did (a patch of the served object would otherwise always carry it).
            changed = self._changed(req, _unversioned(base))
            if isinstance(changed, Response):
                return changed
            after, sent = changed
            refused = self._stale(t, served, sent, pending)
            if refused is not None:
                return refused
            delta = changes.diff(changes.strip(base), changes.strip(after))
            wanted = changes.carry(manifest, delta, changes.strip(after))
            new_text = docedit.edit_object(text, t.resource.kind, namespace, t.name, wanted)
            note = self._validate(t.resource, t.name, rel, new_text, req.dry_run)
            if isinstance(note, Response):
                return note
            written = new_text != text and not req.dry_run
            if written:
                verb = "scale" if t.subresource == "scale" else req.method.lower()
                self._write(s, req, Change(rel, new_text), verb, t.namespace, t.name)
        result = {k: v for k, v in after.items() if k != "status"}
        result["metadata"] = {**after["metadata"],
                              "resourceVersion": served["metadata"].get("resourceVersion")}
        if "status" in served:
            result["status"] = served["status"]
        body = objects.scale_of(result) if t.subresource == "scale" else result
        if req.dry_run:
            return JSONResponse(body, headers=_warning(note if new_text != text else
                                                       "unchanged"))
        late = self._applied(Key(t.resource.kind, namespace, t.name), rel, new_text) \
            if written else ""
        return JSONResponse(body, headers=_late(late))

    def _changed(self, req: WriteRequest, served: JSON) -> tuple[JSON, JSON] | Response:
        """The object once the client's change is made to `served`, and what the client
        wrote (the object, or its Scale); a 400 when that is no change of this object."""
        t = req.t
        if t.subresource == "scale":
            sent = self._patched(req, objects.scale_of(served), "Scale")
            after = json.loads(json.dumps(served))
            replicas = (sent.get("spec") or {}).get("replicas") \
                if isinstance(sent, dict) else None
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                return status.bad_request("a Scale needs spec.replicas, a whole number >= 0")
            after.setdefault("spec", {})["replicas"] = replicas
        else:
            after = sent = self._patched(req, served, t.resource.kind)
        if not isinstance(after, dict) or not isinstance(after.get("metadata"), dict):
            return status.bad_request("the object written is not an object with metadata")
        if after["metadata"].get("name") != t.name:
            return status.bad_request("the name of an object cannot be changed")
        # Else the declaring document would be rewritten as another object (and the
        # declared one deleted), where Kubernetes answers 400.
        if after.get("kind", t.resource.kind) != t.resource.kind:
            return status.bad_request("the kind of an object cannot be changed")
        if t.resource.namespaced and after["metadata"].get("namespace", t.namespace) != (
                t.namespace):
            return status.bad_request("the namespace of an object cannot be changed")
        return after, sent

    def _stale(self, t: Target, served: JSON, sent: JSON, pending: bool) -> Response | None:
        """A 409 Conflict when the client wrote against an older version of the object
        than the one served (versions.py), as Kubernetes answers; None otherwise.

        While the manifest has changes the store has not applied (`pending`), the object
        served (and its version) is older than the one declared: a client naming a
        version read the object without them, and its object, carried over onto the
        declared one, would undo them. Refused too, as Kubernetes refuses a write against
        an object changed since it was read.
        """
        asked = ((sent.get("metadata") if isinstance(sent, dict) else None) or {}).get(
            "resourceVersion")
        if asked in (None, ""):
            return None
        if pending:
            return _conflict(t, "its manifest has changes the service has not applied yet; "
                             "read it again once it has")
        try:
            version = int(str(asked))
        except ValueError:
            version = -1
        # Asked even when `asked` is the version served: the watch hub may have given that
        # number out with another content (versions.py).
        known = versions_for(self.ctx.state, self.ctx.show_secret_data, str(self.ctx.key_file))
        if not known.changed_after((t.resource.kind, t.namespace or "", t.name or ""),
                                   version, int(served["metadata"]["resourceVersion"])):
            return None
        return _conflict(t, "please apply your changes to the latest version and try again")

    def _as_declared(self, resource: Resource, namespace: str, name: str, served: JSON,
                     rel: str, text: str) -> tuple[JSON, bool]:
        """`served` with the changes its manifest has had since the store last applied it
        (a write not applied yet by the service, or an edit of the file or branch), and
        whether there were any."""
        if resource.kind == "Secret":  # sealed in the store: nothing to compare it with
            return served, False
        key = Key(resource.kind, namespace, name)
        declared = next((o for o in check(rel, text).objects if o.key == key), None)
        if declared is None:
            return served, False
        with self._reading() as store:
            applied = store.get_object(key)
        if applied is None or applied.content_hash == declared.content_hash:
            return served, False
        return changes.carry(served, changes.diff(applied.body, declared.body),
                             declared.body), True

    def _patched(self, req: WriteRequest, served: JSON, kind: str) -> JSON:
        body = _body(req)
        if req.method == "PUT":
            return body
        config = changes.applied_config(body)
        if config is not None and kind != "Scale":
            # `kubectl apply`: the file applied is the truth, removals included.
            return {**config, "metadata": {**served["metadata"], **config.get("metadata", {})}}
        if req.content_type == "application/json-patch+json":
            return json_patch(served, body)
        if req.content_type == "application/merge-patch+json":
            return merge_patch(served, body)
        if req.content_type == "application/strategic-merge-patch+json":
            return strategic_merge(served, body, kind)
        raise ValueError(f"unsupported patch type {req.content_type or '(none)'}: server-side "
                         "apply is not served (use kubectl apply without --server-side)")

    # -- delete ---------------------------------------------------------------------------

    def _delete(self, req: WriteRequest) -> Response:
        t = req.t
        assert t.name is not None
        served = objects.get_object(self.ctx, t.resource, t.namespace, t.name)
        if t.resource.kind == "Pod":
            return self._delete_pod(req, served)
        namespace = t.namespace or ""
        with self._session() as s:
            found = s.locate(t.resource.kind, namespace, t.name)
            if found is None and served is not None and t.resource.kind == \
                    "PersistentVolumeClaim":
                return self._delete_claim(req, served)
            if found is None:
                return _no_manifest(t, served) if served is not None else \
                    status.not_found(t.resource, t.name)
            rel, text = found
            if "sops" in docedit.parse_object(text, t.resource.kind, namespace, t.name):
                return _encrypted(rel)
            rest = docedit.remove_object(text, t.resource.kind, namespace, t.name)
            if not req.dry_run:
                self._write(s, req, Change(rel, rest), "delete", t.namespace, t.name)
        where = f"{t.namespace}/" if t.namespace else ""
        if req.dry_run:
            return JSONResponse(_success(t, served), headers=_warning(
                f"delete {t.resource.kind}/{where}{t.name}"))
        late = self._applied(Key(t.resource.kind, namespace, t.name), rel, None)
        return JSONResponse(_success(t, served), headers=_late(late))

    def _delete_pod(self, req: WriteRequest, served: JSON | None) -> Response:
        t = req.t
        assert t.name is not None
        if served is None:
            return status.not_found(t.resource, t.name)
        if not req.dry_run:
            # `reconciler delete pod`'s meaning: marked, and the controller does the rest.
            with _store(self.ctx) as store:
                pod = store.get_pod(t.namespace or "default", t.name)
                if pod is not None and pod.deletion_timestamp is None:
                    pod.deletion_timestamp = datetime.now(UTC)
                    store.patch_pod(pod, "deletion")
            self._nudge("delete")
        return JSONResponse(served)

    def _delete_claim(self, req: WriteRequest, served: JSON) -> Response:
        """A claim no manifest declares (a StatefulSet's): `reconciler delete pvc`'s meaning,
        it goes once no pod uses it."""
        t = req.t
        assert t.name is not None
        if not req.dry_run:
            with _store(self.ctx) as store:
                claim = store.get_claim(t.namespace or "default", t.name)
                if claim is not None:
                    store.mark_claims_deleted([claim], datetime.now(UTC))
            self._nudge("delete")
        return JSONResponse(served)

    # -- helpers --------------------------------------------------------------------------

    def _session(self) -> AbstractContextManager[Session]:
        assert self.writer is not None
        return self.writer.session()

    def _validate(self, resource: Resource, name: str, rel: str, text: str,
                  dry_run: bool) -> Response | str:
        """A 422 when the file would not load; else the plan's verdict for a dry run ("")."""
        loaded = check(rel, text)
        if loaded.errors:
            return status.invalid(resource, name, [located(d) for d in loaded.errors])
        return verdict(self.ctx.state, loaded, resource.kind, name) if dry_run else ""

    def _write(self, s: Session, req: WriteRequest, change: Change, verb: str,
               namespace: str | None, name: str) -> None:
        done = s.write([change], _message(req, verb, namespace, name))
        log.info("kubeapi: %s %s/%s: %s", req.client, req.t.resource.plural, name, done)
        self._fetch_now()

    def _applied(self, key: Key, rel: str, text: str | None) -> str:
        """Wait until the service has applied the object's new document (`text`; None: its
        removal), so that a read right after the answer shows the write, as a Kubernetes
        read after a write does; "" once it has, else why the answer comes before.

        Waited for up to APPLY_WAIT, and only when the service follows this writer's source
        (a second API server writing a branch the service does not follow never waits).
        """
        if key.kind == "Secret":  # sealed in the store: its hash is not the manifest's
            return ""
        want = None
        if text is not None:
            declared = next((o for o in check(rel, text).objects if o.key == key), None)
            if declared is None:
                return ""
            want = declared.content_hash
        deadline = time.monotonic() + APPLY_WAIT
        while True:
            with self._reading() as store:
                if not self._followed(store):
                    return ""
                found = store.get_object(key)
            if (found.content_hash if found is not None else None) == want:
                return ""
            if time.monotonic() >= deadline:
                return (f"the service has not applied this change after {APPLY_WAIT:.0f} s "
                        "(its events and `reconciler get` say why); a get may show the old "
                        "object until it has")
            time.sleep(APPLY_POLL)

    def _followed(self, store: ReadStore) -> bool:
        """Whether the service applies this writer's source (folder, or a git branch)."""
        last = store.revisions(limit=1)
        folder = not last or last[0].revision.startswith("folder")  # "folder:<hash>"
        return folder == isinstance(self.writer, FolderWriter)

    def _fetch_now(self) -> None:
        # The folder's watch sees a written file by itself; a commit waits for the git
        # source's next fetch unless the service is asked now.
        if isinstance(self.writer, GitWriter):
            self._nudge("sync")

    def _nudge(self, kind: str) -> None:
        """Ask the active instance to look now (a git fetch, a pod marked), as the CLI does.

        Through a request row when an instance holds the lease, else by signal to a
        local service; a folder change is seen by the folder's watch anyway.
        """
        try:
            with _store(self.ctx) as store:
                if store.active_holder():
                    store.add_request(kind, f"kubeapi:{os.getpid()}")
                    return
            signal_local(self.ctx.state)
        except Exception as exc:  # the change is made; the service finds it on its next pass
            log.warning("kubeapi: asking the service to look now failed: %s", exc)


@contextmanager
def _store(ctx: ApiContext) -> Iterator[Store]:
    from reconciler.store import Store

    store = Store.open(ctx.state, create=False)
    try:
        yield store
    finally:
        store.close()


def _body(req: WriteRequest) -> JSON:
    data = yaml.safe_load(req.body.decode("utf-8")) if req.body else None
    if not isinstance(data, dict | list):
        raise ValueError("the request body is not a JSON object")
    return data


def _no_manifest(t: Target, served: JSON) -> Response:
    owners = served.get("metadata", {}).get("ownerReferences") or []
    why = (f"it is made by {owners[0]['kind']} {owners[0]['name']}: change that manifest"
           if owners else "it is not declared in the desired source")
    return status.method_not_allowed(f'{_qualified(t.resource)} "{t.name}" has no manifest to '
                                     f"change: {why}")


def _unversioned(obj: JSON) -> JSON:
    """`obj` without metadata.resourceVersion (a shallow copy)."""
    meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    return {**obj, "metadata": meta}


def _conflict(t: Target, why: str) -> Response:
    return status.status_response(
        409, "Conflict", f'Operation cannot be fulfilled on {_qualified(t.resource)} '
        f'"{t.name}": the object has been modified; {why}',
        status.object_details(t.resource, t.name or ""))


def _encrypted(rel: str) -> Response:
    # SOPS signs the whole file: any edit of ours would make it fail its MAC check.
    return status.method_not_allowed(f"{rel} is encrypted with SOPS: change it with sops")


def _qualified(resource: Resource) -> str:
    return f"{resource.plural}.{resource.group}" if resource.group else resource.plural


def _message(req: WriteRequest, verb: str, namespace: str | None, name: str) -> str:
    what = f"{req.t.resource.kind.lower()} {namespace + '/' if namespace else ''}{name}"
    return f"{verb} {what} through the Kubernetes API\n\nRequested by: {req.client}\n"


def _success(t: Target, served: JSON | None) -> JSON:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {**status.object_details(t.resource, t.name or ""),
                        "uid": (served or {}).get("metadata", {}).get("uid", "")}}


def _late(why: str) -> dict[str, str]:
    """A write answered before the service applied it: kubectl prints why."""
    return {"Warning": f'299 - "{why}"'} if why else {}


def _warning(verdict: str) -> dict[str, str]:
    """kubectl prints a `Warning` header as `Warning: <text>`: a dry run's plan verdict."""
    return {"Warning": f'299 - "plan: {verdict}"'} if verdict else {}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
