"""Server-side batching: merging, splitting, queue limits; then through gRPC on a real model.

The scheduler tests use a fake signature (a counter and, where needed, a gate the test opens)
so every interleaving is forced, not timed. Batch timeouts are long (the batch closes because
it is full), so a test never depends on how fast threads start.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from concurrent import futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from seqline.serving.errors import Code, ServingError
from seqline.serving.server.batching import BatchingOptions, BatchScheduler

LONG_TIMEOUT_MICROS = 30_000_000
WAIT = 30.0


class FakeRunner:
    """Doubles "x"; records each call's row count; optionally blocks until ``gate`` opens."""

    name = "serving_default"
    batchable = True

    def __init__(self, gate: threading.Event | None = None, fail: bool = False) -> None:
        self.batches: list[int] = []
        self.started = threading.Event()
        self.gate = gate
        self.fail = fail

    def __call__(self, inputs):
        self.batches.append(len(inputs["x"]))
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(WAIT)
        if self.fail:
            raise ServingError(Code.INVALID_ARGUMENT, "bad batch")
        return {"y": inputs["x"] * 2, "n": np.arange(len(inputs["x"]))}


class FakeServable:
    name = "fake"
    version = 1


SERVABLE = FakeServable()  # one version: requests for it share queues


def submit_all(scheduler, runner, values: list[np.ndarray]):
    with futures.ThreadPoolExecutor(len(values)) as pool:
        jobs = [pool.submit(scheduler.run, SERVABLE, runner, {"x": v}) for v in values]
        return [job.result(timeout=WAIT) for job in jobs]


def test_concurrent_calls_merge_into_one_signature_call_and_split_back():
    scheduler = BatchScheduler(
        BatchingOptions(max_batch_size=6, batch_timeout_micros=LONG_TIMEOUT_MICROS)
    )
    runner = FakeRunner()
    try:
        values = [np.array([1.0, 2.0]), np.array([3.0]), np.array([4.0, 5.0, 6.0])]
        results = submit_all(scheduler, runner, values)
    finally:
        scheduler.close()
    assert runner.batches == [6]  # 3 requests, 1 call
    for value, result in zip(values, results, strict=True):
        np.testing.assert_array_equal(result["y"], value * 2)
        assert len(result["n"]) == len(value)


def test_full_queue_is_unavailable_and_recovers():
    gate = threading.Event()
    runner = FakeRunner(gate=gate)
    scheduler = BatchScheduler(
        BatchingOptions(
            max_batch_size=1,
            batch_timeout_micros=0,
            num_batch_threads=1,
            max_enqueued_batches=1,
        )
    )
    pool = futures.ThreadPoolExecutor(2)
    try:
        running = pool.submit(scheduler.run, SERVABLE, runner, {"x": np.array([1.0])})
        assert runner.started.wait(WAIT)  # the only batch thread is busy
        queued = pool.submit(scheduler.run, SERVABLE, runner, {"x": np.array([2.0])})
        waited = threading.Event()
        for _ in range(3000):  # bounded wait for the state "one batch queued"
            if scheduler.pending_batches() == 1:
                break
            waited.wait(0.01)
        assert scheduler.pending_batches() == 1
        with pytest.raises(ServingError) as error:
            scheduler.run(SERVABLE, runner, {"x": np.array([3.0])})
        assert error.value.code == Code.UNAVAILABLE  # TF Serving's code: clients retry
        gate.set()
        assert running.result(WAIT)["y"].tolist() == [2.0]
        assert queued.result(WAIT)["y"].tolist() == [4.0]
        assert scheduler.run(SERVABLE, runner, {"x": np.array([5.0])})["y"].tolist() == [10.0]
    finally:
        gate.set()
        pool.shutdown()
        scheduler.close()


def test_task_larger_than_max_batch_and_unequal_rows_are_invalid():
    scheduler = BatchScheduler(BatchingOptions(max_batch_size=2))
    runner = FakeRunner()
    try:
        with pytest.raises(ServingError) as error:
            scheduler.run(SERVABLE, runner, {"x": np.zeros(3)})
        assert error.value.code == Code.INVALID_ARGUMENT
        with pytest.raises(ServingError) as error:
            scheduler.run(SERVABLE, runner, {"x": np.zeros(1), "z": np.zeros(2)})
        assert error.value.code == Code.INVALID_ARGUMENT
        assert runner.batches == []
    finally:
        scheduler.close()


class RejectingRunner(FakeRunner):
    """FakeRunner whose run fails (INVALID_ARGUMENT, as a graph error on data does) when any
    row of "x" is negative, as a model's graph does on a value it cannot handle."""

    def __call__(self, inputs):
        self.batches.append(len(inputs["x"]))
        if (inputs["x"] < 0).any():
            raise ServingError(Code.INVALID_ARGUMENT, "negative input")
        return {"y": inputs["x"] * 2, "n": np.arange(len(inputs["x"]))}


