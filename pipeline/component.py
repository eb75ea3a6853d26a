"""The component contract.

A component is a module-level `COMPONENT` built by `component(run, name=...)` from an executor
function whose annotated signature is the spec:

    def run(
        ctx: ExecutionContext,
        config: EvaluateTextConfig,             # the one frozen config dataclass
        examples: Examples,                     # an input, wired from an upstream output
        model: Model,
        baseline_model: Model | None,           # resolved by the runner (see `resolved`), or
                                                # an optional input; None when absent
        blessing: Out[Blessing],                # an output, written into ctx's temporary dir
    ) -> dict[str, Any]: ...

    COMPONENT = component(run, name="evaluate_text", resolved={"baseline_model": ...})

`component` reads the annotations, builds the inputs/outputs a Pipeline wires and checks, and
wraps `run` into the runner-facing `executor(ctx)`. A type checker (mypy, scripts/test.sh) then
checks every use of an artifact inside the executor; nothing is looked up by string. Executors
import TensorFlow/Beam inside the function body so that building and cache-checking a pipeline
stays fast.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from seqline.pipeline.artifacts import Artifact, artifact_class

if TYPE_CHECKING:
    from seqline.pipeline.resolvers import Resolver


@dataclass
class ExecutionContext:
    """What an executor receives. Every field but the last three is required: the runner and
    the test harness build it the same way.

    Attributes:
        config: the component's frozen config dataclass instance.
        inputs: input name -> published upstream Artifact (read-only); a resolved or optional
            input that found nothing is absent or None.
        outputs: output name -> Artifact whose `uri` is a fresh temporary directory to write
            into; set its properties. The runner publishes it atomically on success.
        pipeline_name, run_id, node_id: identity of this execution.
        pipeline_root: root of all artifacts of this pipeline.
        beam_args: extra Beam pipeline arguments (runner, workers...) from the pipeline config.
        temp_dir: scratch directory for this execution, deleted afterwards.
        progress: call with a short message to show progress on long work.
        resolved: resolved input name -> the Artifact the runner resolved for it (see
            pipeline/resolvers.py), or None when there is none (first run).
        finishing: call once when what is left of this execution is light (train: before
            exporting), so the runner can warm up downstream nodes (Component.prestart) on the
            cores this node no longer needs. Optional to call; a no-op outside the runner.
        prestarted: what this node's Component.prestart returned when the runner warmed it up
            (e.g. infra_validate's model server child, already importing TensorFlow), else
            None. The executor owns it from here (the runner closes unclaimed ones).
        resolved_notes: resolved input name -> why nothing was found, for inputs that resolved
            to None and whose resolver can say (evaluate's "first run", or "the only blessed
            model is this candidate"); empty outside the runner.
    """

    config: Any
    inputs: Mapping[str, Artifact | None]
    outputs: Mapping[str, Artifact]
    pipeline_name: str
    run_id: str
    node_id: str
    pipeline_root: str
    beam_args: tuple[str, ...]
    temp_dir: str
    progress: Callable[[str], None]
    resolved: Mapping[str, Artifact | None]
    finishing: Callable[[], None] = field(default=lambda: None)
    prestarted: Any = None
    resolved_notes: Mapping[str, str] = field(default_factory=dict)

    def beam_options(self) -> Any:
        """Beam PipelineOptions for this execution (see pipeline/beam_options.py)."""
        from seqline.pipeline.beam_options import make_pipeline_options

        return make_pipeline_options(self.beam_args, temp_location=self.temp_dir)


Executor = Callable[[ExecutionContext], Mapping[str, Any]]

A = TypeVar("A", bound=Artifact)


class _OutputMark:
    def __repr__(self) -> str:
        return "OUTPUT"


OUTPUT = _OutputMark()
# `blessing: Out[Blessing]` declares an output; to a type checker it is just a Blessing.
Out = Annotated[A, OUTPUT]


@dataclass(frozen=True)
class Component:
    """A component's signature and its runner-facing executor.

    Attributes:
        name: the component's name, e.g. "transform_text"; default node id and URI segment.
        inputs: wired input name -> artifact type name it accepts.
        outputs: output name -> artifact type name it produces.
        config_type: a frozen dataclass; its fields are the YAML keys.
        executor: runs the component (see ExecutionContext).
        version: bump it when the component's behaviour changes in a way its code hash cannot
            see (e.g. a changed default in a data file); hashed into the fingerprint.
        resolved: input name -> Resolver; the runner finds these inputs (the last blessed
            model, the previous span's statistics...) before fingerprinting, so they are part
            of the cache key and the lineage. They are never wired, and not in `inputs`.
        optional: inputs that may be left unwired (the executor gets None).
        source_fingerprint: for components that read data from outside the pipeline root
            (ingest), a string identifying that data (paths, sizes, mtimes).
        check: optional pre-run check of the config against the world, raising ConfigError;
            run for every node before any node executes.
        function: the typed executor function `component` wrapped (None for hand-built
            components); its module is the component's code.
        code_dir: the folder hashed into the fingerprint by today's runner (defaults to the
            executor module's folder; the runner moves to the module-closure hash).
        libraries: distributions beyond fingerprint.LIBRARIES whose installed version can
            change this component's result (e.g. ("keras-tuner",)); hashed into its
            fingerprint only, so other components' caches do not depend on them.
        prestart: optional warm-up, called with the node's config by the runner when the last
            upstream still running calls ExecutionContext.finishing(); returns a handle with
            close() that the execution receives as ExecutionContext.prestarted. It must not
            depend on the upstream's outputs (they do not exist yet) and must be cheap to
            throw away: the runner closes the handle when the node is cached or skipped, and
            again after the node's execution (so close() must be safe to call twice). Never
            called in orchestrated runs (one node per process) or with --max-parallel 1.
        effects_gone: optional check of a cached execution's effects outside the pipeline
            root (push's served version): given the published outputs, returns what is no
            longer in place ([] = all there); the runner runs the node again instead of
            reusing the outputs when anything is listed.
        forwards: output name -> wired input name, for an output whose content IS that input
            (a gate passing on what it checked: validate's validated_schema is its schema).
            Downstream nodes key their cache on the input's content fingerprint, not on this
            node's, so changing only this node's config (validate's thresholds) reruns this
            node but not what consumes the forwarded output; they still wait for it, so they
            run only after it passed. The executor must write the input's content unchanged.
        defined_in: the modules that define this Component, roots of its code hash besides
            its functions' own modules: filled in with the module whose code called
            `Component(...)` / `component(...)` (where `executor=make_executor(THRESHOLD)` or
            `functools.partial(run, factor=10)` takes its constants), and the loader adds the
            module a `module:ATTRIBUTE` reference names (pipeline/custom_nodes.py). Leave it
            empty.
    """

    name: str
    inputs: Mapping[str, str]
    outputs: Mapping[str, str]
    config_type: type
    executor: Executor
    version: int = 1
    resolved: Mapping[str, Resolver] = field(default_factory=dict)
    optional: frozenset[str] = frozenset()
    source_fingerprint: Callable[[Any], str] | None = None
    check: Callable[[Any], None] | None = None
    function: Callable[..., Mapping[str, Any]] | None = None
    code_dir: Path = field(default_factory=Path)
    libraries: tuple[str, ...] = ()
    prestart: Callable[[Any], Any] | None = None
    effects_gone: Callable[[Mapping[str, Artifact]], list[str]] | None = None
    forwards: Mapping[str, str] = field(default_factory=dict)
    defined_in: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.defined_in:
            creator = _creating_module()
            if creator is not None:
                object.__setattr__(self, "defined_in", (creator,))
        if not dataclasses.is_dataclass(self.config_type):
            raise TypeError(f"{self.name}: config_type must be a dataclass")
        params = self.config_type.__dataclass_params__  # type: ignore[attr-defined]
        if not params.frozen:
            raise TypeError(f"{self.name}: config_type must be frozen (@dataclass(frozen=True))")
        both = sorted(set(self.resolved) & set(self.inputs))
        if both:
            raise TypeError(f"{self.name}: inputs {both} cannot be both wired and resolved")
        for output, source in self.forwards.items():
            if output not in self.outputs or source not in self.inputs or source in self.optional:
                raise TypeError(
                    f"{self.name}: forwards {{{output!r}: {source!r}}}: expected an output "
                    f"(one of {sorted(self.outputs)}) and a wired, required input (one of "
                    f"{sorted(self.wired_inputs)})"
                )
            if self.outputs[output] != self.inputs[source]:
                raise TypeError(
                    f"{self.name}: forwards {{{output!r}: {source!r}}}: a forwarded output has "
                    f"its input's type; got {self.outputs[output]} from {self.inputs[source]}"
                )
        if self.code_dir == Path():
            module = sys.modules.get(getattr(self.executor, "__module__", ""))
            if module is not None and getattr(module, "__file__", None):
                object.__setattr__(self, "code_dir", Path(str(module.__file__)).resolve().parent)

    @property
    def wired_inputs(self) -> frozenset[str]:
        """Inputs a pipeline must wire (not resolved, not optional)."""
        return frozenset(self.inputs) - self.optional


def _creating_module() -> str | None:
    """The module of the innermost caller outside this module and `dataclasses`: the one whose
    code built a Component (directly, or through `component(...)`)."""
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__")
        if name and name not in (__name__, "dataclasses"):
            return str(name)
        frame = frame.f_back
    return None


def _artifact_type(annotation: Any) -> tuple[type[Artifact] | None, bool, bool]:
    """(artifact class, is_output, is_optional) of a parameter annotation; class None if the
    annotation is not an artifact."""
    is_output = False
    if typing.get_origin(annotation) is Annotated:
        args = typing.get_args(annotation)
        annotation, is_output = args[0], OUTPUT in args[1:]
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        if len(members) != 1:
            return None, is_output, optional
        annotation = members[0]
    if isinstance(annotation, type) and issubclass(annotation, Artifact):
        return annotation, is_output, optional
    return None, is_output, optional


def retype(artifact: A | None, cls: type[A]) -> A | None:
    """`artifact` as an instance of `cls`. A plain Artifact (hand-built by a caller) is
    re-classed in place, so the caller's reference sees the properties the executor sets."""
    if artifact is None or isinstance(artifact, cls):
        return artifact
    wanted = artifact_class(artifact.type_name)
    if type(artifact) is Artifact and issubclass(wanted, cls):
        artifact.__class__ = wanted
        return artifact
    raise TypeError(
        f"expected a {cls.__name__} artifact, got a {artifact.type_name} ({artifact.uri})"
    )


def component(
    function: Callable[..., Mapping[str, Any]],
    *,
    name: str,
    version: int = 1,
    resolved: Mapping[str, Resolver] | None = None,
    source_fingerprint: Callable[[Any], str] | None = None,
    check: Callable[[Any], None] | None = None,
    libraries: tuple[str, ...] = (),
    prestart: Callable[[Any], Any] | None = None,
    effects_gone: Callable[[Mapping[str, Artifact]], list[str]] | None = None,
    forwards: Mapping[str, str] | None = None,
) -> Component:
    """Builds a Component from `function`'s annotated signature (see the module docstring).

    The first parameter receives the ExecutionContext; the parameter annotated with a frozen
    dataclass receives the config; parameters annotated with Artifact classes are inputs
    (`X | None`: resolved or optional) and `Out[X]` outputs. Raises TypeError naming the
    parameter when an annotation is none of these.
    """
    hints = typing.get_type_hints(function, include_extras=True)
    params = list(inspect.signature(function).parameters)
    if not params:
        raise TypeError(f"{name}: the executor must take the ExecutionContext first")
    resolved = dict(resolved or {})
    inputs: dict[str, str] = {}
    outputs: dict[str, str] = {}
    classes: dict[str, type[Artifact]] = {}
    optional: set[str] = set()
    config_param, config_type = "", None
    for param in params[1:]:
        annotation = hints.get(param)
        cls, is_output, is_optional = _artifact_type(annotation)
        if cls is not None:
            type_name = cls.TYPE_NAME or cls.__name__
            classes[param] = cls
            if is_output:
                outputs[param] = type_name
                continue
            if param in resolved:
                if not is_optional:
                    raise TypeError(
                        f"{name}: resolved input '{param}' may find nothing; annotate it "
                        f"`{cls.__name__} | None`"
                    )
                continue
            inputs[param] = type_name
            if is_optional:
                optional.add(param)
        elif isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
            if config_type is not None:
                raise TypeError(f"{name}: two config parameters, {config_param} and {param}")
            config_param, config_type = param, annotation
        else:
            raise TypeError(
                f"{name}: parameter '{param}' is annotated {annotation!r}; expected the config "
                "dataclass, an Artifact class (input), `X | None` or `Out[X]` (output)"
            )
    if config_type is None:
        raise TypeError(f"{name}: the executor has no config parameter (a frozen dataclass)")
    undeclared = sorted(set(resolved) - set(classes))
    if undeclared:
        raise TypeError(f"{name}: resolved inputs {undeclared} are not executor parameters")

    @functools.wraps(function)
    def executor(ctx: ExecutionContext) -> Mapping[str, Any]:
        kwargs: dict[str, Any] = {config_param: ctx.config}
        for param in inputs:
            value = ctx.inputs.get(param)
            if value is None and param not in optional:
                raise TypeError(f"{name}: input '{param}' is missing from the context")
            kwargs[param] = retype(value, classes[param])
        for param in resolved:
            kwargs[param] = retype(ctx.resolved.get(param), classes[param])
        for param in outputs:
            kwargs[param] = retype(ctx.outputs[param], classes[param])
        return function(ctx, **kwargs)

    return Component(
        name=name,
        inputs=inputs,
        outputs=outputs,
        config_type=config_type,
        executor=executor,
        version=version,
        resolved=resolved,
        optional=frozenset(optional),
        source_fingerprint=source_fingerprint,
        check=check,
        function=function,
        libraries=tuple(libraries),
        prestart=prestart,
        effects_gone=effects_gone,
        forwards=dict(forwards or {}),
    )
