"""A Kubeflow Pipelines v2 PipelineSpec from a seqline config: one container task per node.

    seqline kfp compile pipeline.yaml --image REGISTRY/seqline:TAG -o reviews.kfp.yaml \\
        --container-config /pipelines/pipeline.yaml --pipeline-root gs://bucket/kfp

Each task runs `seqline run CONFIG --node NODE --run-id {{$.pipeline_job_uuid}} --param ...`
in `--image` (which holds seqline and the config at `--container-config`); tasks depend on
each other as the nodes' inputs do. The config's `${NAME}` parameters become the pipeline's
string parameters (default: the config's `parameters:` default or the `--param` given when
compiling; the date parameter, e.g. `span`, has none unless given), named as Python
identifiers (kfp_name: `a.b` -> `a_b`, `class` -> `class_`); the run id reaches each task as
its input `seqline_run_id`. From the config's
`orchestration:` block, per node: cpu / memory requests, a GPU count and accelerator type,
retries with their backoff, and a timeout (run through coreutils `timeout` in the image).

KFP's own caching is switched off: seqline's cache (the fingerprint of code, config and
inputs) decides what reruns, and records it in the metadata store. The containers share no
disk, so the pipeline root should be gs:// or s3:// (read through tf.io.gfile) with
`metadata_url` on a database every pod reaches; compile refuses a remote root without one.

Needs seqline[kfp] (kfp 2.17).
"""

from __future__ import annotations

import inspect
import keyword
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kfp import compiler, dsl

from seqline.orchestration.commands import NodeTask, PipelineGraph, pipeline_graph
from seqline.pipeline.config_file import param_texts
from seqline.pipeline.errors import ConfigError
from seqline.storage import filesystem

log = logging.getLogger(__name__)

RUN_ID = dsl.PIPELINE_JOB_ID_PLACEHOLDER  # one seqline run per pipeline job
# Each task's input that carries the run id; a config parameter may not map to this name.
RUN_ID_INPUT = "seqline_run_id"
DEFAULT_GPU_TYPE = "nvidia.com/gpu"
_ARG = inspect.Parameter.POSITIONAL_OR_KEYWORD
_ROOT_SCHEMES = ("gs://", "s3://", "minio://")


def kfp_name(name: str) -> str:
    """A config parameter name as a KFP parameter name (a Python identifier that is not a
    keyword): `.` and `-` become `_`, a name not starting with a letter gets `p_` in front, a
    Python keyword gets `_` after it (`class` -> `class_`)."""
    text = re.sub(r"\W", "_", name)
    text = text if text[:1].isalpha() else f"p_{text}"
    return f"{text}_" if keyword.iskeyword(text) else text


def kfp_names(parameters: Sequence[str]) -> dict[str, str]:
    """Config parameter name -> its KFP name (kfp_name). Raises ConfigError naming both
    parameters when two map to one KFP name, and a parameter that maps to the run id's input
    (RUN_ID_INPUT)."""
    names: dict[str, str] = {}
    taken: dict[str, str] = {}
    for name in parameters:
        mapped = kfp_name(name)
        if mapped == RUN_ID_INPUT:
            raise ConfigError(
                f"parameter ${{{name}}}: its KFP name would be {mapped!r}, the input that "
                f"carries seqline's run id to every task; rename the parameter in the config"
            )
        if mapped in taken:
            raise ConfigError(
                f"parameters ${{{taken[mapped]}}} and ${{{name}}} would both be the KFP "
                f"pipeline parameter {mapped!r} (KFP names are Python identifiers: '.' and '-' "
                "become '_'); rename one of them in the config"
            )
        taken[mapped] = name
        names[name] = mapped
    return names


def _signature(names: Mapping[str, str], defaults: Mapping[str, str]) -> inspect.Signature:
    # Parameters with a default follow those without, as Python requires.
    ordered = sorted(names, key=lambda n: n in defaults)
    return inspect.Signature(
        [
            inspect.Parameter(
                names[n], _ARG, annotation=str, default=defaults.get(n, inspect.Parameter.empty)
            )
            for n in ordered
        ]
    )


def _node_component(
    task: NodeTask, graph: PipelineGraph, image: str, config: str, seqline: Sequence[str]
) -> Any:
    """The container component that runs one node; its inputs are RUN_ID_INPUT and the
    config's parameters under their KFP names (KFP calls the function with placeholders,
    positionally)."""
    params = kfp_names(graph.parameters)
    inputs = [RUN_ID_INPUT, *params.values()]

    def container(*values: Any) -> dsl.ContainerSpec:
        given = dict(zip(inputs, values, strict=True))
        args = ["run", config, "--node", task.node_id, "--run-id", given[RUN_ID_INPUT]]
        for name, mapped in params.items():
            args += ["--param", dsl.ConcatPlaceholder([f"{name}=", given[mapped]])]
        command = list(seqline)
        if task.settings.timeout_seconds:
            command = ["timeout", str(task.settings.timeout_seconds), *command]
        return dsl.ContainerSpec(image=image, command=command, args=args)

    container.__name__ = kfp_name(task.node_id)
    container.__doc__ = f"seqline node '{task.node_id}' of pipeline '{graph.name}'."
    container.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, _ARG, annotation=str) for n in inputs]
    )
    container.__annotations__ = dict.fromkeys(inputs, str)
    return dsl.container_component(container)


