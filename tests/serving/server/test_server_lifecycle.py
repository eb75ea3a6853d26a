"""Startup and shutdown: ports open only after the first load of every model; SIGTERM stops
accepting, drains in-flight gRPC and REST requests, then exits."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent import futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.serving.conftest import build_gated_model, copy_version

WAIT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def grpc_predict(target: str, x: float, model: str = "hpt", timeout: float = 30) -> float:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([x], np.float32)))
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return float(tf.make_ndarray(stub.Predict(request, timeout=timeout).outputs["y"])[0])


def rest_predict(url: str, x: float, model: str = "hpt") -> tuple[int, dict]:
    body = json.dumps({"instances": [x]}).encode()
    request = urllib.request.Request(f"{url}/v1/models/{model}:predict", data=body)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_until(predicate, what: str, timeout: float = WAIT) -> None:
    """Polls a condition the test cannot be notified of (a file, a child's output)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_ports_open_only_after_the_first_load(monkeypatch, model_base_path, half_plus_two_model):
    import seqline.serving.server.model_manager as model_manager
    from seqline.serving.client.client import PredictionClient
    from seqline.serving.server.server import ServerOptions, start_server

    loading, release = threading.Event(), threading.Event()
    real_load = model_manager.load_servable

    def gated_load(*args, **kwargs):
        loading.set()
        assert release.wait(WAIT)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(model_manager, "load_servable", gated_load)
    grpc_port, rest_port = free_port(), free_port()
    options = ServerOptions(
        model_name="hpt",
        model_base_path=model_base_path(half_plus_two_model, name="hpt"),
        port=grpc_port,
        rest_api_port=rest_port,
    )
    with futures.ThreadPoolExecutor(2) as pool:
        starting = pool.submit(start_server, options)
        assert loading.wait(WAIT)
        # The model is loading: neither port is open, so clients get a retryable refusal.
        with pytest.raises(grpc.RpcError) as e:
            grpc_predict(f"127.0.0.1:{grpc_port}", 1.0, timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(urllib.error.URLError):
            rest_predict(f"http://127.0.0.1:{rest_port}", 1.0)
        # A client retrying UNAVAILABLE rides through the restart.
        client = PredictionClient(
            f"127.0.0.1:{grpc_port}", "hpt", timeout=WAIT, retries=1000, backoff=0.02
        )
        retrying = pool.submit(client.predict, {"x": np.array([1.0], np.float32)})
        release.set()
        handle = starting.result(WAIT)
        try:
            assert retrying.result(WAIT)["y"].tolist() == [2.5]
            assert rest_predict(handle.rest_url, 2.0) == (200, {"predictions": [3.0]})
        finally:
            client.close()
            handle.stop()


def _broken_newest(model_base_path, good_model, broken_from) -> str:
    """A base path with version 1 complete and version 2 without its variables (a truncated
    push): version 2 is the aspired one and its load fails."""
    base = model_base_path(good_model, name="hpt", versions=(1,))
    os.makedirs(os.path.join(base, "2"))
    shutil.copy(os.path.join(broken_from, "saved_model.pb"), os.path.join(base, "2"))
    return base


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_a_newest_version_that_fails_to_load_fails_the_start_before_any_port_opens(
    model_base_path, half_plus_two_model, half_plus_three_model
):
    """tensorflow_model_server fails its start when an aspired version does not load, so the
    orchestrator keeps the old instance; seqline used to open its ports and answer NOT_FOUND."""
    from seqline.serving.errors import InitialLoadError
    from seqline.serving.server.server import ServerOptions, start_server

    base = _broken_newest(model_base_path, half_plus_two_model, half_plus_three_model)
    grpc_port, rest_port = free_port(), free_port()
    options = ServerOptions(
        model_name="hpt", model_base_path=base, port=grpc_port, rest_api_port=rest_port
    )
    with pytest.raises(InitialLoadError) as error:
        start_server(options)
    message = str(error.value)
    assert "1 servable(s) did not become available" in message
    assert "{name: hpt version: 2} due to error: Loading failed" in message
    assert base in message
    assert _port_is_free(grpc_port) and _port_is_free(rest_port)


def test_a_first_scan_that_fails_as_a_whole_fails_the_start_before_any_port_opens(
    model_base_path, half_plus_two_model, monkeypatch
):
    """An exception out of the first poll itself (not one version's failed load) used to be
    logged and the ports opened with no model looked at: NOT_FOUND until a later poll."""
    from seqline.serving.errors import InitialLoadError
    from seqline.serving.server.model_manager import ModelManager
    from seqline.serving.server.server import ServerOptions, start_server

    base = model_base_path(half_plus_two_model, name="hpt", versions=(1,))

    def scan_fails(self, model):
        raise PermissionError(f"cannot read {model.config.base_path}")

    monkeypatch.setattr(ModelManager, "_poll_model", scan_fails)
    grpc_port, rest_port = free_port(), free_port()
    options = ServerOptions(
        model_name="hpt", model_base_path=base, port=grpc_port, rest_api_port=rest_port
    )
    with pytest.raises(InitialLoadError) as error:
        start_server(options)
    message = str(error.value)
    assert "first scan of the model base paths failed" in message
    assert f"PermissionError: cannot read {base}" in message
    assert _port_is_free(grpc_port) and _port_is_free(rest_port)


def test_serve_exits_1_naming_the_version_that_failed_to_load(
    model_base_path, half_plus_two_model, half_plus_three_model, capsys
):
    import argparse

    from seqline.serving import cli

    base = _broken_newest(model_base_path, half_plus_two_model, half_plus_three_model)
    parser = argparse.ArgumentParser(prog="seqline")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["serve", "--model_name=hpt", f"--model_base_path={base}", f"--port={free_port()}"]
    )
    stop = threading.Event()
    stop.set()  # were the start to succeed, serve would return at once (with 0)
    code = cli.run_serve(args, stop=stop)
    err = capsys.readouterr().err
    assert code == 1, err
    assert "seqline serve: error: Failed to start server" in err
    assert "{name: hpt version: 2}" in err


def test_an_empty_base_path_still_starts_and_serves_the_first_version(
    half_plus_two_model, tmp_path
):
    from seqline.serving.server.server import ServerOptions, start_server

    base = tmp_path / "hpt"
    base.mkdir()
    options = ServerOptions(
        model_name="hpt", model_base_path=str(base), port=0, file_system_poll_wait_seconds=0.1
    )
    handle = start_server(options)
    try:
        copy_version(half_plus_two_model, str(base), 1)
        assert handle.manager.wait_until_available("hpt", 1, timeout=WAIT)
        assert grpc_predict(handle.grpc_target, 1.0) == 2.5
    finally:
        handle.stop()


def _serve(args: list[str], log_path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "seqline.serving.cli", "serve", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )


def _ready_line(log_path, process: subprocess.Popen) -> str:
    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"server exited early:\n{log_path.read_text()}")
        return "seqline serve: gRPC at" in log_path.read_text()

    wait_until(ready, "the server's ready line", timeout=120)
    return next(line for line in log_path.read_text().splitlines() if "gRPC at" in line)


