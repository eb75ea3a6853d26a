"""TLS on gRPC and REST from TF Serving's SSLConfig file; plain clients are refused and the
server keeps serving."""

from __future__ import annotations

import json
import shutil
import ssl
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from seqline.serving.errors import ServerConfigError
from tests.serving.conftest import self_signed_pem


def _quoted(pem: str) -> str:
    return json.dumps(pem)  # a text proto string literal: same escapes as JSON for PEM text


def _write_ssl_config(path, key: str, cert: str, ca: str = "", client_verify: bool = False):
    path.write_text(
        f"server_key: {_quoted(key)}\nserver_cert: {_quoted(cert)}\n"
        f"custom_ca: {_quoted(ca)}\nclient_verify: {str(client_verify).lower()}\n"
    )
    return str(path)


def _predict(channel: grpc.Channel, x: float) -> float:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "hpt"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([x], np.float32)))
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    return float(tf.make_ndarray(stub.Predict(request, timeout=30).outputs["y"])[0])


def _rest_predict(url: str, context: ssl.SSLContext | None) -> dict:
    body = json.dumps({"instances": [2.0]}).encode()
    request = urllib.request.Request(f"{url}/v1/models/hpt:predict", data=body)
    with urllib.request.urlopen(request, timeout=30, context=context) as response:
        return json.loads(response.read())


@pytest.fixture
def hpt_base(tmp_path, half_plus_two_model):
    shutil.copytree(half_plus_two_model, tmp_path / "hpt" / "1")
    return str(tmp_path / "hpt")


def test_tls_on_both_ports_and_plain_clients_refused(tmp_path, hpt_base, start_server):
    key, cert = self_signed_pem()
    config = _write_ssl_config(tmp_path / "ssl.config", key, cert)
    server = start_server(model_name="hpt", model_base_path=hpt_base, ssl_config_file=config)
    assert server.rest_url.startswith("https://")
    credentials = grpc.ssl_channel_credentials(root_certificates=cert.encode())
    with grpc.secure_channel(server.grpc_target, credentials) as channel:
        assert _predict(channel, 1.0) == 2.5
    context = ssl.create_default_context(cadata=cert)
    assert _rest_predict(server.rest_url, context) == {"predictions": [3.0]}

    with grpc.insecure_channel(server.grpc_target) as plain, pytest.raises(grpc.RpcError) as e:
        _predict(plain, 1.0)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        _rest_predict(server.rest_url.replace("https://", "http://"), None)
    with pytest.raises(urllib.error.URLError):  # a client that does not trust the certificate
        _rest_predict(server.rest_url, ssl.create_default_context())
    assert _rest_predict(server.rest_url, context) == {"predictions": [3.0]}  # still serving


def test_client_verify_requires_a_certificate_signed_by_custom_ca(tmp_path, hpt_base, start_server):
    key, cert = self_signed_pem()
    config = _write_ssl_config(tmp_path / "ssl.config", key, cert, ca=cert, client_verify=True)
    server = start_server(model_name="hpt", model_base_path=hpt_base, ssl_config_file=config)
    anonymous = grpc.ssl_channel_credentials(root_certificates=cert.encode())
    with grpc.secure_channel(server.grpc_target, anonymous) as channel:
        with pytest.raises(grpc.RpcError) as e:
            _predict(channel, 1.0)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    # The certificate is its own CA here: presenting it (with its key) is a valid client.
    known = grpc.ssl_channel_credentials(cert.encode(), key.encode(), cert.encode())
    with grpc.secure_channel(server.grpc_target, known) as channel:
        assert _predict(channel, 1.0) == 2.5
    context = ssl.create_default_context(cadata=cert)
    with pytest.raises((urllib.error.URLError, ConnectionError, ssl.SSLError)):
        _rest_predict(server.rest_url, context)
    cert_file, key_file = tmp_path / "client.pem", tmp_path / "client.key"
    cert_file.write_text(cert)
    key_file.write_text(key)
    context.load_cert_chain(str(cert_file), str(key_file))
    assert _rest_predict(server.rest_url, context) == {"predictions": [3.0]}


def test_bad_ssl_configs_fail_the_start(tmp_path, hpt_base, start_server):
    key, cert = self_signed_pem()
    cases = {
        "paths instead of PEMs": ("/etc/key.pem", "/etc/cert.pem", "", False, "do not load"),
        "no certificate": (key, "", "", False, "needs server_key and server_cert"),
        "client_verify without a CA": (key, cert, "", True, "no custom_ca"),
    }
    for name, (k, c, ca, verify, message) in cases.items():
        config = _write_ssl_config(tmp_path / f"{name}.config", k, c, ca, verify)
        with pytest.raises(ServerConfigError, match=message):
            start_server(model_name="hpt", model_base_path=hpt_base, ssl_config_file=config)
    (tmp_path / "typo.config").write_text('server_kee: "x"\n')
    with pytest.raises(ServerConfigError, match="not a valid SSLConfig"):
        start_server(
            model_name="hpt",
            model_base_path=hpt_base,
            ssl_config_file=str(tmp_path / "typo.config"),
        )
