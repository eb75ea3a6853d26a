"""REST JSON <-> numpy and tf.Example, in TF Serving's REST API formats.

Predict requests come in the row format (``"instances": [...]``, one element per example: a
value when the signature has one input, else an object of named inputs) or the columnar format
(``"inputs": value | {name: value}``; keys that are not inputs are ignored). Bytes travel as
``{"b64": "<base64>"}``. Responses mirror the request: ``"predictions"`` (rows) or
``"outputs"`` (columns); string outputs whose alias ends in ``_bytes`` are base64-encoded,
other strings are UTF-8 text (base64 if not valid UTF-8).
Classify/Regress requests carry ``"examples"`` (list of {feature: value(s)}) and an optional
``"context"`` example merged into each.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from seqline.serving.errors import invalid_argument
from seqline.serving.request_limits import (
    DEFAULT_MAX_JSON_DEPTH,
    STRING_ELEMENT_BYTES,
    RequestBudget,
    check_rank,
)

# A JSON string literal (escapes included), written as an unrolled loop with possessive
# quantifiers so the regex engine never backtracks. A literal never closed runs to the end of
# the body (an optional lone backslash included) in the same single match: were it left
# unmatched, `sub` would retry from every later quote, each retry scanning to the end, which
# made a 32 KB body of escaped quotes take seconds of CPU with the GIL held. What remains
# outside strings holds every bracket; json.loads then refuses the unterminated string.
_JSON_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENING = np.frombuffer(b"[{", dtype=np.uint8)

log = logging.getLogger(__name__)


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays/objects in a JSON document, without parsing it.

    Linear in ``len(body)`` with no recursion, so a hostile document cannot exhaust the stack
    before its depth is known. Brackets inside string literals do not count.
    """
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where(np.isin(codes, _OPENING), 1, -1)
    return int(np.cumsum(steps).max())


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        # rapidjson (TF Serving's parser) refuses numbers beyond double range; Python would
        # turn 1e400 into inf silently. NaN / Infinity literals stay accepted, as there.
        raise ValueError(f"Number too big to be stored in double: {text[:40]}")
    return value


