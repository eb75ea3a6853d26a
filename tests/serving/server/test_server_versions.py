"""Version lifecycle: hot swap under load, partial copies, failed loads, status, warmup.

Waits are bounded waits for a state (never sleeps); the file-system poll runs every 0.1 s.
"""

from __future__ import annotations

import os
import shutil
import threading

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_log_pb2,
    prediction_service_pb2_grpc,
)

from seqline.serving.server.model_manager import AVAILABLE, END, LOADING, UNLOADING

POLL = 0.1
WAIT = 60.0


def predict(stub, model: str, x: float, version: int | None = None) -> predict_pb2.PredictResponse:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([x], np.float32)))
    return stub.Predict(request, timeout=30)


def model_status(channel, model: str, version: int | None = None) -> dict[int, int]:
    """{version: state} as GetModelStatus reports it."""
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    response = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=30)
    return {s.version: s.state for s in response.model_version_status}


def wait_for(server, predicate) -> None:
    assert server.manager.wait_for(predicate, timeout=WAIT), "state not reached in time"


def test_new_version_swaps_in_under_load_without_failures(
    model_base_path, start_server, half_plus_two_model, half_plus_three_model, copy_version
):
    base = model_base_path(half_plus_two_model, name="hpt", versions=(1,))
    server = start_server(
        model_name="hpt", model_base_path=base, file_system_poll_wait_seconds=POLL
    )
    channel = grpc.insecure_channel(server.grpc_target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    stop = threading.Event()
    seen: list[list[tuple[int, float]]] = [[] for _ in range(4)]
    failures: list[BaseException] = []
    progress = threading.Condition()  # clients notify after every response

    def client(i: int) -> None:
        while not stop.is_set():
            try:
                response = predict(stub, "hpt", 1.0)
                y = float(tf.make_ndarray(response.outputs["y"])[0])
                with progress:
                    seen[i].append((response.model_spec.version.value, y))
                    progress.notify_all()
            except BaseException as e:  # any failed request fails the test
                with progress:
                    failures.append(e)
                    progress.notify_all()
                return

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        # Partial copy of version 3 first (no saved_model.pb): never a candidate.
        os.makedirs(os.path.join(base, "3", "variables"))
        # A complete model under a temp name: ignored until renamed.
        shutil.copytree(half_plus_three_model, os.path.join(base, ".tmp-4"))
        copy_version(half_plus_three_model, base, 2)
        wait_for(server, lambda: server.manager.status("hpt", 1)[0].state == END)
        with progress:
            assert progress.wait_for(
                lambda: failures or all(s and s[-1][0] == 2 for s in seen), timeout=WAIT
            )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=WAIT)
    assert failures == []
    for responses in seen:
        assert {(v, y) for v, y in responses} <= {(1, 2.5), (2, 3.5)}  # no mixed answers
        versions = [v for v, _ in responses]
        assert versions == sorted(versions)  # switched once, never back
        assert versions[-1] == 2
    assert model_status(channel, "hpt") == {2: AVAILABLE, 1: END}
    with pytest.raises(grpc.RpcError) as error:
        predict(stub, "hpt", 1.0, version=1)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND

    # Completing the partial copy of version 3 makes it load: it was skipped, not broken.
    shutil.rmtree(os.path.join(base, "3"))
    copy_version(half_plus_two_model, base, 3)
    wait_for(server, lambda: server.manager.is_available("hpt", 3))
    assert 4 not in model_status(channel, "hpt")  # ".tmp-4" never loaded
    channel.close()


def test_removing_the_newest_version_reverts_to_the_previous(
    model_base_path, start_server, half_plus_two_model, half_plus_three_model, copy_version
):
    base = model_base_path(half_plus_two_model, name="hpt", versions=(1,))
    server = start_server(
        model_name="hpt", model_base_path=base, file_system_poll_wait_seconds=POLL
    )
    copy_version(half_plus_three_model, base, 2)
    wait_for(server, lambda: server.manager.status("hpt", 1)[0].state == END)
    shutil.rmtree(os.path.join(base, "2"))
    wait_for(server, lambda: server.manager.status("hpt", 2)[0].state == END)
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = predict(stub, "hpt", 1.0)
        assert response.model_spec.version.value == 1
        assert tf.make_ndarray(response.outputs["y"]).tolist() == [2.5]


