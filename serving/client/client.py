"""A gRPC client for TensorFlow Serving's PredictionService and ModelService.

`PredictionClient` speaks only the stock `tensorflow_serving.apis` protocol, so the same code
talks to a real `tensorflow_model_server` and to `seqline serve`. It adds what production callers
otherwise re-implement: numpy in/out, tf.Example building for Classify/Regress, an explicit
deadline on every call, retries with exponential backoff and jitter on codes that are safe to
retry, and one exception type (`RequestFailed`, a seqline.serving.errors.ServingError) carrying
the status code and the server's message.

Importing this module is cheap (stdlib and numpy): grpc and the TF Serving protos (which import
TensorFlow) load when the first `PredictionClient` is built. `RestClient` (TF Serving's REST API
over urllib, no TensorFlow at all) lives in seqline.serving.client.rest_client and is
re-exported here.

Example:
    with PredictionClient("127.0.0.1:8500", "half_plus_two") as client:
        client.wait_until_available(timeout=30)
        outputs = client.predict({"x": np.array([1.0, 2.0], np.float32)})
        outputs["y"]  # float32 [2]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from seqline.serving.client.client_base import ModelClientBase
from seqline.serving.client.model_info import (
    ModelMetadata,
    SignatureInfo,
    TensorSpecInfo,
    VersionStatus,
    signatures_from_json,
)
from seqline.serving.client.retry import (
    DEFAULT_RETRY_CODES,
    RequestFailed,
    RetryEvent,
    RetryPolicy,
)
from seqline.serving.client.signature_cache import PRESEND_LOOKUP_SHARE, SignatureCache
from seqline.serving.errors import Code, ServingError
from seqline.serving.grpc_experiments import LOW_LATENCY_GRPC_EXPERIMENTS, prefer_low_latency_grpc
from seqline.serving.request_inputs import (
    as_input_array,
    examples_input,
    make_example,
    needs_declared_dtype,
)

logger = logging.getLogger(__name__)

if TYPE_CHECKING:  # pragma: no cover - typing only; importing grpc at run time is deferred.
    import grpc

__all__ = [
    "Code",
    "ModelMetadata",
    "PredictionClient",
    "RequestFailed",
    "RetryEvent",
    "RetryPolicy",
    "ServingError",
    "SignatureInfo",
    "TensorSpecInfo",
    "VersionStatus",
    "decode_outputs",
    "make_example",
]

# MultiInference task methods by short and full name.
_MULTI_INFERENCE_METHODS = {
    "classify": "tensorflow/serving/classify",
    "regress": "tensorflow/serving/regress",
    "tensorflow/serving/classify": "tensorflow/serving/classify",
    "tensorflow/serving/regress": "tensorflow/serving/regress",
}

# Message size limits: gRPC's default 4 MB receive limit is too small for batched predictions.
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024

# Reconnect soon after the server restarts or starts late: gRPC's default reconnect backoff
# starts at 1 s and grows to 120 s, during which every fail-fast call (and so every retry) gets
# UNAVAILABLE without trying. (Not grpc.min_reconnect_backoff_ms: despite its name that is the
# minimum *connect timeout*, 20 s by default; lowering it breaks slow connections.)
DEFAULT_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
)


class PredictionClient(ModelClientBase):
    """A client for one model on a TF Serving-compatible gRPC server.

    Args:
        target: "host:port" of the server's gRPC port (TF Serving's default is 8500).
        model_name: the model to address.
        version: pin a version (int) for every call; default None = the server's choice
            (the latest AVAILABLE version).
        version_label: pin a version label (e.g. "stable") instead; not with `version`.
        signature_name: default signature for predict; "serving_default" by default.
        timeout: default deadline per call in seconds (retries included); 10.0.
        retries: how many times to retry a call that failed with a code in `retry_codes`; 3.
        backoff: initial retry delay in seconds, doubled per retry up to `max_backoff` (2 s),
            with full jitter; 0.05.
        retry_codes: status codes (Code, int or name) to retry; default {UNAVAILABLE}.
        on_retry: called with a RetryEvent before each retry wait (logging, metrics).
        wait_for_ready: default False: a call fails fast with UNAVAILABLE when the server
            cannot be reached (and is retried per the policy). True: calls wait, within their
            deadline, for the channel to connect (for scripts started alongside the server).
        credentials: grpc.ChannelCredentials for TLS; default None = plaintext channel.
        channel: an existing grpc.Channel to use instead of opening one (not closed by close()).
        max_message_bytes: send/receive message size limit; 256 MiB.
        metadata: extra gRPC metadata (e.g. auth headers) sent with every call.

    Thread-safe: one client (one channel) can serve many threads, which is the efficient way.

    The first client built before anything imports grpc sets GRPC_EXPERIMENTS to
    "-event_engine_client,-event_engine_listener" for the process (seqline.serving.
    grpc_experiments): calls poll their socket in the calling thread instead of being woken by
    an EventEngine thread. Set GRPC_EXPERIMENTS yourself (e.g. to "") to keep grpcio's default.
    """

    def __init__(
        self,
        target: str,
        model_name: str,
        *,
        version: int | None = None,
        version_label: str | None = None,
        signature_name: str = "serving_default",
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        retry_codes: Iterable[Code | int | str] = DEFAULT_RETRY_CODES,
        on_retry: Callable[[RetryEvent], None] | None = None,
        wait_for_ready: bool = False,
        credentials: grpc.ChannelCredentials | None = None,
        channel: grpc.Channel | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> None:
        if prefer_low_latency_grpc():
            logger.debug(
                "GRPC_EXPERIMENTS=%s (lower latency per call)", LOW_LATENCY_GRPC_EXPERIMENTS
            )
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        super().__init__(
            model_name,
            version=version,
            version_label=version_label,
            signature_name=signature_name,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
            retry_codes=retry_codes,
            on_retry=on_retry,
        )
        self.target = target
        self.wait_for_ready = wait_for_ready
        self._metadata = tuple(metadata) or None
        self._owns_channel = channel is None
        if channel is None:
            options = [
                ("grpc.max_send_message_length", max_message_bytes),
                ("grpc.max_receive_message_length", max_message_bytes),
                *DEFAULT_CHANNEL_OPTIONS,
            ]
            if credentials is None:
                channel = grpc.insecure_channel(target, options=options)
            else:
                channel = grpc.secure_channel(target, credentials, options=options)
        self.channel = channel
        self._prediction = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(channel)
        # Declared input dtypes per (version, label, signature), to cast list inputs correctly.
        self._input_dtypes: SignatureCache[dict[str, np.dtype]] = SignatureCache()

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the channel if this client opened it."""
        if self._owns_channel:
            self.channel.close()

    def __enter__(self) -> PredictionClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PredictionClient(target={self.target!r}, model_name={self.model_name!r})"

    # -- requests ---------------------------------------------------------------------------

    def predict(
        self,
        inputs: Mapping[str, Any],
        *,
        signature_name: str | None = None,
        output_filter: Sequence[str] = (),
        version: int | None = None,
        version_label: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Calls Predict and returns the outputs as numpy arrays.

        Args:
            inputs: {input name: numpy array, list or scalar}. numpy arrays are sent with their
                dtype, except object arrays (pandas' .to_numpy() of a mixed column): text for a
                string input, else cast to the declared dtype. Lists and scalars are cast to
                the signature's declared dtype. str becomes UTF-8 bytes. The declared dtypes
                come from GetModelMetadata, read only when an input needs them (a list, scalar
                or object array), within at most a quarter of the call's time, and cached
                (a failed read for 30 s; see serving.client.signature_cache).
            signature_name: default the client's (`serving_default`).
            output_filter: only these outputs; default all.
            version / version_label: override the client's version selection for this call.
            timeout: deadline in seconds for this call, retries included; default the client's.

        Returns:
            {output name: numpy array}; DT_STRING outputs are object arrays of bytes.

        Raises:
            RequestFailed: with the server's status code and message.
            InputError (a ValueError, from seqline.serving.request_inputs): before sending,
                naming the input: a string input holding a non-text element, a str that
                is not valid Unicode (a lone surrogate from undecodable bytes; pass bytes), or
                an object array a numeric input's dtype cannot take.
        """
        response = self.predict_response(
            inputs,
            signature_name=signature_name,
            output_filter=output_filter,
            version=version,
            version_label=version_label,
            timeout=timeout,
        )
        return decode_outputs(response)

    def predict_response(
        self,
        inputs: Mapping[str, Any],
        *,
        signature_name: str | None = None,
        output_filter: Sequence[str] = (),
        version: int | None = None,
        version_label: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Like predict() but returns the raw PredictResponse (its model_spec says which version
        answered)."""
        from tensorflow_serving.apis import predict_pb2

        from seqline.serving.tensor_codec import from_ndarray

        signature = signature_name or self.signature_name
        budget = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        request = predict_pb2.PredictRequest()
        self._fill_model_spec(request.model_spec, version, version_label, signature)
        declared = self._declared_input_dtypes(
            inputs, version, version_label, signature, budget * PRESEND_LOOKUP_SHARE
        )
        for name, value in inputs.items():
            array = as_input_array(value, declared.get(name), name)
            from_ndarray(array, request.inputs[name])
        request.output_filter.extend(output_filter)
        # One deadline for the whole call, including a metadata lookup (at most its share).
        remaining = max(deadline - time.monotonic(), 0.001)
        return self._call("Predict", self._prediction.Predict, request, remaining)

    def classify(
        self,
        examples: Iterable[Any],
        *,
        signature_name: str | None = None,
        version: int | None = None,
        version_label: str | None = None,
        timeout: float | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Calls Classify on a classification signature.

        Args:
            examples: tf.train.Example protos or {feature name: value} dicts (see make_example).
            signature_name: a signature with method "tensorflow/serving/classify"; default the
                client's.

        Returns:
            Per example, a list of (label, score); label is "" when the signature has no classes
            output.
        """
        from tensorflow_serving.apis import classification_pb2

        response = self._call_on_examples(
            "Classify",
            self._prediction.Classify,
            classification_pb2.ClassificationRequest(),
            examples,
            signature_name,
            version,
            version_label,
            timeout,
        )
        return [
            [(c.label, float(c.score)) for c in classification.classes]
            for classification in response.result.classifications
        ]

    def regress(
        self,
        examples: Iterable[Any],
        *,
        signature_name: str | None = None,
        version: int | None = None,
        version_label: str | None = None,
        timeout: float | None = None,
    ) -> np.ndarray:
        """Calls Regress on a regression signature; returns float32 [num_examples]."""
        from tensorflow_serving.apis import regression_pb2

        response = self._call_on_examples(
            "Regress",
            self._prediction.Regress,
            regression_pb2.RegressionRequest(),
            examples,
            signature_name,
            version,
            version_label,
            timeout,
        )
        return np.array([r.value for r in response.result.regressions], dtype=np.float32)

    def multi_inference(
        self,
        examples: Iterable[Any],
        tasks: Sequence[tuple[str, str]],
        *,
        version: int | None = None,
        version_label: str | None = None,
        timeout: float | None = None,
    ) -> list[list[list[tuple[str, float]]] | np.ndarray]:
        """Calls MultiInference: several classify / regress signatures of the model run on the
        same examples in one request.

        Args:
            examples: tf.train.Example protos or {feature name: value} dicts (see make_example).
            tasks: (signature name, method) pairs; method "classify" or "regress" (or the full
                "tensorflow/serving/classify" / "tensorflow/serving/regress"), and each
                signature must have that method. A signature appears once.

        Returns:
            One result per task, in order: for a classify task, per example a list of
            (label, score) (as classify()); for a regress task, float32 [num_examples].

        Raises:
            ValueError: no tasks, or a method other than classify / regress.
            RequestFailed: with the server's status code and message.
        """
        from tensorflow_serving.apis import inference_pb2

        request = inference_pb2.MultiInferenceRequest()
        for signature, method in tasks:
            full = _MULTI_INFERENCE_METHODS.get(method)
            if full is None:
                raise ValueError(
                    f"task ({signature!r}, {method!r}): expected the method 'classify' or "
                    f"'regress', got {method!r}"
                )
            task = request.tasks.add()
            self._fill_model_spec(task.model_spec, version, version_label, signature)
            task.method_name = full
        if not request.tasks:
            raise ValueError(
                "tasks: expected at least one (signature name, 'classify' | 'regress') pair"
            )
        request.input.CopyFrom(examples_input(examples))
        response = self._call("MultiInference", self._prediction.MultiInference, request, timeout)
        results: list[list[list[tuple[str, float]]] | np.ndarray] = []
        for result in response.results:
            if result.WhichOneof("result") == "classification_result":
                results.append(
                    [
                        [(c.label, float(c.score)) for c in row.classes]
                        for row in result.classification_result.classifications
                    ]
                )
            else:
                values = [r.value for r in result.regression_result.regressions]
                results.append(np.array(values, dtype=np.float32))
        return results

    def metadata(
        self,
        *,
        version: int | None = None,
        version_label: str | None = None,
        timeout: float | None = None,
    ) -> ModelMetadata:
        """Calls GetModelMetadata (signature_def) and returns the signatures."""
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest()
        self._fill_model_spec(request.model_spec, version, version_label, None)
        request.metadata_field.append("signature_def")
        response = self._call(
            "GetModelMetadata", self._prediction.GetModelMetadata, request, timeout
        )
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        packed = response.metadata.get("signature_def")
        if packed is None or not packed.Unpack(signature_map):
            raise RequestFailed(
                Code.INTERNAL,
                "GetModelMetadata answered without a 'signature_def' SignatureDefMap entry; "
                "expected TF Serving's metadata format",
                method="GetModelMetadata",
            )
        as_json = json_format.MessageToDict(signature_map, preserving_proto_field_name=True)
        spec = response.model_spec
        return ModelMetadata(
            model_name=spec.name or self.model_name,
            version=spec.version.value if spec.HasField("version") else None,
            signatures=signatures_from_json(as_json),
        )

    def status(
        self,
        *,
        version: int | None = None,
        version_label: str | None = None,
        timeout: float | None = None,
    ) -> list[VersionStatus]:
        """Calls ModelService.GetModelStatus; all versions unless one is selected.

        Returns:
            VersionStatus per version, sorted by version.
        """
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._fill_model_spec(request.model_spec, version, version_label, None, use_default=False)
        response = self._call("GetModelStatus", self._models.GetModelStatus, request, timeout)
        state_names = get_model_status_pb2.ModelVersionStatus.State.Name
        result = [
            VersionStatus(
                version=int(s.version),
                state=state_names(s.state),
                error_code=_code_name(s.status.error_code),
                error_message=s.status.error_message,
            )
            for s in response.model_version_status
        ]
        return sorted(result, key=lambda s: s.version)

    # -- internals --------------------------------------------------------------------------

    def _fill_model_spec(
        self,
        spec: Any,
        version: int | None,
        version_label: str | None,
        signature_name: str | None,
        *,
        use_default: bool = True,
    ) -> None:
        version, version_label = self._select_version(
            version, version_label, use_default=use_default
        )
        spec.name = self.model_name
        if version is not None:
            spec.version.value = int(version)
        elif version_label is not None:
            spec.version_label = version_label
        if signature_name:
            spec.signature_name = signature_name

    def _call_on_examples(
        self,
        method: str,
        rpc: Callable[..., Any],
        request: Any,
        examples: Iterable[Any],
        signature_name: str | None,
        version: int | None,
        version_label: str | None,
        timeout: float | None,
    ) -> Any:
        """Fills a Classify/Regress `request` (model spec, examples) and calls `rpc` with it."""
        self._fill_model_spec(
            request.model_spec, version, version_label, signature_name or self.signature_name
        )
        request.input.CopyFrom(examples_input(examples))
        return self._call(method, rpc, request, timeout)

    def _declared_input_dtypes(
        self,
        inputs: Mapping[str, Any],
        version: int | None,
        version_label: str | None,
        signature: str,
        timeout: float | None,
    ) -> dict[str, np.dtype]:
        """The signature's declared input dtypes, looked up only when an input needs them
        (needs_declared_dtype: lists, scalars, object arrays; numeric and str/bytes arrays are
        sent as they are, so the common path never pays for a metadata call), within
        `timeout` (the caller's PRESEND_LOOKUP_SHARE of the call), and remembered as
        signature_cache says, a failed lookup included."""
        if not any(needs_declared_dtype(v) for v in inputs.values()):
            return {}
        selected = self._select_version(version, version_label)
        key = (*selected, signature)
        found, cached = self._input_dtypes.get(key)
        if found:
            return cached or {}
        try:
            meta = self.metadata(version=version, version_label=version_label, timeout=timeout)
        except RequestFailed as exc:
            # Casting is a convenience: without metadata, fall back to TF's Python-value rules
            # and let the server judge the request.
            logger.debug("no metadata for input dtypes (%s); using default casts", exc)
            self._input_dtypes.put_failed(key)
            return {}
        sig = meta.signatures.get(signature)
        dtypes = {}
        if sig is not None:
            dtypes = {k: v.numpy_dtype for k, v in sig.inputs.items() if v.numpy_dtype}
        self._input_dtypes.put(key, dtypes, pinned=selected[0] is not None)
        return dtypes

    def _call(self, method: str, rpc: Callable[..., Any], request: Any, timeout: float | None):
        def attempt(remaining: float, number: int) -> Any:
            return rpc(
                request,
                timeout=remaining,
                metadata=self._metadata,
                wait_for_ready=self.wait_for_ready,
            )

        return self._call_with_policy(method, attempt, timeout, _grpc_error)


def decode_outputs(response: Any) -> dict[str, np.ndarray]:
    """{output name: numpy array} from a PredictResponse (writable arrays; strings as bytes)."""
    from seqline.serving.tensor_codec import to_ndarray

    outputs = {}
    for name, tensor in response.outputs.items():
        array = to_ndarray(tensor, name)
        # tensor_content decodes to a read-only view of the response's bytes.
        outputs[name] = array if array.flags.writeable else array.copy()
    return outputs


def _grpc_error(exc: BaseException) -> RequestFailed | None:
    """The RequestFailed for a failed gRPC call; None for other exceptions."""
    import grpc

    if not isinstance(exc, grpc.RpcError) or not hasattr(exc, "code"):
        return None
    status = exc.code()
    # grpc.StatusCode values are (int, name) tuples with the canonical numbering.
    code = Code(status.value[0]) if isinstance(status, grpc.StatusCode) else Code.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else ""
    return RequestFailed(code, details or f"gRPC call failed with {code.name}")


def _code_name(value: int) -> str:
    try:
        return Code(value).name
    except ValueError:
        return str(value)


def __getattr__(name: str) -> Any:
    # RestClient lives in its own module (no grpc/TensorFlow imports); exposed here lazily so
    # `from seqline.serving.client.client import RestClient` works without a circular import.
    if name == "RestClient":
        from seqline.serving.client.rest_client import RestClient

        return RestClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
