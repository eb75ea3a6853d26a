"""Client checks against a server serving a half_plus_two model (y = 0.5 * x + 2).

The same functions run against the in-process `seqline serve` (tests/serving/client/test_client.py)
and against a real tensorflow_model_server (tests/serving/test_compat_real_server.py), so both
servers are held to one behaviour. They only rely on what TF Serving's own
saved_model_half_plus_two test model has: signature "serving_default" (Predict, float input
"x" -> output "y", shape [-1] or [-1, 1]), "classify_x_to_y" (Classify, tf.Example with float
feature "x" -> score y) and "regress_x_to_y" (Regress, same -> y).
"""

from __future__ import annotations

import numpy as np
import pytest

from seqline.serving.client.client import Code, PredictionClient, RequestFailed
from seqline.serving.client.rest_client import RestClient

X = [1.0, 2.0, 5.0]
Y = [2.5, 3.0, 4.5]


def x_input(client: PredictionClient | RestClient) -> np.ndarray:
    """X shaped for the signature's declared rank: [3] or [3, 1] (TF Serving's own model)."""
    shape = client.metadata().signatures["serving_default"].inputs["x"].shape
    x = np.array(X, dtype=np.float32)
    return x.reshape(-1, 1) if shape is not None and len(shape) == 2 else x


def check_status_and_wait(client: PredictionClient | RestClient) -> int:
    """Some version is AVAILABLE; wait_until_available returns it. Returns that version."""
    statuses = client.status()
    available = [s.version for s in statuses if s.state == "AVAILABLE"]
    assert available, f"no AVAILABLE version in {statuses}"
    assert all(s.error_code == "OK" for s in statuses if s.state == "AVAILABLE")
    assert client.wait_until_available(timeout=5.0) == max(available)
    assert client.wait_until_available(max(available), timeout=5.0) == max(available)
    return max(available)


def check_metadata(client: PredictionClient | RestClient) -> None:
    meta = client.metadata()
    assert meta.model_name == client.model_name
    assert meta.version is not None
    sig = meta.signatures["serving_default"]
    assert sig.method_name == "tensorflow/serving/predict"
    assert sig.inputs["x"].dtype == "DT_FLOAT"
    assert sig.inputs["x"].numpy_dtype == np.float32
    assert sig.outputs["y"].dtype == "DT_FLOAT"
    assert meta.signatures["classify_x_to_y"].method_name == "tensorflow/serving/classify"
    assert meta.signatures["regress_x_to_y"].method_name == "tensorflow/serving/regress"


def check_predict(client: PredictionClient | RestClient) -> None:
    """numpy in -> numpy out with the declared dtype; lists are cast to the declared dtype."""
    x = x_input(client)
    outputs = client.predict({"x": x})
    assert set(outputs) == {"y"}
    assert outputs["y"].dtype == np.float32
    np.testing.assert_allclose(outputs["y"].reshape(-1), Y, rtol=1e-6)
    # Python floats would be float64 by numpy's rules; the client sends the declared float32.
    from_lists = client.predict({"x": x.tolist()})
    np.testing.assert_array_equal(from_lists["y"], outputs["y"])


def check_classify_and_regress(client: PredictionClient | RestClient) -> None:
    examples = [{"x": 1.0}, {"x": 3.0}]
    classes = client.classify(examples, signature_name="classify_x_to_y")
    assert len(classes) == 2
    scores = [row[0][1] for row in classes]
    np.testing.assert_allclose(scores, [2.5, 3.5], rtol=1e-6)
    values = client.regress(examples, signature_name="regress_x_to_y")
    np.testing.assert_allclose(values, [2.5, 3.5], rtol=1e-6)


def check_multi_inference(client: PredictionClient) -> None:
    """MultiInference (gRPC only: TF Serving's REST API has no such endpoint)."""
    classes, values = client.multi_inference(
        [{"x": 1.0}, {"x": 3.0}], [("classify_x_to_y", "classify"), ("regress_x_to_y", "regress")]
    )
    np.testing.assert_allclose([row[0][1] for row in classes], [2.5, 3.5], rtol=1e-6)
    assert values.dtype == np.float32
    np.testing.assert_allclose(values, [2.5, 3.5], rtol=1e-6)
    with pytest.raises(RequestFailed) as info:
        client.multi_inference([{"x": 1.0}], [("regress_x_to_y", "classify")])
    assert info.value.code == Code.INVALID_ARGUMENT
    with pytest.raises(ValueError, match="'classify' or 'regress'"):
        client.multi_inference([{"x": 1.0}], [("regress_x_to_y", "predict")])


def check_errors(client: PredictionClient | RestClient, version: int) -> None:
    """The server's status codes reach the caller; none of them is retried.

    Over REST only the HTTP status travels (TF Serving maps FAILED_PRECONDITION and
    INVALID_ARGUMENT both to 400), so REST errors are checked by HTTP status.
    """
    x = x_input(client)
    bad_strings = np.array(["not", "floats", "!"], dtype=object).reshape(x.shape)
    cases = [
        ({"inputs": {"x": x}, "version": version + 1000}, Code.NOT_FOUND, 404),
        ({"inputs": {"x": x}, "signature_name": "nope"}, Code.FAILED_PRECONDITION, 400),
        ({"inputs": {"x": bad_strings}}, Code.INVALID_ARGUMENT, 400),
        ({"inputs": {"not_x": x}}, Code.INVALID_ARGUMENT, 400),
    ]
    for kwargs, code, http_status in cases:
        with pytest.raises(RequestFailed) as info:
            client.predict(**kwargs)
        error = info.value
        if isinstance(client, RestClient):
            assert error.http_status == http_status, (kwargs, error)
        else:
            assert error.code == code, (kwargs, error)
        assert error.attempts == 1
        assert error.message
    # The server keeps serving after bad requests.
    np.testing.assert_allclose(client.predict({"x": x})["y"].reshape(-1), Y, rtol=1e-6)


def check_unknown_model(client: PredictionClient | RestClient) -> None:
    with pytest.raises(RequestFailed) as info:
        client.status()
    assert info.value.code == Code.NOT_FOUND, info.value


def run_all(client: PredictionClient | RestClient, unknown: PredictionClient | RestClient) -> None:
    """Every check; `unknown` is a client for a model name the server does not have."""
    version = check_status_and_wait(client)
    check_metadata(client)
    check_predict(client)
    check_classify_and_regress(client)
    if isinstance(client, PredictionClient):
        check_multi_inference(client)
    check_errors(client, version)
    check_unknown_model(unknown)
