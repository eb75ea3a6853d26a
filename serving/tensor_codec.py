"""TensorProto <-> numpy, by direct field access (the per-request hot path of Predict).

Decoding reads ``tensor_content`` with ``np.frombuffer`` (what ``tf.make_tensor_proto`` writes
for numeric arrays) or the typed ``*_val`` fields; encoding writes the typed ``*_val`` fields,
as TF Serving does by default, because clients in the wild read ``response.outputs[k].float_val``
directly as well as through ``tf.make_ndarray``. Dtypes without a fast path (bfloat16, complex,
quantized, variant, resource) fall back to ``tf.make_ndarray`` / ``tf.make_tensor_proto``.
"""

from __future__ import annotations

import math

import numpy as np
from tensorflow.core.framework import tensor_pb2, types_pb2

from seqline.serving.errors import invalid_argument
from seqline.serving.request_limits import (
    MAX_TENSOR_RANK,
    STRING_ELEMENT_BYTES,
    RequestBudget,
    check_rank,
)

# DataType enum -> (numpy dtype, TensorProto value field). Order mirrors types.proto.
_FAST_DTYPES: dict[int, tuple[np.dtype, str]] = {
    types_pb2.DT_FLOAT: (np.dtype(np.float32), "float_val"),
    types_pb2.DT_DOUBLE: (np.dtype(np.float64), "double_val"),
    types_pb2.DT_INT32: (np.dtype(np.int32), "int_val"),
    types_pb2.DT_UINT8: (np.dtype(np.uint8), "int_val"),
    types_pb2.DT_INT16: (np.dtype(np.int16), "int_val"),
    types_pb2.DT_INT8: (np.dtype(np.int8), "int_val"),
    types_pb2.DT_UINT16: (np.dtype(np.uint16), "int_val"),
    types_pb2.DT_STRING: (np.dtype(object), "string_val"),
    types_pb2.DT_INT64: (np.dtype(np.int64), "int64_val"),
    types_pb2.DT_BOOL: (np.dtype(np.bool_), "bool_val"),
    types_pb2.DT_HALF: (np.dtype(np.float16), "half_val"),
    types_pb2.DT_UINT32: (np.dtype(np.uint32), "uint32_val"),
    types_pb2.DT_UINT64: (np.dtype(np.uint64), "uint64_val"),
}

# A request may describe a huge tensor with one value (TensorFlow broadcasts it). Expanding
# more than this many bytes is refused even without a request budget (warmup records, tools),
# so a few-byte message cannot exhaust the memory.
MAX_EXPANDED_BYTES = 1 << 30

_NUMPY_TO_DTYPE: dict[np.dtype, int] = {
    np_dtype: enum for enum, (np_dtype, _) in _FAST_DTYPES.items() if enum != types_pb2.DT_STRING
}


def dtype_name(dtype: int) -> str:
    """'DT_FLOAT' for 1, etc.; 'DT_<n>' for values outside the enum."""
    try:
        return types_pb2.DataType.Name(dtype)
    except ValueError:
        return f"DT_{dtype}"


def numpy_dtype(dtype: int) -> np.dtype:
    """The numpy dtype an input of TF DataType ``dtype`` is decoded to (object for strings)."""
    entry = _FAST_DTYPES.get(dtype)
    if entry is not None:
        return entry[0]
    import tensorflow as tf

    return np.dtype(tf.dtypes.as_dtype(dtype).as_numpy_dtype)


_INT64_MAX = (1 << 63) - 1


