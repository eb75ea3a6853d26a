"""Turning Python values into request parts: numpy arrays for Predict inputs, tf.train.Example
protos for Classify/Regress, and the version selector of a ModelSpec.

Imports numpy at module level; the tf.Example protos (which import TensorFlow) only inside the
functions that build them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np


class InputError(ValueError, TypeError):
    """A request input the client cannot send, found before sending: a non-text element in a
    string input, or a str that is not valid Unicode (a lone surrogate). The message names
    the input. A ValueError; also a TypeError, which the wrong-type case raised before."""


def _for_input(name: str | None, kind: str = "input") -> str:
    return f"{kind} '{name}': " if name else ""


def check_version_selector(version: int | None, version_label: str | None) -> None:
    """Raises ValueError if both a version and a version label are given."""
    if version is not None and version_label is not None:
        raise ValueError(
            f"expected a version or a version_label, not both; got version={version}, "
            f"version_label={version_label!r}"
        )
    if version is not None and (isinstance(version, bool) or int(version) != version):
        raise ValueError(f"version: expected an int, got {version!r}")


def as_input_array(
    value: Any, declared: np.dtype | None = None, name: str | None = None
) -> np.ndarray:
    """Turns a request value into a numpy array ready to encode (`name`, the input's name,
    only goes into error messages).

    numpy arrays keep their dtype (the caller chose it), except object arrays (what pandas'
    .to_numpy() gives for mixed columns): they are text for a string input, or when every
    element is str or bytes; otherwise they are converted to the declared dtype (InputError
    if they cannot be: a number beside a str or None), or with no declared dtype follow the
    rules for lists below. Other values (lists, scalars) take the
    signature's declared dtype when they convert to it, else TensorFlow's conventions for
    Python values: float -> float32, int -> int32 if it fits else int64, str/bytes -> string
    (object array of bytes; str UTF-8 encoded). Values that do not fit the declared dtype are
    sent as they are, so the server answers INVALID_ARGUMENT with its own message.

    Raises:
        InputError: a string input (declared DT_STRING, or text values) holds an element that
            is neither str nor bytes, or a str that cannot be UTF-8 encoded (see
            as_bytes_array); an object array holding numbers does not convert to the
            declared numeric dtype.
    """
    if (
        isinstance(value, np.ndarray)
        and value.dtype == object
        and not _is_text_array(value, declared)
    ):
        return _object_array_as(value, declared, name)
    if isinstance(value, np.ndarray):
        array = value
    elif declared == np.dtype(object) or _first_leaf_is_text(value):
        # Never via numpy's fixed-width S/U dtypes: they drop trailing NUL bytes and fail on
        # mixed str/bytes lists.
        array = np.array(value, dtype=object)
    else:
        if declared is not None:
            try:
                return np.asarray(value, dtype=declared)
            except (TypeError, ValueError, OverflowError):
                pass
        array = np.asarray(value)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        elif array.dtype == np.int64 and array.size and _fits_int32(array):
            array = array.astype(np.int32)
    if array.dtype.kind in "US" or (array.dtype == object):
        return as_bytes_array(array, name)
    return array


def check_input(name: str, value: Any, declared: np.dtype | None = None) -> Any:
    """Raises InputError for a value as_input_array would refuse as input `name`, without
    encoding it: for a client that sends JSON (RestClient) the same checks before sending as
    the gRPC client makes. Returns the value to send: `value` itself, except an object array
    that is not text (see as_input_array), converted to the declared dtype as the gRPC client
    sends it. Numeric values are not looked at (the server judges them)."""
    if isinstance(value, np.ndarray):
        if value.dtype == object and not _is_text_array(value, declared):
            return as_input_array(value, declared, name) if declared is not None else value
        textual = value.dtype.kind in "USO"
    else:
        textual = declared == np.dtype(object) or _first_leaf_is_text(value)
    if textual:
        as_input_array(value, declared, name)
    return value


def needs_declared_dtype(value: Any) -> bool:
    """Whether preparing or checking `value` depends on its input's declared dtype: a list or
    scalar (numbers for a string input are refused, and are cast to the declared dtype), or an
    object array (text or numbers, as declared). A numeric or str/bytes numpy array does not:
    it is sent as it is, so a client needs no signature lookup before sending it."""
    return not isinstance(value, np.ndarray) or value.dtype == object


def _is_text_array(array: np.ndarray, declared: np.dtype | None) -> bool:
    """Whether an object array is text: declared a string input; for a numeric input, all its
    elements str or bytes (sent as text, as a list of them is: the server judges text for a
    numeric input); with no declared dtype, empty or any element str or bytes (a number
    beside text is then refused by as_bytes_array, naming the input)."""
    if declared == np.dtype(object):
        return True
    elements = array.reshape(-1).tolist()
    if declared is None:
        return not elements or any(isinstance(v, str | bytes) for v in elements)
    return bool(elements) and all(isinstance(v, str | bytes) for v in elements)


def _object_array_as(array: np.ndarray, declared: np.dtype | None, name: str | None) -> np.ndarray:
    """An object array that is not text (see _is_text_array) as a numeric array: the declared
    dtype, else TensorFlow's rules for Python values (as a list would be)."""
    if declared is None:
        return as_input_array(array.tolist(), None, name)
    try:
        return array.astype(declared)
    except (TypeError, ValueError, OverflowError) as exc:
        bad = next(
            (v for v in array.reshape(-1).tolist() if not isinstance(v, int | float | np.number)),
            None,
        )
        raise InputError(
            f"{_for_input(name)}expected values a {declared.name} input can take, got an object "
            f"array of shape {array.shape} holding {type(bad).__name__} ({bad!r}) ({exc}); "
            f"pass numbers (e.g. array.astype(np.{declared.name}) after cleaning the column)"
        ) from None


