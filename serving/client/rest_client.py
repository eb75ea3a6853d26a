"""A minimal client for TensorFlow Serving's REST API (urllib + json; no grpc, no TensorFlow).

Same shape as the gRPC PredictionClient (predict/classify/regress/metadata/status/
wait_until_available, deadlines, retries on UNAVAILABLE, RequestFailed errors), for hosts or
scripts that should not load TensorFlow. Works against a real tensorflow_model_server's
--rest_api_port and against `seqline serve`.

Wire format (TF Serving's REST API):
    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]            -> model_version_status
    GET  .../metadata                                             -> signature_def map
    POST ...:predict   {"signature_name", "inputs": {name: value}} -> {"outputs": ...}
    POST ...:classify  {"signature_name", "examples": [{feature: value}]} -> {"result": ...}
    POST ...:regress   same request                                -> {"result": [...]}
Bytes travel as {"b64": "..."}; errors come back as {"error": "message"} with an HTTP status.

JSON carries no dtypes, so predict() reads the signature's declared output dtypes from the
metadata endpoint (cached; see RestClient.predict for when and within what time) to return the
same numpy dtypes as the gRPC client.
"""

from __future__ import annotations

import base64
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from seqline.serving.client.client_base import ModelClientBase
from seqline.serving.client.model_info import (
    ModelMetadata,
    SignatureInfo,
    VersionStatus,
    signatures_from_json,
)
from seqline.serving.client.retry import DEFAULT_RETRY_CODES, RequestFailed, RetryEvent
from seqline.serving.client.signature_cache import PRESEND_LOOKUP_SHARE, SignatureCache
from seqline.serving.errors import Code
from seqline.serving.request_inputs import check_input, needs_declared_dtype

# HTTP status -> canonical code, the inverse of TF Serving's ToHTTPStatusCode table. 400 stands
# for INVALID_ARGUMENT, FAILED_PRECONDITION and OUT_OF_RANGE alike; INVALID_ARGUMENT is the one
# TF Serving means most often.
_CODE_FOR_HTTP_STATUS: dict[int, Code] = {
    400: Code.INVALID_ARGUMENT,
    401: Code.UNAUTHENTICATED,
    403: Code.PERMISSION_DENIED,
    404: Code.NOT_FOUND,
    408: Code.DEADLINE_EXCEEDED,
    409: Code.ABORTED,
    429: Code.RESOURCE_EXHAUSTED,
    499: Code.CANCELLED,
    500: Code.INTERNAL,
    501: Code.UNIMPLEMENTED,
    502: Code.UNAVAILABLE,
    503: Code.UNAVAILABLE,
    504: Code.DEADLINE_EXCEEDED,
}


