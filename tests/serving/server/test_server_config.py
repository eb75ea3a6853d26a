"""Model config files, version policies, labels, reloads, options and flags, path safety."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2

from seqline.serving.errors import ServerConfigError
from seqline.serving.model_config import parse_model_config_text
from seqline.serving.server.model_manager import AVAILABLE
from seqline.serving.server.server import FREE_PORT, ServerOptions
from seqline.serving.server.server_flags import add_server_arguments, options_from_args

WAIT = 60.0


def predict_y(stub, model: str, x: float = 1.0, **spec) -> tuple[int, float]:
    """(version served, y) for one Predict."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if "version" in spec:
        request.model_spec.version.value = spec["version"]
    if "label" in spec:
        request.model_spec.version_label = spec["label"]
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([x], np.float32)))
    response = stub.Predict(request, timeout=30)
    return response.model_spec.version.value, float(tf.make_ndarray(response.outputs["y"])[0])


@pytest.fixture
def two_models(tmp_path, half_plus_two_model, half_plus_three_model, copy_version):
    """Base paths: hpt/{1: +2, 2: +3}, other/{1: +2, 2: +3, 3: +2}."""
    for name, versions in (("hpt", (1, 2)), ("other", (1, 2, 3))):
        base = tmp_path / name
        base.mkdir()
        for v in versions:
            copy_version(half_plus_two_model if v % 2 else half_plus_three_model, str(base), v)
    return tmp_path


def test_config_file_with_two_models_policies_and_labels(two_models, start_server):
    config = two_models / "models.config"
    config.write_text(
        f"""
        model_config_list {{
          config {{
            name: "hpt"
            base_path: "{two_models / "hpt"}"
            model_platform: "tensorflow"
            model_version_policy {{ all {{}} }}
            version_labels {{ key: "stable" value: 1 }}
            version_labels {{ key: "canary" value: 2 }}
          }}
          config {{
            name: "other"
            base_path: "{two_models / "other"}"
            model_version_policy {{ specific {{ versions: 1 versions: 2 }} }}
          }}
        }}
        """
    )
    server = start_server(model_config_file=str(config))
    assert server.wait_until_available("hpt", 2, WAIT) and server.wait_until_available("hpt", 1, 1)
    assert server.wait_until_available("other", 2, WAIT)
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        assert predict_y(stub, "hpt") == (2, 3.5)  # latest
        assert predict_y(stub, "hpt", label="stable") == (1, 2.5)
        assert predict_y(stub, "hpt", label="canary") == (2, 3.5)
        assert predict_y(stub, "hpt", version=1) == (1, 2.5)
        assert predict_y(stub, "other") == (2, 3.5)  # 3 exists on disk, not in the policy
    assert [s.version for s in server.manager.status("other")] == [2, 1]
    body = json.dumps({"instances": [1.0]}).encode()
    with urllib.request.urlopen(
        urllib.request.Request(f"{server.rest_url}/v1/models/hpt/labels/stable:predict", body)
    ) as response:
        assert json.loads(response.read()) == {"predictions": [2.5]}


def test_latest_n_policy(two_models, start_server):
    config = two_models / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "other" base_path: "{two_models / "other"}" '
        "model_version_policy { latest { num_versions: 2 } } } }"
    )
    server = start_server(model_config_file=str(config))
    assert server.manager.wait_for(
        lambda: (
            [(s.version, s.state) for s in server.manager.status("other")]
            == [(3, AVAILABLE), (2, AVAILABLE)]
        ),
        WAIT,
    )


def _reload(channel, configs: list[dict]) -> model_management_pb2.ReloadConfigResponse:
    request = model_management_pb2.ReloadConfigRequest()
    for entry in configs:
        config = request.config.model_config_list.config.add()
        config.name = entry["name"]
        config.base_path = entry["base_path"]
        config.model_platform = "tensorflow"
        for label, version in entry.get("labels", {}).items():
            config.version_labels[label] = version
        if entry.get("all"):
            config.model_version_policy.all.SetInParent()
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    return stub.HandleReloadConfigRequest(request, timeout=WAIT)


