"""Per-request limits are configurable and checked before any allocation; a refused request
never hurts the next one."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from seqline.serving.errors import Code, ServingError
from seqline.serving.request_limits import RequestLimits
from seqline.serving.server.json_codec import json_depth, json_to_ndarray, parse_json_request
from seqline.serving.tensor_codec import to_ndarray
from tests.serving.conftest import serve_hpt


def _post(url: str, body: bytes) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_json_depth_ignores_brackets_in_strings():
    assert json_depth(b'{"a": [[1, 2], [3]], "s": "[[[[\\"[{"}') == 3
    assert json_depth(b"[]") == 1 and json_depth(b"1") == 0
    assert json_depth(b"[" * 100_000 + b"]" * 100_000) == 100_000


def test_a_string_never_closed_is_one_scan_to_the_end_not_one_per_quote():
    """The depth check strips string literals with one regex. A literal left open once went
    unmatched, so the scan restarted at every later quote (quadratic: 32 KB of escaped quotes
    froze the server for seconds). Now it is matched to the end in one go, and json.loads
    refuses the body."""
    from seqline.serving.server.json_codec import _JSON_STRING

    for body in (b'"' + b'\\"' * 16_000, b'"' + b'\\"' * 16_000 + b"\\", b'["a", "b'):
        start = body.rindex(b'"') if body.startswith(b"[") else 0
        assert _JSON_STRING.match(body, start).end() == len(body)
        assert json_depth(body) <= 1
        with pytest.raises(ServingError) as error:
            parse_json_request(body)
        assert error.value.code == Code.INVALID_ARGUMENT
    # Closed literals still end at their closing quote, escaped quotes and backslashes inside.
    assert _JSON_STRING.match(b'"a\\"b\\\\" ]').group() == b'"a\\"b\\\\"'


def test_parse_json_request_limits_depth_and_float_range():
    assert parse_json_request(b'{"x": [[1]]}', max_depth=3) == {"x": [[1]]}
    with pytest.raises(ServingError, match="nesting depth 4 exceeds the limit of 3") as e:
        parse_json_request(b'{"x": [[[1]]]}', max_depth=3)
    assert e.value.code == Code.INVALID_ARGUMENT
    with pytest.raises(ServingError, match="too big to be stored in double"):
        parse_json_request(b'{"x": 1.7976931348623159e308}')
    # TF Serving's parser takes NaN / Infinity literals; so does this one.
    body = parse_json_request(b'{"x": [NaN, -Infinity, 1.7976931348623157e308]}')
    assert np.isnan(body["x"][0]) and body["x"][1] == -np.inf


def test_budget_is_charged_from_the_shape_before_decoding():
    limits = RequestLimits(max_elements=10, max_bytes=1000)
    proto = tf.make_tensor_proto(np.zeros(10, np.float32))
    assert to_ndarray(proto, "x", limits.budget()).shape == (10,)
    budget = limits.budget()
    to_ndarray(proto, "x", budget)
    with pytest.raises(ServingError, match="at most 10 elements") as e:  # the request's total
        to_ndarray(tf.make_tensor_proto(np.zeros(1, np.float32)), "y", budget)
    assert e.value.code == Code.RESOURCE_EXHAUSTED
    # Strings cost their payload too: 5 elements x (32 + 200 bytes) > 1000 bytes.
    strings = tf.make_tensor_proto([b"a" * 200] * 5)
    with pytest.raises(ServingError, match="bytes"):
        to_ndarray(strings, "s", limits.budget())
    with pytest.raises(ServingError, match="at most 10 elements"):
        json_to_ndarray([[1.0] * 4] * 3, np.dtype(np.float32), "x", limits.budget())


@pytest.fixture(scope="module")
def small_limits_server(tmp_path_factory, half_plus_two_model):
    handle = serve_hpt(
        tmp_path_factory.mktemp("limits"),
        half_plus_two_model,
        max_request_elements=8,
        max_request_bytes=1 << 20,
        max_json_depth=4,
    )
    yield handle
    handle.stop()


def test_configured_limits_apply_to_grpc_and_rest(small_limits_server):
    server = small_limits_server
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def predict(n: int) -> np.ndarray:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "hpt"
            request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones(n, np.float32)))
            return tf.make_ndarray(stub.Predict(request, timeout=30).outputs["y"])

        with pytest.raises(grpc.RpcError) as e:
            predict(9)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "--max_request_elements" in e.value.details()
        assert predict(8).tolist() == [2.5] * 8

    url = f"{server.rest_url}/v1/models/hpt:predict"
    status, body = _post(url, json.dumps({"instances": [1.0] * 9}).encode())
    assert status == 429 and "at most 8 elements" in body["error"]
    status, body = _post(url, b'{"inputs": [[[[1.0]]]]}')  # depth 5 > 4
    assert status == 400 and "nesting depth 5" in body["error"]
    assert _post(url, b'{"instances": [2.0]}') == (200, {"predictions": [3.0]})
    # A body is charged its worst parse cost (24 bytes of Python objects per byte) before
    # json.loads builds it: 1 MiB of budget takes bodies up to 43,690 bytes.
    padded = b'{"instances": [2.0]' + b" " * 43_000 + b"}"
    assert _post(url, padded) == (200, {"predictions": [3.0]})
    status, body = _post(url, b'{"instances": [2.0]' + b" " * 44_000 + b"}")
    assert status == 429 and "REST bodies up to 43690 bytes are taken" in body["error"]


@pytest.fixture(scope="module")
def small_messages_server(tmp_path_factory, half_plus_two_model):
    handle = serve_hpt(
        tmp_path_factory.mktemp("messages"), half_plus_two_model, max_message_size_bytes=4096
    )
    yield handle
    handle.stop()


def test_a_response_over_the_message_size_is_refused_before_it_is_encoded(
    small_messages_server,
):
    """A small request can ask for a large answer (one broadcast value filling a long shape;
    a 31-byte request for 10^8 floats once cost ~4 GB of Python objects before gRPC refused
    to send it). Responses are charged like inputs and refused first, over REST as well."""
    server = small_messages_server
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "hpt"
        x = request.inputs["x"]
        x.dtype = tf.float32.as_datatype_enum
        x.tensor_shape.dim.add().size = 2048  # 8 KB of float32 out of a ~20-byte tensor
        x.float_val.append(1.0)
        with pytest.raises(grpc.RpcError) as e:
            stub.Predict(request, timeout=30)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "the response would hold at least 8192 bytes" in e.value.details()
        x.tensor_shape.dim[0].size = 512  # 2 KB: sent
        assert tf.make_ndarray(stub.Predict(request, timeout=30).outputs["y"]).shape == (512,)

    url = f"{server.rest_url}/v1/models/hpt:predict"
    # ~3 KB of JSON in (under the 4 KB body limit), 4 KB of float32 out: the second is over.
    status, answer = _post(url, json.dumps({"instances": [1] * 1000}).encode())
    assert status == 200 and len(answer["predictions"]) == 1000
    status, answer = _post(url, json.dumps({"inputs": [1] * 1100}).encode())
    assert status == 429 and "the response would hold at least 4400 bytes" in answer["error"]


def test_response_size_counts_numbers_by_bytes_and_strings_like_inputs():
    from seqline.serving.request_limits import STRING_ELEMENT_BYTES, check_response_size

    check_response_size({"y": np.zeros(256, np.float32)}, 1024)  # exactly 1 KB
    with pytest.raises(ServingError, match="at least 1032 bytes .output 'z'") as e:
        check_response_size({"y": np.zeros(256, np.float32), "z": np.zeros(1)}, 1024)
    assert e.value.code == Code.RESOURCE_EXHAUSTED
    words = np.array([b"a" * 100] * 4, dtype=object)
    check_response_size({"s": words}, 4 * (STRING_ELEMENT_BYTES + 100))
    with pytest.raises(ServingError, match="output 's' has shape \\[4\\]"):
        check_response_size({"s": words}, 4 * (STRING_ELEMENT_BYTES + 100) - 1)
