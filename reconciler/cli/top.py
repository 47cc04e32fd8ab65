"""`reconciler top pods|nodes`: CPU and memory use, from the engines' stats.

Part of the CLI read side that reaches the Docker engines, as `logs` does: the
pods and nodes come from the state store, the figures from one `GET
/containers/{id}/stats?stream=false` per running container of a pod (what
`docker stats --no-stream` calls; the engine waits for a second sample so
the CPU figure is a rate). Samples are taken in parallel, a few per host. A
node's figures are the sum over the pods' containers on it, against the
engine's CPU count and memory: Docker keeps no host-wide usage.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import click

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.cli.completion import complete_names
from reconciler.cli.engines import unreachable
from reconciler.cli.get import open_store, selector_predicate
from reconciler.cli.options import state_option
from reconciler.views import output
from reconciler.views import top as figures

POOL = 8


def _pod_usage(node: NodeRecord, uids: list[str]) -> dict[str, figures.Usage]:
    """uid -> summed Usage of its running containers on `node` (HostUnreachable propagates)."""
    from reconciler.runtime import naming
    from reconciler.runtime.engine import Engine
    from reconciler.runtime.types import RuntimeConfig

    engine = Engine(node, RuntimeConfig(api_timeout=30.0, concurrency=4))
    try:
        running = engine.call(engine.api.containers,
                              filters={"label": [f"{naming.POD_UID}"]})
        wanted = set(uids)
        mine = [(str(c["Id"]), (c.get("Labels") or {}).get(naming.POD_UID, ""))
                for c in running]
        mine = [(cid, uid) for cid, uid in mine if uid in wanted]

        def sample(cid: str) -> figures.Usage:
            return figures.usage(engine.call(engine.api.stats, cid, stream=False))

        with ThreadPoolExecutor(max_workers=4) as pool:
            samples = list(pool.map(sample, [cid for cid, _ in mine]))
        out: dict[str, figures.Usage] = {u: figures.Usage() for u in uids}
        for (_, uid), s in zip(mine, samples, strict=True):
            out[uid] = out[uid] + s
        return out
    finally:
        engine.close()


def _usage_by_node(nodes: dict[str, NodeRecord], pods: list[PodRecord]
                   ) -> tuple[dict[str, figures.Usage], list[str]]:
    """uid -> Usage for every pod, and one line per node that could not be read."""
    from reconciler.runtime.types import HostUnreachable

    by_node: dict[str, list[str]] = {}
    for p in pods:
        if p.node_name in nodes:
            by_node.setdefault(p.node_name, []).append(p.uid)

    def read(name: str) -> dict[str, figures.Usage] | str:
        try:
            return _pod_usage(nodes[name], by_node[name])
        except HostUnreachable as e:
            return unreachable(nodes[name], e.reason)

    found: dict[str, figures.Usage] = {}
    errors: list[str] = []
    with ThreadPoolExecutor(max_workers=POOL) as pool:
        for result in pool.map(read, sorted(by_node)):
            if isinstance(result, str):
                errors.append(result)
            else:
                found.update(result)
    return found, errors


@click.command("top")
@click.argument("resource", type=click.Choice(["pods", "pod", "po", "nodes", "node", "no"]))
@click.argument("name", required=False, shell_complete=complete_names)
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("-A", "--all-namespaces", is_flag=True, help="Pods of every namespace.")
@click.option("-l", "--selector", default=None, help="Label selector, e.g. app=web.")
@state_option
def top(resource: str, name: str | None, namespace: str, all_namespaces: bool,
        selector: str | None, state: str) -> None:
    """Show CPU (millicores) and memory (working set) of pods or nodes."""
    store = open_store(state)
    try:
        nodes = {n.name: n for n in store.list_nodes()}
        predicate = selector_predicate(selector)
        if resource.startswith("no"):
            pods = [p for p in store.list_pods(None) if p.phase == "Running"]
        else:
            pods = [p for p in store.list_pods(None if all_namespaces else namespace, predicate)
                    if p.phase == "Running" and (name is None or p.name == name)]
    finally:
        store.close()
    if resource.startswith("no"):
        shown = [n for n in nodes.values() if (name is None or n.name == name)
                 and (predicate is None or predicate(n.labels))]
        pods = [p for p in pods if p.node_name in {n.name for n in shown}]
    if not pods and not resource.startswith("no"):
        where = "" if all_namespaces else f" in {namespace} namespace"
        if name:
            raise click.ClickException(f'pods "{name}" not found{where} (or not running)')
        click.echo(f"No resources found{where}.", err=True)
        return
    found, errors = _usage_by_node(nodes, pods)
    for line in errors:
        click.echo(f"error: {line}", err=True)
    if resource.startswith("no"):
        click.echo(_nodes_table(shown, pods, found))
    else:
        click.echo(_pods_table(pods, found, all_namespaces))
    if errors:
        raise SystemExit(1)


def _pods_table(pods: list[PodRecord], found: dict[str, figures.Usage], with_ns: bool) -> str:
    headers = ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    rows = []
    for p in sorted(pods, key=lambda p: (p.namespace, p.name)):
        u = found.get(p.uid)
        if u is None:
            continue
        row = [p.name, figures.cpu_text(u.cpu_milli), figures.memory_text(u.memory)]
        rows.append([p.namespace, *row] if with_ns else row)
    return output.table(["NAMESPACE", *headers] if with_ns else headers, rows)


def _nodes_table(nodes: list[NodeRecord], pods: list[PodRecord],
                 found: dict[str, figures.Usage]) -> str:
    rows = []
    for n in sorted(nodes, key=lambda n: n.name):
        mine = [found[p.uid] for p in pods if p.node_name == n.name and p.uid in found]
        if not n.ready and not mine:
            rows.append([n.name, "<unknown>", "<unknown>", "<unknown>", "<unknown>"])
            continue
        u = figures.total(mine)
        rows.append([n.name, figures.cpu_text(u.cpu_milli),
                     figures.percent(u.cpu_milli, n.capacity.cpu_milli),
                     figures.memory_text(u.memory), figures.percent(u.memory, n.capacity.memory)])
    return output.table(["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"], rows)
