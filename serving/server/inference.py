"""TF Serving's request semantics, shared by the gRPC servicer, the REST handler and warmup.

``predict_on`` / ``classify_on`` / ``regress_on`` run a request against one loaded version
(warmup uses them before the version takes traffic). ``InferenceService`` adds what a live
request needs: resolving ``model_spec`` (name + version or label) to a version, holding it for
the request's duration, batching, and metrics. Errors are ServingError with the status code
TF Serving returns for the same mistake.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    inference_pb2,
    predict_pb2,
    regression_pb2,
)

from seqline.serving.errors import Code, ServingError, failed_precondition, invalid_argument
from seqline.serving.request_limits import RequestBudget, RequestLimits, check_response_size
from seqline.serving.server.servable import Servable
from seqline.serving.server.signature_runner import SignatureRunner
from seqline.serving.tensor_codec import from_ndarray, to_ndarray

if TYPE_CHECKING:
    from seqline.serving.server.batching import BatchScheduler
    from seqline.serving.server.metrics import ServerMetrics
    from seqline.serving.server.model_manager import ModelManager

DEFAULT_SIGNATURE = "serving_default"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
PREDICT_METHOD = "tensorflow/serving/predict"
SIGNATURE_DEF_FIELD = "signature_def"
UNKNOWN_LABEL = "<unknown>"  # metric label for names the server does not know

# The API label of TF Serving's request/runtime latency: method names over gRPC, the REST
# handler's lower-case verbs (empty for GET metadata) over REST.
_TF_API_LABELS = {
    "grpc": {"predict": "Predict", "classify": "Classify", "regress": "Regress",
             "metadata": "GetModelMetadata", "multi_inference": "MultiInference"},
    "rest": {"predict": "predict", "classify": "classify", "regress": "regress", "metadata": ""},
}  # fmt: skip
# Methods whose requests carry a tensorflow.serving.Input (examples counted in the metrics).
_EXAMPLE_METHODS = ("classify", "regress", "multi_inference")


def _example_count(input_proto) -> int:
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        return len(input_proto.example_list.examples)
    if kind == "example_list_with_context":
        return len(input_proto.example_list_with_context.examples)
    return 0


RunFn = Callable[[Servable, SignatureRunner, Mapping[str, np.ndarray]], dict[str, np.ndarray]]


def direct_run(
    servable: Servable, runner: SignatureRunner, inputs: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Runs the signature in the calling thread (no batching)."""
    return runner(inputs)


def find_signature(servable: Servable, signature_name: str) -> SignatureRunner:
    """The runner for ``signature_name`` ("" = serving_default); FAILED_PRECONDITION if absent."""
    name = signature_name or DEFAULT_SIGNATURE
    runner = servable.signatures.get(name)
    if runner is None:
        raise failed_precondition(
            f'Serving signature key "{name}" not found. Signatures of {servable.name} version '
            f"{servable.version}: {sorted(servable.signatures)}"
        )
    return runner


def predict_arrays(
    servable: Servable,
    runner: SignatureRunner,
    inputs: Mapping[str, np.ndarray],
    output_filter: Sequence[str] = (),
    run: RunFn = direct_run,
    max_response_bytes: int | None = None,
) -> dict[str, np.ndarray]:
    """Checks ``inputs`` / ``output_filter`` and runs; returns the (filtered) outputs.
    With ``max_response_bytes``, outputs over it are RESOURCE_EXHAUSTED before encoding."""
    inputs = runner.check_inputs(inputs)  # with the signature's defaults of inputs left out
    if output_filter:
        runner.check_output_filter(output_filter)
    outputs = run(servable, runner, inputs)
    if output_filter:
        outputs = {alias: outputs[alias] for alias in output_filter}
    if max_response_bytes is not None:
        check_response_size(outputs, max_response_bytes)
    return outputs


