"""TF Serving's metric names, labels and exposition format, beside seqline's own metrics."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from seqline.serving.server.tf_metrics import Counter, Sampler, exponential_buckets, prometheus_name


def test_exposition_matches_tf_serving_prometheus_exporter():
    # The cases of TF Serving's prometheus_exporter_test.cc, rendered by this exporter.
    counter = Counter("/test/path/total", ["name"])
    counter.increment("abc", by=2)
    assert counter.lines() == ["# TYPE :test:path:total counter", ':test:path:total{name="abc"} 2']
    histogram = Sampler("/test/path/histogram", ["status"], exponential_buckets(1, 2, 10))
    for value in (2, 20, 200):
        histogram.add(value, "good")
    cumulative = {"1": 0, "2": 0, "4": 1, "8": 1, "16": 1, "32": 2, "64": 2, "128": 2,
                  "256": 3, "512": 3, "+Inf": 3}  # fmt: skip
    assert histogram.lines() == [
        "# TYPE :test:path:histogram histogram",
        *(
            f':test:path:histogram_bucket{{status="good",le="{le}"}} {n}'
            for le, n in cumulative.items()
        ),
        ':test:path:histogram_sum{status="good"} 222',
        ':test:path:histogram_count{status="good"} 3',
    ]
    escaped = Counter("/test/path/total", ["my-name+1"])
    escaped.increment('"abc\\"')
    assert escaped.lines()[1] == ':test:path:total{my_name_1="\\"abc\\\\\\""} 1'
    assert prometheus_name("0/path-total_count") == "_0:path:total_count"


def test_latency_buckets_print_like_absl():
    sampler = Sampler(
        "/tensorflow/serving/request_latency", ["m"], exponential_buckets(10, 1.8, 33)
    )
    sampler.add(1.0, "x")
    les = re.findall(r'le="([^"]+)"', "\n".join(sampler.lines()))
    assert les[:5] == ["10", "18", "32.4", "58.32", "104.976"]
    assert (
        len(les) == 34 and les[-1] == "+Inf" and les[-2] == "1.47476e+09"
    )  # 10 * 1.8**32 us, ~25 min


def _metric(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_server_exports_tf_serving_metrics(tmp_path, half_plus_two_model, start_server):
    shutil.copytree(half_plus_two_model, tmp_path / "hpt" / "1")
    server = start_server(model_name="hpt", model_base_path=str(tmp_path / "hpt"))

    def page() -> str:
        with urllib.request.urlopen(server.rest_url + "/monitoring/prometheus/metrics") as r:
            return r.read().decode()

    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "hpt"
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([1.0], np.float32)))
        for _ in range(3):
            stub.Predict(request, timeout=30)
        request.model_spec.version.value = 9
        with pytest.raises(grpc.RpcError):
            stub.Predict(request, timeout=30)
    body = json.dumps({"instances": [1.0]}).encode()
    urllib.request.urlopen(server.rest_url + "/v1/models/hpt:predict", data=body).read()
    text = page()
    assert _metric(text, ':tensorflow:serving:request_count{model_name="hpt",status="OK"}') == 4
    assert (
        _metric(text, ':tensorflow:serving:request_count{model_name="hpt",status="NOT_FOUND"}') == 1
    )
    latency = ":tensorflow:serving:request_latency_count"
    grpc_latency = f'{latency}{{model_name="hpt",API="Predict",entrypoint="GRPC"}}'
    assert _metric(text, grpc_latency) == 3  # successful requests only, as TF Serving
    rest_latency = f'{latency}{{model_name="hpt",API="predict",entrypoint="REST"}}'
    assert _metric(text, rest_latency) == 1
    assert (
        _metric(
            text,
            ':tensorflow:serving:runtime_latency_count{model_name="hpt",API="Predict",runtime="TF1"}',
        )
        == 4
    )
    path = str(tmp_path / "hpt" / "1")
    assert (
        _metric(
            text,
            f':tensorflow:cc:saved_model:load_attempt_count{{model_path="{path}",status="success"}}',
        )
        == 1
    )
    assert _metric(text, f':tensorflow:cc:saved_model:load_latency{{model_path="{path}"}}') > 0
    assert "# TYPE :tensorflow:serving:request_latency histogram" in text
    # seqline's own metrics follow on the same page.
    assert _metric(text, 'seqline_serving_model_version_state{model_name="hpt",version="1"}') == 30
    assert 'seqline_serving_requests_total{api="grpc"' in text