def _first_leaf_is_text(value: Any) -> bool:
    while isinstance(value, list | tuple) and value:
        value = value[0]
    return isinstance(value, str | bytes)


def _fits_int32(array: np.ndarray) -> bool:
    info = np.iinfo(np.int32)
    return bool(array.min() >= info.min and array.max() <= info.max)


def text_bytes(value: str, name: str | None = None, kind: str = "input") -> bytes:
    """`value` UTF-8 encoded. Raises InputError for a str holding a lone surrogate: what
    Python makes of bytes that are not UTF-8 read with errors="surrogateescape" (a command
    line or file name in another encoding). Its original bytes are not guessed: the caller
    passes them as bytes (os.fsencode(value), or value.encode("utf-8", "surrogateescape")).
    The message names `kind` `name` ("input 'text'", "feature 'text'") when given."""
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = value[exc.start : exc.end]
        raise InputError(
            f"{_for_input(name, kind)}expected text that is valid Unicode, got {value[:60]!r} "
            f"holding the lone surrogate(s) {bad!r} at {exc.start} (undecodable bytes read "
            "with errors='surrogateescape'); pass its bytes instead, e.g. os.fsencode(text) "
            "or text.encode('utf-8', 'surrogateescape'), or decode the source correctly"
        ) from None


def as_bytes_array(array: np.ndarray, name: str | None = None) -> np.ndarray:
    """An object array of bytes with `array`'s shape (str elements UTF-8 encoded).

    Raises:
        InputError: an element is neither str nor bytes, or a str is not valid Unicode
            (text_bytes); the message names input `name` when given.
    """
    flat = [text_bytes(v, name) if isinstance(v, str) else v for v in array.reshape(-1).tolist()]
    for v in flat:
        if not isinstance(v, bytes):
            raise InputError(
                f"{_for_input(name)}expected str or bytes elements in a string input, got "
                f"{type(v).__name__} ({v!r}); pass text values, or a numeric numpy array "
                "for a numeric input"
            )
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(array.shape)


# ---------------------------------------------------------------------------------------------
# tf.Example building for Classify/Regress.


def make_example(features: Mapping[str, Any]) -> Any:
    """Builds a tf.train.Example from {name: value}.

    A value is one of, or a flat list/tuple/numpy array of one kind of: bytes/str (->
    bytes_list, str UTF-8 encoded), int/bool (-> int64_list), float (-> float_list; a list
    mixing ints and floats is a float list).

    Raises:
        TypeError: a value has no tf.Example kind: an empty list (its kind cannot be told),
            nested lists, mixed strings and numbers, or other objects.
    """
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    for name, value in features.items():
        feature = example.features.feature[name]
        items = _feature_items(value)
        if not items:
            raise TypeError(f"feature '{name}': cannot tell the kind of an empty list")
        if all(isinstance(v, str | bytes) for v in items):
            feature.bytes_list.value.extend(
                text_bytes(v, name, "feature") if isinstance(v, str) else v for v in items
            )
        elif all(isinstance(v, bool | int) for v in items):
            feature.int64_list.value.extend(int(v) for v in items)
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in items):
            feature.float_list.value.extend(float(v) for v in items)
        else:
            raise TypeError(
                f"feature '{name}': expected str/bytes, int or float values (or a flat list of "
                f"one kind), got {str(value)[:60]}"
            )
    return example


def _feature_items(value: Any) -> list[Any]:
    if isinstance(value, np.ndarray):
        return value.reshape(-1).tolist()  # numpy scalars -> Python int/float/bytes
    if isinstance(value, list | tuple):
        return [v.item() if isinstance(v, np.generic) else v for v in value]
    return [value.item() if isinstance(value, np.generic) else value]


def examples_input(examples: Iterable[Any]) -> Any:
    """A tensorflow_serving Input proto (example_list) from tf.train.Example protos or feature
    dicts (see make_example).

    Raises:
        ValueError: no examples were given.
    """
    from tensorflow.core.example import example_pb2
    from tensorflow_serving.apis import input_pb2

    request_input = input_pb2.Input()
    for item in examples:
        example = item if isinstance(item, example_pb2.Example) else make_example(item)
        request_input.example_list.examples.append(example)
    if not request_input.example_list.examples:
        raise ValueError("expected at least one example, got none")
    return request_input