def predict_on(
    servable: Servable,
    request: predict_pb2.PredictRequest,
    run: RunFn = direct_run,
    budget: RequestBudget | None = None,
) -> predict_pb2.PredictResponse:
    """Answers a PredictRequest with ``servable`` (its model_spec version is not consulted).

    With a ``budget``, every input's declared shape is charged before it is decoded.
    """
    runner = find_signature(servable, request.model_spec.signature_name)
    inputs = {alias: to_ndarray(proto, alias, budget) for alias, proto in request.inputs.items()}
    max_response = budget.limits.max_response_bytes if budget is not None else None
    outputs = predict_arrays(servable, runner, inputs, request.output_filter, run, max_response)
    response = predict_pb2.PredictResponse()
    spec = response.model_spec
    spec.name = servable.name
    spec.version.value = servable.version
    spec.signature_name = runner.name
    for alias, array in outputs.items():
        from_ndarray(array, response.outputs[alias])
    return response


def serialized_examples(input_proto) -> np.ndarray:
    """The serialized tf.Examples of a tensorflow.serving.Input as an object array [n].

    ExampleListWithContext: the context is merged into every example by concatenating the
    serialized messages (proto merge semantics: the example's own features win), as TF Serving
    does.
    """
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        serialized = [e.SerializeToString() for e in input_proto.example_list.examples]
    elif kind == "example_list_with_context":
        with_context = input_proto.example_list_with_context
        context = with_context.context.SerializeToString()
        serialized = [context + e.SerializeToString() for e in with_context.examples]
    else:
        serialized = []
    if not serialized:
        raise invalid_argument("Input is empty.")
    out = np.empty(len(serialized), dtype=object)
    out[:] = serialized
    return out


def _example_signature(
    servable: Servable, signature_name: str, method: str, kind: str
) -> SignatureRunner:
    name = signature_name or DEFAULT_SIGNATURE
    runner = servable.signatures.get(name)
    if runner is None:
        raise invalid_argument(f"No signature was found with the name: {name}")
    if runner.method_name != method:
        raise invalid_argument(
            f"Expected {kind} signature method_name to be {method}. Was: {runner.method_name}. "
            f"TF Serving's {kind.capitalize()} API needs a signature saved with that method "
            "name (tf.compat.v1.saved_model.classification_signature_def / "
            "regression_signature_def); call Predict for other signatures"
        )
    if len(runner.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if "inputs" not in runner.inputs:
        raise failed_precondition(
            f"No {kind} inputs found in SignatureDef '{name}': expected an input named "
            f"'inputs', got {sorted(runner.inputs)}"
        )
    return runner


def _classify_signature(servable: Servable, signature_name: str) -> SignatureRunner:
    """The classification runner for ``signature_name``, with TF Serving's checks of its
    method name, input and outputs (PreProcessClassification)."""
    runner = _example_signature(servable, signature_name, CLASSIFY_METHOD, "classification")
    outputs = set(runner.output_aliases)
    if len(outputs) not in (1, 2):
        raise invalid_argument(f"Expected one or two output Tensors, found {len(outputs)}")
    if not outputs & {"classes", "scores"}:
        raise failed_precondition(
            'Expected classification signature outputs to contain at least one of "classes" '
            f'or "scores". Signature outputs were: {sorted(outputs)}'
        )
    return runner


def _classify_into(
    runner: SignatureRunner,
    examples: np.ndarray,
    result: classification_pb2.ClassificationResult,
) -> None:
    """Runs a classification runner on serialized ``examples`` and fills ``result``."""
    outputs = runner({"inputs": examples})
    num = len(examples)
    classes = outputs.get("classes")
    scores = outputs.get("scores")
    if classes is not None:
        _check_matrix("classes", classes, num, lambda a: a.dtype == object, "DT_STRING")
    if scores is not None:
        _check_matrix("scores", scores, num, lambda a: a.dtype == np.float32, "DT_FLOAT")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise invalid_argument(
            f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} "
            f"vs. {scores.shape[1]}"
        )
    present = classes if classes is not None else scores
    assert present is not None  # the signature has classes or scores (checked before)
    num_classes = present.shape[1]
    for i in range(num):
        row = result.classifications.add()
        for c in range(num_classes):
            entry = row.classes.add()
            if classes is not None:
                entry.label = classes[i, c].decode("utf-8", errors="replace")
            if scores is not None:
                entry.score = float(scores[i, c])


def classify_on(
    servable: Servable, request: classification_pb2.ClassificationRequest
) -> classification_pb2.ClassificationResponse:
    """Answers a ClassificationRequest with ``servable``; TF Serving's signature checks."""
    runner = _classify_signature(servable, request.model_spec.signature_name)
    examples = serialized_examples(request.input)
    response = classification_pb2.ClassificationResponse()
    _fill_spec(response.model_spec, servable, runner)
    _classify_into(runner, examples, response.result)
    return response