def to_ndarray(
    proto: tensor_pb2.TensorProto, name: str = "", budget: RequestBudget | None = None
) -> np.ndarray:
    """Decodes a TensorProto into a numpy array (object dtype of bytes for DT_STRING).

    Follows TensorFlow's rules: ``tensor_content`` must hold exactly the shape's bytes; typed
    fields may hold all values, one value (broadcast), none (zeros) or fewer (the last value
    repeats). Anything else raises ServingError(INVALID_ARGUMENT) naming the input. With a
    ``budget``, the declared shape is charged against it before anything is allocated
    (RESOURCE_EXHAUSTED when over).
    """
    # Error texts are built only on the error paths: this runs for every tensor of every
    # request and response, and its cost shows in the batch-1 latency.
    shape_proto = proto.tensor_shape
    if shape_proto.unknown_rank:
        raise invalid_argument(f"tensor parsing error{_where(name)}: the shape has unknown rank")
    shape = tuple([d.size for d in shape_proto.dim])
    if shape and min(shape) < 0:
        raise invalid_argument(f"tensor parsing error{_where(name)}: negative dimension in {shape}")
    if len(shape) > MAX_TENSOR_RANK:
        check_rank(f"tensor parsing error{_where(name)}", len(shape))
    num_elements = math.prod(shape)
    if num_elements == 0 and shape and math.prod(d for d in shape if d) > _INT64_MAX:
        # TensorFlow refuses a shape whose dimensions overflow int64 even with a 0 among them;
        # numpy would fail later with an opaque "array is too big".
        raise invalid_argument(
            f"tensor parsing error{_where(name)}: shape {list(shape)} would have more than "
            f"{_INT64_MAX} elements"
        )
    entry = _FAST_DTYPES.get(proto.dtype)
    if budget is not None:
        budget.charge(
            f"input '{name}'", shape, num_elements, _declared_bytes(proto, entry, num_elements)
        )
    if entry is None:
        return _slow_to_ndarray(proto, _where(name))
    np_dtype, field = entry
    if proto.tensor_content:
        if np_dtype.kind == "O":
            raise invalid_argument(
                f"tensor parsing error{_where(name)}: DT_STRING in tensor_content"
            )
        content = proto.tensor_content
        if len(content) != num_elements * np_dtype.itemsize:
            raise invalid_argument(
                f"tensor parsing error{_where(name)}: tensor_content holds {len(content)} bytes, "
                f"shape {list(shape)} of {dtype_name(proto.dtype)} needs "
                f"{num_elements * np_dtype.itemsize}"
            )
        return np.frombuffer(content, dtype=np_dtype).reshape(shape)
    values = getattr(proto, field)
    count = len(values)
    try:
        if np_dtype.kind == "O":
            flat = np.empty(count, dtype=object)
            flat[:] = list(values)
        elif field == "half_val":
            flat = np.array(values, dtype=np.uint16).view(np.float16)
        else:
            flat = np.array(values, dtype=np_dtype)
    except OverflowError as e:  # int_val 300 for DT_INT8, half_val 70000 (not a float16's bits)
        raise invalid_argument(
            f"tensor parsing error{_where(name)}: a value in {field} is out of range for "
            f"{dtype_name(proto.dtype)} ({e})"
        ) from e
    if count == num_elements:
        return flat.reshape(shape)
    if count > num_elements:
        raise invalid_argument(
            f"tensor parsing error{_where(name)}: {count} values for shape {list(shape)} "
            f"({num_elements} elements)"
        )
    if _declared_bytes(proto, entry, num_elements) > MAX_EXPANDED_BYTES:
        raise invalid_argument(
            f"tensor parsing error{_where(name)}: shape {list(shape)} from {count} values would "
            f"expand to more than {MAX_EXPANDED_BYTES} bytes; send the values explicitly"
        )
    if count == 0:
        fill = b"" if np_dtype.kind == "O" else np.zeros((), dtype=np_dtype)
        out = np.empty(shape, dtype=np_dtype)
        out.fill(fill)
        return out
    # Fewer values than elements: TensorFlow repeats the last one (how a constant is compressed).
    out = np.empty(num_elements, dtype=np_dtype)
    out[:count] = flat
    out[count:] = flat[-1]
    return out.reshape(shape)


def _where(name: str) -> str:
    """ " for input 'x'" for error messages ("" without a name)."""
    return f" for input '{name}'" if name else ""


def _declared_bytes(
    proto: tensor_pb2.TensorProto, entry: tuple[np.dtype, str] | None, num_elements: int
) -> int:
    """Bytes the decoded tensor will occupy, from its shape and the values given (no copy)."""
    if entry is None:  # bfloat16, complex...: at most 16 bytes an element
        return num_elements * 16
    np_dtype, field = entry
    if np_dtype.kind != "O":
        return num_elements * np_dtype.itemsize
    values = proto.string_val
    payload = sum(len(v) for v in values)
    if values and len(values) < num_elements:
        payload += (num_elements - len(values)) * len(values[-1])  # broadcast copies
    return num_elements * STRING_ELEMENT_BYTES + payload


def _slow_to_ndarray(proto: tensor_pb2.TensorProto, where: str) -> np.ndarray:
    import tensorflow as tf

    try:
        return tf.make_ndarray(proto)
    except Exception as e:  # TypeError / ValueError for unknown dtypes or bad content
        raise invalid_argument(
            f"tensor parsing error{where}: cannot decode {dtype_name(proto.dtype)}: {e}"
        ) from e


def dtype_of(array: np.ndarray) -> int:
    """The TF DataType enum of a numpy array; object/bytes/str arrays are DT_STRING."""
    if array.dtype == object or array.dtype.kind in "SU":
        return types_pb2.DT_STRING
    enum = _NUMPY_TO_DTYPE.get(array.dtype)
    if enum is None:
        import tensorflow as tf

        return tf.dtypes.as_dtype(array.dtype).as_datatype_enum
    return enum


def from_ndarray(array: np.ndarray, proto: tensor_pb2.TensorProto | None = None):
    """Encodes ``array`` into ``proto`` (a new TensorProto if None) with typed value fields.

    Strings (object arrays of bytes or str, or numpy S/U arrays) go to string_val (str encoded
    as UTF-8). Returns the proto.
    """
    if proto is None:
        proto = tensor_pb2.TensorProto()
    array = np.asarray(array)
    dtype = dtype_of(array)
    proto.dtype = dtype
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add().size = size
    entry = _FAST_DTYPES.get(dtype)
    if entry is None:
        import tensorflow as tf

        proto.CopyFrom(tf.make_tensor_proto(array))
        return proto
    field = entry[1]
    flat = array.ravel()
    if dtype == types_pb2.DT_STRING:
        proto.string_val.extend(v.encode("utf-8") if isinstance(v, str) else v for v in flat)
    elif field == "half_val":
        proto.half_val.extend(flat.view(np.uint16).tolist())
    else:
        getattr(proto, field).extend(flat.tolist())
    return proto