def test_sigterm_drains_in_flight_grpc_and_rest_requests(tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    base = tmp_path / "gated"
    base.mkdir()
    copy_version(build_gated_model(str(tmp_path / "build"), str(gate)), str(base), 1)
    log_path = tmp_path / "server.log"
    process = _serve(
        ["--model_name=gated", f"--model_base_path={base}", "--port=0", "--rest_api_port=-1",
         "--shutdown_grace_seconds=60"],
        log_path,
    )  # fmt: skip
    try:
        line = _ready_line(log_path, process)
        target = line.split("gRPC at ")[1].split(",")[0]
        rest_url = line.split("REST at ")[1].split(";")[0]
        with futures.ThreadPoolExecutor(2) as pool:
            in_flight_grpc = pool.submit(grpc_predict, target, 1.0, "gated", WAIT)
            in_flight_rest = pool.submit(rest_predict, rest_url, 2.0, "gated")
            wait_until(
                lambda: (gate / "entered-1").exists() and (gate / "entered-2").exists(),
                "both requests inside the model",
            )
            process.send_signal(signal.SIGTERM)
            wait_until(
                lambda: "no longer accepting requests" in log_path.read_text(),
                "the listeners to close",
            )
            # No new work is accepted...
            with pytest.raises(grpc.RpcError) as e:
                grpc_predict(target, 3.0, "gated", timeout=10)
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE
            with pytest.raises((urllib.error.URLError, ConnectionError)):
                rest_predict(rest_url, 3.0, "gated")
            assert not (gate / "entered-3").exists()
            # ...and what was in flight completes.
            (gate / "release").write_text("")
            assert in_flight_grpc.result(WAIT) == 2.0
            assert in_flight_rest.result(WAIT) == (200, {"predictions": [4.0]})
        assert process.wait(WAIT) == 0
        assert "seqline serve: stopped\n" in log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()


class _HeldPredict:
    """Holds the first gRPC Predict inside InferenceService.predict until ``release`` is set;
    counts every Predict that reached the model."""

    def __init__(self, monkeypatch) -> None:
        from seqline.serving.server.inference import InferenceService

        self.entered, self.release = threading.Event(), threading.Event()
        self.calls = 0
        real = InferenceService.predict

        def predict(service, request, api="grpc"):
            self.calls += 1
            if self.calls == 1:
                self.entered.set()
                assert self.release.wait(WAIT)
            return real(service, request, api)

        monkeypatch.setattr(InferenceService, "predict", predict)


def _drain_started(monkeypatch) -> threading.Event:
    """Set once the REST drain closed its idle connections: the listeners are closed."""
    from seqline.serving.server.rest_service import RestServer

    event = threading.Event()
    real = RestServer._close_idle

    def close_idle(self, *args, **kwargs):
        result = real(self, *args, **kwargs)
        event.set()
        return result

    monkeypatch.setattr(RestServer, "_close_idle", close_idle)
    return event


def test_a_grpc_call_arriving_during_the_drain_is_refused_unavailable_not_cancelled(
    monkeypatch, start_server, model_base_path, half_plus_two_model
):
    """grpcio's stop(grace) at the signal cancelled calls that had reached the server but not
    a handler (CANCELLED: a client cannot retry it safely). The server now keeps gRPC running
    while it drains and answers such calls UNAVAILABLE itself, without running them."""
    held = _HeldPredict(monkeypatch)
    drain_started = _drain_started(monkeypatch)
    handle = start_server(
        model_name="hpt",
        model_base_path=model_base_path(half_plus_two_model, name="hpt"),
        shutdown_grace_seconds=WAIT,
    )
    connected = grpc.insecure_channel(handle.grpc_target)  # a client connected before the stop
    grpc.channel_ready_future(connected).result(timeout=WAIT)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(connected)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "hpt"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([3.0], np.float32)))
    try:
        with futures.ThreadPoolExecutor(2) as pool:
            in_flight = pool.submit(grpc_predict, handle.grpc_target, 1.0)
            assert held.entered.wait(WAIT)
            stopping = pool.submit(handle.stop)
            assert drain_started.wait(WAIT)
            # On the connection opened before the stop, and on a new one: refused, not run.
            for call in (lambda: stub.Predict(request, timeout=WAIT),
                         lambda: grpc_predict(handle.grpc_target, 3.0)):  # fmt: skip
                with pytest.raises(grpc.RpcError) as e:
                    call()
                assert e.value.code() == grpc.StatusCode.UNAVAILABLE
                assert "is shutting down and did not run this call" in e.value.details()
            assert held.calls == 1
            assert not stopping.done()  # still draining: the first call is inside the model
            held.release.set()
            assert in_flight.result(WAIT) == 2.5
            assert stopping.result(WAIT) is True
        # Stopped: the port is closed.
        with pytest.raises(grpc.RpcError) as e:
            stub.Predict(request, timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        held.release.set()
        connected.close()


def test_a_rest_connection_accepted_before_the_drain_is_answered_not_reset(
    monkeypatch, start_server, model_base_path, half_plus_two_model
):
    """The drain used to close every connection not inside a request, including one just
    accepted whose request was on its way: the client got 'connection reset by peer' and could
    not tell whether its POST ran. Its request is now served (Connection: close), while new
    connections are refused."""
    from seqline.serving.server import rest_service
    from seqline.serving.server.rest_service import _Handler

    # However slowly this machine gets to sending the POST below.
    monkeypatch.setattr(rest_service, "FIRST_REQUEST_WAIT_SECONDS", WAIT)
    held = _HeldPredict(monkeypatch)  # a gRPC call keeps the drain going
    drain_started = _drain_started(monkeypatch)
    accepted = threading.Event()
    real_setup = _Handler.setup

    def setup(self):
        real_setup(self)
        accepted.set()  # the connection is registered with the server and its thread runs

    monkeypatch.setattr(_Handler, "setup", setup)
    handle = start_server(
        model_name="hpt",
        model_base_path=model_base_path(half_plus_two_model, name="hpt"),
        shutdown_grace_seconds=WAIT,
    )
    body = json.dumps({"instances": [4.0]}).encode()
    try:
        with futures.ThreadPoolExecutor(2) as pool:
            in_flight = pool.submit(grpc_predict, handle.grpc_target, 1.0)
            assert held.entered.wait(WAIT)
            early = socket.create_connection(("127.0.0.1", handle.rest_port), timeout=WAIT)
            assert accepted.wait(WAIT)
            stopping = pool.submit(handle.stop)
            assert drain_started.wait(WAIT)
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", handle.rest_port), timeout=WAIT)
            early.sendall(
                b"POST /v1/models/hpt:predict HTTP/1.1\r\nHost: x\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            response = b""
            while chunk := early.recv(65536):
                response += chunk
            early.close()
            head, _, answer = response.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 "), response
            assert b"Connection: close" in head
            assert json.loads(answer) == {"predictions": [4.0]}
            held.release.set()
            assert in_flight.result(WAIT) == 2.5
            assert stopping.result(WAIT) is True
    finally:
        held.release.set()


def test_grpc_stops_once_its_own_calls_end_while_rest_still_drains(
    monkeypatch, start_server, model_base_path, half_plus_two_model
):
    """gRPC's port stayed open until the slowest REST connection ended: clients on open gRPC
    connections kept getting UNAVAILABLE from this instance instead of a GOAWAY that moves
    them to another one. With no gRPC call running, gRPC stops while a REST request is still
    inside the model; that request is then answered."""
    from seqline.serving.server.inference import InferenceService

    entered, release = threading.Event(), threading.Event()
    real_predict_json = InferenceService.predict_json

    def predict_json(service, *args, **kwargs):  # holds the REST request inside the model
        entered.set()
        assert release.wait(WAIT)
        return real_predict_json(service, *args, **kwargs)

    monkeypatch.setattr(InferenceService, "predict_json", predict_json)
    handle = start_server(
        model_name="hpt",
        model_base_path=model_base_path(half_plus_two_model, name="hpt"),
        shutdown_grace_seconds=WAIT,
    )
    grpc_stopped = threading.Event()
    real_stop = handle._grpc_server.stop

    def stop(grace):
        done = real_stop(grace)
        grpc_stopped.set()
        return done

    monkeypatch.setattr(handle._grpc_server, "stop", stop)
    try:
        with futures.ThreadPoolExecutor(2) as pool:
            in_flight = pool.submit(rest_predict, handle.rest_url, 1.0)
            assert entered.wait(WAIT)
            stopping = pool.submit(handle.stop)
            assert grpc_stopped.wait(WAIT)
            assert not in_flight.done()
            release.set()
            assert in_flight.result(WAIT) == (200, {"predictions": [2.5]})
            assert stopping.result(WAIT) is True
    finally:
        release.set()


def test_a_connection_that_never_sends_a_request_does_not_hold_the_stop(
    monkeypatch, start_server, model_base_path, half_plus_two_model
):
    """A REST connection accepted before the stop but silent held every stop for the whole
    grace period (and gRPC's port open with it): it gets FIRST_REQUEST_WAIT_SECONDS."""
    from seqline.serving.server import rest_service

    monkeypatch.setattr(rest_service, "FIRST_REQUEST_WAIT_SECONDS", 0.2)
    accepted = threading.Event()
    real_setup = rest_service._Handler.setup

    def setup(self):
        real_setup(self)
        accepted.set()

    monkeypatch.setattr(rest_service._Handler, "setup", setup)
    grace = 600.0  # a stop that waited for the silent connection would take all of it
    handle = start_server(
        model_name="hpt",
        model_base_path=model_base_path(half_plus_two_model, name="hpt"),
        shutdown_grace_seconds=grace,
    )
    silent = socket.create_connection(("127.0.0.1", handle.rest_port), timeout=WAIT)
    try:
        assert accepted.wait(WAIT)
        with futures.ThreadPoolExecutor(1) as pool:
            stopping = pool.submit(handle.stop)
            assert stopping.result(WAIT) is True  # well inside the grace period
        assert silent.recv(1) == b""  # closed by the server, not left open
    finally:
        silent.close()
