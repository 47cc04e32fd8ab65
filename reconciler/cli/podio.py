"""`reconciler logs` and `reconciler exec`: a pod's output and a command inside it, via its host.

Reads the pod and its node from the state store (`reconciler.store.reader`),
then finds the pod's containers by label on that node's engine
(runtime/access.py). When the store does not know the pod, the local engine is
searched by the pod's name and namespace labels. `exec -i/-t` hands the terminal
to the docker CLI (`docker -H URL exec -it ID ...`), which does tty handling
right; a plain `exec` runs through the SDK and exits with the command's code.
`logs -f` over several streams (-l, --all-containers) follows each in a thread of
its own and prints whole lines as they come, each prefixed [pod/NAME/CONTAINER],
at most --max-log-requests streams (kubectl's limit, 5 by default).
"""

from __future__ import annotations

import functools
import os
import queue
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import BinaryIO

import click

from reconciler.api.records import NodeRecord
from reconciler.cli.completion import complete_names
from reconciler.cli.engines import unreachable
from reconciler.cli.options import state_option
from reconciler.runtime.agent_node import local_url


def _local_node() -> NodeRecord:
    url = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return NodeRecord(name="local", engine_url=url, created_at=datetime.now(UTC), declared=False)


def _locate(state: str, namespace: str, name: str
            ) -> tuple[NodeRecord, str | None, list[str]]:
    """The pod's node, uid and spec container names from the store.

    (local engine, None, []) when the store has neither.
    """
    from reconciler.store import StoreMissing
    from reconciler.store.opener import open_reader

    try:
        store = open_reader(state)
    except StoreMissing:
        return _local_node(), None, []
    try:
        pod = store.get_pod(namespace, name)
        if pod is None or not pod.node_name:
            return _local_node(), None, []
        node = store.get_node(pod.node_name)
        order = [c.get("name", "") for c in pod.spec.get("containers", [])]
        return (node or _local_node()), pod.uid, order
    finally:
        store.close()


def _target(state: str, namespace: str, name: str, container: str | None, quiet: bool = False,
            ) -> tuple[NodeRecord, str, str, object]:
    """(node, pod uid, container name, PodAccess) of `name`, or a click error."""
    from reconciler.runtime.access import PodAccess
    from reconciler.runtime.engine import Engine
    from reconciler.runtime.types import HostUnreachable, RuntimeConfig

    node, uid, order = _locate(state, namespace, name)
    access = PodAccess(Engine(node, RuntimeConfig(api_timeout=30.0)))
    try:
        if uid is None:
            uid = access.find_pod_uid(namespace, name)
        if uid is None:
            raise click.ClickException(f'pods "{name}" not found in namespace {namespace}')
        names = access.containers(uid)
        apps = access.containers(uid, init=False)
        # kubectl's default is the first container of the spec, not Docker's newest.
        apps.sort(key=lambda c: order.index(c) if c in order else len(order))
    except HostUnreachable as e:
        raise click.ClickException(unreachable(node, e.reason)) from None
    if container is None:
        if not apps:
            raise click.ClickException(f'pod "{name}" has no containers yet')
        container = apps[0]
        if len(names) > 1 and not quiet:
            click.echo(f'Defaulted container "{container}" out of: {", ".join(names)}', err=True)
    elif container not in names:
        raise click.ClickException(
            f'container "{container}" is not valid for pod "{name}": {", ".join(names)}')
    return node, uid, container, access


def _since(text: str | None) -> int | None:
    """--since 10s|5m|1h as the Unix time logs start at."""
    if not text:
        return None
    from reconciler.service.config import parse_duration

    try:
        return int(time.time() - parse_duration(text))
    except ValueError as e:
        raise click.ClickException(f"--since: {e}") from None


def _selected_pods(state: str, namespace: str, selector: str) -> list[str]:
    from reconciler.cli.get import open_store, selector_predicate

    store = open_store(state)
    try:
        return [p.name for p in store.list_pods(namespace, selector_predicate(selector))]
    finally:
        store.close()


@click.command("logs")
@click.argument("pod", required=False, shell_complete=complete_names)
@click.option("-c", "--container", default=None, help="Container name (default: the first).")
@click.option("-f", "--follow", is_flag=True, help="Stream the logs.")
@click.option("--tail", type=int, default=None, help="Lines from the end to show.")
@click.option("-p", "--previous", is_flag=True, help="The previous instance's logs.")
@click.option("--since", default=None, help="Only lines newer than this (10s, 5m, 1h).")
@click.option("--timestamps", is_flag=True, help="Prefix each line with its RFC3339 time.")
@click.option("-l", "--selector", default=None, help="Logs of every pod matching this selector.")
@click.option("--all-containers", is_flag=True, help="Every container of the pod(s).")
@click.option("--prefix", is_flag=True, help="Prefix each line with [pod/NAME/CONTAINER].")
@click.option("--max-log-requests", type=click.IntRange(min=1), default=5, show_default=True,
              help="Streams -f follows at once, with -l or --all-containers.")
