"""tensorflow_model_server's command line: every flag accepted, the implemented ones applied,
the rest warned about once; a production command line from TF Serving's docs starts as is."""

from __future__ import annotations

import argparse
import logging
import signal
import urllib.request

import grpc
import numpy as np
import pytest

from seqline.serving.errors import ServerConfigError
from seqline.serving.server.server import ServerOptions, parse_channel_arguments
from seqline.serving.server.server_config_files import (
    read_batching_parameters,
    read_monitoring_config,
)
from seqline.serving.server.server_flags import (
    IGNORED_FLAGS,
    TF_SERVING_FLAGS,
    add_server_arguments,
    options_from_args,
)

from .test_server_lifecycle import _ready_line, _serve, free_port, grpc_predict, rest_predict


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_server_arguments(p)
    return p


def test_every_tf_serving_flag_is_known():
    known = {option.lstrip("-") for option in parser()._option_string_actions}
    assert len(TF_SERVING_FLAGS) == 48  # TF Serving's main.cc flag list
    assert set(TF_SERVING_FLAGS) <= known


def test_ignored_flags_warn_once_each(caplog):
    args = parser().parse_args(
        ["--model_base_path=/m", "--mixed_precision=bfloat16", "--enable_profiler",
         "--num_load_threads", "4"]
    )  # fmt: skip
    with caplog.at_level(logging.WARNING):
        options = options_from_args(args)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 3
    for name in ("mixed_precision", "enable_profiler", "num_load_threads"):
        assert sum(f"--{name}=" in w and "accepts and ignores" in w for w in warnings) == 1
    assert options.model_name == "default"
    assert all(name in TF_SERVING_FLAGS for name in IGNORED_FLAGS)


def test_config_file_wins_over_model_name_as_in_tf_serving(caplog):
    args = parser().parse_args(
        ["--model_name=m", "--model_base_path=/models/m", "--model_config_file=/models.config"]
    )
    with caplog.at_level(logging.WARNING):
        options = options_from_args(args)
    assert (options.model_name, options.model_base_path) == (None, None)
    assert "ignored because --model_config_file" in caplog.text


