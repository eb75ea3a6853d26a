"""SavedModel warmup records: `{saved_model}/assets.extra/tf_serving_warmup_requests`.

TensorFlow Serving replays this file (a TFRecord of PredictionLog protos, at most 1000) against
a freshly loaded version before marking it AVAILABLE, so the first real requests do not pay for
graph initialisation. `seqline serve` does the same. This module writes such a file from example
inputs and reads one back, validating it the way a server would (record count, parseable
PredictionLogs with a request, and optionally signature names, input names and dtypes against
the SavedModel), so a bad file is caught before a push rather than at load time.

Example:
    write_warmup_requests(
        "/models/imdb/3",
        [{"text": ["a good film"]}, ("serving_default", {"examples": [serialized]})],
        signature_name="predict_text",
    )
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import prediction_log_pb2

from seqline.serving.request_inputs import as_input_array
from seqline.serving.tensor_codec import dtype_name, from_ndarray, numpy_dtype

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
# TF Serving refuses to load a version whose warmup file has more records than this.
MAX_WARMUP_RECORDS = 1000

# The PredictionLog kinds TF Serving replays, and the request field each carries.
_LOG_REQUESTS = {
    "predict_log": "request",
    "classify_log": "request",
    "regress_log": "request",
    "multi_inference_log": "request",
    "session_run_log": "request",
}

WarmupItem = Mapping[str, Any] | tuple[str, Mapping[str, Any]]


class InvalidWarmupRequests(ValueError):
    """A warmup file or the inputs given to write one are invalid; the message says which
    record, what was expected and what was found."""


def warmup_path(saved_model_dir: str) -> str:
    """`{saved_model_dir}/assets.extra/tf_serving_warmup_requests`."""
    return os.path.join(saved_model_dir, WARMUP_DIR, WARMUP_FILE)


def build_predict_log(
    inputs: Mapping[str, Any],
    signature_name: str = "serving_default",
    model_name: str = "",
    declared_dtypes: Mapping[str, Any] | None = None,
) -> prediction_log_pb2.PredictionLog:
    """A PredictionLog holding one PredictRequest for `inputs` ({name: array, list, scalar}).

    Lists and scalars take `declared_dtypes[name]` (numpy dtypes, e.g. from the signature) when
    given, else TensorFlow's Python-value dtypes (float32, int32/int64, string); numpy arrays
    keep theirs. The model name may stay empty: servers replay warmup requests against the
    version being loaded, whatever name they carry.
    """
    declared_dtypes = declared_dtypes or {}
    if not inputs:
        raise InvalidWarmupRequests(
            f"expected at least one named input for signature '{signature_name}', got none"
        )
    log = prediction_log_pb2.PredictionLog()
    request = log.predict_log.request
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for name, value in inputs.items():
        from_ndarray(as_input_array(value, declared_dtypes.get(name)), request.inputs[name])
    return log


def write_warmup_requests(
    saved_model_dir: str,
    items: Iterable[WarmupItem],
    *,
    signature_name: str = "serving_default",
    model_name: str = "",
    check_signatures: bool = True,
) -> str:
    """Writes the warmup file of a SavedModel; returns its path.

    Args:
        saved_model_dir: a SavedModel directory (holding saved_model.pb); local or gs:// etc.
        items: one Predict request each: an {input name: value} mapping for `signature_name`,
            or a (signature name, mapping) pair to warm another signature. 1..1000 items.
        signature_name: signature for plain mappings; default "serving_default".
        model_name: written into each request's model_spec (servers ignore it); default "".
        check_signatures: check each request's signature exists with these input names (those
            with a SignatureDef default may be left out) and dtypes (reads saved_model.pb, no
            TensorFlow graph loading); default True.

    The file is written to a temporary name and renamed, so a server polling the directory
    never replays a half-written file.

    Raises:
        InvalidWarmupRequests: no items, more than 1000, or a request that does not match the
            SavedModel's signatures.
    """
    signatures = read_signature_defs(saved_model_dir) if check_signatures else {}
    logs = []
    for item in items:
        signature, inputs = item if isinstance(item, tuple) else (signature_name, item)
        declared = {}
        if signature in signatures:
            declared = {k: numpy_dtype(v.dtype) for k, v in signatures[signature].inputs.items()}
        logs.append(build_predict_log(inputs, signature, model_name, declared))
    if not 1 <= len(logs) <= MAX_WARMUP_RECORDS:
        raise InvalidWarmupRequests(
            f"expected 1 to {MAX_WARMUP_RECORDS} warmup requests (TF Serving's limit), got "
            f"{len(logs)}; pass a few representative inputs, e.g. one per batch size"
        )
    if check_signatures:
        for index, log in enumerate(logs):
            _check_against_signatures(log, signatures, index)
    path = warmup_path(saved_model_dir)
    tf.io.gfile.makedirs(os.path.dirname(path))
    temp = f"{path}.tmp-{uuid.uuid4().hex}"
    try:
        with tf.io.TFRecordWriter(temp) as writer:
            for log in logs:
                writer.write(log.SerializeToString())
        tf.io.gfile.rename(temp, path, overwrite=True)
    finally:
        if tf.io.gfile.exists(temp):
            tf.io.gfile.remove(temp)
    return path


def read_warmup_requests(
    path: str, *, saved_model_dir: str | None = None
) -> list[prediction_log_pb2.PredictionLog]:
    """Reads and validates a warmup file; returns its PredictionLogs in order.

    Args:
        path: the warmup file, or a SavedModel directory (then its assets.extra file is read
            and checked against that SavedModel's signatures).
        saved_model_dir: check Predict requests against this SavedModel's signatures (signature
            exists, input names and dtypes match); default: only when `path` is a directory.

    Raises:
        InvalidWarmupRequests: missing or corrupt file, more than 1000 records, a record that is
            not a PredictionLog with a request, or (when checked) a signature mismatch.
    """
    if tf.io.gfile.isdir(path):
        saved_model_dir = saved_model_dir or path
        path = warmup_path(path)
    if not tf.io.gfile.exists(path):
        raise InvalidWarmupRequests(
            f"expected a warmup file at {path}, found none; write one with "
            "seqline.serving.deploy.warmup.write_warmup_requests"
        )
    logs: list[prediction_log_pb2.PredictionLog] = []
    try:
        for index, record in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
            if index >= MAX_WARMUP_RECORDS:
                raise InvalidWarmupRequests(
                    f"{path}: more than {MAX_WARMUP_RECORDS} records (TF Serving's limit; it "
                    "would refuse to load the model); keep a few representative requests"
                )
            logs.append(_parse_log(record, path, index))
    except tf.errors.DataLossError as exc:
        raise InvalidWarmupRequests(
            f"{path}: not a valid TFRecord file after {len(logs)} records ({exc.message}); "
            "rewrite it with write_warmup_requests"
        ) from exc
    if not logs:
        raise InvalidWarmupRequests(f"{path}: expected 1 to {MAX_WARMUP_RECORDS} records, got 0")
    if saved_model_dir is not None:
        signatures = read_signature_defs(saved_model_dir)
        for index, log in enumerate(logs):
            _check_against_signatures(log, signatures, index)
    return logs


def read_signature_defs(saved_model_dir: str) -> Mapping[str, Any]:
    """The SignatureDefs of a SavedModel's serving meta graph, read from saved_model.pb alone.

    Raises:
        InvalidWarmupRequests: no saved_model.pb in the directory.
    """
    pb_path = os.path.join(saved_model_dir, "saved_model.pb")
    if not tf.io.gfile.exists(pb_path):
        raise InvalidWarmupRequests(
            f"expected a SavedModel at {saved_model_dir} (saved_model.pb), found none"
        )
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(pb_path, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return meta_graph.signature_def
    tags = [list(m.meta_info_def.tags) for m in saved_model.meta_graphs]
    raise InvalidWarmupRequests(
        f"{saved_model_dir}: expected a meta graph tagged 'serve', found tags {tags}"
    )


def _parse_log(record: bytes, path: str, index: int) -> prediction_log_pb2.PredictionLog:
    log = prediction_log_pb2.PredictionLog()
    try:
        log.ParseFromString(record)
    except Exception as exc:  # protobuf's DecodeError; its type differs between backends
        raise InvalidWarmupRequests(
            f"{path}: record {index} is not a serialized PredictionLog ({exc})"
        ) from exc
    kind = log.WhichOneof("log_type")
    if kind not in _LOG_REQUESTS:
        raise InvalidWarmupRequests(
            f"{path}: record {index} holds no request; expected one of "
            f"{sorted(_LOG_REQUESTS)}, got {kind or 'an empty PredictionLog'}"
        )
    if not getattr(log, kind).HasField(_LOG_REQUESTS[kind]):
        raise InvalidWarmupRequests(f"{path}: record {index} ({kind}) has no request")
    return log


def _check_against_signatures(
    log: prediction_log_pb2.PredictionLog, signatures: Mapping[str, Any], index: int
) -> None:
    if log.WhichOneof("log_type") != "predict_log":
        return  # Classify/Regress inputs are serialized Examples; the server checks those.
    request = log.predict_log.request
    name = request.model_spec.signature_name or "serving_default"
    if name not in signatures:
        raise InvalidWarmupRequests(
            f"warmup request {index}: signature '{name}' not in the SavedModel; expected one of "
            f"{sorted(signatures)}"
        )
    declared = signatures[name].inputs
    defaults = set(signatures[name].defaults)  # inputs a request may leave out
    given = set(request.inputs)
    if given - set(declared) or set(declared) - given - defaults:
        optional = f" ({sorted(defaults)} may be left out: they have defaults)" if defaults else ""
        raise InvalidWarmupRequests(
            f"warmup request {index} for signature '{name}': expected inputs "
            f"{sorted(declared)}{optional}, got {sorted(given)}"
        )
    for key, tensor in request.inputs.items():
        want = declared[key]
        if tensor.dtype != want.dtype:
            raise InvalidWarmupRequests(
                f"warmup request {index}, input '{key}' of signature '{name}': expected "
                f"{dtype_name(want.dtype)}, got {dtype_name(tensor.dtype)}; pass a numpy array "
                "of the declared dtype"
            )
        _check_shape(tensor, want, f"warmup request {index}, input '{key}' of '{name}'")


def _check_shape(tensor: Any, declared: Any, where: str) -> None:
    if declared.tensor_shape.unknown_rank:
        return
    want = [d.size for d in declared.tensor_shape.dim]
    got = [d.size for d in tensor.tensor_shape.dim]
    if len(want) != len(got) or any(w not in (-1, g) for w, g in zip(want, got, strict=True)):
        raise InvalidWarmupRequests(f"{where}: expected shape {want} (-1 = any), got {got}")


__all__ = [
    "MAX_WARMUP_RECORDS",
    "WARMUP_DIR",
    "WARMUP_FILE",
    "InvalidWarmupRequests",
    "build_predict_log",
    "read_signature_defs",
    "read_warmup_requests",
    "warmup_path",
    "write_warmup_requests",
]
