"""Line and column of a field, found by walking a document's composed YAML nodes along a JSON path.

Used by reconciler.manifests.document and reconciler.manifests.loader to turn a
finding's path into a Position only when there is something to report, so valid
documents never pay for it.
"""

from __future__ import annotations

import yaml

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

PathLike = tuple[str | int, ...]


def locate(node: yaml.Node | None, path: PathLike, at_key: bool = False) -> tuple[int, int]:
    """1-based (line, column) of the deepest node along `path`.

    A collection reached through a key is reported at its key (`selector:`), a
    scalar at its value; a path that leaves the document (a missing or defaulted
    field) stops at the closest parent that exists. `at_key` reports the last
    field at its key even when its value is a scalar (an unknown field's name).
    """
    if node is None:
        return 1, 1
    mark = node.start_mark
    last = len(path) - 1
    for depth, segment in enumerate(path):
        key_node: yaml.Node | None = None
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(segment):
                    key_node, child = k, v
                    break
        elif (isinstance(node, yaml.SequenceNode) and isinstance(segment, int)
              and 0 <= segment < len(node.value)):
            child = node.value[segment]
        if child is None:
            break
        node = child
        use_key = key_node is not None and (
            (at_key and depth == last) or not isinstance(child, yaml.ScalarNode))
        mark = key_node.start_mark if use_key and key_node is not None else child.start_mark
    return mark.line + 1, mark.column + 1


def compose_documents(text: str) -> list[yaml.Node | None]:
    """Composed nodes of every document of a text (JSON parses as YAML too), as far as it parses."""
    loader = _Loader(text)
    nodes: list[yaml.Node | None] = []
    try:
        while loader.check_node():
            nodes.append(loader.get_node())
    except yaml.YAMLError:
        return nodes
    finally:
        loader.dispose()
    return nodes
