"""Reaching into a running pod: find its containers by label, exec in them, read their logs.

Used by `NodeAgent` (agent.py) and by the CLI's `logs` and `exec` (cli/podio.py),
which need no prober or sync machinery: only the host's `Engine`. Containers are
found by the pod uid label alone, which is unique whatever the name prefix.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from reconciler.runtime import naming
from reconciler.runtime.engine import Engine
from reconciler.runtime.types import ExecResult


class PodAccess:
    """Container lookup, exec and logs on one host."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _entries(self, labels: list[str]) -> list[dict[str, Any]]:
        found = self.engine.call(self.engine.api.containers, all=True,
                                 filters={"label": labels})
        return list(found)

    def find_pod_uid(self, namespace: str, name: str) -> str | None:
        """The uid of the newest pod of that name on this host, from the labels alone."""
        entries = self._entries([f"{naming.POD_NAME}={name}",
                                 f"{naming.POD_NAMESPACE}={namespace}"])
        if not entries:
            return None
        newest = max(entries, key=lambda e: int(e.get("Created", 0)))
        return str((newest.get("Labels") or {})[naming.POD_UID])

    def containers(self, uid: str, init: bool = True) -> list[str]:
        """Names of the pod's containers in creation order (spec order), not the infra;
        init containers first unless `init` is False."""
        entries = sorted(self._entries([f"{naming.POD_UID}={uid}"]),
                         key=lambda e: int(e.get("Created", 0)))
        names: list[str] = []
        for e in entries:
            labels = e.get("Labels") or {}
            name = labels.get(naming.CONTAINER, "")
            if not init and labels.get(naming.INIT) == "true":
                continue
            if name and name != naming.INFRA and name not in names:
                names.append(name)
        return names

    def container_id(self, uid: str, container: str, previous: bool = False) -> str:
        """The Docker id of a pod's container (its previous instance with `previous`)."""
        entries = self._entries([f"{naming.POD_UID}={uid}", f"{naming.CONTAINER}={container}"])
        entries.sort(key=lambda e: int((e.get("Labels") or {}).get(naming.RESTART, "0")))
        if len(entries) < (2 if previous else 1):
            what = "previous terminated container" if previous else "container"
            raise LookupError(f'{what} "{container}" in pod {uid} not found')
        return str(entries[-2 if previous else -1]["Id"])

    def exec(self, uid: str, container: str, cmd: list[str], tty: bool = False,
             stdin: bool = False) -> ExecResult:
        """Run `cmd` to completion; its exit code and combined output."""
        cid = self.container_id(uid, container)
        api = self.engine.api
        exec_id = self.engine.call(api.exec_create, cid, cmd, tty=tty, stdin=stdin)["Id"]
        output = self.engine.call(api.exec_start, exec_id, tty=tty)
        code = self.engine.call(api.exec_inspect, exec_id).get("ExitCode")
        return ExecResult(int(code if code is not None else -1), bytes(output))

    def logs(self, uid: str, container: str, follow: bool = False, tail: int | None = None,
             previous: bool = False, since: int | None = None,
             timestamps: bool = False) -> Iterator[bytes]:
        """The container's output as Docker keeps it locally; streamed until it ends when
        `follow` (on a client without a read timeout). `since`: a Unix time."""
        chunks, _ = self.open_logs(uid, container, follow=follow, tail=tail, previous=previous,
                                   since=since, timestamps=timestamps)
        return chunks

    def open_logs(self, uid: str, container: str, *, follow: bool = False,
                  tail: int | None = None, previous: bool = False, since: int | None = None,
                  timestamps: bool = False) -> tuple[Iterator[bytes], Callable[[], None]]:
        """`logs`, and the call that closes the stream (and a follow's own client): a
        server ending a follow early (its client left) ends the blocking read with it."""
        cid = self.container_id(uid, container, previous=previous)
        client = self.engine.streaming_client() if follow else self.engine.client
        try:
            stream = client.api.logs(cid, stream=True, follow=follow, since=since,
                                     timestamps=timestamps,
                                     tail=tail if tail is not None else "all")
        except BaseException:
            if follow:
                client.close()
            raise

        def close() -> None:
            for each in (stream, client) if follow else (stream,):
                with contextlib.suppress(Exception):
                    each.close()

        return iter(stream), close