class RestClient(ModelClientBase):
    """A client for one model on a TF Serving-compatible REST endpoint.

    Args:
        base_url: e.g. "http://127.0.0.1:8501" (TF Serving's conventional REST port).
        model_name: the model to address.
        version / version_label: pin a version or a label for every call; default the latest.
        signature_name: default signature; "serving_default".
        timeout: default seconds per call, retries included (each HTTP attempt gets what is
            left as its socket timeout); 10.0.
        retries, backoff, max_backoff, retry_codes, on_retry: as for PredictionClient
            (3 retries, 0.05 s doubling to 2 s with jitter, on UNAVAILABLE: connection refused,
            HTTP 502/503).
        headers: extra HTTP headers sent with every request (e.g. authorization).
    """

    def __init__(
        self,
        base_url: str,
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
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(
                f"base_url: expected an http(s) URL such as 'http://127.0.0.1:8501', "
                f"got {base_url!r}"
            )
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
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        self._signatures: SignatureCache[dict[str, SignatureInfo]] = SignatureCache()

    def __repr__(self) -> str:
        return f"RestClient(base_url={self.base_url!r}, model_name={self.model_name!r})"

    # -- requests ---------------------------------------------------------------------------

    def predict(
        self,
        inputs: Mapping[str, Any],
        *,
        signature_name: str | None = None,
        version: int | None = None,
        version_label: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, np.ndarray]:
        """POSTs :predict in the columnar ("inputs") format; returns {output: numpy array}.

        inputs: {name: numpy array, list or scalar}; bytes are sent as {"b64": ...}. Outputs
        take the signature's declared dtypes, and an empty output (an empty batch) its
        declared shape, (0, 5) for probabilities [-1, 5], as over gRPC; DT_STRING outputs are
        object arrays of bytes. An object array (pandas' .to_numpy() of a mixed column) is
        text for a string input and is cast to the declared dtype for a numeric one, as over
        gRPC.

        The signature comes from the metadata endpoint, within the call's one deadline:
        before sending only when an input needs its declared dtype for the checks below (a
        list, scalar or object array), and then with at most a quarter of the call's time, so
        a slow or unavailable metadata endpoint leaves :predict most of it; otherwise (numeric
        or str/bytes numpy arrays only) after the answer, for the output dtypes and shapes,
        with what is left. A read signature is cached per version selection (for good for a
        pinned version, 60 s for the latest or a label, so a newly loaded version is seen); a
        failed read is remembered for 30 s, calls in that time going without declared dtypes
        instead of retrying it (see seqline.serving.client.signature_cache).

        Raises:
            RequestFailed: with the server's status code and message.
            InputError (a ValueError, from seqline.serving.request_inputs): before sending,
                the same checks as PredictionClient.predict: a string input holding a
                non-text element, a str that is not valid Unicode (pass bytes), or an object
                array a numeric input's dtype cannot take.
        """
        signature = signature_name or self.signature_name
        budget = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        presend = any(needs_declared_dtype(v) for v in inputs.values())
        sig = None
        if presend:
            sig = self._signature(version, version_label, signature, budget * PRESEND_LOOKUP_SHARE)
        declared_inputs = sig.inputs if sig is not None else {}
        to_send = {}
        for name, value in inputs.items():
            spec = declared_inputs.get(name)
            to_send[name] = check_input(name, value, spec.numpy_dtype if spec is not None else None)
        body = {
            "signature_name": signature,
            "inputs": {name: to_json_value(value) for name, value in to_send.items()},
        }
        answer = self._request(
            "Predict",
            self._model_url(version, version_label) + ":predict",
            body,
            max(deadline - time.monotonic(), 0.001),
        )
        if "outputs" not in answer:
            raise RequestFailed(
                Code.INTERNAL,
                f"expected an 'outputs' key in the :predict answer, got keys {sorted(answer)}",
                method="Predict",
            )
        outputs = answer["outputs"]
        if not presend:
            # Output dtypes and shapes: what is left of the deadline for a first lookup.
            sig = self._signature(version, version_label, signature, deadline - time.monotonic())
        declared = sig.outputs if sig is not None else {}
        if not isinstance(outputs, dict):
            # TF Serving drops the name when the signature has exactly one output.
            if len(declared) != 1:
                raise RequestFailed(
                    Code.INTERNAL,
                    f"the :predict answer has one unnamed output; expected signature "
                    f"'{signature}' to declare exactly one output, found {sorted(declared)} "
                    "(or its metadata could not be read)",
                    method="Predict",
                )
            outputs = {next(iter(declared)): outputs}
        return {
            name: from_json_value(
                value,
                declared[name].numpy_dtype if name in declared else None,
                declared[name].shape if name in declared else None,
            )
            for name, value in outputs.items()
        }

    def classify(
        self,
        examples: Sequence[Mapping[str, Any]],
        *,
        signature_name: str | None = None,
        version: int | None = None,
        version_label: str | None = None,
        timeout: float | None = None,
    ) -> list[list[tuple[str, float]]]:
        """POSTs :classify with feature dicts; returns per example a list of (label, score)."""
        answer = self._post_examples(
            "Classify", ":classify", examples, signature_name, version, version_label, timeout
        )
        return [[(str(label), float(score)) for label, score in row] for row in answer["result"]]

    def regress(
        self,
        examples: Sequence[Mapping[str, Any]],
        *,
        signature_name: str | None = None,
        version: int | None = None,
        version_label: str | None = None,
        timeout: float | None = None,
    ) -> np.ndarray:
        """POSTs :regress with feature dicts; returns float32 [num_examples]."""
        answer = self._post_examples(
            "Regress", ":regress", examples, signature_name, version, version_label, timeout
        )
        return np.asarray(answer["result"], dtype=np.float32).reshape(-1)

    def metadata(
        self,
        *,
        version: int | None = None,
        version_label: str | None = None,
        timeout: float | None = None,
    ) -> ModelMetadata:
        """GETs .../metadata; returns the served version and its signatures."""
        answer = self._request(
            "GetModelMetadata", self._model_url(version, version_label) + "/metadata", None, timeout
        )
        spec = answer.get("model_spec") or {}
        signature_map = (answer.get("metadata") or {}).get("signature_def") or {}
        return ModelMetadata(
            model_name=spec.get("name") or self.model_name,
            version=int(spec["version"]) if spec.get("version") not in (None, "") else None,
            signatures=signatures_from_json(signature_map),
        )

    def status(
        self,
        *,
        version: int | None = None,
        version_label: str | None = None,
        timeout: float | None = None,
    ) -> list[VersionStatus]:
        """GETs the model status (all versions unless one is selected), sorted by version."""
        answer = self._request(
            "GetModelStatus",
            self._model_url(version, version_label, use_default=False),
            None,
            timeout,
        )
        result = []
        for entry in answer.get("model_version_status", []):
            status = entry.get("status") or {}
            result.append(
                VersionStatus(
                    version=int(entry["version"]),
                    state=str(entry.get("state", "UNKNOWN")),
                    error_code=str(status.get("error_code", "OK")),
                    error_message=str(status.get("error_message", "")),
                )
            )
        return sorted(result, key=lambda s: s.version)

    # -- internals --------------------------------------------------------------------------

    def _model_url(
        self, version: int | None, version_label: str | None, *, use_default: bool = True
    ) -> str:
        version, version_label = self._select_version(
            version, version_label, use_default=use_default
        )
        url = f"{self.base_url}/v1/models/{urllib.parse.quote(self.model_name, safe='')}"
        if version is not None:
            url += f"/versions/{int(version)}"
        elif version_label is not None:
            url += f"/labels/{urllib.parse.quote(version_label, safe='')}"
        return url

    def _post_examples(
        self,
        method: str,
        verb: str,
        examples: Sequence[Mapping[str, Any]],
        signature_name: str | None,
        version: int | None,
        version_label: str | None,
        timeout: float | None,
    ) -> dict[str, Any]:
        """POSTs a Classify/Regress body (`verb` ":classify" or ":regress") with feature dicts."""
        url = self._model_url(version, version_label) + verb
        rows = [{k: to_json_value(v) for k, v in example.items()} for example in examples]
        if not rows:
            raise ValueError("expected at least one example, got none")
        body = {"signature_name": signature_name or self.signature_name, "examples": rows}
        return self._request(method, url, body, timeout)

    def _signature(
        self,
        version: int | None,
        version_label: str | None,
        signature: str,
        timeout: float,
    ) -> SignatureInfo | None:
        """The signature from the metadata endpoint, read within `timeout` and remembered as
        signature_cache says; None when it cannot be read (a failure is remembered too) or
        the model has no such signature."""
        selected = self._select_version(version, version_label)
        found, signatures = self._signatures.get(selected)
        if not found:
            if timeout <= 0:
                return None  # no time left to look: not a failure of the endpoint
            try:
                signatures = self.metadata(
                    version=version, version_label=version_label, timeout=timeout
                ).signatures
            except RequestFailed:
                # No dtypes then: numbers as numpy infers them, strings as bytes.
                self._signatures.put_failed(selected)
                return None
            self._signatures.put(selected, signatures, pinned=selected[0] is not None)
        return signatures.get(signature) if signatures is not None else None

    def _request(
        self, method: str, url: str, body: Mapping[str, Any] | None, timeout: float | None
    ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Accept": "application/json", **self.headers}
        if data is not None:
            headers["Content-Type"] = "application/json"

        def attempt(remaining: float, _attempt: int) -> dict[str, Any]:
            if remaining <= 0:
                raise RequestFailed(Code.DEADLINE_EXCEEDED, "deadline exceeded before sending")
            request = urllib.request.Request(url, data=data, headers=headers)
            with urllib.request.urlopen(request, timeout=remaining) as response:
                return json.loads(response.read() or b"{}")

        return self._call_with_policy(method, attempt, timeout, _http_error)


def _http_error(exc: BaseException) -> RequestFailed | None:
    """The RequestFailed for a failed HTTP call; None for other exceptions (bugs)."""
    if isinstance(exc, RequestFailed):
        return exc
    if isinstance(exc, urllib.error.HTTPError):
        raw = exc.read() or b""
        try:
            message = str(json.loads(raw).get("error", ""))
        except (ValueError, AttributeError):
            message = raw.decode("utf-8", "replace")
        code = _CODE_FOR_HTTP_STATUS.get(exc.code, Code.UNKNOWN)
        return RequestFailed(code, message or f"HTTP {exc.code} {exc.reason}", http_status=exc.code)
    if isinstance(exc, TimeoutError | socket.timeout):
        return RequestFailed(Code.DEADLINE_EXCEEDED, f"no answer before the deadline ({exc})")
    if isinstance(exc, urllib.error.URLError | ConnectionError):
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError | socket.timeout):
            return RequestFailed(
                Code.DEADLINE_EXCEEDED, f"no answer before the deadline ({reason})"
            )
        return RequestFailed(Code.UNAVAILABLE, f"cannot reach the server: {reason}")
    if isinstance(exc, json.JSONDecodeError):
        return RequestFailed(Code.INTERNAL, f"the server's answer is not JSON: {exc}")
    return None


def to_json_value(value: Any) -> Any:
    """A request value as TF Serving REST JSON: numpy/lists -> nested lists, bytes -> {"b64"}."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "S" or value.dtype == object:
            return to_json_value(value.tolist())
        return value.tolist()
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, np.generic):
        return to_json_value(value.item())
    return value


def from_json_value(
    value: Any, dtype: np.dtype | None, shape: tuple[int, ...] | None = None
) -> np.ndarray:
    """A REST output value as a numpy array of `dtype` (strings and {"b64"} -> bytes).

    `shape` is the output's declared shape (-1 = any). JSON's `[]` says nothing of the inner
    dimensions, so an empty batch becomes (0, *shape[1:]) when those are all known, the shape
    the gRPC client returns from the TensorProto (else it stays (0,))."""
    if dtype is not None and dtype != np.dtype(object):
        array = np.asarray(value, dtype=dtype)
    elif dtype is None and not _has_strings(value):
        array = np.asarray(value)
    else:
        array = np.asarray(_decode_strings(value), dtype=object)
    if array.shape == (0,) and shape and all(d >= 0 for d in shape[1:]):
        return array.reshape((0, *shape[1:]))
    return array


def _has_strings(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and _has_strings(value[0])
    return isinstance(value, str | dict)


def _decode_strings(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode_strings(v) for v in value]
    if isinstance(value, dict) and "b64" in value:
        return base64.b64decode(value["b64"])
    if isinstance(value, str):
        return value.encode("utf-8")
    return value
