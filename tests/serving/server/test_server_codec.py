"""TensorProto <-> numpy and REST JSON <-> numpy agree with TensorFlow's own conversions."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from seqline.serving.errors import Code, ServingError
from seqline.serving.server.json_codec import (
    decode_predict_body,
    encode_predict_outputs,
    json_to_example,
    json_to_ndarray,
)
from seqline.serving.tensor_codec import _FAST_DTYPES, from_ndarray, to_ndarray

ARRAYS = [
    np.array([[1.5, -2.0], [0.1, 3.0]], np.float32),
    np.array([1.0, 2.0], np.float64),
    np.array([[1, -2, 3]], np.int32),
    np.array([2**40, -1], np.int64),
    np.array([0, 255], np.uint8),
    np.array([True, False]),
    np.array([1.5, -0.25], np.float16),
    np.array([2**33], np.uint64),
    np.array([[b"a", b"\xff\x00"], [b"", b"long text"]], dtype=object),
    np.zeros((0, 3), np.float32),
    np.float32(4.0).reshape(()),
]


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype}{list(a.shape)}")
def test_decode_matches_tf_make_ndarray(array):
    proto = tf.make_tensor_proto(array)
    decoded = to_ndarray(proto)
    expected = tf.make_ndarray(proto)
    assert decoded.dtype == expected.dtype and decoded.shape == expected.shape
    np.testing.assert_array_equal(decoded, expected)


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype}{list(a.shape)}")
def test_encode_is_readable_by_tf_make_ndarray(array):
    proto = from_ndarray(array)
    assert not proto.tensor_content  # typed *_val fields, as TF Serving answers
    decoded = tf.make_ndarray(proto)
    assert decoded.shape == array.shape
    np.testing.assert_array_equal(decoded, array)


def test_typed_fields_follow_tensorflow_fill_rules():
    proto = tf.make_tensor_proto(np.zeros(4, np.float32))
    proto.ClearField("tensor_content")
    proto.float_val.extend([7.0])  # one value: broadcast
    np.testing.assert_array_equal(to_ndarray(proto), tf.make_ndarray(proto))
    proto.ClearField("float_val")
    proto.float_val.extend([1.0, 2.0])  # fewer: last repeats
    np.testing.assert_array_equal(to_ndarray(proto), tf.make_ndarray(proto))
    proto.ClearField("float_val")  # none: zeros
    np.testing.assert_array_equal(to_ndarray(proto), np.zeros(4, np.float32))


def test_bad_protos_are_invalid_argument():
    proto = tf.make_tensor_proto(np.zeros(2, np.float32))
    proto.tensor_content = b"123"
    with pytest.raises(ServingError) as error:
        to_ndarray(proto, "x")
    assert error.value.code == Code.INVALID_ARGUMENT and "'x'" in error.value.message
    proto = tf.make_tensor_proto(np.zeros(2, np.float32))
    proto.tensor_shape.dim[0].size = -3
    with pytest.raises(ServingError):
        to_ndarray(proto)
    # One value broadcast to 2**40 elements: refused before anything is allocated.
    proto = tf.make_tensor_proto(np.zeros(1, np.float32))
    proto.ClearField("tensor_content")
    proto.float_val.append(1.0)
    proto.tensor_shape.dim[0].size = 2**40
    with pytest.raises(ServingError) as error:
        to_ndarray(proto, "x")
    assert error.value.code == Code.INVALID_ARGUMENT


@pytest.mark.parametrize(
    "dtype, field, value",
    [(tf.int8, "int_val", 300), (tf.uint8, "int_val", -1), (tf.float16, "half_val", 70_000)],
)
def test_values_out_of_their_dtypes_range_are_invalid_argument(dtype, field, value):
    proto = tensor_pb2.TensorProto(dtype=dtype.as_datatype_enum)
    proto.tensor_shape.dim.add().size = 1
    getattr(proto, field).append(value)
    with pytest.raises(ServingError) as error:  # was an OverflowError, answered as INTERNAL
        to_ndarray(proto, "x")
    assert error.value.code == Code.INVALID_ARGUMENT
    assert f"a value in {field} is out of range for DT_" in error.value.message


@pytest.mark.parametrize("dims", [(2**62, 2**62, 0), (0, 2**62, 2**62)])
def test_a_zero_size_shape_whose_dimensions_overflow_is_invalid_argument(dims):
    proto = tensor_pb2.TensorProto(dtype=tf.float32.as_datatype_enum)
    for size in dims:
        proto.tensor_shape.dim.add().size = size
    with pytest.raises(ServingError) as error:  # numpy: "array is too big", answered INTERNAL
        to_ndarray(proto, "x")
    assert error.value.code == Code.INVALID_ARGUMENT and "more than" in error.value.message
    for dim in proto.tensor_shape.dim:  # the same zero-size shape with small dimensions
        dim.size = min(dim.size, 3)
    assert to_ndarray(proto, "x").shape == tuple(min(d, 3) for d in dims)


def test_columnar_keys_that_are_not_inputs_are_ignored_but_warned_about_once(caplog):
    """As TF Serving, extra keys are ignored; a misspelt input with a default would run with
    the default, so the first request with those keys is logged."""
    dtypes = {"x": np.dtype(np.float32)}
    with caplog.at_level("WARNING"):
        for _ in range(3):
            inputs, _ = decode_predict_body({"inputs": {"x": [1.0], "tempratur_q": [2]}}, dtypes)
    assert list(inputs) == ["x"]
    warned = [r for r in caplog.records if "tempratur_q" in r.getMessage()]
    assert len(warned) == 1 and "were ignored" in warned[0].getMessage()


def test_json_rows_and_columns():
    dtypes = {"x": np.dtype(np.float32), "t": np.dtype(object)}
    b64 = base64.b64encode(b"\xff\x01").decode()
    inputs, rows = decode_predict_body(
        {"instances": [{"x": [1, 2], "t": "a"}, {"x": [3, 4], "t": {"b64": b64}}]}, dtypes
    )
    assert rows is True
    np.testing.assert_array_equal(inputs["x"], np.array([[1, 2], [3, 4]], np.float32))
    assert inputs["t"].tolist() == [b"a", b"\xff\x01"]
    inputs, rows = decode_predict_body({"inputs": {"x": [[1.5]], "t": ["z"]}}, dtypes)
    assert rows is False and inputs["x"].dtype == np.float32

    outputs = {
        "scores": np.array([[0.1, 0.9]], np.float32),
        "label": np.array([b"pos"], dtype=object),
        "raw_bytes": np.array([b"\xff"], dtype=object),
    }
    assert encode_predict_outputs(outputs, row_format=True) == {
        "predictions": [{"scores": [0.1, 0.9], "label": "pos", "raw_bytes": {"b64": "/w=="}}]
    }
    assert encode_predict_outputs({"y": np.array([2.5], np.float32)}, row_format=False) == {
        "outputs": [2.5]
    }


@pytest.mark.parametrize(
    ("value", "dtype"),
    [
        ([[1.0], [1.0, 2.0]], np.float32),
        (["a"], np.float32),
        ([1.5], np.int32),
        ([2**40], np.int32),
        ([1.0], object),
        ([{"b64": "***"}], object),
        ([1, 0], np.bool_),
    ],
)
def test_bad_json_values_are_invalid_argument(value, dtype):
    with pytest.raises(ServingError) as error:
        json_to_ndarray(value, np.dtype(dtype), "input 'x'")
    assert error.value.code == Code.INVALID_ARGUMENT


def test_json_example_feature_kinds():
    example = json_to_example(
        {"i": 3, "f": [1.5, 2], "s": "text", "b": {"b64": "AAE="}, "l": ["a", "b"]}, "example 0"
    )
    feature = example.features.feature
    assert list(feature["i"].int64_list.value) == [3]
    assert list(feature["f"].float_list.value) == [1.5, 2.0]
    assert list(feature["s"].bytes_list.value) == [b"text"]
    assert list(feature["b"].bytes_list.value) == [b"\x00\x01"]
    assert list(feature["l"].bytes_list.value) == [b"a", b"b"]
    with pytest.raises(ServingError):
        json_to_example({"mixed": [1, "a"]}, "example 0")


# -- the fast conversions pinned against TensorFlow's, on every dtype with a fast path ---------

SHAPES = [(), (0,), (3,), (2, 3), (0, 2), (2, 0, 1), (1, 1, 4)]


def _values(dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """An array of ``shape`` cycling through ``dtype``'s awkward values (extremes, -0.0, NaN,
    infinities, non-UTF-8 and NUL bytes, empty strings)."""
    if dtype.kind == "O":
        pool = [b"\xff\xfe", b"", b"a\x00b", "é".encode(), b"\x80", b"plain text"]
    elif dtype.kind == "b":
        pool = [True, False]
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        pool = [info.min, info.max, 0, 1, info.max // 3]
    else:
        info = np.finfo(dtype)
        pool = [-0.0, np.nan, np.inf, -np.inf, info.max, info.tiny, 1.5]
    size = int(np.prod(shape))
    flat = np.empty(size, dtype=dtype)
    for i in range(size):
        flat[i] = pool[i % len(pool)]
    return flat.reshape(shape)


def _same(decoded: np.ndarray, expected: np.ndarray) -> None:
    """Same dtype, shape and elements; numbers bit for bit (-0.0 and NaN payloads too)."""
    assert decoded.dtype == expected.dtype and decoded.shape == expected.shape
    if expected.dtype == object:
        assert decoded.tolist() == expected.tolist()
        assert all(type(v) is bytes for v in decoded.ravel())
    else:
        assert decoded.tobytes() == expected.tobytes()


FAST_CASES = [
    (types_pb2.DataType.Name(enum), np_dtype, shape)
    for enum, (np_dtype, _) in _FAST_DTYPES.items()
    for shape in SHAPES
]


@pytest.mark.parametrize(
    ("dtype_name", "np_dtype", "shape"), FAST_CASES, ids=[f"{c[0]}{list(c[2])}" for c in FAST_CASES]
)
def test_fast_conversions_match_tensorflow(dtype_name, np_dtype, shape):
    array = _values(np_dtype, shape)
    # Decoding what tf.make_tensor_proto writes (tensor_content for numbers, string_val).
    tf_proto = tf.make_tensor_proto(array, dtype=tf.as_dtype(types_pb2.DataType.Value(dtype_name)))
    _same(to_ndarray(tf_proto), tf.make_ndarray(tf_proto))
    # Encoding: the same dtype, shape and values as tf.make_tensor_proto, in typed fields.
    ours = from_ndarray(array)
    assert ours.dtype == tf_proto.dtype and ours.tensor_shape == tf_proto.tensor_shape
    assert not ours.tensor_content
    _same(tf.make_ndarray(ours), tf.make_ndarray(tf_proto))
    # Decoding typed fields (what clients and TF Serving send) round-trips.
    _same(to_ndarray(ours), tf.make_ndarray(ours))
    _same(to_ndarray(ours), array)


def test_str_elements_are_sent_as_utf8_like_tensorflow():
    array = np.array([["é", "plain"], ["", "\x00x"]], dtype=object)
    ours = from_ndarray(array)
    _same(to_ndarray(ours), tf.make_ndarray(tf.make_tensor_proto(array)))
    _same(to_ndarray(from_ndarray(array.astype(str))), to_ndarray(ours))
