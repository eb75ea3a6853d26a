"""What a model server says about a model: signatures (GetModelMetadata) and version states
(GetModelStatus), in plain dataclasses shared by the gRPC and REST clients, plus the polling
loop that waits for a version to become AVAILABLE.

Both clients parse the JSON form of a SignatureDefMap with proto field names (`method_name`,
`tensor_shape`): TF Serving's REST metadata endpoint returns exactly that, and the gRPC client
gets it from `MessageToDict(..., preserving_proto_field_name=True)`. Imports numpy and the
standard library only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqline.serving.client.retry import RequestFailed, as_code
from seqline.serving.errors import Code

DTYPE_TO_NUMPY: dict[str, np.dtype] = {
    "DT_FLOAT": np.dtype(np.float32),
    "DT_DOUBLE": np.dtype(np.float64),
    "DT_HALF": np.dtype(np.float16),
    "DT_INT8": np.dtype(np.int8),
    "DT_INT16": np.dtype(np.int16),
    "DT_INT32": np.dtype(np.int32),
    "DT_INT64": np.dtype(np.int64),
    "DT_UINT8": np.dtype(np.uint8),
    "DT_UINT16": np.dtype(np.uint16),
    "DT_UINT32": np.dtype(np.uint32),
    "DT_UINT64": np.dtype(np.uint64),
    "DT_BOOL": np.dtype(np.bool_),
    "DT_COMPLEX64": np.dtype(np.complex64),
    "DT_COMPLEX128": np.dtype(np.complex128),
    "DT_STRING": np.dtype(object),
}


@dataclass(frozen=True)
class TensorSpecInfo:
    """One input or output of a signature: TF dtype name and shape (-1 = any; None = unknown)."""

    dtype: str  # e.g. "DT_FLOAT", "DT_STRING"
    shape: tuple[int, ...] | None

    @property
    def numpy_dtype(self) -> np.dtype | None:
        """The numpy dtype for `dtype` (object for strings), or None if it has none."""
        return DTYPE_TO_NUMPY.get(self.dtype)

    def as_dict(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "shape": None if self.shape is None else list(self.shape)}


@dataclass(frozen=True)
class SignatureInfo:
    """A SignatureDef: method name (e.g. "tensorflow/serving/predict"), inputs and outputs,
    and the names of the inputs it has defaults for (a request may leave those out)."""

    method_name: str
    inputs: dict[str, TensorSpecInfo] = field(default_factory=dict)
    outputs: dict[str, TensorSpecInfo] = field(default_factory=dict)
    defaults: frozenset[str] = frozenset()

    def as_dict(self) -> dict[str, Any]:
        return {
            "method_name": self.method_name,
            "inputs": {k: v.as_dict() for k, v in sorted(self.inputs.items())},
            "outputs": {k: v.as_dict() for k, v in sorted(self.outputs.items())},
        }


@dataclass(frozen=True)
class ModelMetadata:
    """GetModelMetadata's answer: the served version and its signatures by name."""

    model_name: str
    version: int | None
    signatures: dict[str, SignatureInfo]

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "version": self.version,
            "signatures": {k: v.as_dict() for k, v in sorted(self.signatures.items())},
        }


@dataclass(frozen=True)
class VersionStatus:
    """One entry of GetModelStatus: version, state (START, LOADING, AVAILABLE, UNLOADING, END)
    and the error code/message of the last state transition ("OK", "" when none)."""

    version: int
    state: str
    error_code: str = "OK"
    error_message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "state": self.state,
            "error_code": self.error_code,
            "error_message": self.error_message,
        }


def _tensor_info_from_json(info: Mapping[str, Any]) -> TensorSpecInfo:
    shape_json = info.get("tensor_shape") or {}
    if shape_json.get("unknown_rank"):
        shape = None
    else:
        shape = tuple(int(d.get("size", -1)) for d in shape_json.get("dim", []))
    return TensorSpecInfo(dtype=str(info.get("dtype", "DT_INVALID")), shape=shape)


def signatures_from_json(signature_def_map: Mapping[str, Any]) -> dict[str, SignatureInfo]:
    """Parses a SignatureDefMap in JSON form ({"signature_def": {name: {...}}}).

    Field names are the proto names (`method_name`, `tensor_shape`), as TF Serving's REST
    metadata endpoint and `MessageToDict(..., preserving_proto_field_name=True)` produce.
    """
    result: dict[str, SignatureInfo] = {}
    for name, sig in (signature_def_map.get("signature_def") or {}).items():
        result[name] = SignatureInfo(
            method_name=str(sig.get("method_name", "")),
            inputs={k: _tensor_info_from_json(v) for k, v in (sig.get("inputs") or {}).items()},
            outputs={k: _tensor_info_from_json(v) for k, v in (sig.get("outputs") or {}).items()},
            defaults=frozenset(sig.get("defaults") or {}),
        )
    return result


def _code_or_unknown(name: str) -> Code:
    try:
        return as_code(name)
    except ValueError:
        return Code.UNKNOWN


def wait_for_version(
    get_status: Callable[[float], list[VersionStatus]],
    model_name: str,
    version: int | None,
    *,
    timeout: float,
    poll_interval: float,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """The polling loop behind wait_until_available, shared by the gRPC and REST clients.

    `get_status(budget_seconds)` returns the model's version statuses or raises RequestFailed.
    """
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            wanted = "any version" if version is None else f"version {version}"
            raise RequestFailed(
                Code.DEADLINE_EXCEEDED,
                f"model '{model_name}' {wanted} not AVAILABLE within {timeout:g} s; "
                f"last status: {last}",
                method="wait_until_available",
            )
        try:
            statuses = get_status(min(remaining, 5.0))
        except RequestFailed as exc:
            if exc.code not in (Code.UNAVAILABLE, Code.NOT_FOUND, Code.DEADLINE_EXCEEDED):
                raise
            last = exc.one_line()
        else:
            available = [s.version for s in statuses if s.state == "AVAILABLE"]
            if version is None and available:
                return max(available)
            if version is not None and version in available:
                return version
            for s in statuses:
                # END with an error is a finished, failed load: waiting longer cannot help.
                if s.version == version and s.state == "END" and s.error_code != "OK":
                    raise RequestFailed(
                        _code_or_unknown(s.error_code),
                        f"model '{model_name}' version {version} failed to load: {s.error_message}",
                        method="wait_until_available",
                    )
            last = ", ".join(f"v{s.version} {s.state}" for s in statuses) or "no versions"
        sleep(min(poll_interval, max(deadline - time.monotonic(), 0.0)))
