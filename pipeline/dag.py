"""A pipeline: named nodes (component + config + wired inputs) in an explicit order.

Wiring is checked when the Pipeline is built: every input is connected to an existing upstream
output of the right artifact type, node ids are unique, and there is no cycle.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from seqline.pipeline.artifacts import accepts
from seqline.pipeline.component import Component
from seqline.pipeline.errors import WiringError


@dataclass(frozen=True)
class OutputRef:
    """Points at one output of an upstream node: `OutputRef("transform", "transform_graph")`."""

    node_id: str
    output: str


@dataclass(frozen=True)
class Node:
    """One step of a pipeline.

    Attributes:
        component: the Component it runs.
        config: an instance of component.config_type.
        inputs: input name -> OutputRef of an upstream node.
        id: unique node id (defaults to the component's name); the URI segment.
        explicit_inputs: names of inputs the user wired explicitly (a custom node's `inputs:`,
            pipeline/custom_nodes.py `rewire`). Another custom node's `replaces` leaves them
            as they are; it changes what a node reads, never what it computes.
    """

    component: Component
    config: Any
    inputs: Mapping[str, OutputRef] = field(default_factory=dict)
    id: str = ""
    explicit_inputs: frozenset[str] = frozenset()

    @property
    def node_id(self) -> str:
        return self.id or self.component.name


@dataclass(frozen=True)
class Pipeline:
    """A whole pipeline.

    Attributes:
        name: pipeline name (metadata groups runs by it).
        root: pipeline root directory or gs:// / s3:// URL; artifacts live below it.
        nodes: the nodes, in any order (they are topologically sorted).
        metadata_url: SQLAlchemy database URL; None = sqlite file `{root}/metadata.sqlite`.
        beam_args: extra Beam arguments, e.g. ("--runner=DataflowRunner", "--project=p").
        max_parallel: how many independent nodes `run_pipeline` may run at once; None = the
            runner's default (pipeline/scheduling.py). Not part of any fingerprint: it never
            changes what a node computes.
    """

    name: str
    root: str
    nodes: Sequence[Node]
    metadata_url: str | None = None
    beam_args: tuple[str, ...] = ()
    max_parallel: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(topological_order(self.nodes)))

    def node(self, node_id: str) -> Node:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KeyError(node_id)


# A node id is a folder name under the root (`{root}/{node}/...`, `_failed/{run}/{node}`) and
# part of others (`_tmp/{run}-{node}-{owner}`, `_locks/{node}-{fingerprint}.lock`): one plain
# name, short enough to leave room in a 255-byte folder name beside a run id and an owner tag.
_NODE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
NODE_ID_MAX_LENGTH = 64


def check_node_id(node_id: str) -> str:
    """Returns `node_id` if it is one plain name of at most NODE_ID_MAX_LENGTH characters
    (letters, digits, `_ . -`, not starting with `.` or `-`), else raises WiringError: a YAML key
    `../x` put the node's lock file outside `_locks/` and its outputs outside the root."""
    expected = (
        f"node id: expected one plain name of at most {NODE_ID_MAX_LENGTH} letters, digits and "
        "_ . - (not starting with . or -), since it names the node's folders under the pipeline "
        "root"
    )
    fix = "Rename the node (its key under `components:`, or the Node's `id`), e.g. pii_scrub"
    if not _NODE_ID.fullmatch(node_id):
        raise WiringError(f"{expected}; got {node_id!r}. {fix}")
    if len(node_id) > NODE_ID_MAX_LENGTH:
        raise WiringError(f"{expected}; got {len(node_id)} characters ({node_id[:40]!r}...). {fix}")
    return node_id


def topological_order(nodes: Sequence[Node]) -> list[Node]:
    """Validates wiring and returns nodes so that every node follows its upstreams.

    Ties keep the given order, so a pipeline listed in order runs in that order.
    Raises WiringError naming the node and input at fault.
    """
    by_id: dict[str, Node] = {}
    for node in nodes:
        check_node_id(node.node_id)
        if node.node_id in by_id:
            raise WiringError(
                f"two nodes have the id '{node.node_id}'; give one of them a distinct `id`"
            )
        if not isinstance(node.config, node.component.config_type):
            raise WiringError(
                f"node '{node.node_id}': config must be a {node.component.config_type.__name__}, "
                f"got {type(node.config).__name__}"
            )
        by_id[node.node_id] = node
    for node in nodes:
        required = set(node.component.wired_inputs)
        allowed = required | set(node.component.optional)
        given = set(node.inputs)
        if not required <= given <= allowed:
            resolved = sorted(node.component.resolved)
            raise WiringError(
                f"node '{node.node_id}' ({node.component.name}) expects inputs "
                f"{sorted(required)}"
                + (f" (optional: {sorted(node.component.optional)})" if allowed - required else "")
                + (f" (resolved by the runner, never wired: {resolved})" if resolved else "")
                + f", got {sorted(given)}"
            )
        for name, ref in node.inputs.items():
            upstream = by_id.get(ref.node_id)
            if upstream is None:
                raise WiringError(
                    f"node '{node.node_id}' input '{name}' refers to unknown node "
                    f"'{ref.node_id}'; known nodes: {sorted(by_id)}"
                )
            produced = upstream.component.outputs.get(ref.output)
            if produced is None:
                raise WiringError(
                    f"node '{node.node_id}' input '{name}' refers to output '{ref.output}' "
                    f"of '{ref.node_id}', which has outputs {sorted(upstream.component.outputs)}"
                )
            expected = node.component.inputs[name]
            if not accepts(expected, produced):
                raise WiringError(
                    f"node '{node.node_id}' input '{name}' expects a {expected}, but "
                    f"'{ref.node_id}.{ref.output}' is a {produced}"
                )
    ordered: list[Node] = []
    done: set[str] = set()
    pending = list(nodes)
    while pending:
        ready = [n for n in pending if all(r.node_id in done for r in n.inputs.values())]
        if not ready:
            raise _cycle_error(pending, done)
        for node in ready:
            ordered.append(node)
            done.add(node.node_id)
        pending = [n for n in pending if n.node_id not in done]
    return ordered


def _cycle_error(pending: Sequence[Node], done: set[str]) -> WiringError:
    """A WiringError naming one cycle among `pending` (nodes none of which is ready): only the
    nodes on it and the inputs that close it, not every node stuck downstream of it."""
    by_id = {n.node_id: n for n in pending}
    path: list[tuple[Node, str, OutputRef]] = []  # (node, input name, the upstream it reads)
    seen: dict[str, int] = {}
    node = pending[0]
    # Each pending node reads at least one pending node (otherwise it would be ready), so
    # following such an input from any pending node comes back to a node already visited.
    while node.node_id not in seen:
        seen[node.node_id] = len(path)
        name, ref = next((k, r) for k, r in node.inputs.items() if r.node_id not in done)
        path.append((node, name, ref))
        node = by_id[ref.node_id]
    cycle = path[seen[node.node_id] :]
    edges = ", ".join(
        f"'{n.node_id}' input '{name}' reads {ref.node_id}.{ref.output}" for n, name, ref in cycle
    )
    return WiringError(
        f"cycle among nodes {sorted(n.node_id for n, _, _ in cycle)}: {edges}. A node cannot "
        "read its own output, directly or through other nodes: change the `inputs:` (or a "
        "custom node's `replaces:`) of one of them"
    )