def test_failed_load_keeps_serving_and_is_retried(
    model_base_path, start_server, half_plus_two_model, half_plus_three_model, copy_version
):
    base = model_base_path(half_plus_two_model, name="hpt", versions=(1,))
    server = start_server(
        model_name="hpt", model_base_path=base, file_system_poll_wait_seconds=POLL
    )
    # Version 2 has its saved_model.pb but not its variables yet: loading fails.
    os.makedirs(os.path.join(base, "2"))
    shutil.copy(os.path.join(half_plus_three_model, "saved_model.pb"), os.path.join(base, "2"))
    wait_for(
        server,
        lambda: (
            server.manager.status("hpt").__len__() == 2
            and server.manager.status("hpt", 2)[0].state == END
        ),
    )
    failed = server.manager.status("hpt", 2)[0]
    assert failed.error_message.startswith("Loading failed")
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        assert predict(stub, "hpt", 1.0).model_spec.version.value == 1
        # The copy completes: the next poll sees a changed directory and loads it.
        shutil.copytree(
            os.path.join(half_plus_three_model, "variables"), os.path.join(base, "2", "variables")
        )
        wait_for(server, lambda: server.manager.is_available("hpt", 2))
        response = predict(stub, "hpt", 1.0)
        assert (response.model_spec.version.value, tf.make_ndarray(response.outputs["y"])[0]) == (
            2,
            3.5,
        )


def test_a_saved_model_pb_that_never_parses_is_reported_and_read_again_when_it_changes(
    model_base_path, start_server, half_plus_two_model, half_plus_three_model, monkeypatch, caplog
):
    """A version whose saved_model.pb does not parse and stays unchanged is broken, not a copy
    in progress: GetModelStatus says END with the parse error (logged once) while version 1
    keeps serving, and a new file is read again. It used to be skipped silently forever."""
    from seqline.serving.errors import Code
    from seqline.serving.server import model_manager

    monkeypatch.setattr(model_manager, "_UNPARSEABLE_SETTLE_SECONDS", 0.5, raising=False)
    base = model_base_path(half_plus_two_model, name="hpt", versions=(1,))
    server = start_server(
        model_name="hpt", model_base_path=base, file_system_poll_wait_seconds=POLL
    )
    polls = threading.Condition()
    count = [0]
    scan = server.manager._scan

    def counting_scan(model):
        with polls:
            count[0] += 1
            polls.notify_all()
        return scan(model)

    monkeypatch.setattr(server.manager, "_scan", counting_scan)
    version_dir = os.path.join(base, "2")
    os.makedirs(version_dir)
    with open(os.path.join(version_dir, "saved_model.pb"), "wb") as f:
        f.write(b"not a protobuf\n")
    wait_for(server, lambda: [s.version for s in server.manager.status("hpt")] == [2, 1])
    with polls:  # a few more polls of the unchanged file: still one report, one log line
        reported_at = count[0]
        assert polls.wait_for(lambda: count[0] >= reported_at + 5, WAIT)
    with grpc.insecure_channel(server.grpc_target) as channel:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "hpt"
        request.model_spec.version.value = 2
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        (status,) = stub.GetModelStatus(request, timeout=30).model_version_status
        assert status.state == END
        assert status.status.error_code == Code.DATA_LOSS
        assert "saved_model.pb" in status.status.error_message
        assert "parse" in status.status.error_message
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        assert predict(stub, "hpt", 1.0).model_spec.version.value == 1
    reports = [r for r in caplog.records if "version 2 cannot be loaded" in r.getMessage()]
    assert len(reports) == 1
    # A complete copy replaces the broken file: read again, loaded, served.
    shutil.copytree(os.path.join(half_plus_three_model, "variables"),
                    os.path.join(version_dir, "variables"))  # fmt: skip
    staged = os.path.join(version_dir, ".saved_model.pb.tmp")
    shutil.copy(os.path.join(half_plus_three_model, "saved_model.pb"), staged)
    os.replace(staged, os.path.join(version_dir, "saved_model.pb"))
    wait_for(server, lambda: server.manager.is_available("hpt", 2))


