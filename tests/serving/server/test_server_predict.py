"""The server answers the stock TF Serving client exactly like the SavedModel in-process.

One server (half_plus_two as "hpt", the text model as "text", the model with a defaulted input
as "defaults") serves the whole module; every test only reads from it.
"""

from __future__ import annotations

import base64
import json
import shutil
import urllib.error
import urllib.request
from typing import Any

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    inference_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from seqline.serving.server.server import FREE_PORT, ServerOptions, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory, half_plus_two_model: str, text_model: str, defaults_model: str):
    root = tmp_path_factory.mktemp("predict_models")
    shutil.copytree(half_plus_two_model, root / "hpt" / "1")
    shutil.copytree(text_model, root / "text" / "1")
    shutil.copytree(defaults_model, root / "defaults" / "1")
    config = root / "models.config"
    config.write_text(
        f"""
        model_config_list {{
          config {{ name: "hpt" base_path: "{root / "hpt"}" model_platform: "tensorflow" }}
          config {{ name: "text" base_path: "{root / "text"}" }}
          config {{ name: "defaults" base_path: "{root / "defaults"}" }}
        }}
        """
    )
    handle = start_server(
        ServerOptions(
            model_config_file=str(config),
            port=0,
            rest_api_port=FREE_PORT,
            max_message_size_bytes=64 * 1024,
        )
    )
    handle.wait_until_ready(timeout=60)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def stub(server) -> prediction_service_pb2_grpc.PredictionServiceStub:
    channel = grpc.insecure_channel(server.grpc_target)
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
    channel.close()


