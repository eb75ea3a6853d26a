"""Per-request limits: tensor elements and bytes, checked from declared shapes before allocating.

A Predict request can declare a tensor far larger than itself: a TensorProto of shape [10^8]
with one string value is 20 bytes on the wire and, expanded, 10^8 strings (TensorFlow
broadcasts the last value). JSON nesting is bounded for the same reason (a deep document costs
the parser recursion, not bytes). The server therefore charges every input against a budget
computed from its shape alone, before any array exists:

- numeric inputs cost ``elements * itemsize`` bytes;
- string inputs cost ``elements * STRING_ELEMENT_BYTES`` plus their payload (the given values,
  and the last value once per broadcast copy): a TensorFlow string tensor holds a 24-byte
  ``tstring`` per element and numpy an 8-byte reference.

Over budget is RESOURCE_EXHAUSTED (HTTP 429), the code TF Serving answers for oversized
messages; a malformed shape stays INVALID_ARGUMENT. Limits come from the server flags
``--max_request_elements``, ``--max_request_bytes`` and ``--max_json_depth``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from seqline.serving.errors import Code, ServingError

STRING_ELEMENT_BYTES = 32
# Python objects per byte of a REST JSON body while it is parsed, at worst: `[],` (3 bytes)
# becomes a 56-byte list and its 8-byte slot; floats cost ~11x, nested pairs ~16x (measured).
JSON_PARSE_BYTES_PER_BODY_BYTE = 24
DEFAULT_MAX_REQUEST_ELEMENTS = 100_000_000
DEFAULT_MAX_REQUEST_BYTES = 1 << 30  # 1 GiB of materialised input tensors
DEFAULT_MAX_JSON_DEPTH = 100  # a rank-64 tensor (numpy's maximum) inside a request needs ~70
DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024  # the server's default max_message_size_bytes
MAX_TENSOR_RANK = 64  # numpy's NPY_MAXDIMS: no array can have more dimensions


@dataclass(frozen=True)
class RequestLimits:
    """The server-wide limits; ``budget()`` starts the running total of one request."""

    max_elements: int = DEFAULT_MAX_REQUEST_ELEMENTS
    max_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    def budget(self) -> RequestBudget:
        return RequestBudget(self)


class RequestBudget:
    """What one request has declared so far, over all its inputs."""

    def __init__(self, limits: RequestLimits) -> None:
        self.limits = limits
        self.elements = 0
        self.bytes = 0

    def charge(self, where: str, shape: tuple[int, ...], elements: int, nbytes: int) -> None:
        """Adds one input of ``elements`` / ``nbytes`` (computed from ``shape``).

        Raises:
            ServingError(RESOURCE_EXHAUSTED): the request's total passes a limit.
        """
        self.elements += elements
        self.bytes += nbytes
        limits = self.limits
        if self.elements > limits.max_elements or self.bytes > limits.max_bytes:
            raise ServingError(
                Code.RESOURCE_EXHAUSTED,
                f"{where}: shape {list(shape)} declares {elements} elements (~{nbytes} bytes); "
                f"a request may hold at most {limits.max_elements} elements and "
                f"{limits.max_bytes} bytes over all inputs (--max_request_elements, "
                "--max_request_bytes). Send fewer rows per request or raise the limits",
            )


def check_rank(where: str, rank: int) -> None:
    """INVALID_ARGUMENT for tensors of more than MAX_TENSOR_RANK dimensions."""
    if rank > MAX_TENSOR_RANK:
        raise ServingError(
            Code.INVALID_ARGUMENT,
            f"{where}: a tensor of rank {rank}; at most {MAX_TENSOR_RANK} dimensions are supported",
        )


def check_response_size(outputs: Mapping[str, Any], max_bytes: int) -> None:
    """RESOURCE_EXHAUSTED when the outputs (alias -> ndarray) hold more than ``max_bytes``,
    counted as inputs are (numbers: their bytes; strings: STRING_ELEMENT_BYTES each plus their
    payload), before anything is encoded.

    A request within its own budget can still ask for a huge answer (a broadcast input of
    10^8 floats to an elementwise model); encoding that into a proto or JSON first costs
    several times its size in Python objects, only for gRPC to refuse the message.
    """
    total = 0
    for alias, array in outputs.items():
        if array.dtype.kind in "OSU":  # strings: the count bounds the cost of summing lengths
            total += array.size * STRING_ELEMENT_BYTES
            if total <= max_bytes:
                total += sum(len(v) for v in array.ravel())
        else:
            total += array.size * array.dtype.itemsize
        if total > max_bytes:
            raise ServingError(
                Code.RESOURCE_EXHAUSTED,
                f"the response would hold at least {total} bytes (output {alias!r} has shape "
                f"{list(array.shape)}); at most {max_bytes} bytes may be sent "
                "(max_message_size_bytes). Send fewer rows per request or ask for fewer "
                "outputs (output_filter)",
            )


def check_json_body_size(body_bytes: int, limits: RequestLimits) -> None:
    """RESOURCE_EXHAUSTED when parsing a REST body of ``body_bytes`` could cost more than the
    request budget (``max_bytes``) in Python objects, before it is parsed: json.loads builds
    the whole document before any input can be charged."""
    cost = body_bytes * JSON_PARSE_BYTES_PER_BODY_BYTE
    if cost > limits.max_bytes:
        raise ServingError(
            Code.RESOURCE_EXHAUSTED,
            f"a JSON body of {body_bytes} bytes can cost up to {cost} bytes to parse; a request "
            f"may cost at most {limits.max_bytes} (--max_request_bytes), so REST bodies up to "
            f"{limits.max_bytes // JSON_PARSE_BYTES_PER_BODY_BYTE} bytes are taken. Send fewer "
            "rows per request, use gRPC for large tensors, or raise --max_request_bytes",
        )
