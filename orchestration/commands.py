"""What every orchestrator needs from a config: its graph, its parameters, one node's command.

An orchestrator builds its graph when it parses a DAG file or compiles a pipeline, long before
a run, so the graph is read with placeholder values: the date parameter takes a sample date
and `${ENV:NAME}` of an unset variable a placeholder (the worker that runs the node has the
real ones). Every other parameter needs a value or a `parameters:` default. The node's own
run then reads the config with the real values.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from seqline.orchestration.settings import (
    NodeSettings,
    OrchestrationSettings,
    orchestration_settings,
)
from seqline.pipeline.config_file import (
    ORCHESTRATION_KEY,
    PARAMETERS_KEY,
    config_parameters,
    default_text,
    load_pipeline,
    param_texts,
    read_config,
    unsubstituted_config,
)
from seqline.pipeline.errors import ConfigError

SAMPLE_DATE = "2000-01-01"  # the date parameter's value while only the graph is read


class _Placeholders(Mapping[str, str]):
    """os.environ, with a placeholder for a variable only the workers have."""

    def __getitem__(self, name: str) -> str:
        return os.environ.get(name, f"unset-{name}")

    def __iter__(self) -> Iterator[str]:
        return iter(os.environ)

    def __len__(self) -> int:
        return len(os.environ)

    def __contains__(self, name: object) -> bool:
        return True


@dataclass(frozen=True)
class NodeTask:
    """One node as a task: its id, the node ids it waits for, and how it runs."""

    node_id: str
    upstream: tuple[str, ...]
    settings: NodeSettings


@dataclass(frozen=True)
class PipelineGraph:
    """A config as an orchestrator sees it.

    Attributes:
        name, root, metadata_url: the pipeline's (read with placeholder values).
        tasks: one per node, in topological order.
        parameters: names the config references as ${NAME} (not ${ENV:...}).
        defaults: the config's `parameters:` defaults, as text.
        orchestration: the `orchestration:` block.
    """

    name: str
    root: str
    metadata_url: str | None
    tasks: tuple[NodeTask, ...]
    parameters: tuple[str, ...]
    defaults: Mapping[str, str]
    orchestration: OrchestrationSettings

    def run_params(self, params: Mapping[str, str], date: str | None = None) -> dict[str, str]:
        """The `--param`s of one run: the given `params` and the date parameter (when the
        config uses it), restricted to what the config references (an unused one is an error
        for `seqline run`)."""
        values = {k: v for k, v in params.items() if k in self.parameters}
        date_param = self.orchestration.date_param
        if date is not None and date_param in self.parameters:
            values[date_param] = date
        return values


def _raw(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The config as written, without its x-NAME keys (read as read_config reads it)."""
    data = unsubstituted_config(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with name, kind, root, components")
    return data


def pipeline_graph(
    config: str | os.PathLike[str], params: Mapping[str, Any] | None = None
) -> PipelineGraph:
    """Reads `config` into a PipelineGraph (see the module docstring). ConfigError names the
    file and field, including a parameter that has no value to read the graph with. `params`
    may hold int, float and bool values (taken as their text; TypeError for other types)."""
    params = param_texts(params)
    raw = _raw(config)
    body = {k: v for k, v in raw.items() if k != PARAMETERS_KEY}
    used = tuple(sorted(config_parameters(body)))
    unknown = sorted(set(params) - set(used))
    if unknown:
        raise ConfigError(
            f"{config}: unknown parameter(s) {unknown}: the config references "
            f"{list(used) or 'no parameters'} (as ${{NAME}})"
        )
    defaults = {str(k): default_text(v) for k, v in (raw.get(PARAMETERS_KEY) or {}).items()}
    settings = orchestration_settings(
        read_config(config, _graph_params(raw, used, params, defaults), _Placeholders()).get(
            ORCHESTRATION_KEY
        )
        if ORCHESTRATION_KEY in raw
        else None
    )
    values = _graph_params(raw, used, params, defaults, settings.date_param)
    pipeline = load_pipeline(config, params=values, environ=_Placeholders())
    node_ids = [n.node_id for n in pipeline.nodes]
    settings.check_nodes(node_ids)
    tasks = tuple(
        NodeTask(
            node.node_id,
            tuple(dict.fromkeys(ref.node_id for ref in node.inputs.values())),
            settings.for_node(node.node_id),
        )
        for node in pipeline.nodes
    )
    return PipelineGraph(
        name=pipeline.name,
        root=pipeline.root,
        metadata_url=pipeline.metadata_url,
        tasks=tasks,
        parameters=used,
        defaults=defaults,
        orchestration=settings,
    )


def _graph_params(
    raw: Mapping[str, Any],
    used: Sequence[str],
    params: Mapping[str, str],
    defaults: Mapping[str, str],
    date_param: str | None = None,
) -> dict[str, str]:
    if date_param is None:  # reading the orchestration block itself
        date_param = str((raw.get(ORCHESTRATION_KEY) or {}).get("date_param") or "span")
    values = dict(params)
    if date_param in used and date_param not in values:
        values[date_param] = SAMPLE_DATE
    return values


def node_command(
    config: str,
    node_id: str,
    run_id: str,
    params: Mapping[str, str],
    seqline: Sequence[str] = ("seqline",),
) -> list[str]:
    """The argv that runs one node: `seqline run CONFIG --node N --run-id ID --param K=V...`.
    Values may be orchestrator templates (e.g. Airflow's `{{ ds }}`)."""
    argv = [*seqline, "run", config, "--node", node_id, "--run-id", run_id]
    for key, value in params.items():
        argv += ["--param", f"{key}={value}"]
    return argv


def shell_command(argv: Sequence[str]) -> str:
    """`argv` as one shell line (what a BashOperator runs), each word quoted."""
    return " ".join(shlex.quote(word) for word in argv)