def predict_request(model: str, inputs: dict[str, Any], **spec: Any) -> predict_pb2.PredictRequest:
    """The stock way: PredictRequest + tf.make_tensor_proto."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    for key, value in spec.items():
        if key == "version":
            request.model_spec.version.value = value
        else:
            setattr(request.model_spec, key, value)
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
    return request


def rest(server, path: str, body: Any = None) -> tuple[int, Any]:
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    request = urllib.request.Request(server.rest_url + path, data=data)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def example(**features: Any) -> tf.train.Example:
    feature = {}
    for name, value in features.items():
        if isinstance(value, float):
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        else:
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=feature))


def test_stock_predict_equals_in_process_call(server, stub, half_plus_two_model, text_model):
    x = np.array([-1.5, 0.0, 1.0, 7.25], dtype=np.float32)
    response = stub.Predict(predict_request("hpt", {"x": x}), timeout=30)
    expected = tf.saved_model.load(half_plus_two_model).signatures["serving_default"](
        x=tf.constant(x)
    )
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["y"]), expected["y"].numpy())
    assert response.model_spec.name == "hpt"
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"

    texts = np.array([b"good good bad", b"bad movie", b""], dtype=object)
    response = stub.Predict(
        predict_request("text", {"text": texts}, signature_name="predict_text"), timeout=30
    )
    expected = tf.saved_model.load(text_model).signatures["predict_text"](text=tf.constant(texts))
    for alias in ("probabilities", "class_ids", "classes"):
        np.testing.assert_array_equal(
            tf.make_ndarray(response.outputs[alias]), expected[alias].numpy()
        )
    # Typed value fields, as TF Serving answers: clients reading float_val directly work.
    assert list(response.outputs["class_ids"].int64_val) == [1, 0, 0]


def test_serialized_example_signature_and_output_filter(stub):
    examples = np.array(
        [example(text=b"good").SerializeToString(), example(text=b"bad").SerializeToString()],
        dtype=object,
    )
    response = stub.Predict(
        _with_filter(predict_request("text", {"examples": examples}), ["classes"]), timeout=30
    )
    assert list(response.outputs) == ["classes"]
    assert tf.make_ndarray(response.outputs["classes"]).tolist() == [b"positive", b"negative"]


def _with_filter(request: predict_pb2.PredictRequest, aliases: list[str]):
    request.output_filter.extend(aliases)
    return request


def test_explicit_version(stub):
    x = np.array([2.0], dtype=np.float32)
    response = stub.Predict(predict_request("hpt", {"x": x}, version=1), timeout=30)
    assert response.model_spec.version.value == 1
    assert tf.make_ndarray(response.outputs["y"]).tolist() == [3.0]


def test_classify_and_regress_on_tf_example(stub):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "hpt"
    request.model_spec.signature_name = "classify_x_to_y"
    request.input.example_list.examples.extend([example(x=1.0), example(x=3.0)])
    response = stub.Classify(request, timeout=30)
    rows = [[(c.label, c.score) for c in row.classes] for row in response.result.classifications]
    assert rows == [[("negative", 2.5)], [("positive", 3.5)]]
    assert response.model_spec.version.value == 1

    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "hpt"
    request.model_spec.signature_name = "regress_x_to_y"
    with_context = request.input.example_list_with_context
    with_context.context.CopyFrom(example(x=10.0))
    with_context.examples.extend([example(x=0.0), tf.train.Example()])  # 2nd: context's x
    response = stub.Regress(request, timeout=30)
    assert [r.value for r in response.result.regressions] == [2.0, 7.0]


def test_classify_needs_a_classify_signature(stub):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "text"  # serving_default has method_name predict
    request.input.example_list.examples.append(example(text=b"good"))
    with pytest.raises(grpc.RpcError) as error:
        stub.Classify(request, timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tensorflow/serving/classify" in error.value.details()

    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "hpt"
    request.model_spec.signature_name = "regress_x_to_y"
    with pytest.raises(grpc.RpcError) as error:  # no examples
        stub.Regress(request, timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"


def multi_request(
    *tasks: tuple[str, str, str], examples: tuple[tf.train.Example, ...] | None = None
) -> inference_pb2.MultiInferenceRequest:
    """A MultiInferenceRequest of (model, signature, method) tasks on examples x=1 and x=3."""
    request = inference_pb2.MultiInferenceRequest()
    for model, signature, method in tasks:
        task = request.tasks.add()
        task.model_spec.name = model
        task.model_spec.signature_name = signature
        task.method_name = method
    chosen = (example(x=1.0), example(x=3.0)) if examples is None else examples
    request.input.example_list.examples.extend(chosen)
    return request


def test_multi_inference_runs_each_task_on_the_one_input(stub):
    """TF Serving's MultiInference: classify and regress signatures of one model on the same
    examples, one result per task in order, each with its model_spec (was UNIMPLEMENTED)."""
    request = multi_request(
        ("hpt", "classify_x_to_y", CLASSIFY), ("hpt", "regress_x_to_y", REGRESS)
    )
    classification, regression = stub.MultiInference(request, timeout=30).results
    rows = classification.classification_result.classifications
    assert [[(c.label, c.score) for c in row.classes] for row in rows] == [
        [("negative", 2.5)],
        [("positive", 3.5)],
    ]
    assert [r.value for r in regression.regression_result.regressions] == [2.5, 3.5]
    for result, signature in ((classification, "classify_x_to_y"), (regression, "regress_x_to_y")):
        spec = result.model_spec
        assert (spec.name, spec.signature_name, spec.version.value) == ("hpt", signature, 1)


def test_multi_inference_is_counted_in_the_metrics(server, stub):
    stub.MultiInference(multi_request(("hpt", "regress_x_to_y", REGRESS)), timeout=30)
    with urllib.request.urlopen(server.rest_url + "/monitoring/prometheus/metrics") as response:
        text = response.read().decode()
    assert 'request_count{model_name="hpt",status="OK"}' in text
    assert 'request_latency_count{model_name="hpt",API="MultiInference",entrypoint="GRPC"}' in text
    assert 'method="multi_inference",model_name="hpt",signature_name="",status="OK"' in text


BAD_MULTI_INFERENCE = {
    "no tasks": (lambda: multi_request(), grpc.StatusCode.INVALID_ARGUMENT, "no tasks"),
    "two models": (
        lambda: multi_request(
            ("hpt", "classify_x_to_y", CLASSIFY), ("text", "regress_x_to_y", REGRESS)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "must access the same model name",
    ),
    "a signature twice": (
        lambda: multi_request(
            ("hpt", "regress_x_to_y", REGRESS), ("hpt", "regress_x_to_y", REGRESS)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Duplicate evaluation of signature: regress_x_to_y",
    ),
    "unknown signature": (
        lambda: multi_request(("hpt", "nope", CLASSIFY)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Requested signature not found in model graph: nope",
    ),
    "predict method": (
        lambda: multi_request(("hpt", "serving_default", "tensorflow/serving/predict")),
        grpc.StatusCode.UNIMPLEMENTED,
        "Unsupported signature method_name",
    ),
    "classify on a regress signature": (
        lambda: multi_request(("hpt", "regress_x_to_y", CLASSIFY)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Expected classification signature method_name",
    ),
    "empty model name": (
        lambda: multi_request(("", "regress_x_to_y", REGRESS)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "empty model name",
    ),
    "no examples": (
        lambda: multi_request(("hpt", "regress_x_to_y", REGRESS), examples=()),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Input is empty",
    ),
    "unknown model": (
        lambda: multi_request(("nope", "regress_x_to_y", REGRESS)),
        grpc.StatusCode.NOT_FOUND,
        "nope",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_MULTI_INFERENCE))
def test_bad_multi_inference_gets_tf_serving_status(stub, case):
    make_request, code, message = BAD_MULTI_INFERENCE[case]
    with pytest.raises(grpc.RpcError) as error:
        stub.MultiInference(make_request(), timeout=30)
    assert error.value.code() == code, error.value.details()
    assert message in error.value.details()


def test_get_model_metadata_packs_signature_def_map(stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "hpt"
    response = stub.GetModelMetadata(request, timeout=30)
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_defs)
    assert set(signature_defs.signature_def) == {
        "serving_default",
        "predict",
        "classify_x_to_y",
        "regress_x_to_y",
        "__saved_model_init_op",  # listed as TF Serving lists it, though no request runs it
    }
    serving = signature_defs.signature_def["serving_default"]
    assert serving.inputs["x"].dtype == tf.float32.as_datatype_enum
    assert serving.method_name == "tensorflow/serving/predict"
    assert signature_defs.signature_def["classify_x_to_y"].method_name == (
        "tensorflow/serving/classify"
    )
    assert response.model_spec.version.value == 1

    request.ClearField("metadata_field")
    request.metadata_field.append("nonsense")
    with pytest.raises(grpc.RpcError) as error:
        stub.GetModelMetadata(request, timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_rest_metadata_prints_every_field_as_tf_serving(server):
    """TF Serving prints metadata JSON with always_print_fields_with_no_presence (its testdata
    saved_model_half_plus_two_2_versions_metadata.json): every dim has its "name", every
    shape its "unknown_rank" (a scalar's "dim" is []), every SignatureDef its "defaults", and
    __saved_model_init_op is listed. Clients computing a rank as len(tensor_shape["dim"])
    once got a KeyError on scalars."""
    status, body = rest(server, "/v1/models/hpt/metadata")
    assert status == 200
    signatures = body["metadata"]["signature_def"]["signature_def"]
    serving = signatures["serving_default"]
    vector = {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}
    assert serving == {
        "inputs": {
            "x": {"dtype": "DT_FLOAT", "tensor_shape": vector, "name": "serving_default_x:0"}
        },
        "outputs": {
            "y": {
                "dtype": "DT_FLOAT",
                "tensor_shape": vector,
                "name": serving["outputs"]["y"]["name"],
            }
        },
        "method_name": "tensorflow/serving/predict",
        "defaults": {},
    }
    init_op = signatures["__saved_model_init_op"]
    assert init_op["inputs"] == {} and init_op["method_name"] == ""
    (output,) = init_op["outputs"].values()
    assert output["dtype"] == "DT_INVALID"
    assert output["tensor_shape"] == {"dim": [], "unknown_rank": True}

    status, body = rest(server, "/v1/models/defaults/metadata")
    assert status == 200
    serving = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert serving["inputs"]["scale"]["tensor_shape"] == {"dim": [], "unknown_rank": False}
    assert serving["defaults"]["scale"]["dtype"] == "DT_FLOAT"
    assert serving["defaults"]["scale"]["float_val"] == [10.0]


def test_the_init_op_signature_is_listed_but_not_runnable(stub):
    request = predict_request(
        "hpt", {"x": np.array([1.0], np.float32)}, signature_name="__saved_model_init_op"
    )
    with pytest.raises(grpc.RpcError) as error:
        stub.Predict(request, timeout=30)
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_inputs_left_out_take_the_signature_defaults(server, stub):
    """TF Serving lets a request leave out the inputs its SignatureDef has defaults for
    (predict_util's VerifyRequestInputsSize) and runs with the defaults; it was
    INVALID_ARGUMENT. An input without a default still has to be sent."""
    x = np.array([1.0, 2.0], np.float32)
    response = stub.Predict(predict_request("defaults", {"x": x}), timeout=30)
    assert tf.make_ndarray(response.outputs["y"]).tolist() == [10.0, 20.0]
    given = {"x": x, "scale": np.float32(3.0)}
    response = stub.Predict(predict_request("defaults", given), timeout=30)
    assert tf.make_ndarray(response.outputs["y"]).tolist() == [3.0, 6.0]
    with pytest.raises(grpc.RpcError) as error:
        stub.Predict(predict_request("defaults", {"scale": np.float32(3.0)}), timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Missing but required: ['x']" in error.value.details()
    assert "default may be left out: ['scale']" in error.value.details()

    for body, answer in [
        ({"inputs": {"x": [1.0, 2.0]}}, {"outputs": [10.0, 20.0]}),
        ({"inputs": {"x": [1.0], "scale": 3.0}}, {"outputs": [3.0]}),
        ({"inputs": [1.0, 2.0]}, {"outputs": [10.0, 20.0]}),  # x: the one without a default
        ({"instances": [1.0, 2.0]}, {"predictions": [10.0, 20.0]}),
        ({"instances": [{"x": 1.0}, {"x": 2.0}]}, {"predictions": [10.0, 20.0]}),
    ]:
        assert rest(server, "/v1/models/defaults:predict", body) == (200, answer), body
    status, answer = rest(server, "/v1/models/defaults:predict", {"inputs": {"scale": 3.0}})
    assert status == 400 and "missing ['x']" in answer["error"]


def _raw_call(server, method: str, payload: bytes) -> grpc.RpcError | bytes:
    with grpc.insecure_channel(server.grpc_target) as channel:
        call = channel.unary_unary(
            f"/tensorflow.serving.PredictionService/{method}",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        try:
            return call(payload, timeout=30)
        except grpc.RpcError as e:
            return e


def _bad_tensor_content() -> predict_pb2.PredictRequest:
    request = predict_request("hpt", {"x": np.array([1.0], np.float32)})
    request.inputs["x"].tensor_content = b"\x00\x01\x02"  # 3 bytes for one float32
    return request


def _too_many_values() -> predict_pb2.PredictRequest:
    request = predict_request("hpt", {"x": np.array([1.0], np.float32)})
    request.inputs["x"].ClearField("tensor_content")
    request.inputs["x"].float_val.extend([1.0, 2.0, 3.0])
    return request


def _declared_only(dtype: int, dims: list[int], **values: list[Any]) -> predict_pb2.PredictRequest:
    """A tiny request declaring a huge tensor: TensorFlow would broadcast the last value."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "hpt"
    tensor = request.inputs["x"]
    tensor.dtype = dtype
    for size in dims:
        tensor.tensor_shape.dim.add().size = size
    for field, items in values.items():
        getattr(tensor, field).extend(items)
    return request


BAD_PREDICTS = {
    "unknown model": (
        lambda: predict_request("nope", {"x": np.array([1.0], np.float32)}),
        grpc.StatusCode.NOT_FOUND,
    ),
    "unknown version": (
        lambda: predict_request("hpt", {"x": np.array([1.0], np.float32)}, version=99),
        grpc.StatusCode.NOT_FOUND,
    ),
    "unknown label": (
        lambda: predict_request("hpt", {"x": np.array([1.0], np.float32)}, version_label="x"),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    "unknown signature": (
        lambda: predict_request(
            "hpt", {"x": np.array([1.0], np.float32)}, signature_name="missing"
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    ),
    "wrong input name": (
        lambda: predict_request("hpt", {"z": np.array([1.0], np.float32)}),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    "extra input": (
        lambda: predict_request(
            "hpt", {"x": np.array([1.0], np.float32), "z": np.array([1.0], np.float32)}
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    "wrong dtype": (
        lambda: predict_request("hpt", {"x": np.array([b"a"], dtype=object)}),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    "wrong rank": (
        lambda: predict_request("hpt", {"x": np.ones((2, 2), np.float32)}),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    "unknown output filter": (
        lambda: _with_filter(predict_request("hpt", {"x": np.array([1.0], np.float32)}), ["q"]),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    "corrupt tensor_content": (_bad_tensor_content, grpc.StatusCode.INVALID_ARGUMENT),
    "more values than shape": (_too_many_values, grpc.StatusCode.INVALID_ARGUMENT),
    "missing model_spec": (lambda: predict_pb2.PredictRequest(), grpc.StatusCode.INVALID_ARGUMENT),
    "oversized message": (
        lambda: predict_request("hpt", {"x": np.zeros(100_000, np.float32)}),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ),
    # 20 bytes on the wire, 10^8 strings once expanded: refused from the shape alone.
    "10^8 strings declared by one value": (
        lambda: _declared_only(tf.string.as_datatype_enum, [10**8], string_val=[b"a"]),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ),
    "4 GB of floats declared by one value": (
        lambda: _declared_only(tf.float32.as_datatype_enum, [10**9], float_val=[1.0]),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ),
    "shape product beyond int64": (
        lambda: _declared_only(tf.float32.as_datatype_enum, [2**40, 2**40], float_val=[1.0]),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ),
    "rank 65": (
        lambda: _declared_only(tf.float32.as_datatype_enum, [1] * 65, float_val=[1.0]),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_PREDICTS))
def test_bad_predict_gets_tf_serving_status_and_server_keeps_serving(server, stub, case):
    make_request, code = BAD_PREDICTS[case]
    with pytest.raises(grpc.RpcError) as error:
        stub.Predict(make_request(), timeout=30)
    assert error.value.code() == code, error.value.details()
    ok = stub.Predict(predict_request("hpt", {"x": np.array([4.0], np.float32)}), timeout=30)
    assert tf.make_ndarray(ok.outputs["y"]).tolist() == [4.0]


def test_garbage_bytes_do_not_hurt_the_server(server, stub):
    result = _raw_call(server, "Predict", b"\xff\xfe garbage \x00\x01" * 10)
    # What gRPC itself answers for an unparsable message (TF Serving's C++ server too).
    assert isinstance(result, grpc.RpcError)
    assert result.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT)
    ok = stub.Predict(predict_request("hpt", {"x": np.array([0.0], np.float32)}), timeout=30)
    assert tf.make_ndarray(ok.outputs["y"]).tolist() == [2.0]


def test_rest_and_grpc_return_the_same_predictions(server, stub):
    x = [0.5, 1.5, -3.0]
    grpc_y = tf.make_ndarray(
        stub.Predict(predict_request("hpt", {"x": np.array(x, np.float32)}), timeout=30).outputs[
            "y"
        ]
    )
    status, rows = rest(server, "/v1/models/hpt:predict", {"instances": x})
    assert status == 200
    np.testing.assert_array_equal(np.array(rows["predictions"], np.float32), grpc_y)
    status, columns = rest(server, "/v1/models/hpt/versions/1:predict", {"inputs": {"x": x}})
    assert status == 200
    np.testing.assert_array_equal(np.array(columns["outputs"], np.float32), grpc_y)

    texts = ["good good", "bad"]
    grpc_out = stub.Predict(
        predict_request(
            "text",
            {"text": np.array([t.encode() for t in texts], object)},
            signature_name="predict_text",
        ),
        timeout=30,
    ).outputs
    status, body = rest(
        server,
        "/v1/models/text:predict",
        {
            "signature_name": "predict_text",
            "instances": [{"b64": base64.b64encode(t.encode()).decode()} for t in texts],
        },
    )
    assert status == 200
    assert [row["classes"] for row in body["predictions"]] == ["positive", "negative"]
    np.testing.assert_array_equal(
        np.array([row["probabilities"] for row in body["predictions"]], np.float32),
        tf.make_ndarray(grpc_out["probabilities"]),
    )
    assert [row["class_ids"] for row in body["predictions"]] == [1, 0]


def test_rest_classify_regress_metadata_and_status(server):
    status, body = rest(
        server,
        "/v1/models/hpt:classify",
        {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}, {"x": 0.0}]},
    )
    assert status == 200
    assert body == {"result": [[["positive", 3.0]], [["negative", 2.0]]]}
    status, body = rest(
        server,
        "/v1/models/hpt:regress",
        {"signature_name": "regress_x_to_y", "context": {"x": 4.0}, "examples": [{}, {"x": 2.0}]},
    )
    assert status == 200
    assert body == {"result": [4.0, 3.0]}
    status, body = rest(server, "/v1/models/hpt/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "hpt", "signature_name": "", "version": "1"}
    inputs = body["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    assert inputs["x"]["dtype"] == "DT_FLOAT"
    status, body = rest(server, "/v1/models/hpt")
    assert status == 200
    assert body["model_version_status"] == [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    ]


def test_rest_paths_are_routed_as_tf_serving_routes_them(server):
    """TF Serving's path regexes are case-insensitive ((?i)) and a /v1/ request that fits no
    route is INVALID_ARGUMENT (400); both used to be 404."""
    assert rest(server, "/V1/Models/hpt:predict", {"instances": [2.0]}) == (
        200,
        {"predictions": [3.0]},
    )
    assert rest(server, "/v1/MODELS/hpt/Versions/1:predict", {"inputs": [2.0]}) == (
        200,
        {"outputs": [3.0]},
    )
    status, body = rest(server, "/V1/MODELS/hpt/metadata")
    assert status == 200 and body["model_spec"]["name"] == "hpt"
    status, body = rest(server, "/V1/Models/hpt")
    assert status == 200 and body["model_version_status"][0]["state"] == "AVAILABLE"
    for path, payload, message in [
        ("/v1/models/hpt:predict", None, "Malformed request: GET /v1/models/hpt:predict"),
        ("/v1/models/hpt", {"instances": [2.0]}, "Malformed request: POST /v1/models/hpt"),
        ("/v1/models/hpt:PREDICT", {"instances": [2.0]}, "Malformed request"),  # verb as written
        ("/v1/models/hpt/versions/one", None, "Malformed request"),
        ("/v1/models", None, "Missing model name in request."),
        ("/v1/models/", None, "Missing model name in request."),
    ]:
        status, body = rest(server, path, payload)
        assert (status, body["error"].startswith(message)) == (400, True), (path, body)
    status, body = rest(server, "/v2/models/hpt")
    assert status == 404 and "/v1/models/NAME" in body["error"]


def test_rest_columnar_inputs_ignore_keys_that_are_not_inputs(server):
    """TF Serving's parser reads only the signature's names from the "inputs" object; the row
    format keeps its exact-names rule, as there."""
    body = {"inputs": {"x": [2.0], "request_id": [7]}}
    assert rest(server, "/v1/models/hpt:predict", body) == (200, {"outputs": [3.0]})
    status, answer = rest(server, "/v1/models/hpt:predict", {"instances": [{"x": 2.0, "id": 7}]})
    assert status == 400 and "unknown ['id']" in answer["error"]


def _nested(leaf: Any, depth: int) -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


BAD_REST = {
    "unknown model": ("/v1/models/nope:predict", {"instances": [1.0]}, 404),
    "unknown version": ("/v1/models/hpt/versions/7:predict", {"instances": [1.0]}, 404),
    "unknown label": ("/v1/models/hpt/labels/canary:predict", {"instances": [1.0]}, 400),
    "unknown signature": (
        "/v1/models/hpt:predict",
        {"signature_name": "missing", "instances": [1.0]},
        400,
    ),
    "strings for floats": ("/v1/models/hpt:predict", {"instances": ["a"]}, 400),
    "ragged rows": ("/v1/models/hpt:predict", {"inputs": {"x": [[1.0], [1.0, 2.0]]}}, 400),
    "wrong input name": ("/v1/models/hpt:predict", {"inputs": {"z": [1.0]}}, 400),
    "no instances": ("/v1/models/hpt:predict", {"signature_name": ""}, 400),
    "garbage body": ("/v1/models/hpt:predict", b"\xff{{not json", 400),
    "bad b64": (
        "/v1/models/text:predict",
        {"signature_name": "predict_text", "instances": [{"b64": "!!"}]},
        400,
    ),
    "unknown verb": ("/v1/models/hpt:explode", {"instances": [1.0]}, 400),  # TF Serving: 400
    "oversized body": ("/v1/models/hpt:predict", {"instances": [0.0] * 40_000}, 429),
    # ~5,000 levels: Python's recursive parser would raise RecursionError (once a 500).
    "deep JSON nesting": (
        "/v1/models/hpt:predict",
        b'{"instances": ' + b"[" * 5000 + b"1.0" + b"]" * 5000 + b"}",
        400,
    ),
    "deep nesting inside objects": (
        "/v1/models/hpt:predict",
        b'{"instances": ' + b'{"a":' * 3000 + b"1" + b"}" * 3001,
        400,
    ),
    # Within the depth limit, but more dimensions than any array may have (once a 500).
    "strings nested 70 deep": (
        "/v1/models/text:predict",
        {"signature_name": "predict_text", "instances": _nested("good", 70)},
        400,
    ),
    "floats nested 70 deep": ("/v1/models/hpt:predict", {"inputs": _nested(1.0, 70)}, 400),
    "version beyond int64": (
        "/v1/models/hpt/versions/99999999999999999999999:predict",
        {"instances": [1.0]},
        400,
    ),
    "status of a version beyond int64": (
        "/v1/models/hpt/versions/99999999999999999999999",
        None,
        400,
    ),
    "number beyond double range": ("/v1/models/hpt:predict", b'{"instances": [1e400]}', 400),
    "negative number beyond double range": (
        "/v1/models/hpt:predict",
        b'{"inputs": {"x": [-2.5e999]}}',
        400,
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_REST))
def test_bad_rest_request_gets_json_error_and_server_keeps_serving(server, case):
    path, body, http_status = BAD_REST[case]
    status, answer = rest(server, path, body)
    assert status == http_status
    assert set(answer) == {"error"} and answer["error"]
    status, answer = rest(server, "/v1/models/hpt:predict", {"instances": [2.0]})
    assert (status, answer) == (200, {"predictions": [3.0]})


def test_prometheus_metrics_endpoint(server, stub):
    stub.Predict(predict_request("hpt", {"x": np.array([1.0], np.float32)}), timeout=30)
    with pytest.raises(grpc.RpcError):
        stub.Predict(predict_request("hpt", {"x": np.array([1.0], np.float32)}, version=42))
    with pytest.raises(grpc.RpcError):  # names the server does not know never become labels
        stub.Predict(predict_request("random-name-1234", {"x": np.array([1.0], np.float32)}))
    with urllib.request.urlopen(server.rest_url + "/monitoring/prometheus/metrics") as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    ok_line = (
        'seqline_serving_requests_total{api="grpc",method="predict",model_name="hpt",'
        'signature_name="serving_default",status="OK",version="1"}'
    )
    assert ok_line in text
    assert 'status="NOT_FOUND"' in text
    assert "random-name-1234" not in text and 'model_name="<unknown>"' in text
    assert "seqline_serving_request_latency_seconds_bucket{" in text
    load_line = 'seqline_serving_model_load_events_total{event="available",model_name="hpt",'
    assert load_line + 'version="1"} 1.0' in text
    assert 'seqline_serving_model_versions_available{model_name="text"} 1.0' in text


def test_rest_keeps_the_connection_alive(server):
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
    try:
        sockets = set()
        for value in (1.0, 2.0, 3.0):
            connection.request("POST", "/v1/models/hpt:predict", json.dumps({"instances": [value]}))
            response = connection.getresponse()
            assert json.loads(response.read()) == {"predictions": [value / 2 + 2]}
            assert response.getheader("Connection") == "keep-alive"
            sockets.add(id(connection.sock))
        assert len(sockets) == 1  # one TCP connection served all three requests
    finally:
        connection.close()