@click.option("-n", "--namespace", default="default", show_default=True)
@state_option
def logs(pod: str | None, container: str | None, follow: bool, tail: int | None,
         previous: bool, since: str | None, timestamps: bool, selector: str | None,
         all_containers: bool, prefix: bool, max_log_requests: int, namespace: str,
         state: str) -> None:
    """Print the logs of a container in a pod (or of the pods a selector matches)."""
    from reconciler.runtime.access import PodAccess
    from reconciler.runtime.types import HostUnreachable

    if (pod is None) == (selector is None):
        raise click.UsageError("give a POD or -l SELECTOR (not both)")
    pods = [pod] if pod is not None else _selected_pods(state, namespace, selector or "")
    if pod is None and not pods:
        click.echo(f"No resources found in {namespace} namespace.", err=True)
        return
    start = _since(since)
    out = sys.stdout.buffer
    node: NodeRecord | None = None
    try:
        streams: list[_Stream] = []
        for name in pods:
            node, uid, first, access = _target(state, namespace, name, container,
                                               quiet=pod is None or all_containers)
            assert isinstance(access, PodAccess)
            names = access.containers(uid) if all_containers and container is None else [first]
            for c in names:
                streams.append((f"[pod/{name}/{c}] ".encode(), node, functools.partial(
                    access.logs, uid, c, follow=follow, tail=tail, previous=previous,
                    since=start, timestamps=timestamps)))
        if follow and len(streams) > 1:
            if len(streams) > max_log_requests:
                raise click.ClickException(
                    f"you are attempting to follow {len(streams)} log streams, but maximum "
                    f"allowed concurrency is {max_log_requests}, use --max-log-requests to "
                    "increase the limit")
            # Interleaved lines of several containers are only readable with their source.
            _follow_all(streams, out)
            return
        for tag, on, opened in streams:
            node = on  # the node an unreachable error names
            chunks = opened()
            for chunk in _lines(chunks) if prefix else chunks:
                out.write((tag if prefix else b"") + chunk)
                out.flush()
    except HostUnreachable as e:
        assert node is not None
        raise click.ClickException(unreachable(node, e.reason)) from None
    except LookupError as e:
        raise click.ClickException(str(e)) from e
    except KeyboardInterrupt:
        pass


# A stream of `logs`: its line prefix, its pod's node (named when it is unreachable), and
# the call that opens it.
_Stream = tuple[bytes, NodeRecord, Callable[[], Iterator[bytes]]]
_DONE = object()


def _follow_all(streams: list[_Stream], out: BinaryIO) -> None:
    """Follow every stream at once, each in a daemon thread; whole prefixed lines go to
    `out` from this thread only (no line is ever cut by another's). Returns when every
    stream has ended (its container stopped); the first error ends the command."""
    from reconciler.runtime.types import HostUnreachable

    lines: queue.Queue[object] = queue.Queue(maxsize=1000)

    def pump(tag: bytes, node: NodeRecord, opened: Callable[[], Iterator[bytes]]) -> None:
        try:
            for line in _lines(opened()):
                lines.put(tag + line)
        except HostUnreachable as e:
            lines.put(click.ClickException(unreachable(node, e.reason)))
        except Exception as e:  # handed to the main thread, which reports it
            lines.put(e)
        lines.put(_DONE)

    for tag, node, opened in streams:
        threading.Thread(target=pump, args=(tag, node, opened), daemon=True,
                         name=f"logs {tag.decode().strip()}").start()
    running = len(streams)
    while running:
        try:
            # A timeout keeps the wait interruptible by Ctrl-C.
            item = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if item is _DONE:
            running -= 1
        elif isinstance(item, Exception):
            raise item
        else:
            assert isinstance(item, bytes)
            out.write(item)
            out.flush()


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Docker's chunks cut at arbitrary bytes: whole lines, for a per-line prefix."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *whole, pending = pending.split(b"\n")
        for line in whole:
            yield line + b"\n"
    if pending:
        yield pending + b"\n"


def _docker_cli_args(node: NodeRecord) -> list[str]:
    args = ["-H", local_url(node) or "unix:///var/run/docker.sock"]
    tls = node.tls or {}
    if tls:
        args.append("--tlsverify" if tls.get("verify", True) else "--tls")
        for flag, key in (("--tlscacert", "ca"), ("--tlscert", "cert"), ("--tlskey", "key")):
            if tls.get(key):
                args += [flag, str(tls[key])]
    return args


@click.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("pod", shell_complete=complete_names)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("-c", "--container", default=None, help="Container name (default: the first).")
@click.option("-i", "--stdin", is_flag=True, help="Pass stdin to the container.")
@click.option("-t", "--tty", is_flag=True, help="Stdin is a TTY.")
@click.option("-n", "--namespace", default="default", show_default=True)
@state_option
def exec_(pod: str, command: tuple[str, ...], container: str | None, stdin: bool, tty: bool,
          namespace: str, state: str) -> None:
    """Run a command in a container of a pod: reconciler exec POD [-c C] [-it] -- CMD..."""
    from reconciler.runtime.access import PodAccess
    from reconciler.runtime.types import HostUnreachable

    node, uid, name, access = _target(state, namespace, pod, container)
    assert isinstance(access, PodAccess)
    try:
        cid = access.container_id(uid, name)
    except HostUnreachable as e:
        raise click.ClickException(unreachable(node, e.reason)) from None
    except LookupError as e:
        raise click.ClickException(str(e)) from e
    if stdin or tty:
        docker = shutil.which("docker")
        if docker is None:
            raise click.ClickException("exec -i/-t needs the docker CLI on PATH")
        flags = ["-i"] if stdin else []
        flags += ["-t"] if tty else []
        os.execv(docker, [docker, *_docker_cli_args(node), "exec", *flags, cid, *command])
    result = access.exec(uid, name, list(command))
    sys.stdout.buffer.write(result.output)
    sys.stdout.buffer.flush()
    sys.exit(result.exit_code)
