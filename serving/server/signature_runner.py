"""One SavedModel signature made callable on numpy arrays, with TF Serving's input checks.

Everything that does not change per request (input specs, flat argument order, output aliases,
the concrete function and its captured variables) is worked out once when a version loads, so a
request pays only for its own tensors and the graph run. Calling the signature's inference
function directly with flat eager tensors skips the structured-argument binding and bookkeeping
of the public call (~125 us instead of ~255 us for half_plus_two on this machine). Those are
TensorFlow internals (checked at load time): when a function lacks them (an unusual SavedModel,
another TF version) the runner falls back to AtomicFunction.call_flat, then to the public
keyword call.

On a host without GPUs the direct call asks for TensorFlow's single-threaded executor, which
runs the graph's kernels one after another on one thread instead of handing them between
inter-op pool threads: for the small graphs batch-1 serving runs, the hand-offs (and the pool
threads spinning for work afterwards, which steal a core from gRPC on a small machine) cost more
than the parallelism gains (runner p50 ~204 -> ~166 us in-process for bench/serving.py's model).
That executor refuses some graphs (TF1 control flow: Switch/Merge, reference-typed edges)
with an error naming itself, raised when the function is instantiated for it, before any
kernel runs; the runner then switches to the default executor for good and repeats the call.

Even so, an eager function call hands its graph run to a thread of TensorFlow's inter-op pool
and waits for it (the single-threaded executor's RunAsync goes through the call's runner): a
wake-up and a hand-back per request, and that thread spinning afterwards. ``from_session``
builds the runner on a TF1 Session callable of the SignatureDef instead (the way
tensorflow_model_server runs a SavedModel); with ``inline`` the run executes on the calling
thread (RunOptions.inter_op_thread_pool = -1), no pool thread involved: ~75-130 us instead of
~230-340 us per bench/serving.py batch-1 run on the project's 2-core machine, in-process and
inside the server. servable.load_servable chooses between the two (``tensorflow_runtime``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2
from tensorflow.python.eager import context, execute
from tensorflow.python.framework.ops import EagerTensor

from seqline.serving.errors import Code, ServingError, invalid_argument
from seqline.serving.tensor_codec import dtype_name

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """A signature input: alias, TF dtype enum, numpy dtype and shape (None = any size)."""

    alias: str
    dtype: int
    np_dtype: np.dtype
    shape: tuple[int | None, ...] | None  # None: unknown rank

    def check(self, array: np.ndarray) -> None:
        """Raises INVALID_ARGUMENT when ``array`` cannot feed this input (dtype, rank, dims)."""
        if array.dtype != self.np_dtype:
            given = "string" if array.dtype == object else array.dtype.name
            raise invalid_argument(
                f"Expects arg '{self.alias}' to be {dtype_name(self.dtype)} "
                f"({self.np_dtype.name if self.np_dtype.kind != 'O' else 'string'}) but {given} "
                "is provided; send the dtype the signature declares (see GetModelMetadata)"
            )
        if self.shape is None:
            return
        if array.ndim != len(self.shape) or any(
            want is not None and want != got
            for want, got in zip(self.shape, array.shape, strict=False)
        ):
            want_text = [-1 if d is None else d for d in self.shape]
            raise invalid_argument(
                f"input '{self.alias}' has shape {list(array.shape)}, the signature expects "
                f"{want_text} (-1 = any size)"
            )


@dataclasses.dataclass(frozen=True)
class _FlatPlan:
    order: tuple[str, ...]  # input aliases in the graph function's argument order
    dtype_enums: tuple[int, ...]
    captures: tuple  # captured variable handles, passed after the inputs
    output_order: tuple[str, ...]  # output aliases in the function's flat output order
    inference: Any  # AtomicFunction (TensorFlow internals: untyped)
    name: bytes
    context: Any | None  # eager Context when the direct context call is safe
    attrs: tuple  # function-call attributes of the direct call (executor type, config)


# The executor TensorFlow's function runtime uses for the direct call on CPU-only hosts, and
# the start of the message with which it refuses a graph it cannot run.
SINGLE_THREADED_EXECUTOR = "SINGLE_THREADED_EXECUTOR"
_REFUSED_BY_SINGLE_THREADED = "Single-threaded executor does not support"
# `seqline serve --tensorflow_executor`: "auto" (the single-threaded executor on CPU-only
# hosts) or "default" (TensorFlow's own everywhere). Process-wide, as the thread pools are.
EXECUTOR_CHOICES = ("auto", "default")
_executor_choice = "auto"


def choose_executor(choice: str) -> None:
    """Sets the executor of the direct call for signatures loaded from now on.

    "auto" (the default): TensorFlow's single-threaded executor on hosts without GPUs, which
    runs a small graph's kernels on the calling thread (batch-1 latency); "default":
    TensorFlow's default executor, whose inter-op pool runs independent branches of a big
    graph (or a big merged batch) in parallel.
    """
    if choice not in EXECUTOR_CHOICES:
        raise ValueError(f"tensorflow_executor: expected one of {EXECUTOR_CHOICES}, got {choice!r}")
    global _executor_choice
    _executor_choice = choice


def _numpy_dtype(dtype: tf.dtypes.DType) -> np.dtype:
    """The numpy dtype requests of ``dtype`` decode to (object for strings)."""
    return np.dtype(object) if dtype == tf.string else np.dtype(dtype.as_numpy_dtype)


def _spec_from_tensor_info(alias: str, info: Any) -> InputSpec:
    """The InputSpec of a SignatureDef input (a dense TensorInfo)."""
    dtype = tf.dtypes.as_dtype(info.dtype)
    shape_proto = info.tensor_shape
    shape = (
        None
        if shape_proto.unknown_rank
        else tuple(None if d.size < 0 else d.size for d in shape_proto.dim)
    )
    return InputSpec(
        alias=alias, dtype=dtype.as_datatype_enum, np_dtype=_numpy_dtype(dtype), shape=shape
    )


def _default_arrays(
    signature: str, inputs: Mapping[str, InputSpec], defaults: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """The SignatureDef's defaults (alias -> TensorProto) as read-only arrays of the inputs'
    dtypes; ValueError (the version fails to load) for one that does not fit its input."""
    arrays: dict[str, np.ndarray] = {}
    for alias, proto in defaults.items():
        spec = inputs.get(alias)
        if spec is None:
            raise ValueError(
                f"signature '{signature}': a default is given for '{alias}', which is not one "
                f"of its inputs {sorted(inputs)}"
            )
        array = tf.make_ndarray(proto)
        if array.dtype.kind in "SU":
            array = array.astype(object)
        try:
            spec.check(array)
        except ServingError as e:
            raise ValueError(f"signature '{signature}': bad default: {e.message}") from e
        array.flags.writeable = False  # shared by every request that leaves the input out
        arrays[alias] = array
    return arrays


def runs_inline() -> bool:
    """Whether session-runtime signatures run on the calling thread: with the "auto"
    executor on hosts without GPUs (with GPUs, or "default", TensorFlow's inter-op pool)."""
    if _executor_choice != "auto":
        return False
    return not context.context().list_physical_devices("GPU")


class SignatureRunner:
    """Runs one signature: ``runner(inputs: {alias: ndarray}) -> {alias: ndarray}``.

    Attributes: ``name``, ``method_name`` (from the SignatureDef), ``inputs`` (alias ->
    InputSpec), ``output_aliases`` (sorted), ``batchable`` (every input has a leading
    any-size dimension, so requests can be concatenated), ``calls`` (graph runs so far).
    """

    _function: Any  # the restored signature function (function runtime), else None
    _flat: _FlatPlan | None  # its flat-call plan

    def __init__(
        self,
        name: str,
        function: tf.types.experimental.ConcreteFunction,
        method_name: str,
        defaults: Mapping[str, Any] | None = None,
    ):
        """``defaults``: the SignatureDef's ``defaults`` map (alias -> TensorProto)."""
        specs = function.structured_input_signature[1]
        inputs = {
            alias: InputSpec(
                alias=alias,
                dtype=spec.dtype.as_datatype_enum,
                np_dtype=_numpy_dtype(spec.dtype),
                shape=None if spec.shape.rank is None else tuple(spec.shape.as_list()),
            )
            for alias, spec in specs.items()
        }
        self._describe(name, method_name, inputs, function.structured_outputs, defaults or {})
        self._function = function
        self._flat = self._flat_call_plan(function)

    def _describe(
        self,
        name: str,
        method_name: str,
        inputs: dict[str, InputSpec],
        structured_outputs: Mapping[str, Any],
        defaults: Mapping[str, Any],
    ) -> None:
        """What both runtimes share: the signature's name, method, inputs, their defaults
        (TensorProtos) and outputs."""
        self.name = name
        self.method_name = method_name
        self.inputs = inputs
        self.defaults = _default_arrays(name, inputs, defaults)
        self._structured_outputs = structured_outputs
        self.output_aliases: tuple[str, ...] = tuple(sorted(structured_outputs))
        self.batchable = all(
            s.shape is not None and s.shape and s.shape[0] is None for s in inputs.values()
        )
        self._tf_dtypes = {alias: tf.dtypes.as_dtype(s.dtype) for alias, s in inputs.items()}
        self._function = None
        self._flat = None
        # The session runtime (from_session): the Session callable, its Session and feed
        # order. The Servable closes the Session when its version unloads and no request
        # holds it any more (Servable.close), after release() has freed the callable.
        self._session_call: Any = None
        self._session: Any = None
        self._released = False
        self._feed_order: tuple[str, ...] = ()
        self._calls_lock = threading.Lock()
        self.calls = 0

    @classmethod
    def from_session(
        cls, name: str, session: Any, signature_def: Any, method_name: str, *, inline: bool
    ) -> SignatureRunner:
        """A runner calling ``signature_def`` through a callable of ``session`` (a
        tf.compat.v1.Session holding the loaded MetaGraph).

        ``inline``: run the graph on the calling thread (RunOptions.inter_op_thread_pool =
        -1; TensorFlow uses its inter-op pool anyway when the graph is split over several
        devices). Raises ValueError for a signature with sparse or composite tensors (the
        caller then uses the function runtime).
        """
        for kind, infos in (("input", signature_def.inputs), ("output", signature_def.outputs)):
            for alias, info in infos.items():
                if info.WhichOneof("encoding") != "name":
                    raise ValueError(f"signature '{name}': {kind} '{alias}' is not a dense tensor")
        self = cls.__new__(cls)
        inputs = {
            alias: _spec_from_tensor_info(alias, info)
            for alias, info in signature_def.inputs.items()
        }
        self._describe(
            name, method_name, inputs, dict.fromkeys(signature_def.outputs), signature_def.defaults
        )
        self._session = session
        self._feed_order = tuple(sorted(inputs))
        options = config_pb2.CallableOptions()
        options.feed.extend(signature_def.inputs[a].name for a in self._feed_order)
        options.fetch.extend(signature_def.outputs[a].name for a in self.output_aliases)
        if inline:
            options.run_options.inter_op_thread_pool = -1
        # BaseSession._make_callable_from_options (Session::MakeCallable) is what the public
        # make_callable uses underneath, without its per-call fetch-structure handling and
        # with the run options fixed once; a TensorFlow without it raises AttributeError,
        # and servable.load_servable falls back to the function runtime.
        self._session_call = session._make_callable_from_options(options)
        return self

    def release(self) -> None:
        """Frees the Session callable (its executors) while the Session is still open; a
        later call answers UNAVAILABLE. Idempotent; a function-runtime runner keeps its
        function (freed with the restored object). Servable.close calls it once no request
        holds the version."""
        call, self._session_call = self._session_call, None
        self._session = None
        if call is not None:
            self._released = True
        del call  # the last reference: BaseSession._Callable.__del__ releases the handle

    def _flat_call_plan(self, function) -> _FlatPlan | None:
        """How to call the graph function with flat tensors, or None (public call only)."""
        try:
            order = tuple(function._arg_keywords)
            inference = function._inference_function
            captures = tuple(function.captured_inputs)
            outputs = function.structured_outputs
            control_captures = inference._call_options.control_captures
            name = inference.name
            output_types = inference.function_type.flat_outputs
        except AttributeError:
            return None
        if sorted(order) != sorted(self.inputs) or not isinstance(outputs, Mapping):
            return None
        output_order = tuple(sorted(outputs))
        if len(output_types) != len(output_order):
            return None
        ctx = context.context()
        ctx.ensure_initialized()
        # The context-level call skips AtomicFunction.call_flat's bookkeeping (gradient tape
        # pause, error-message interpolation, resource handle data), none of which a serving
        # call needs, unless the function has control captures or returns resources/variants.
        direct = not control_captures and all(
            t.dtype not in (tf.resource, tf.variant) for t in output_types
        )
        # The config_proto attribute is what a public call passes: the context's own config.
        config = ctx.function_call_options.config_proto_serialized
        # On GPU hosts functions may be partitioned across devices, which the single-threaded
        # executor does not run; keep TensorFlow's default executor there.
        single = _executor_choice == "auto" and not ctx.list_physical_devices("GPU")
        executor = SINGLE_THREADED_EXECUTOR if single else ""
        return _FlatPlan(
            order=order,
            dtype_enums=tuple(self.inputs[a].dtype for a in order),
            captures=captures,
            output_order=output_order,
            inference=inference,
            name=name,
            context=ctx if direct else None,
            attrs=("executor_type", executor, "config_proto", config),
        )

    def _execute(self, plan: _FlatPlan, tensors: list) -> list:
        """Runs the graph function on flat eager tensors with the plan's executor."""
        name = plan.name.decode()
        try:
            return execute.execute(name, len(plan.output_order), tensors, plan.attrs, plan.context)
        except tf.errors.OpError as e:
            if plan.attrs[1] != SINGLE_THREADED_EXECUTOR or _REFUSED_BY_SINGLE_THREADED not in (
                e.message
            ):
                raise
        # Refused when the function was instantiated, before any kernel ran: repeating the
        # call on the default executor cannot apply a side effect twice.
        log.info(
            "signature '%s' needs TensorFlow's default executor (the single-threaded one "
            "refused its graph); using it from now on",
            self.name,
        )
        attrs = ("executor_type", "", *plan.attrs[2:])
        self._flat = plan = dataclasses.replace(plan, attrs=attrs)
        return execute.execute(name, len(plan.output_order), tensors, attrs, plan.context)

    def check_inputs(self, inputs: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        """The inputs to run: ``inputs`` plus the SignatureDef's default of every input left
        out. INVALID_ARGUMENT for an alias the signature does not have, a left-out input
        without a default (TF Serving's rule: fewer inputs only where the signature has
        defaults), or a dtype or shape the signature does not take."""
        complete = len(inputs) == len(self.inputs)
        if not complete or any(a not in self.inputs for a in inputs):
            given, wanted = set(inputs), set(self.inputs)
            missing = wanted - given - set(self.defaults)
            if given - wanted or missing:
                hint = (
                    f" Inputs with a default may be left out: {sorted(self.defaults)}."
                    if self.defaults
                    else ""
                )
                raise invalid_argument(
                    f"input size does not match signature: {len(given)}!={len(wanted)} "
                    f"len({sorted(given)}) != len({sorted(wanted)}). Sent extra: "
                    f"{sorted(given - wanted)}. Missing but required: {sorted(missing)}.{hint}"
                )
        for alias, array in inputs.items():
            self.inputs[alias].check(array)
        if complete:
            return inputs
        filled = {a: d for a, d in self.defaults.items() if a not in inputs}
        return {**inputs, **filled}

    def check_output_filter(self, output_filter: Sequence[str]) -> None:
        seen: set[str] = set()
        for alias in output_filter:
            if alias not in self._structured_outputs:
                raise invalid_argument(
                    f"output tensor alias not found in signature: {alias}; outputs are "
                    f"{list(self.output_aliases)}"
                )
            if alias in seen:
                raise invalid_argument(f"duplicate output tensor alias: {alias}")
            seen.add(alias)

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs the signature on checked inputs (see check_inputs); returns every output."""
        with self._calls_lock:
            self.calls += 1
        try:
            session_call = self._session_call
            if session_call is not None:
                flat = session_call(*[inputs[a] for a in self._feed_order])
                return dict(zip(self.output_aliases, flat, strict=True))
            if self._released:
                raise ServingError(
                    Code.UNAVAILABLE, f"signature '{self.name}': its model version was unloaded"
                )
            plan = self._flat
            if plan is not None:
                ctx = plan.context
                if ctx is not None:
                    device = ctx.device_name
                    args = [
                        EagerTensor(inputs[a], device, d)
                        for a, d in zip(plan.order, plan.dtype_enums, strict=True)
                    ]
                    flat = self._execute(plan, [*args, *plan.captures])
                else:
                    args = [tf.constant(inputs[a], dtype=self._tf_dtypes[a]) for a in plan.order]
                    flat = plan.inference.call_flat(*args, *plan.captures)
                return {alias: t.numpy() for alias, t in zip(plan.output_order, flat, strict=True)}
            tensors = {a: tf.constant(v, dtype=self._tf_dtypes[a]) for a, v in inputs.items()}
            return {alias: t.numpy() for alias, t in self._function(**tensors).items()}
        except tf.errors.OpError as e:
            # TF's error codes are the canonical codes; a graph error on bad data is the
            # client's INVALID_ARGUMENT, exactly what TF Serving passes through.
            raise ServingError(Code(e.error_code), e.message) from e
        except (TypeError, ValueError) as e:
            raise invalid_argument(f"signature '{self.name}' rejected the inputs: {e}") from e