def parse_json_request(body: bytes, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> dict[str, Any]:
    """A REST request body as a JSON object.

    Raises ServingError(INVALID_ARGUMENT) for invalid JSON, nesting deeper than ``max_depth``,
    numbers beyond double range (``1e400``) and a top level that is not an object.
    """
    depth = json_depth(body)
    if depth > max_depth:
        raise invalid_argument(
            f"JSON Parse error: nesting depth {depth} exceeds the limit of {max_depth} "
            "(--max_json_depth)"
        )
    try:
        request = json.loads(body, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise invalid_argument(f"JSON Parse error: {e}") from e
    if not isinstance(request, dict):
        raise invalid_argument("JSON Value: the request body must be a JSON object")
    return request


def _json_shape(value: Any) -> tuple[int, ...]:
    """The shape nested lists claim along their first elements (no copy, no recursion)."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def _decode_b64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise invalid_argument(f"{where}: 'b64' value must be a string, got {value!r}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise invalid_argument(f"{where}: cannot base64-decode {value[:40]!r}: {e}") from e


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def _string_leaves(value: Any, where: str) -> tuple[list[bytes], tuple[int, ...]]:
    """Flattens nested lists of str / {"b64"} into bytes, checking the nesting is rectangular."""
    if isinstance(value, str):
        return [value.encode("utf-8")], ()
    if _is_b64(value):
        return [_decode_b64(value["b64"], where)], ()
    if isinstance(value, list):
        if not value:
            return [], (0,)
        flat: list[bytes] = []
        inner: tuple[int, ...] | None = None
        for item in value:
            leaves, shape = _string_leaves(item, where)
            if inner is None:
                inner = shape
            elif shape != inner:
                raise invalid_argument(
                    f"{where}: lists of unequal length or depth (shapes {inner} and {shape}); "
                    "every row must have the same shape"
                )
            flat.extend(leaves)
        return flat, (len(value), *(inner or ()))
    raise invalid_argument(
        f'{where}: expected a string or {{"b64": ...}} for a DT_STRING input, got '
        f"{type(value).__name__} {str(value)[:40]}"
    )


def json_to_ndarray(
    value: Any, np_dtype: np.dtype, where: str, budget: RequestBudget | None = None
) -> np.ndarray:
    """Converts a JSON value (nested lists) into an array of ``np_dtype`` (object = bytes).

    Raises ServingError(INVALID_ARGUMENT) for ragged lists, strings for numeric inputs, numbers
    for string inputs, out-of-range values and more than 64 dimensions;
    RESOURCE_EXHAUSTED when the claimed shape is over ``budget``.
    """
    shape = _json_shape(value)
    check_rank(where, len(shape))
    if budget is not None:
        elements = math.prod(shape)
        per_element = STRING_ELEMENT_BYTES if np_dtype.kind == "O" else np_dtype.itemsize
        budget.charge(where, shape, elements, elements * per_element)
    if np_dtype.kind == "O":
        flat, shape = _string_leaves(value, where)
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(shape)
    try:
        array = np.asarray(value)
    except ValueError as e:
        raise invalid_argument(
            f"{where}: lists of unequal length (ragged); every row must have the same shape"
        ) from e
    if array.dtype == object or array.dtype.kind in "SU":
        raise invalid_argument(
            f"{where}: expected numbers for a {np_dtype.name} input, got "
            f"{str(value)[:60]}; send bytes/strings only to DT_STRING inputs"
        )
    if (
        np_dtype.kind in "iu"
        and array.dtype.kind == "f"
        and (not np.all(np.isfinite(array)) or np.any(array != np.floor(array)))
    ):
        raise invalid_argument(f"{where}: expected integers for {np_dtype.name}, got floats")
    if np_dtype.kind == "b" and array.dtype.kind != "b":
        raise invalid_argument(f"{where}: expected true/false for a bool input")
    try:
        with np.errstate(over="raise", invalid="raise"):
            converted = array.astype(np_dtype)
    except (FloatingPointError, OverflowError, ValueError) as e:
        raise invalid_argument(f"{where}: value out of range for {np_dtype.name}: {e}") from e
    if np_dtype.kind in "iu" and not np.array_equal(converted, array):
        raise invalid_argument(f"{where}: value out of range for {np_dtype.name}")
    return converted


def decode_predict_body(
    body: Mapping[str, Any],
    input_dtypes: Mapping[str, np.dtype],
    budget: RequestBudget | None = None,
    defaults: Collection[str] = (),
) -> tuple[dict[str, np.ndarray], bool]:
    """Decodes a :predict body into named input arrays; returns (inputs, row_format).

    ``input_dtypes`` maps the signature's input aliases to numpy dtypes (object for strings);
    every input is charged against ``budget`` before its array is built. ``defaults``: the
    inputs the SignatureDef has a default for: a body may leave them out (the run then uses
    the default), and an unnamed value (a plain ``instances`` list, a plain ``inputs`` value)
    goes to the one input without a default.
    """
    has_instances = "instances" in body
    has_inputs = "inputs" in body
    if has_instances == has_inputs:
        raise invalid_argument(
            "Missing 'inputs' or 'instances' key"
            if not has_instances
            else "Request body may contain only one of 'instances' or 'inputs', not both"
        )
    names = list(input_dtypes)
    required = [name for name in names if name not in defaults]
    # Where an unnamed value goes: the only input, or the only one without a default.
    single = names[0] if len(names) == 1 else (required[0] if len(required) == 1 else None)
    if has_instances:
        instances = body["instances"]
        if not isinstance(instances, list):
            raise invalid_argument("'instances' must be a list of examples")
        if single is not None and not (instances and _is_named(instances[0])):
            array = json_to_ndarray(instances, input_dtypes[single], f"input '{single}'", budget)
            return {single: array}, True
        columns: dict[str, list[Any]] = {name: [] for name in required}
        for i, instance in enumerate(instances):
            if not _is_named(instance):
                raise invalid_argument(
                    f"instance {i}: expected an object of named inputs {sorted(names)} "
                    f"(the signature has {len(names)} inputs), got {str(instance)[:60]}"
                )
            _check_names(instance.keys(), names, defaults)
            if i == 0:
                columns = {name: [] for name in names if name in instance}
            elif instance.keys() != columns.keys():
                raise invalid_argument(
                    f"instance {i} names the inputs {sorted(instance)}, instance 0 "
                    f"{sorted(columns)}; every instance must name the same inputs"
                )
            for name, column in columns.items():
                column.append(instance[name])
        return {
            name: json_to_ndarray(values, input_dtypes[name], f"input '{name}'", budget)
            for name, values in columns.items()
        }, True
    inputs = body["inputs"]
    if _is_named(inputs):
        # Only the signature's names are read, as TF Serving's parser does: other keys (a
        # request id, say) are ignored. Rows keep the exact-names rule, as there.
        _check_names(inputs.keys(), names, defaults, ignore_unknown=True)
        return {
            name: json_to_ndarray(inputs[name], input_dtypes[name], f"input '{name}'", budget)
            for name in names
            if name in inputs
        }, False
    if single is None:
        raise invalid_argument(
            f"'inputs' must be an object of named inputs {sorted(names)} when the signature has "
            f"{len(names)} inputs"
        )
    return {
        single: json_to_ndarray(inputs, input_dtypes[single], f"input '{single}'", budget)
    }, False


def _is_named(value: Any) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


_IGNORED_REPORTED: set[tuple[str, ...]] = set()
_IGNORED_REPORT_LIMIT = 64  # distinct key sets warned about; bounded, so a client cannot grow it


def _report_ignored(unknown: set[str]) -> None:
    """Ignored as TF Serving does, but never unseen: a misspelt optional input would run with
    its default without a trace. One warning per distinct set of keys."""
    keys = tuple(sorted(unknown))
    if keys in _IGNORED_REPORTED or len(_IGNORED_REPORTED) >= _IGNORED_REPORT_LIMIT:
        return
    _IGNORED_REPORTED.add(keys)
    log.warning(
        "REST 'inputs' keys that are not signature inputs were ignored: %s (a misspelt "
        "input with a default runs with the default)",
        list(keys),
    )


def _check_names(
    given: Any, expected: list[str], defaults: Collection[str], ignore_unknown: bool = False
) -> None:
    given_set, expected_set = set(given), set(expected)
    missing = expected_set - given_set - set(defaults)
    unknown = given_set - expected_set
    if unknown and ignore_unknown:
        _report_ignored(unknown)
        unknown = set()
    if missing or unknown:
        optional = f" ({sorted(defaults)} may be left out: they have defaults)" if defaults else ""
        raise invalid_argument(
            f"input names do not match the signature: missing {sorted(missing)}, unknown "
            f"{sorted(unknown)}; expected {sorted(expected_set)}{optional}"
        )


def ndarray_to_json(array: np.ndarray, alias: str) -> Any:
    """An output array as nested JSON lists (float32 printed in its shortest round-trip form)."""
    if array.dtype == object or array.dtype.kind == "S":
        as_b64 = alias.endswith("_bytes")
        flat = [_bytes_to_json(v, as_b64) for v in array.ravel()]
        return _nest(flat, array.shape)
    if array.dtype == np.float32 or array.dtype == np.float16:
        # str(np.float32) is the shortest repr that round-trips; float(...) keeps JSON short
        # ("0.1", not "0.10000000149011612") exactly like TF Serving's output.
        flat = [float(str(v)) for v in array.ravel()]
        return _nest(flat, array.shape)
    return array.tolist()


def _bytes_to_json(value: Any, as_b64: bool) -> Any:
    if isinstance(value, str):
        return value
    if not as_b64:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(value).decode("ascii")}


def _nest(flat: list[Any], shape: tuple[int, ...]) -> Any:
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return flat
    step = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def encode_predict_outputs(outputs: Mapping[str, np.ndarray], row_format: bool) -> dict[str, Any]:
    """{"predictions": rows} or {"outputs": columns}, as TF Serving answers :predict."""
    if not row_format:
        if len(outputs) == 1:
            ((alias, array),) = outputs.items()
            return {"outputs": ndarray_to_json(array, alias)}
        return {"outputs": {alias: ndarray_to_json(a, alias) for alias, a in outputs.items()}}
    sizes = {alias: (a.shape[0] if a.ndim else None) for alias, a in outputs.items()}
    if None in sizes.values() or len(set(sizes.values())) > 1:
        raise invalid_argument(
            f"row format needs every output to have the same 0th dimension, got {sizes}; "
            "use the columnar format ('inputs') for this signature"
        )
    if len(outputs) == 1:
        ((alias, array),) = outputs.items()
        return {"predictions": ndarray_to_json(array, alias)}
    columns = {alias: ndarray_to_json(a, alias) for alias, a in outputs.items()}
    batch = next(iter(sizes.values())) or 0  # every size is set (checked above)
    return {
        "predictions": [{alias: col[i] for alias, col in columns.items()} for i in range(batch)]
    }


def _feature(value: Any, where: str):
    from tensorflow.core.example import feature_pb2

    values = value if isinstance(value, list) else [value]
    feature = feature_pb2.Feature()
    if not values:
        return feature
    if all(isinstance(v, str) or _is_b64(v) for v in values):
        feature.bytes_list.value.extend(
            _decode_b64(v["b64"], where) if _is_b64(v) else v.encode("utf-8") for v in values
        )
    elif all(isinstance(v, bool | int) for v in values):
        try:
            feature.int64_list.value.extend(int(v) for v in values)
        except ValueError as e:
            raise invalid_argument(f"{where}: integer out of int64 range") from e
    elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        feature.float_list.value.extend(float(v) for v in values)
    else:
        raise invalid_argument(
            f'{where}: a feature holds strings, {{"b64": ...}}, integers or floats (or a list '
            f"of one kind), got {str(value)[:60]}"
        )
    return feature


def json_to_example(obj: Any, where: str):
    """A tf.train.Example from {feature: value | [values]} (ints -> int64, floats -> float)."""
    from tensorflow.core.example import example_pb2

    if not isinstance(obj, dict):
        raise invalid_argument(f"{where}: expected an object of features, got {str(obj)[:60]}")
    example = example_pb2.Example()
    for name, value in obj.items():
        example.features.feature[name].CopyFrom(_feature(value, f"{where} feature '{name}'"))
    return example


def fill_input_from_json(body: Mapping[str, Any], input_proto: Any) -> None:
    """Fills a tensorflow.serving.Input proto from a :classify / :regress body."""
    examples = body.get("examples")
    if not isinstance(examples, list) or not examples:
        raise invalid_argument("Missing or empty 'examples' list in the request body")
    if "context" in body:
        target = input_proto.example_list_with_context
        target.context.CopyFrom(json_to_example(body["context"], "context"))
    else:
        target = input_proto.example_list
    for i, example in enumerate(examples):
        target.examples.add().CopyFrom(json_to_example(example, f"example {i}"))