def test_version_prints_and_exits_zero(capsys):
    with pytest.raises(SystemExit) as e:
        parser().parse_args(["--version"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("TensorFlow ModelServer: seqline-") and "TensorFlow Library: 2." in out


def test_implemented_flags_reach_the_options():
    options = options_from_args(
        parser().parse_args(
            ["--model_base_path=/m", "--rest_api_num_threads=3", "--rest_api_timeout_in_ms=500",
             "--tensorflow_intra_op_parallelism=2", "--saved_model_tags=serve,gpu",
             "--load_retry_interval_micros=5", "--grpc_channel_arguments=a=1,b=x",
             "--enable_batching=false", "--shutdown_grace_seconds=3",
             "--tensorflow_runtime=function"]
        )
    )  # fmt: skip
    assert options.tensorflow_runtime == "function"
    assert ServerOptions(model_base_path="/m").tensorflow_runtime == "session"
    with pytest.raises(ServerConfigError, match="tensorflow_runtime: expected session"):
        ServerOptions(model_base_path="/m", tensorflow_runtime="eager")
    assert options.rest_api_num_threads == 3 and options.rest_api_timeout_in_ms == 500
    assert options.tensorflow_intra_op_parallelism == 2 and options.tags == ("serve", "gpu")
    assert options.load_retry_interval_micros == 5 and options.shutdown_grace_seconds == 3.0
    assert parse_channel_arguments(options.grpc_channel_arguments) == [("a", 1), ("b", "x")]
    with pytest.raises(ServerConfigError, match="key=value"):
        ServerOptions(model_base_path="/m", grpc_channel_arguments="grpc.max_age")


def test_config_files_parse_and_name_their_errors(tmp_path):
    batching = tmp_path / "batching.config"
    batching.write_text(
        "max_batch_size { value: 128 }\nbatch_timeout_micros { value: 0 }\n"
        "max_enqueued_batches { value: 1000000 }\nnum_batch_threads { value: 8 }\n"
        "allowed_batch_sizes: 64\nallowed_batch_sizes: 128\n"
        "thread_pool_name { value: 'p' }\n"
    )
    parameters = read_batching_parameters(str(batching))
    assert (parameters.max_batch_size, parameters.batch_timeout_micros) == (128, 0)
    assert parameters.allowed_batch_sizes == (64, 128) and parameters.ignored == (
        "thread_pool_name",
    )
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text('prometheus_config {\n  enable: true,\n  path: "/metrics"\n}\n')
    assert read_monitoring_config(str(monitoring)).prometheus_path == "/metrics"
    batching.write_text("max_batch_size: 12\n")  # not the Int64Value form
    with pytest.raises(ServerConfigError, match="not a valid BatchingParameters"):
        read_batching_parameters(str(batching))


def test_monitoring_config_moves_or_disables_metrics(tmp_path, model_base_path,
                                                    half_plus_two_model, start_server):  # fmt: skip
    base = model_base_path(half_plus_two_model, name="hpt")
    moved, off = tmp_path / "moved.config", tmp_path / "off.config"
    moved.write_text('prometheus_config { enable: true path: "/metrics" }')
    off.write_text("prometheus_config { enable: false }")
    server = start_server(model_name="hpt", model_base_path=base, monitoring_config_file=str(moved))
    with urllib.request.urlopen(server.rest_url + "/metrics") as response:
        assert ":tensorflow:serving:request_count" in response.read().decode()
    server = start_server(model_name="hpt", model_base_path=base, monitoring_config_file=str(off))
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(server.rest_url + "/monitoring/prometheus/metrics")
    assert e.value.code == 404


def test_saved_model_tags_select_the_meta_graph(model_base_path, half_plus_two_model, start_server):
    from seqline.serving.errors import InitialLoadError

    base = model_base_path(half_plus_two_model, name="hpt")
    with pytest.raises(InitialLoadError, match=r"no MetaGraph tagged \['gpu'\]"):
        start_server(model_name="hpt", model_base_path=base, saved_model_tags="gpu", wait=False)


def test_load_retries_stop_after_max_num_load_retries(tmp_path, start_server):
    # Started on an empty base path (a broken version there would fail the start); the
    # broken version arrives while it serves.
    base = tmp_path / "broken"
    base.mkdir()
    server = start_server(model_name="broken", model_base_path=str(base), wait=False,
                          max_num_load_retries=2, load_retry_interval_micros=0,
                          file_system_poll_wait_seconds=3600)  # fmt: skip
    waiting = start_server(model_name="broken", model_base_path=str(base), wait=False,
                           load_retry_interval_micros=3_600_000_000,
                           file_system_poll_wait_seconds=3600)  # fmt: skip
    (base / "1").mkdir()
    (base / "1" / "saved_model.pbtxt").write_text("meta_graphs { }")  # parses, cannot load
    attempts = server.metrics.tf.load_attempt_count
    path = str(base / "1")
    for _ in range(6):
        server.manager.poll()
    assert attempts.value(path, "fail") == 3  # 1 + max_num_load_retries, then no more
    waiting.manager.poll()
    waiting.manager.poll()
    assert waiting.metrics.tf.load_attempt_count.value(path, "fail") == 1  # interval not over


def test_production_command_line_starts_unchanged(tmp_path, model_base_path, half_plus_two_model):
    # TF Serving's docker entrypoint flags plus the config files of its serving_config.md,
    # with free ports instead of 8500/8501 (other servers may run on this machine).
    base = model_base_path(half_plus_two_model, name="my_model")
    (tmp_path / "models.config").write_text(
        f'model_config_list {{ config {{ name: "my_model" base_path: "{base}" '
        'model_platform: "tensorflow" } }'
    )
    (tmp_path / "batching.config").write_text(
        "max_batch_size { value: 128 }\nbatch_timeout_micros { value: 0 }\n"
        "max_enqueued_batches { value: 1000000 }\nnum_batch_threads { value: 8 }\n"
    )
    (tmp_path / "monitoring.config").write_text(
        'prometheus_config {\n  enable: true,\n  path: "/monitoring/prometheus/metrics"\n}\n'
    )
    grpc_port, rest_port = free_port(), free_port()
    command = (
        f"--port={grpc_port} --rest_api_port={rest_port} --model_name=my_model "
        f"--model_base_path={base} --model_config_file={tmp_path}/models.config "
        "--model_config_file_poll_wait_seconds=60 --enable_batching=true "
        f"--batching_parameters_file={tmp_path}/batching.config "
        f"--monitoring_config_file={tmp_path}/monitoring.config --rest_api_timeout_in_ms=60000 "
        "--rest_api_num_threads=4 --file_system_poll_wait_seconds=1 --enable_model_warmup=true "
        "--tensorflow_intra_op_parallelism=2 --tensorflow_inter_op_parallelism=1 "
        "--grpc_channel_arguments=grpc.max_connection_age_ms=2000,"
        "grpc.max_receive_message_length=65536 --max_num_load_retries=3 "
        "--load_retry_interval_micros=1000000 --saved_model_tags=serve "
        "--mixed_precision=bfloat16 --enable_grpc_healthcheck_service=true"
    ).split()
    log_path = tmp_path / "server.log"
    process = _serve(command, log_path)
    try:
        _ready_line(log_path, process)
        target, url = f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{rest_port}"
        assert grpc_predict(target, 1.0, "my_model") == 2.5
        assert rest_predict(url, 2.0, "my_model") == (200, {"predictions": [3.0]})
        # The channel argument is applied: a 100 KB message is over its 64 KB limit.
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

        request = predict_pb2.PredictRequest()
        request.model_spec.name = "my_model"
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.zeros(25_000, np.float32)))
        with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError) as e:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        with urllib.request.urlopen(url + "/monitoring/prometheus/metrics") as response:
            assert ':tensorflow:serving:request_count{model_name="my_model",status="OK"} 2' in (
                response.read().decode()
            )
        log = log_path.read_text()
        assert "TensorFlow threads: intra-op 2, inter-op 1" in log
        assert log.count("--mixed_precision=bfloat16: a tensorflow_model_server flag") == 1
        assert log.count("--enable_grpc_healthcheck_service=true: a tensorflow_model_server") == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_batch_threads_default_to_one_per_core(monkeypatch):
    from seqline.serving.server import server as server_module

    monkeypatch.setattr(server_module.os, "cpu_count", lambda: 6)
    options = ServerOptions(model_base_path="/m", enable_batching=True)
    assert options.num_batch_threads == 0  # "one per core", resolved when the server starts
    assert server_module._batching_options(options).num_batch_threads == 6
    chosen = ServerOptions(model_base_path="/m", enable_batching=True, num_batch_threads=1)
    assert server_module._batching_options(chosen).num_batch_threads == 1
    with pytest.raises(ServerConfigError, match="num_batch_threads: expected >= 0"):
        ServerOptions(model_base_path="/m", num_batch_threads=-1)