def test_a_bad_request_in_a_batch_fails_only_itself():
    scheduler = BatchScheduler(
        BatchingOptions(max_batch_size=4, batch_timeout_micros=LONG_TIMEOUT_MICROS)
    )
    runner = RejectingRunner()
    values = [np.array([1.0]), np.array([-1.0]), np.array([3.0, 4.0])]
    try:
        with futures.ThreadPoolExecutor(len(values)) as pool:
            jobs = [pool.submit(scheduler.run, SERVABLE, runner, {"x": v}) for v in values]
            good_1, good_3 = jobs[0].result(WAIT), jobs[2].result(WAIT)
            with pytest.raises(ServingError) as error:
                jobs[1].result(WAIT)
    finally:
        scheduler.close()
    assert error.value.code == Code.INVALID_ARGUMENT
    np.testing.assert_array_equal(good_1["y"], [2.0])
    np.testing.assert_array_equal(good_3["y"], [6.0, 8.0])
    # The merged run (4 rows) failed, then each request ran alone.
    assert runner.batches[0] == 4 and sorted(runner.batches[1:]) == [1, 1, 2]


def test_a_batch_failing_for_every_request_fails_each_with_its_error():
    scheduler = BatchScheduler(
        BatchingOptions(max_batch_size=2, batch_timeout_micros=LONG_TIMEOUT_MICROS)
    )
    runner = FakeRunner(fail=True)
    try:
        with futures.ThreadPoolExecutor(2) as pool:
            jobs = [
                pool.submit(scheduler.run, SERVABLE, runner, {"x": np.array([float(i)])})
                for i in range(2)
            ]
            for job in jobs:
                with pytest.raises(ServingError) as error:
                    job.result(WAIT)
                assert error.value.code == Code.INVALID_ARGUMENT
        assert runner.batches == [2, 1, 1]
    finally:
        scheduler.close()


def test_batch_timeout_flushes_a_partial_batch():
    # max_batch_size is never reached: only the timeout can run these batches.
    scheduler = BatchScheduler(BatchingOptions(max_batch_size=64, batch_timeout_micros=1000))
    runner = FakeRunner()
    try:
        first = scheduler.run(SERVABLE, runner, {"x": np.array([1.0, 2.0])})
        second = scheduler.run(SERVABLE, runner, {"x": np.array([3.0])})
    finally:
        scheduler.close()
    assert runner.batches == [2, 1]
    np.testing.assert_array_equal(first["y"], [2.0, 4.0])
    np.testing.assert_array_equal(second["y"], [6.0])


def test_batching_through_grpc_merges_concurrent_predicts(
    model_base_path, start_server, counting_model
):
    base = model_base_path(counting_model, name="counting")
    server = start_server(
        model_name="counting",
        model_base_path=base,
        enable_batching=True,
        max_batch_size=8,
        batch_timeout_micros=LONG_TIMEOUT_MICROS,
        num_batch_threads=1,
        grpc_max_threads=16,
    )
    runner = server.manager.resolve("counting").signatures["serving_default"]
    calls_before = runner.calls
    channel = grpc.insecure_channel(server.grpc_target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

    def predict(x: float):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "counting"
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([x], np.float32)))
        response = stub.Predict(request, timeout=WAIT)
        return (
            tf.make_ndarray(response.outputs["y"]).tolist(),
            tf.make_ndarray(response.outputs["calls"]).tolist()[0],
        )

    try:
        with futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(predict, [float(i) for i in range(8)]))
    finally:
        channel.close()
    assert [y for y, _ in results] == [[2.0 * i] for i in range(8)]
    # Fewer graph runs than requests: the model's own counter and the runner's agree.
    distinct_runs = {calls for _, calls in results}
    assert runner.calls - calls_before == len(distinct_runs) < 8