def build_pipeline_function(
    graph: PipelineGraph,
    *,
    image: str,
    config: str,
    params: Mapping[str, Any] | None = None,
    pipeline_root: str | None = None,
    seqline: Sequence[str] = ("seqline",),
) -> Callable[..., Any]:
    """The `@dsl.pipeline` function of `graph` (compile it with kfp's Compiler)."""
    defaults = {**graph.defaults, **param_texts(params)}
    names = kfp_names(graph.parameters)
    signature = _signature(names, defaults)
    components = {t.node_id: _node_component(t, graph, image, config, seqline) for t in graph.tasks}

    def body(*values: Any) -> None:
        given = dict(zip(signature.parameters, values, strict=True))
        tasks: dict[str, Any] = {}
        for task in graph.tasks:
            arguments = {mapped: given[mapped] for mapped in names.values()}
            op = components[task.node_id](**{RUN_ID_INPUT: RUN_ID}, **arguments)
            op.set_display_name(task.node_id)
            op.set_caching_options(False)
            for upstream in task.upstream:
                op.after(tasks[upstream])
            _apply_settings(op, task)
            tasks[task.node_id] = op

    body.__name__ = kfp_name(graph.name)
    body.__signature__ = signature  # type: ignore[attr-defined]
    body.__annotations__ = dict.fromkeys(names.values(), str)
    name = re.sub(r"[^a-z0-9-]+", "-", graph.name.lower()).strip("-") or "seqline"
    return dsl.pipeline(
        name=name,
        description=f"seqline pipeline {graph.name!r}: one task per node",
        pipeline_root=pipeline_root,
    )(body)


def _apply_settings(op: Any, task: NodeTask) -> None:
    node = task.settings
    if node.cpu:
        op.set_cpu_request(node.cpu)
    if node.memory:
        op.set_memory_request(node.memory)
    if node.gpu:
        op.set_accelerator_type(node.gpu_type or DEFAULT_GPU_TYPE)
        op.set_accelerator_limit(node.gpu)
    if node.retries:
        op.set_retry(node.retries, backoff_duration=f"{node.retry_delay_seconds or 0}s")


def check_roots(graph: PipelineGraph, pipeline_root: str | None) -> None:
    """ConfigError for roots the containers cannot share; a warning for a local seqline root
    (only right when every pod mounts it at the same path)."""
    if pipeline_root and not pipeline_root.startswith(_ROOT_SCHEMES):
        raise ConfigError(
            f"--pipeline-root: expected gs://, s3:// or minio:// (where KFP keeps its own "
            f"outputs), got {pipeline_root!r}"
        )
    if filesystem.is_remote(graph.root):
        if not graph.metadata_url:
            raise ConfigError(
                f"root {graph.root} is remote, so the metadata store cannot be the default "
                "SQLite file under it: set `metadata_url` to a database every pod reaches "
                "(e.g. postgresql+pg8000://user@host/db)"
            )
    else:
        log.warning(
            "root %s is a local path: every pod must mount it at that path (a shared volume); "
            "otherwise use a gs:// or s3:// root",
            graph.root,
        )


def compile_pipeline(
    config: str | os.PathLike[str],
    *,
    image: str,
    output: str | os.PathLike[str],
    params: Mapping[str, Any] | None = None,
    pipeline_root: str | None = None,
    container_config: str | None = None,
    seqline: Sequence[str] = ("seqline",),
) -> str:
    """Compiles `config` into a PipelineSpec YAML at `output` and returns its path.

    Args:
        image: the container image every task runs (seqline installed, config inside).
        params: defaults for the config's ${NAME} parameters: str, int, float or bool
            (taken as the text `--param` would give; TypeError naming the key otherwise).
        pipeline_root: KFP's pipeline root (gs://, s3:// or minio://).
        container_config: the config's path inside the image (default: `config` as given).
        seqline: the command that starts seqline in the image.
    Raises ConfigError (naming the field) before writing anything.
    """
    if not image or any(c.isspace() for c in image):
        raise ConfigError(
            f"--image: expected an image reference such as repo/seqline:1, got {image!r}"
        )
    params = param_texts(params)
    graph = pipeline_graph(config, params)
    check_roots(graph, pipeline_root)
    function = build_pipeline_function(
        graph,
        image=image,
        config=str(container_config or config),
        params=params,
        pipeline_root=pipeline_root,
        seqline=seqline,
    )
    _prepare_output(str(output))
    compiler.Compiler().compile(function, str(output))
    return str(output)


def _prepare_output(output: str) -> None:
    """Creates the folder of `output` (the spec file to write); ConfigError when `output` is
    a folder or its folder cannot be created."""
    if os.path.isdir(output):
        raise ConfigError(
            f"-o {output!r}: expected the path of the YAML file to write, got a folder; "
            f"give a file path such as {os.path.join(output, 'pipeline.kfp.yaml')}"
        )
    folder = os.path.dirname(os.path.abspath(output))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        reason = "it is a file" if os.path.isfile(folder) else exc.strerror or str(exc)
        raise ConfigError(
            f"-o {output!r}: expected a file path whose folder exists or can be created; "
            f"{folder!r} cannot be created ({reason}). Choose another path"
        ) from None