def test_handle_reload_config_request_adds_relabels_and_removes(two_models, start_server):
    hpt, other = str(two_models / "hpt"), str(two_models / "other")
    server = start_server(model_name="hpt", model_base_path=hpt)
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = _reload(
            channel,
            [
                {"name": "hpt", "base_path": hpt, "all": True, "labels": {"stable": 1}},
                {"name": "other", "base_path": other},
            ],
        )
        assert response.status.error_code == 0
        # The reload returns once the new config's versions are loaded.
        assert predict_y(stub, "other") == (3, 2.5)
        assert predict_y(stub, "hpt", label="stable") == (1, 2.5)

        # A label pointing at a version that is not loaded: refused, old labels stay.
        with pytest.raises(grpc.RpcError) as error:
            _reload(
                channel,
                [
                    {"name": "hpt", "base_path": hpt, "all": True, "labels": {"stable": 9}},
                    {"name": "other", "base_path": other},
                ],
            )
        assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert predict_y(stub, "hpt", label="stable") == (1, 2.5)

        # Dropping "hpt" from the config unloads it.
        _reload(channel, [{"name": "other", "base_path": other}])
        with pytest.raises(grpc.RpcError) as error:
            predict_y(stub, "hpt")
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        assert predict_y(stub, "other") == (3, 2.5)

        request = model_management_pb2.ReloadConfigRequest()
        request.config.model_config_list.config.add(name="../escape", base_path=hpt)
        with pytest.raises(grpc.RpcError) as error:
            model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(request)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_config_file_is_polled(two_models, start_server):
    config = two_models / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "hpt" base_path: "{two_models / "hpt"}" }} }}'
    )
    server = start_server(model_config_file=str(config), model_config_file_poll_wait_seconds=0.1)
    config.write_text(
        f'model_config_list {{ config {{ name: "hpt" base_path: "{two_models / "hpt"}" }} '
        f'config {{ name: "other" base_path: "{two_models / "other"}" }} }}'
    )
    assert server.wait_until_available("other", 3, WAIT)


def test_polled_label_waits_for_a_version_pushed_after_the_config_change(
    tmp_path, half_plus_two_model, half_plus_three_model, copy_version, start_server
):
    """The operator points a label at version 3 in the polled config file, then pushes
    version 3: the label applies once 3 is AVAILABLE (the file did not change again), as TF
    Serving re-applies the polled config on every poll. It used to stay on version 2."""
    base = tmp_path / "m"
    base.mkdir()
    copy_version(half_plus_three_model, str(base), 2)
    config = tmp_path / "models.config"

    def point_canary_at(version: int) -> None:
        config.write_text(
            f'model_config_list {{ config {{ name: "m" base_path: "{base}" '
            "model_version_policy { all {} } "
            f'version_labels {{ key: "canary" value: {version} }} }} }}'
        )

    point_canary_at(2)
    refused = threading.Event()

    class Refusals(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "not currently available" in record.getMessage():
                refused.set()

    handler = Refusals()
    manager_log = logging.getLogger("seqline.serving.server.model_manager")
    manager_log.addHandler(handler)
    try:
        server = start_server(
            model_config_file=str(config), model_config_file_poll_wait_seconds=0.1
        )
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            assert predict_y(stub, "m", label="canary") == (2, 3.5)
            point_canary_at(3)
            assert refused.wait(WAIT), "the config poll never tried the new label"
            copy_version(half_plus_two_model, str(base), 3)
            assert server.manager.wait_for(
                lambda: server.manager.resolve("m", label="canary").version == 3, 20.0
            ), "the label never followed version 3"
            assert predict_y(stub, "m", label="canary") == (3, 2.5)
    finally:
        manager_log.removeHandler(handler)


def test_version_directories_cannot_escape_the_base_path(
    tmp_path, half_plus_two_model, half_plus_three_model, start_server, copy_version
):
    base = tmp_path / "hpt"
    base.mkdir()
    copy_version(half_plus_two_model, str(base), 1)
    outside = tmp_path / "outside"
    shutil.copytree(half_plus_three_model, outside)
    os.symlink(outside, base / "7")  # a higher version that lives outside the base path
    server = start_server(model_name="hpt", model_base_path=str(base))
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        assert predict_y(stub, "hpt") == (1, 2.5)
        with pytest.raises(grpc.RpcError) as error:
            predict_y(stub, "../hpt")
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(urllib.error.HTTPError) as http_error:
        urllib.request.urlopen(f"{server.rest_url}/v1/models/..%2Fhpt")
    assert http_error.value.code == 404


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model_config_list { config { name: 'a' base_path: '/x' } ", "parse error"),
        ("model_config_list { config { name: '../a' base_path: '/x' } }", "model name"),
        ("model_config_list { config { name: 'a' base_path: '' } }", "base_path"),
        (
            "model_config_list { config { name: 'a' base_path: '/x' } "
            "config { name: 'a' base_path: '/y' } }",
            "appears twice",
        ),
        (
            "model_config_list { config { name: 'a' base_path: '/x' model_platform: 'onnx' } }",
            "model_platform",
        ),
        (
            "model_config_list { config { name: 'a' base_path: '/x' "
            "model_version_policy { specific { } } } }",
            "specific",
        ),
    ],
)
def test_bad_config_text_names_the_problem(text, message):
    with pytest.raises(ServerConfigError, match=message):
        parse_model_config_text(text, source="models.config")