def example(text: str | None) -> bytes:
    """A serialized tf.Example with feature "text", or bytes no Example parser accepts."""
    if text is None:
        return b"\xff not a tf.Example"
    features = {"text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()]))}
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def test_batched_results_equal_unbatched_and_a_bad_example_fails_alone(
    model_base_path, start_server, text_model
):
    """A real model's graph rejects one request's data inside a merged batch: that request
    gets INVALID_ARGUMENT, the others the same answers as from a server without batching."""
    base = model_base_path(text_model, name="text")
    plain = start_server(model_name="text", model_base_path=base)
    batched = start_server(
        model_name="text",
        model_base_path=base,
        enable_batching=True,
        max_batch_size=4,
        batch_timeout_micros=LONG_TIMEOUT_MICROS,
        num_batch_threads=1,
        grpc_max_threads=8,
    )
    runner = batched.manager.resolve("text").signatures["serving_default"]
    texts = ["good good film", None, "bad film", "a good but bad ending"]

    def predict(target: str, text: str | None):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "text"
        request.inputs["examples"].CopyFrom(tf.make_tensor_proto([example(text)]))
        with grpc.insecure_channel(target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            try:
                response = stub.Predict(request, timeout=WAIT)
            except grpc.RpcError as e:
                return e.code()
        return {alias: tf.make_ndarray(t).tolist() for alias, t in response.outputs.items()}

    calls_before = runner.calls
    with futures.ThreadPoolExecutor(len(texts)) as pool:
        answers = list(pool.map(lambda t: predict(batched.grpc_target, t), texts))
    assert runner.calls - calls_before == 1 + len(texts)  # the merged run, then one each
    assert answers[1] == grpc.StatusCode.INVALID_ARGUMENT
    for text, answer in zip(texts, answers, strict=True):
        if text is not None:
            assert answer == predict(plain.grpc_target, text)  # bit for bit

    calls_before = runner.calls
    good = [t for t in texts if t is not None] + ["good"]
    with futures.ThreadPoolExecutor(len(good)) as pool:
        answers = list(pool.map(lambda t: predict(batched.grpc_target, t), good))
    assert runner.calls - calls_before == 1  # 4 requests, one signature run
    assert answers == [predict(plain.grpc_target, t) for t in good]


def test_batching_over_rest_merges_and_isolates_a_bad_example(
    model_base_path, start_server, text_model
):
    """REST requests share the scheduler with gRPC ones: merged into one run, a bad Example
    failing alone with TF Serving's REST error body, the rest answered as without batching."""
    base = model_base_path(text_model, name="text")
    plain = start_server(model_name="text", model_base_path=base)
    batched = start_server(
        model_name="text",
        model_base_path=base,
        enable_batching=True,
        max_batch_size=3,
        batch_timeout_micros=LONG_TIMEOUT_MICROS,
        num_batch_threads=1,
    )
    runner = batched.manager.resolve("text").signatures["serving_default"]

    def predict(url: str, text: str | None):
        body = json.dumps({"instances": [{"b64": base64.b64encode(example(text)).decode()}]})
        request = urllib.request.Request(
            f"{url}/v1/models/text:predict", data=body.encode(), method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=WAIT) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    texts = ["good film", None, "bad bad film"]
    calls_before = runner.calls
    with futures.ThreadPoolExecutor(len(texts)) as pool:
        answers = list(pool.map(lambda t: predict(batched.rest_url, t), texts))
    assert runner.calls - calls_before == 1 + len(texts)  # the merged run, then one each
    status, body = answers[1]
    assert status == 400 and "error" in body
    assert answers[0] == predict(plain.rest_url, texts[0])
    assert answers[2] == predict(plain.rest_url, texts[2])


class RecordingRunner(FakeRunner):
    """FakeRunner keeping every merged input it ran."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[np.ndarray] = []

    def __call__(self, inputs):
        self.inputs.append(inputs["x"].copy())
        return super().__call__(inputs)


def test_allowed_batch_sizes_pad_with_the_first_row_and_drop_padded_outputs():
    scheduler = BatchScheduler(
        BatchingOptions(max_batch_size=8, batch_timeout_micros=1000, allowed_batch_sizes=(2, 4, 8))
    )
    runner = RecordingRunner()
    try:
        (result,) = submit_all(scheduler, runner, [np.array([5.0, 6.0, 7.0])])
    finally:
        scheduler.close()
    np.testing.assert_array_equal(runner.inputs[0], [5.0, 6.0, 7.0, 5.0])  # 3 rows -> 4
    np.testing.assert_array_equal(result["y"], [10.0, 12.0, 14.0])


def test_variable_length_inputs_share_a_batch_padded_with_their_first_element():
    scheduler = BatchScheduler(
        BatchingOptions(
            max_batch_size=2,
            batch_timeout_micros=LONG_TIMEOUT_MICROS,
            pad_variable_length_inputs=True,
        )
    )
    runner = RecordingRunner()
    try:
        short, long = np.array([[7, 1]]), np.array([[3, 4, 5]])
        results = submit_all(scheduler, runner, [short, long])
    finally:
        scheduler.close()
    assert runner.batches == [2]  # one call for both lengths
    merged = runner.inputs[0].tolist()
    assert sorted(merged) == [[3, 4, 5], [7, 1, 7]]
    assert sorted(r["y"].tolist() for r in results) == [[[6, 8, 10]], [[14, 2, 14]]]


@pytest.mark.parametrize("sizes", [(4, 2, 8), (2, 4), (0, 8), (2, 2, 8)])
def test_allowed_batch_sizes_must_increase_to_max_batch_size(sizes):
    from seqline.serving.errors import ServerConfigError

    with pytest.raises(ServerConfigError, match="allowed_batch_sizes"):
        BatchingOptions(max_batch_size=8, allowed_batch_sizes=sizes)