def test_get_model_status_reports_loading_available_end(
    model_base_path, start_server, half_plus_two_model, half_plus_three_model, copy_version
):
    base = model_base_path(half_plus_two_model, name="hpt", versions=(1,))
    server = start_server(
        model_name="hpt", model_base_path=base, file_system_poll_wait_seconds=POLL
    )
    loading_seen = threading.Event()
    observed = threading.Event()
    transitions: list[tuple[int, int]] = []

    def listener(model: str, version: int, state: int) -> None:
        transitions.append((version, state))
        if version == 2 and state == LOADING:
            loading_seen.set()
            observed.wait(WAIT)  # hold the load here until the test has looked

    server.manager.add_listener(listener)
    channel = grpc.insecure_channel(server.grpc_target)
    try:
        copy_version(half_plus_three_model, base, 2)
        assert loading_seen.wait(WAIT)
        assert model_status(channel, "hpt") == {2: LOADING, 1: AVAILABLE}
        observed.set()
        wait_for(server, lambda: server.manager.status("hpt", 1)[0].state == END)
        assert model_status(channel, "hpt") == {2: AVAILABLE, 1: END}
        assert model_status(channel, "hpt", version=2) == {2: AVAILABLE}
        # The old version is withdrawn only after the new one is AVAILABLE.
        assert transitions == [(2, LOADING), (2, AVAILABLE), (1, UNLOADING), (1, END)]
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "nope"
        with pytest.raises(grpc.RpcError) as error:
            model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=30)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        observed.set()
        channel.close()


def write_warmup(version_dir: str, records: list[prediction_log_pb2.PredictionLog]) -> None:
    directory = os.path.join(version_dir, "assets.extra")
    os.makedirs(directory, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(directory, "tf_serving_warmup_requests")) as writer:
        for record in records:
            writer.write(record.SerializeToString())


def warmup_record(x: float, input_name: str = "x") -> prediction_log_pb2.PredictionLog:
    record = prediction_log_pb2.PredictionLog()
    request = record.predict_log.request
    request.model_spec.name = "anything"  # warmup ignores the model_spec, as TF Serving does
    request.inputs[input_name].CopyFrom(tf.make_tensor_proto(np.array([x], np.float32)))
    return record


def test_warmup_runs_before_available_and_bad_warmup_fails_the_load(
    tmp_path, start_server, counting_model
):
    base = str(tmp_path / "counting")
    os.makedirs(base)
    staging = str(tmp_path / "staging-1")
    shutil.copytree(counting_model, staging)
    write_warmup(staging, [warmup_record(float(i)) for i in range(3)])
    os.rename(staging, os.path.join(base, "1"))
    server = start_server(
        model_name="counting", model_base_path=base, file_system_poll_wait_seconds=POLL
    )
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        # The graph ran 3 times before the first client request could reach it.
        assert tf.make_ndarray(predict(stub, "counting", 1.0).outputs["calls"]).tolist() == [4]

        # Version 2's warmup asks for an input the model does not have: the load fails and
        # version 1 keeps serving.
        staging = str(tmp_path / "staging-2")
        shutil.copytree(counting_model, staging)
        write_warmup(staging, [warmup_record(1.0), warmup_record(1.0, input_name="nope")])
        os.rename(staging, os.path.join(base, "2"))
        wait_for(server, lambda: len(server.manager.status("counting")) == 2
                 and server.manager.status("counting", 2)[0].state == END)  # fmt: skip
        assert "warmup record 1" in server.manager.status("counting", 2)[0].error_message
        response = predict(stub, "counting", 1.0)
        assert response.model_spec.version.value == 1
        assert tf.make_ndarray(response.outputs["calls"]).tolist() == [5]