def test_config_text_round_trips_the_proto():
    configs = parse_model_config_text(
        "model_config_list { config { name: 'a' base_path: 'rel/dir' "
        "model_version_policy { latest { num_versions: 3 } } "
        "version_labels { key: 'x' value: 4 } } }"
    )
    assert len(configs) == 1
    assert configs[0].base_path == os.path.abspath("rel/dir")
    assert (configs[0].policy.kind, configs[0].policy.num_versions) == ("latest", 3)
    assert configs[0].labels == {"x": 4}
    assert configs[0].policy.select([1, 5, 2, 9]) == {9, 5, 2}
    assert model_server_config_pb2.ModelServerConfig  # the stock proto parsed it


def test_flags_in_tf_serving_vocabulary():
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    options = options_from_args(
        parser.parse_args(
            [
                "--port=9000",
                "--rest_api_port",
                "9001",
                "--model_base_path=/models/x",
                "--enable_batching",
                "--enable_model_warmup=false",
                "--file_system_poll_wait_seconds=2.5",
                "--max_batch_size=64",
            ]
        )
    )
    assert options.port == 9000 and options.rest_api_port == 9001
    assert options.model_name == "default" and options.model_base_path == "/models/x"
    assert options.enable_batching is True and options.enable_model_warmup is False
    assert options.file_system_poll_wait_seconds == 2.5 and options.max_batch_size == 64
    assert options.grpc_bind_address == "127.0.0.1"
    defaults = options_from_args(parser.parse_args(["--model_config_file=/m.config"]))
    assert (defaults.port, defaults.rest_api_port, defaults.file_system_poll_wait_seconds) == (
        8500,
        0,
        1.0,
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "exactly one of"),
        ({"model_base_path": "/m", "model_config_file": "/c"}, "exactly one of"),
        ({"model_base_path": "/m", "port": 70000}, "port"),
        ({"model_base_path": "/m", "rest_api_port": 8500}, "rest_api_port"),
        ({"model_base_path": "/m", "max_batch_size": 0}, "max_batch_size"),
        ({"model_config_file": "/c", "model_name": "x"}, "model_name"),
    ],
)
def test_bad_options_raise_server_config_error(fields, message):
    with pytest.raises(ServerConfigError, match=message):
        ServerOptions(**fields)


def test_missing_config_file_and_busy_port(
    tmp_path, start_server, model_base_path, half_plus_two_model
):
    with pytest.raises(ServerConfigError, match="cannot read"):
        start_server(model_config_file=str(tmp_path / "missing.config"), wait=False)
    server = start_server(model_base_path=model_base_path(half_plus_two_model), rest_api_port=0)
    with pytest.raises(ServerConfigError, match="cannot bind"):
        start_server(
            model_base_path=model_base_path(half_plus_two_model, name="second"),
            port=server.grpc_port,
            rest_api_port=FREE_PORT,
            wait=False,
        )


def test_importing_the_server_module_does_not_import_tensorflow():
    code = (
        "import sys, seqline.serving.server.server_flags as s, argparse;"
        "s.add_server_arguments(argparse.ArgumentParser());"
        "assert 'tensorflow' not in sys.modules and 'grpc' not in sys.modules, 'heavy import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