def _check_matrix(
    name: str, array: np.ndarray, num: int, dtype_ok: Callable[[np.ndarray], bool], want: str
) -> None:
    if array.ndim != 2:
        raise invalid_argument(
            f"Expected Tensor shape: [batch_size num_classes] but got {list(array.shape)} "
            f"for output '{name}'"
        )
    if not dtype_ok(array):
        raise invalid_argument(f"Expected {name} Tensor of {want}. Got: {array.dtype}")
    if array.shape[0] != num:
        raise invalid_argument(f"Expected {name} output batch size of {num}. Got: {array.shape[0]}")


def _regress_signature(servable: Servable, signature_name: str) -> SignatureRunner:
    """The regression runner for ``signature_name``, with TF Serving's checks of its method
    name, input and output (PreProcessRegression)."""
    runner = _example_signature(servable, signature_name, REGRESS_METHOD, "regression")
    if len(runner.output_aliases) != 1:
        raise invalid_argument("Expected one output Tensor.")
    if "outputs" not in runner.output_aliases:
        raise failed_precondition(
            "No regression outputs found in SignatureDef: expected an output named 'outputs', "
            f"got {list(runner.output_aliases)}"
        )
    return runner


def _regress_into(
    runner: SignatureRunner, examples: np.ndarray, result: regression_pb2.RegressionResult
) -> None:
    """Runs a regression runner on serialized ``examples`` and fills ``result``."""
    values = runner({"inputs": examples})["outputs"]
    num = len(examples)
    if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
        raise invalid_argument(
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
            f"{list(values.shape)}"
        )
    if values.dtype != np.float32:
        raise invalid_argument(f"Expected output Tensor of DT_FLOAT. Got: {values.dtype}")
    if values.shape[0] != num:
        raise invalid_argument(f"Expected output batch size of {num}. Got: {values.shape[0]}")
    for value in values.reshape(-1).tolist():
        result.regressions.add().value = value


def regress_on(
    servable: Servable, request: regression_pb2.RegressionRequest
) -> regression_pb2.RegressionResponse:
    """Answers a RegressionRequest with ``servable``; TF Serving's signature checks."""
    runner = _regress_signature(servable, request.model_spec.signature_name)
    examples = serialized_examples(request.input)
    response = regression_pb2.RegressionResponse()
    _fill_spec(response.model_spec, servable, runner)
    _regress_into(runner, examples, response.result)
    return response


def _no_tasks() -> ServingError:
    return invalid_argument(
        "MultiInferenceRequest has no tasks; add one (model_spec and method_name "
        f"{CLASSIFY_METHOD} or {REGRESS_METHOD}) per signature to run"
    )


def multi_inference_on(
    servable: Servable, request: inference_pb2.MultiInferenceRequest
) -> inference_pb2.MultiInferenceResponse:
    """Answers a MultiInferenceRequest with ``servable``: each task, a classify or regress
    signature of the one model, runs on the request's one Input; results come in task order,
    each with its model_spec (name, signature, version).

    TF Serving's checks and messages (multi_inference.cc), all before anything runs: every
    task names the same model, no signature twice, each signature exists and passes the
    Classify / Regress checks of its method; another method is UNIMPLEMENTED. (TF Serving
    fetches all tasks' outputs in one Session run; here each signature runs once on the same
    examples, which gives the same results for models without state.)
    """
    if not request.tasks:
        raise _no_tasks()
    model_name = ""
    seen: set[str] = set()
    runs: list[tuple[str, SignatureRunner]] = []
    for task in request.tasks:
        name = task.model_spec.name
        if not name:
            raise invalid_argument("Found ModelSpec with an empty model name.")
        if not model_name:
            model_name = name
        elif name != model_name:
            raise invalid_argument(
                "All ModelSpecs in a MultiInferenceRequest must access the same model name. "
                f"Got '{model_name}' and '{name}'; send one request per model"
            )
        signature = task.model_spec.signature_name or DEFAULT_SIGNATURE
        if signature in seen:
            raise invalid_argument(f"Duplicate evaluation of signature: {signature}")
        seen.add(signature)
        if signature not in servable.signatures:
            raise invalid_argument(
                f"Requested signature not found in model graph: {signature}. Signatures of "
                f"{servable.name} version {servable.version}: {sorted(servable.signatures)}"
            )
        if task.method_name == CLASSIFY_METHOD:
            runs.append((CLASSIFY_METHOD, _classify_signature(servable, signature)))
        elif task.method_name == REGRESS_METHOD:
            runs.append((REGRESS_METHOD, _regress_signature(servable, signature)))
        else:
            raise ServingError(
                Code.UNIMPLEMENTED,
                f"Unsupported signature method_name: {task.method_name}. A task's method_name "
                f"is {CLASSIFY_METHOD} or {REGRESS_METHOD}; call Predict for other signatures",
            )
    examples = serialized_examples(request.input)
    response = inference_pb2.MultiInferenceResponse()
    for method, runner in runs:
        result = response.results.add()
        if method == CLASSIFY_METHOD:
            _classify_into(runner, examples, result.classification_result)
        else:
            _regress_into(runner, examples, result.regression_result)
        result.model_spec.name = model_name
        result.model_spec.signature_name = runner.name
        result.model_spec.version.value = servable.version
    return response