def test_multi_inference_warmup_records_are_replayed(
    tmp_path, start_server, half_plus_two_model, half_plus_three_model
):
    """multi_inference_log records are replayed like the other kinds (they were skipped): a
    good one lets the version load, one naming a signature the model lacks fails the load."""

    def multi_inference_record(signature: str) -> prediction_log_pb2.PredictionLog:
        record = prediction_log_pb2.PredictionLog()
        request = record.multi_inference_log.request
        task = request.tasks.add()
        task.model_spec.name = "anything"
        task.model_spec.signature_name = signature
        task.method_name = "tensorflow/serving/regress"
        example = request.input.example_list.examples.add()
        example.features.feature["x"].float_list.value.append(1.0)
        return record

    base = str(tmp_path / "hpt")
    shutil.copytree(half_plus_two_model, os.path.join(base, "1"))
    write_warmup(os.path.join(base, "1"), [multi_inference_record("regress_x_to_y")])
    server = start_server(
        model_name="hpt", model_base_path=base, file_system_poll_wait_seconds=POLL
    )
    staging = str(tmp_path / "staging-2")
    shutil.copytree(half_plus_three_model, staging)
    write_warmup(staging, [multi_inference_record("no_such_signature")])
    os.rename(staging, os.path.join(base, "2"))
    wait_for(server, lambda: len(server.manager.status("hpt")) == 2
             and server.manager.status("hpt", 2)[0].state == END)  # fmt: skip
    message = server.manager.status("hpt", 2)[0].error_message
    assert "warmup record 0 (multi_inference_log)" in message
    assert "no_such_signature" in message
    assert server.manager.is_available("hpt", 1)


@pytest.mark.parametrize("runtime", ["session", "session_strict"])
def test_a_warmup_that_fails_only_in_a_session(
    tmp_path, start_server, counting_model, monkeypatch, runtime
):
    """--tensorflow_runtime=session falls back to the function runtime when the warmup fails
    in the TF1 Session (as it does for a model the Session cannot load); session_strict, as
    tensorflow_model_server would, fails the load."""
    from seqline.serving.server.signature_runner import SignatureRunner

    made = SignatureRunner.from_session

    def failing_in_the_session(*args, **kwargs):
        runner = made(*args, **kwargs)

        def unimplemented(*_inputs):
            raise tf.errors.UnimplementedError(None, None, "an op this Session cannot run")

        runner._session_call = unimplemented
        return runner

    monkeypatch.setattr(SignatureRunner, "from_session", staticmethod(failing_in_the_session))
    base = str(tmp_path / "counting")
    shutil.copytree(counting_model, os.path.join(base, "1"))
    write_warmup(os.path.join(base, "1"), [warmup_record(float(i)) for i in range(3)])
    if runtime == "session_strict":  # the only version fails its load: the start fails
        from seqline.serving.errors import InitialLoadError

        with pytest.raises(InitialLoadError) as error:
            start_server(model_name="counting", model_base_path=base, tensorflow_runtime=runtime)
        message = str(error.value)
        assert "{name: counting version: 1}" in message
        assert "warmup record 0" in message and "an op this Session cannot run" in message
        return
    server = start_server(model_name="counting", model_base_path=base, tensorflow_runtime=runtime)
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        # The three warmup requests ran on the function runtime's copy, then this one.
        assert tf.make_ndarray(predict(stub, "counting", 1.0).outputs["calls"]).tolist() == [4]


def test_warmup_file_limits(tmp_path):
    from seqline.serving.server.warmup_replay import (
        MAX_WARMUP_RECORDS,
        WarmupError,
        read_warmup_records,
    )

    write_warmup(str(tmp_path / "ok"), [warmup_record(1.0)] * MAX_WARMUP_RECORDS)
    path = str(tmp_path / "ok" / "assets.extra" / "tf_serving_warmup_requests")
    assert len(read_warmup_records(path)) == MAX_WARMUP_RECORDS
    write_warmup(str(tmp_path / "long"), [warmup_record(1.0)] * (MAX_WARMUP_RECORDS + 1))
    with pytest.raises(WarmupError, match="more than 1000"):
        read_warmup_records(str(tmp_path / "long" / "assets.extra" / "tf_serving_warmup_requests"))
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"not a tfrecord at all" * 5)
    with pytest.raises(WarmupError):
        read_warmup_records(str(garbage))
    assert read_warmup_records(str(tmp_path / "absent")) == []
