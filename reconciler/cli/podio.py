"""`reconciler logs` and `reconciler exec`: a pod's output and a command inside it, via its host.

Reads the pod and its node from the state store (`reconciler.store.reader`),
then finds the pod's containers by label on that node's engine
(runtime/access.py). When the store does not know the pod, the local engine is
searched by the pod's name and namespace labels. `exec -i/-t` hands the terminal
to the docker CLI (`docker -H URL exec -it ID ...`), which does tty handling
right; a plain `exec` runs through the SDK and exits with the command's code.
"""

from __future__ import annotations

import os
import shutil
import sys
from datetime import UTC, datetime

import click

from reconciler.api.records import NodeRecord
from reconciler.cli.options import state_option


def _local_node() -> NodeRecord:
    url = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return NodeRecord(name="local", engine_url=url, created_at=datetime.now(UTC), declared=False)


def _locate(state: str, namespace: str, name: str
            ) -> tuple[NodeRecord, str | None, list[str]]:
    """The pod's node, uid and spec container names from the store.

    (local engine, None, []) when the store has neither.
    """
    from reconciler.store import StoreMissing
    from reconciler.store.reader import open_reader

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


def _target(state: str, namespace: str, name: str, container: str | None,
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
        raise click.ClickException(f"node {node.name} is unreachable: {e.reason}") from e
    if container is None:
        if not apps:
            raise click.ClickException(f'pod "{name}" has no containers yet')
        container = apps[0]
        if len(names) > 1:
            click.echo(f'Defaulted container "{container}" out of: {", ".join(names)}', err=True)
    elif container not in names:
        raise click.ClickException(
            f'container "{container}" is not valid for pod "{name}": {", ".join(names)}')
    return node, uid, container, access


@click.command("logs")
@click.argument("pod")
@click.option("-c", "--container", default=None, help="Container name (default: the first).")
@click.option("-f", "--follow", is_flag=True, help="Stream the logs.")
@click.option("--tail", type=int, default=None, help="Lines from the end to show.")
@click.option("-p", "--previous", is_flag=True, help="The previous instance's logs.")
@click.option("-n", "--namespace", default="default", show_default=True)
@state_option
def logs(pod: str, container: str | None, follow: bool, tail: int | None, previous: bool,
         namespace: str, state: str) -> None:
    """Print the logs of a container in a pod."""
    from reconciler.runtime.access import PodAccess

    _, uid, name, access = _target(state, namespace, pod, container)
    assert isinstance(access, PodAccess)
    try:
        out = sys.stdout.buffer
        for chunk in access.logs(uid, name, follow=follow, tail=tail, previous=previous):
            out.write(chunk)
            out.flush()
    except LookupError as e:
        raise click.ClickException(str(e)) from e
    except KeyboardInterrupt:
        pass


def _docker_cli_args(node: NodeRecord) -> list[str]:
    args = ["-H", node.engine_url or "unix:///var/run/docker.sock"]
    tls = node.tls or {}
    if tls:
        args.append("--tlsverify" if tls.get("verify", True) else "--tls")
        for flag, key in (("--tlscacert", "ca"), ("--tlscert", "cert"), ("--tlskey", "key")):
            if tls.get(key):
                args += [flag, str(tls[key])]
    return args


@click.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("pod")
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

    node, uid, name, access = _target(state, namespace, pod, container)
    assert isinstance(access, PodAccess)
    try:
        cid = access.container_id(uid, name)
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