def _fill_spec(spec, servable: Servable, runner: SignatureRunner) -> None:
    spec.name = servable.name
    spec.version.value = servable.version
    spec.signature_name = runner.name


def metadata_on(
    servable: Servable, request: get_model_metadata_pb2.GetModelMetadataRequest
) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """GetModelMetadata: only "signature_def" is supported, as in TF Serving."""
    fields = list(request.metadata_field)
    if not fields:
        raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
    for field_name in fields:
        if field_name != SIGNATURE_DEF_FIELD:
            raise invalid_argument(f"Metadata field {field_name} is not supported")
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    response.metadata[SIGNATURE_DEF_FIELD].CopyFrom(servable.metadata_any)
    return response


class InferenceService:
    """Live requests: resolve the version, hold it, run (batched if configured), count.

    ``api`` ("grpc" / "rest") labels the metrics. Every method raises ServingError.
    """

    def __init__(
        self,
        manager: ModelManager,
        batcher: BatchScheduler | None = None,
        metrics: ServerMetrics | None = None,
        limits: RequestLimits | None = None,
    ) -> None:
        self.manager = manager
        self.batcher = batcher
        self.metrics = metrics
        self.limits = limits or RequestLimits()
        self._run: RunFn = batcher.run if batcher is not None else direct_run

    def _resolve(self, model_spec) -> Servable:
        version_choice = model_spec.WhichOneof("version_choice")
        return self.manager.resolve(
            model_spec.name,
            version=model_spec.version.value if version_choice == "version" else None,
            label=model_spec.version_label if version_choice == "version_label" else None,
        )

    def _observe(
        self,
        method: str,
        api: str,
        request,
        spec,
        servable: Servable | None,
        status: Code,
        start: float,
        runtime: float | None,
    ) -> None:
        if self.metrics is None:
            return
        elapsed = time.perf_counter() - start
        # Label values come from the request only when they name something that exists, so a
        # client sending random names cannot grow the number of metric series without bound.
        signature = ""  # metadata; MultiInference runs several
        if method not in ("metadata", "multi_inference"):
            signature = spec.signature_name or DEFAULT_SIGNATURE
            if servable is None or signature not in servable.signatures:
                signature = UNKNOWN_LABEL
        model = spec.name if self.manager.is_configured(spec.name) else UNKNOWN_LABEL
        self.metrics.observe_request(
            model=model,
            version=str(servable.version) if servable is not None else "",
            signature=signature,
            method=method,
            api=api,
            status=status.name,
            seconds=elapsed,
        )
        # TF Serving's own series: gRPC GetModelMetadata is not counted there, REST is.
        tf_metrics = self.metrics.tf
        if method == "metadata" and api == "grpc":
            return
        tf_metrics.request_count.increment(model, status.name)
        api_label = _TF_API_LABELS[api][method]
        if status == Code.OK:
            entrypoint = "GRPC" if api == "grpc" else "REST"
            tf_metrics.request_latency.add(elapsed * 1e6, model, api_label, entrypoint)
            if runtime is not None:
                tf_metrics.runtime_latency.add(runtime * 1e6, model, _TF_API_LABELS["grpc"][method],
                                               "TF1")  # fmt: skip
        if method in _EXAMPLE_METHODS and servable is not None:
            count = _example_count(request.input)
            tf_metrics.example_counts.add(count, model)
            tf_metrics.example_count_total.increment(model, by=count)

    def _call(
        self,
        method: str,
        api: str,
        request,
        body: Callable[[Servable, RunFn], object],
        model_spec=None,
    ):
        """Resolves, holds and answers ``request`` with ``body(servable, run)``; records
        metrics. ``run`` is the signature runner (batched if configured), timed.
        ``model_spec``: the spec to resolve when the request has no model_spec field of its
        own (MultiInference: its first task's)."""
        spec = request.model_spec if model_spec is None else model_spec
        start = time.perf_counter()
        servable = None
        status = Code.INTERNAL
        runtime: list[float] = []

        def run(servable, runner, inputs):
            run_start = time.perf_counter()
            outputs = self._run(servable, runner, inputs)
            runtime.append(time.perf_counter() - run_start)
            return outputs

        try:
            if model_spec is None and not request.HasField("model_spec"):
                raise invalid_argument("Missing ModelSpec")
            servable = self._resolve(spec)
            servable.acquire()
            try:
                body_start = time.perf_counter()
                response = body(servable, run)
                if method in ("classify", "regress"):  # the signature run is the body
                    runtime.append(time.perf_counter() - body_start)
            finally:
                servable.release()
            status = Code.OK
            return response
        except ServingError as e:
            status = e.code
            raise
        finally:
            self._observe(method, api, request, spec, servable, status, start,
                          sum(runtime) if runtime else None)  # fmt: skip

    def predict(
        self, request: predict_pb2.PredictRequest, api: str = "grpc"
    ) -> predict_pb2.PredictResponse:
        return self._call(
            "predict",
            api,
            request,
            lambda s, run: predict_on(s, request, run, self.limits.budget()),
        )

    def predict_json(
        self,
        model_spec,
        decode: Callable[[SignatureRunner], dict[str, np.ndarray]],
        output_filter: Sequence[str] = (),
        api: str = "rest",
    ) -> tuple[Servable, dict[str, np.ndarray]]:
        """Predict for REST: ``decode(runner)`` turns the body into inputs once the signature
        (and so the input dtypes) is known. Returns (servable, outputs)."""
        request = predict_pb2.PredictRequest()
        request.model_spec.CopyFrom(model_spec)
        result: list[Servable] = []

        def body(servable: Servable, run: RunFn) -> dict[str, np.ndarray]:
            runner = find_signature(servable, model_spec.signature_name)
            result.append(servable)
            return predict_arrays(
                servable,
                runner,
                decode(runner),
                output_filter,
                run,
                self.limits.max_response_bytes,
            )

        outputs = self._call("predict", api, request, body)
        return result[0], outputs

    def classify(
        self, request: classification_pb2.ClassificationRequest, api: str = "grpc"
    ) -> classification_pb2.ClassificationResponse:
        return self._call("classify", api, request, lambda s, _run: classify_on(s, request))

    def regress(
        self, request: regression_pb2.RegressionRequest, api: str = "grpc"
    ) -> regression_pb2.RegressionResponse:
        return self._call("regress", api, request, lambda s, _run: regress_on(s, request))

    def multi_inference(
        self, request: inference_pb2.MultiInferenceRequest, api: str = "grpc"
    ) -> inference_pb2.MultiInferenceResponse:
        """MultiInference: the version is resolved from the first task's model_spec (name,
        version or label), as TF Serving does; see multi_inference_on."""
        if not request.tasks:
            raise _no_tasks()
        spec = request.tasks[0].model_spec
        if not spec.name:
            raise invalid_argument("Found ModelSpec with an empty model name.")
        return self._call(
            "multi_inference",
            api,
            request,
            lambda s, _run: multi_inference_on(s, request),
            model_spec=spec,
        )

    def get_model_metadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest, api: str = "grpc"
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        return self._call("metadata", api, request, lambda s, _run: metadata_on(s, request))
