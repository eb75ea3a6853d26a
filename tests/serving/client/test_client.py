"""PredictionClient, RestClient and `seqline predict` against the in-process `seqline serve`.

One server (module scope) serves three models: "half_plus_two" (TF Serving's test model shape),
"text" (seqline's text signatures) and "growing" (starts with version 1; a test adds version 2).
Retry/deadline logic is also tested without a server through injected attempt functions.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from seqline.serving import cli, grpc_experiments
from seqline.serving.client.client import (
    Code,
    PredictionClient,
    RequestFailed,
    RetryEvent,
    RetryPolicy,
    ServingError,
    VersionStatus,
    decode_outputs,
    make_example,
)
from seqline.serving.client.model_info import wait_for_version
from seqline.serving.client.rest_client import RestClient, from_json_value, to_json_value
from seqline.serving.client.retry import call_with_retries
from seqline.serving.client.signature_cache import (
    FAILED_LOOKUP_TTL,
    SIGNATURE_TTL,
    SignatureCache,
)
from seqline.serving.grpc_experiments import (
    GRPC_EXPERIMENTS_VARIABLE,
    LOW_LATENCY_GRPC_EXPERIMENTS,
    prefer_low_latency_grpc,
)
from seqline.serving.request_inputs import InputError, as_input_array, check_input
from tests.serving.serving_client_checks import Y, run_all

# -- retry policy, deadlines and polling (no server) -------------------------------------------


class FakeServer:
    """An attempt function failing with the given codes in turn, then answering "ok"."""

    def __init__(self, *codes: Code) -> None:
        self.codes = list(codes)
        self.calls: list[float] = []

    def __call__(self, remaining: float, attempt: int) -> str:
        self.calls.append(remaining)
        assert attempt == len(self.calls) - 1
        if self.codes:
            raise RequestFailed(self.codes.pop(0), "simulated failure")
        return "ok"


def run(fake: FakeServer, policy: RetryPolicy, timeout: float = 10.0, **kwargs: Any) -> Any:
    sleeps: list[float] = []
    result = call_with_retries(
        "Predict",
        fake,
        timeout=timeout,
        policy=policy,
        to_error=lambda e: e if isinstance(e, RequestFailed) else None,
        sleep=sleeps.append,
        **kwargs,
    )
    return result, sleeps


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(initial_backoff=0.1, multiplier=2.0, max_backoff=0.3)
    rng = np.random.default_rng(0)

    class Rng:  # random.Random's uniform() on a seeded numpy generator
        def uniform(self, low: float, high: float) -> float:
            return float(rng.uniform(low, high))

    for attempt, cap in [(0, 0.1), (1, 0.2), (2, 0.3), (5, 0.3)]:
        waits = [policy.backoff(attempt, Rng()) for _ in range(200)]
        assert min(waits) >= 0.0 and max(waits) <= cap
        assert max(waits) > 0.8 * cap  # the window really widens up to the cap
        assert len(set(waits)) > 100  # jittered, not a fixed delay


def test_retries_unavailable_until_success_and_reports_each_retry() -> None:
    fake = FakeServer(Code.UNAVAILABLE, Code.UNAVAILABLE)
    events: list[RetryEvent] = []
    result, sleeps = run(fake, RetryPolicy(retries=3), on_retry=events.append)
    assert result == "ok"
    assert len(fake.calls) == 3
    assert [e.attempt for e in events] == [0, 1]
    assert all(e.error.code == Code.UNAVAILABLE and e.method == "Predict" for e in events)
    assert sleeps == [e.delay for e in events]
    # Each attempt gets what is left of the one deadline, never a fresh one.
    assert fake.calls[0] <= 10.0 and fake.calls == sorted(fake.calls, reverse=True)


@pytest.mark.parametrize(
    "code", [Code.INVALID_ARGUMENT, Code.NOT_FOUND, Code.DEADLINE_EXCEEDED, Code.INTERNAL]
)
def test_codes_that_would_fail_again_are_not_retried(code: Code) -> None:
    fake = FakeServer(code)
    with pytest.raises(RequestFailed) as info:
        run(fake, RetryPolicy(retries=3))
    assert len(fake.calls) == 1
    assert info.value.code == code and info.value.attempts == 1
    assert isinstance(info.value, ServingError)  # one hierarchy with the server's errors


def test_gives_up_after_the_retry_budget_with_the_last_error() -> None:
    fake = FakeServer(*[Code.UNAVAILABLE] * 10)
    with pytest.raises(RequestFailed) as info:
        run(fake, RetryPolicy(retries=2))
    assert len(fake.calls) == 3
    assert info.value.attempts == 3
    assert str(info.value).startswith("UNAVAILABLE (Predict, after 3 attempts): ")


class FixedWait(RetryPolicy):
    """A policy whose wait is always 30 s (no jitter), to test the deadline check exactly."""

    def backoff(self, attempt: int, rng: Any = None) -> float:
        return 30.0


def test_never_waits_past_the_deadline() -> None:
    fake = FakeServer(Code.UNAVAILABLE, Code.UNAVAILABLE)
    with pytest.raises(RequestFailed) as info:
        run(fake, FixedWait(retries=5), timeout=1.0)
    assert len(fake.calls) == 1  # a 30 s wait cannot fit the 1 s deadline: no retry
    assert "no time left in the 1 s deadline" in info.value.message


def test_retry_policy_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="retries"):
        RetryPolicy(retries=-1)
    with pytest.raises(ValueError, match="UNAVAILABLE"):
        RetryPolicy(retry_codes={"NOT_A_CODE"})
    assert RetryPolicy(retry_codes={"unavailable", 8}).retry_codes == {
        Code.UNAVAILABLE,
        Code.RESOURCE_EXHAUSTED,
    }


def test_wait_for_version_polls_through_unknown_model_and_loading() -> None:
    answers: list[Any] = [
        RequestFailed(Code.UNAVAILABLE, "connection refused"),
        RequestFailed(Code.NOT_FOUND, "Could not find any versions of model m"),
        [VersionStatus(1, "AVAILABLE"), VersionStatus(2, "LOADING")],
        [VersionStatus(1, "UNLOADING"), VersionStatus(2, "AVAILABLE")],
    ]

    def status(budget: float) -> list[VersionStatus]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert wait_for_version(status, "m", 2, timeout=10, poll_interval=0, sleep=lambda s: None) == 2
    assert answers == []


def test_wait_for_version_stops_on_a_failed_load() -> None:
    failed = [VersionStatus(3, "END", "INVALID_ARGUMENT", "no saved_model.pb")]
    with pytest.raises(RequestFailed) as info:
        wait_for_version(lambda b: failed, "m", 3, timeout=10, poll_interval=0)
    assert info.value.code == Code.INVALID_ARGUMENT
    assert "version 3 failed to load: no saved_model.pb" in info.value.message


def test_wait_for_version_times_out_with_the_last_status() -> None:
    loading = [VersionStatus(1, "LOADING")]
    with pytest.raises(RequestFailed) as info:
        wait_for_version(lambda b: loading, "m", None, timeout=0.05, poll_interval=0.01)
    assert info.value.code == Code.DEADLINE_EXCEEDED
    assert "last status: v1 LOADING" in info.value.message


def test_wait_for_version_does_not_hide_other_errors() -> None:
    def denied(budget: float) -> list[VersionStatus]:
        raise RequestFailed(Code.PERMISSION_DENIED, "no")

    with pytest.raises(RequestFailed, match="PERMISSION_DENIED"):
        wait_for_version(denied, "m", None, timeout=10, poll_interval=0)


# -- request values ----------------------------------------------------------------------------


def test_input_arrays_follow_the_declared_dtype_else_tensorflow_rules() -> None:
    assert as_input_array([1.0, 2.0]).dtype == np.float32
    assert as_input_array([1, 2]).dtype == np.int32
    assert as_input_array([2**40]).dtype == np.int64
    assert as_input_array([1, 2], np.dtype(np.int64)).dtype == np.int64
    assert as_input_array([1, 2], np.dtype(np.float32)).dtype == np.float32
    strings = as_input_array([["é", b"\xff"]])
    assert strings.dtype == object and strings.shape == (1, 2)
    assert strings.tolist() == [["é".encode(), b"\xff"]]
    float64 = np.array([1.0])
    assert as_input_array(float64, np.dtype(np.float32)) is float64  # numpy keeps its dtype
    with pytest.raises(TypeError, match="str or bytes"):
        as_input_array(np.array(["a", 1], dtype=object))


def test_text_inputs_refuse_non_text_and_lone_surrogates_naming_the_input() -> None:
    """A str holding a lone surrogate (undecodable bytes read with surrogateescape) raised a
    raw UnicodeEncodeError; a number in a string input a TypeError without the input's name."""
    for value in (["caf\udce9 goal"], "caf\udce9", np.array(["ok", "caf\udce9"])):
        with pytest.raises(InputError, match=r"input 'text': .*lone surrogate.*os\.fsencode"):
            as_input_array(value, np.dtype(object), "text")
        with pytest.raises(ValueError, match="input 'text'"):
            check_input("text", value)  # the REST client's check: the same refusal
    with pytest.raises(InputError, match=r"input 'text': expected str or bytes .* got int"):
        check_input("text", [1], np.dtype(object))
    with pytest.raises(ValueError, match="feature 'text'"):
        make_example({"text": "caf\udce9"})
    check_input("x", [1.0, 2.0], np.dtype(np.float32))  # numbers are the server's to judge
    assert as_input_array([b"caf\xe9"], np.dtype(object), "text").tolist() == [b"caf\xe9"]


def test_object_arrays_are_text_only_for_string_inputs() -> None:
    """pandas' .to_numpy() of a mixed column is an object array of numbers: ab733cf refused it
    for a float32 input with "expected str or bytes elements in a string input"."""
    numbers = np.array([[1.0, 2.0]], dtype=object)
    for prepare in (as_input_array, lambda v, d, n: check_input(n, v, d)):
        sent = prepare(numbers, np.dtype(np.float32), "history")
        assert sent.dtype == np.float32 and sent.tolist() == [[1.0, 2.0]]
        with pytest.raises(InputError, match=r"input .history.: expected values a float32 .*str"):
            prepare(np.array([1.0, "n/a"], dtype=object), np.dtype(np.float32), "history")
    assert as_input_array(numbers, None, "x").dtype == np.float32  # unknown: TF's rules
    assert check_input("x", numbers) is numbers  # unknown: JSON numbers, the server judges
    with pytest.raises(InputError, match="input 'x': expected str or bytes .* got int"):
        as_input_array(np.array([1, "a"], dtype=object), None, "x")  # unknown: text beside a number
    text = np.array(["a", b"b"], dtype=object)
    assert as_input_array(text, None).tolist() == [b"a", b"b"]
    # all text for a numeric input: sent as text, as a list of it is (the server judges)
    assert as_input_array(text, np.dtype(np.float32)).tolist() == [b"a", b"b"]
    empty = as_input_array(np.array([], dtype=object), np.dtype(np.float32))
    assert empty.dtype == np.float32 and empty.shape == (0,)
    with pytest.raises(InputError, match="input 'text': expected str or bytes .* got float"):
        check_input("text", numbers, np.dtype(object))  # a string input still wants text


def test_signature_cache_remembers_failures_briefly_and_unpinned_reads_for_a_while() -> None:
    now = [0.0]
    cache: SignatureCache[str] = SignatureCache(clock=lambda: now[0])
    assert cache.get("k") == (False, None)
    cache.put_failed("k")
    cache.put("pinned", "sig1", pinned=True)
    cache.put("latest", "sig2", pinned=False)
    assert cache.get("k") == (True, None)
    now[0] = FAILED_LOOKUP_TTL
    assert cache.get("k") == (False, None)  # tried again after FAILED_LOOKUP_TTL
    assert cache.get("latest") == (True, "sig2")
    now[0] = SIGNATURE_TTL
    assert cache.get("latest") == (False, None)  # a newly loaded version is seen
    now[0] = 1e9
    assert cache.get("pinned") == (True, "sig1")


class _StubRest:
    """A REST endpoint whose :predict answers at once and whose metadata GET answers 503 or,
    with `hang`, not before the test ends; records the requests in order."""

    def __init__(self, *, hang: bool) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[str] = []
        self.release = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up

            def do_GET(self) -> None:
                stub.requests.append("GET")
                if hang:
                    stub.release.wait(10)
                self._answer(503, {"error": "metadata unavailable"})

            def do_POST(self) -> None:
                stub.requests.append("POST")
                self.rfile.read(int(self.headers["Content-Length"]))
                self._answer(200, {"outputs": {"y": [[2.5]]}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_rest_predict_keeps_its_time_when_the_metadata_endpoint_hangs() -> None:
    """ab733cf read the metadata before :predict with the whole deadline: a metadata endpoint
    slower than the timeout failed every predict with DEADLINE_EXCEEDED."""
    stub = _StubRest(hang=True)
    try:
        client = RestClient(stub.url, "m", timeout=0.4)
        # numeric arrays need no signature before sending: :predict goes first
        assert client.predict({"x": np.array([[1.0]], np.float32)})["y"].tolist() == [[2.5]]
        assert stub.requests == ["POST", "GET"]
        # a list needs it first, within a share of the deadline; the failure is remembered
        client = RestClient(stub.url, "m", timeout=0.4)
        for _ in range(3):
            assert client.predict({"x": [[1.0]]})["y"].tolist() == [[2.5]]
        assert stub.requests[2:] == ["GET", "POST", "POST", "POST"]
    finally:
        stub.close()


def test_rest_predict_does_not_retry_a_failed_metadata_read_on_every_call() -> None:
    """ab733cf retried the metadata GET (with its backoff) on every predict against a 503."""
    stub = _StubRest(hang=False)
    try:
        client = RestClient(stub.url, "m", retries=1, backoff=0.001)
        for value in ([[1.0]], np.array([[1.0]], np.float32), [[2.0]]):
            assert client.predict({"x": value})["y"].tolist() == [[2.5]]
        assert stub.requests == ["GET", "GET", "POST", "POST", "POST"]
    finally:
        stub.close()


def test_make_example_infers_feature_kinds() -> None:
    example = make_example(
        {"text": "good", "raw": b"\x00", "x": 1.5, "ids": [1, 2], "flag": True, "v": np.ones(2)}
    )
    f = example.features.feature
    assert f["text"].bytes_list.value == [b"good"]
    assert f["raw"].bytes_list.value == [b"\x00"]
    assert list(f["x"].float_list.value) == [1.5]
    assert list(f["ids"].int64_list.value) == [1, 2]
    assert list(f["flag"].int64_list.value) == [1]
    assert list(f["v"].float_list.value) == [1.0, 1.0]
    with pytest.raises(TypeError, match="empty list"):
        make_example({"x": []})
    with pytest.raises(TypeError, match="feature 'x'"):
        make_example({"x": [{"a": 1}]})


def test_decoded_outputs_are_writable_numpy_arrays() -> None:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    response = predict_pb2.PredictResponse()
    # tf.make_tensor_proto packs numbers into tensor_content, as real servers may.
    response.outputs["y"].CopyFrom(tf.make_tensor_proto(np.array([[1.5, 2.5]], np.float32)))
    response.outputs["s"].CopyFrom(tf.make_tensor_proto([b"a", b"b"]))
    outputs = decode_outputs(response)
    assert outputs["y"].tolist() == [[1.5, 2.5]] and outputs["y"].dtype == np.float32
    outputs["y"][0, 0] = 0.0  # callers may post-process in place
    assert outputs["s"].tolist() == [b"a", b"b"]


def test_rest_json_values_round_trip_bytes_and_dtypes() -> None:
    value = to_json_value({"k": np.array([b"\xff", b"ok"], dtype=object)}["k"])
    assert value == [{"b64": "/w=="}, {"b64": "b2s="}]
    back = from_json_value([{"b64": "/w=="}, "ok"], np.dtype(object))
    assert back.tolist() == [b"\xff", b"ok"]
    assert from_json_value([[1.5]], np.dtype(np.float32)).dtype == np.float32
    assert to_json_value(np.float32(0.5)) == 0.5
    # An empty batch takes the declared inner dimensions, as over gRPC (it was (0,)).
    assert from_json_value([], np.dtype(np.float32), (-1, 5)).shape == (0, 5)
    assert from_json_value([], np.dtype(object), (-1,)).shape == (0,)
    assert from_json_value([], np.dtype(np.float32), (-1, -1)).shape == (0,)  # unknown: as is


def test_clients_reject_ambiguous_version_selection() -> None:
    with pytest.raises(ValueError, match="not both"):
        RestClient("http://127.0.0.1:1", "m", version=1, version_label="stable")
    with pytest.raises(ValueError, match="http"):
        RestClient("127.0.0.1:8501", "m")


# -- `seqline predict` request building (no server) --------------------------------------------


def predict_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_predict_arguments(parser)
    return parser.parse_args(["--model", "m", *argv])


def test_cli_builds_requests_from_text_and_json_forms(tmp_path: Any) -> None:
    assert cli.build_request(predict_args("--text", "a", "--text", "b")) == (
        {"text": ["a", "b"]},
        "predict_text",
    )
    # a --text that is not valid Unicode (non-UTF-8 argv) is sent as the bytes typed
    typed = os.fsdecode(b"caf\xe9 \xc3\xa9")
    assert cli.build_request(predict_args("--text", typed))[0] == {"text": [b"caf\xe9 \xc3\xa9"]}
    body = {
        "signature_name": "sig",
        "instances": [{"x": 1.0, "s": {"b64": "/w=="}}, {"x": 2.0, "s": "t"}],
    }
    path = tmp_path / "req.json"
    path.write_text(json.dumps(body))
    assert cli.build_request(predict_args("--input", f"@{path}")) == (
        {"x": [1.0, 2.0], "s": [b"\xff", "t"]},
        "sig",
    )
    columnar = predict_args("--input", '{"inputs": {"x": [3]}}', "--signature", "other")
    assert cli.build_request(columnar) == ({"x": [3]}, "other")
    assert cli.build_request(predict_args("--input", '{"x": [3]}'))[1] == "serving_default"
    # TF Serving's unnamed bodies: named from the server's metadata when sent.
    unnamed = cli.build_request(predict_args("--input", '{"instances": [[1, 2, 3]]}'))
    assert unnamed == (cli.Unnamed([[1, 2, 3]]), "serving_default")
    unnamed = cli.build_request(predict_args("--input", '{"inputs": [{"b64": "/w=="}]}'))
    assert unnamed == (cli.Unnamed([b"\xff"]), "serving_default")


@dataclass
class FakeMetadataClient:
    """What name_unnamed_input asks of a client: metadata()."""

    signatures: dict[str, Any]
    model_name: str = "m"

    def metadata(self) -> Any:
        from seqline.serving.client.model_info import ModelMetadata

        return ModelMetadata(self.model_name, 1, self.signatures)


def test_cli_names_an_unnamed_value_from_the_signature() -> None:
    from seqline.serving.client.model_info import SignatureInfo, TensorSpecInfo

    spec = TensorSpecInfo("DT_FLOAT", (-1,))
    one = SignatureInfo("tensorflow/serving/predict", inputs={"x": spec})
    two = SignatureInfo("tensorflow/serving/predict", inputs={"a": spec, "b": spec})
    defaulted = SignatureInfo(
        "tensorflow/serving/predict", inputs={"x": spec, "scale": spec}, defaults={"scale"}
    )
    client = FakeMetadataClient({"one": one, "two": two, "defaulted": defaulted})
    value = cli.Unnamed([1.0])
    assert cli.name_unnamed_input(client, value, "one") == {"x": [1.0]}
    assert cli.name_unnamed_input(client, value, "defaulted") == {"x": [1.0]}
    with pytest.raises(cli.UsageError) as error:
        cli.name_unnamed_input(client, value, "two")
    message = str(error.value)
    assert "signature 'two' has 2: ['a', 'b']" in message
    assert '{"inputs": {"a": ..., "b": ...}}' in message
    with pytest.raises(cli.UsageError, match=r"'nope' is not one of model 'm' version 1's"):
        cli.name_unnamed_input(client, value, "nope")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"instances": [{"x": 1}, 2]}', "not a mix"),
        ('{"instances": []}', "non-empty list"),
        ("@/no/such/file.json", "cannot read"),
    ],
)
def test_cli_rejects_bad_input_with_exit_code_2(
    given: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.run_predict(predict_args("--input", given)) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_json_output_is_readable() -> None:
    assert cli.to_json(np.array([[0.1, 0.9]], np.float32)) == [[0.1, 0.9]]
    assert cli.to_json(np.array([b"positive", b"\xff"], dtype=object)) == [
        "positive",
        {"b64": "/w=="},
    ]
    assert cli.to_json(np.array([3], np.int64)) == [3]


# -- against the in-process server -------------------------------------------------------------


def copy_model(source: str, base_path: str, version: int) -> None:
    """Copies a SavedModel into {base_path}/{version} via a temp dir + rename (never half-seen)."""
    os.makedirs(base_path, exist_ok=True)
    temp = os.path.join(base_path, f".tmp-{version}")
    shutil.copytree(source, temp)
    os.rename(temp, os.path.join(base_path, str(version)))


@dataclass(frozen=True)
class Served:
    grpc_target: str  # "127.0.0.1:PORT"
    rest_url: str  # "http://127.0.0.1:PORT"
    models_root: Path  # {models_root}/{model name}/{version}/


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, half_plus_two_model: str, text_model: str
) -> Iterator[Served]:
    """One `seqline serve` for this module with models half_plus_two, text and growing."""
    from seqline.serving.server.server import FREE_PORT, ServerOptions, start_server

    root = tmp_path_factory.mktemp("client_models")
    models = {
        "half_plus_two": half_plus_two_model,
        "text": text_model,
        "growing": half_plus_two_model,
    }
    entries = []
    for name, source in models.items():
        copy_model(source, str(root / name), 1)
        entries.append(
            f'  config {{ name: "{name}" base_path: "{root / name}" model_platform: "tensorflow" }}'
        )
    config = root / "models.config"
    config.write_text("model_config_list {\n" + "\n".join(entries) + "\n}\n")
    handle = start_server(
        ServerOptions(
            port=0,
            rest_api_port=FREE_PORT,
            model_config_file=str(config),
            file_system_poll_wait_seconds=0.2,
        )
    )
    try:
        handle.wait_until_ready(timeout=60.0)
        yield Served(handle.grpc_target, f"http://127.0.0.1:{handle.rest_port}", root)
    finally:
        handle.stop()


@pytest.fixture
def grpc_client(server: Served) -> Iterator[PredictionClient]:
    with PredictionClient(server.grpc_target, "half_plus_two", timeout=10.0) as client:
        yield client


def test_grpc_client_checks(server: Served) -> None:
    with (
        PredictionClient(server.grpc_target, "half_plus_two") as client,
        PredictionClient(server.grpc_target, "no_such_model") as unknown,
    ):
        run_all(client, unknown)


def test_rest_client_checks(server: Served) -> None:
    run_all(RestClient(server.rest_url, "half_plus_two"), RestClient(server.rest_url, "nope"))


def test_predict_equals_the_in_process_signature_call(server: Served, text_model: str) -> None:
    import tensorflow as tf

    loaded = tf.saved_model.load(text_model)
    texts = ["good good film", "bad film", "good but bad bad", ""]
    expected = {
        k: v.numpy() for k, v in loaded.signatures["predict_text"](text=tf.constant(texts)).items()
    }
    with PredictionClient(server.grpc_target, "text", signature_name="predict_text") as client:
        got = client.predict({"text": texts})
        examples = [make_example({"text": t}).SerializeToString() for t in texts]
        via_examples = client.predict(
            {"examples": np.array(examples, dtype=object)}, signature_name="serving_default"
        )
    assert set(got) == set(expected) == set(via_examples)
    for name, value in expected.items():
        assert got[name].dtype == value.dtype and got[name].shape == value.shape
        np.testing.assert_array_equal(got[name], value)
        np.testing.assert_array_equal(via_examples[name], value)
    assert got["classes"].tolist() == [b"positive", b"negative", b"negative", b"negative"]


def test_rest_and_grpc_return_the_same_predictions(server: Served) -> None:
    texts = ["good good film", "bad film", "Good good bad"]
    with PredictionClient(server.grpc_target, "text", signature_name="predict_text") as client:
        via_grpc = client.predict({"text": texts})
    via_rest = RestClient(server.rest_url, "text", signature_name="predict_text").predict(
        {"text": texts}
    )
    assert set(via_rest) == set(via_grpc)
    for name, value in via_grpc.items():
        assert via_rest[name].dtype == value.dtype, name
        if value.dtype.kind == "f":
            np.testing.assert_allclose(via_rest[name], value, rtol=1e-6)
        else:
            np.testing.assert_array_equal(via_rest[name], value)


def test_rest_and_grpc_return_the_same_shapes_for_an_empty_batch(server: Served) -> None:
    """REST returned probabilities of shape (0,) where gRPC returns (0, 2)."""
    with PredictionClient(server.grpc_target, "text", signature_name="predict_text") as client:
        via_grpc = client.predict({"text": []})
    via_rest = RestClient(server.rest_url, "text", signature_name="predict_text").predict(
        {"text": []}
    )
    assert via_grpc["probabilities"].shape == (0, 2)
    assert {k: (v.shape, v.dtype) for k, v in via_rest.items()} == {
        k: (v.shape, v.dtype) for k, v in via_grpc.items()
    }


def test_clients_refuse_text_that_is_not_unicode_before_sending(server: Served) -> None:
    with PredictionClient(server.grpc_target, "text", signature_name="predict_text") as client:
        with pytest.raises(InputError, match=r"input 'text': .*lone surrogate"):
            client.predict({"text": ["caf\udce9 good"]})
        as_bytes = client.predict({"text": [b"caf\xe9 good"]})  # the bytes go as they are
    rest = RestClient(server.rest_url, "text", signature_name="predict_text")
    with pytest.raises(InputError, match=r"input 'text': .*lone surrogate"):
        rest.predict({"text": ["caf\udce9 good"]})
    with pytest.raises(InputError, match=r"input 'text': expected str or bytes"):
        rest.predict({"text": [1]})
    np.testing.assert_allclose(
        rest.predict({"text": [b"caf\xe9 good"]})["probabilities"], as_bytes["probabilities"]
    )


def test_clients_send_an_object_array_of_numbers_to_a_numeric_input(server: Served) -> None:
    """An object array of numbers (pandas' .to_numpy() of a mixed column) was refused as text
    by both clients since ab733cf (and by the gRPC client before it)."""
    x = np.array([1.0, 2.0, 5.0], dtype=object)
    with PredictionClient(server.grpc_target, "half_plus_two") as client:
        via_grpc = client.predict({"x": x})["y"]
        with pytest.raises(InputError, match="input 'x': expected values a float32"):
            client.predict({"x": np.array([1.0, None, "a"], dtype=object)})
    via_rest = RestClient(server.rest_url, "half_plus_two").predict({"x": x})["y"]
    assert via_grpc.dtype == via_rest.dtype == np.float32
    assert via_grpc.tolist() == via_rest.tolist() == Y


def test_predict_response_says_which_version_answered(grpc_client: PredictionClient) -> None:
    response = grpc_client.predict_response({"x": np.array([1.0], np.float32)}, version=1)
    assert response.model_spec.name == "half_plus_two"
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"


def test_output_filter_returns_only_the_named_outputs(server: Served) -> None:
    with PredictionClient(server.grpc_target, "text", signature_name="predict_text") as client:
        got = client.predict({"text": ["good"]}, output_filter=["classes"])
    assert list(got) == ["classes"]


def test_wait_until_available_sees_a_new_version(
    server: Served, half_plus_three_model: str
) -> None:
    with PredictionClient(server.grpc_target, "growing") as client:
        assert client.wait_until_available(timeout=10.0) == 1
        copy_model(half_plus_three_model, str(server.models_root / "growing"), 2)
        assert client.wait_until_available(2, timeout=30.0) == 2
        # The latest version now answers by default: y = 0.5 x + 3.
        y = client.predict({"x": np.array([1.0], np.float32)})["y"]
        np.testing.assert_allclose(y, [3.5])
        assert [s.version for s in client.status(version=2)] == [2]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (kernel backlog) but never answers a byte."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_deadline_is_enforced_against_a_server_that_never_answers(silent_port: int) -> None:
    client = PredictionClient(f"127.0.0.1:{silent_port}", "m", timeout=0.3)
    with client, pytest.raises(RequestFailed) as info:
        client.predict({"x": np.array([1.0], np.float32)})
    assert info.value.code == Code.DEADLINE_EXCEEDED
    rest = RestClient(f"http://127.0.0.1:{silent_port}", "m", timeout=0.3)
    with pytest.raises(RequestFailed) as info:
        rest.status()
    assert info.value.code == Code.DEADLINE_EXCEEDED


def test_per_call_timeout_overrides_the_default(silent_port: int) -> None:
    client = PredictionClient(f"127.0.0.1:{silent_port}", "m", timeout=60.0)
    with client, pytest.raises(RequestFailed) as info:
        client.status(timeout=0.2)
    assert info.value.code == Code.DEADLINE_EXCEEDED


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_retries_unavailable_until_the_server_is_up(
    start_server: Any, model_base_path: Any, half_plus_two_model: str
) -> None:
    import grpc

    port = free_port()
    base = model_base_path(half_plus_two_model, name="late")
    events: list[RetryEvent] = []
    client = PredictionClient(f"127.0.0.1:{port}", "late", timeout=60.0, on_retry=events.append)

    def start_on_first_failure(event: RetryEvent) -> None:
        events.append(event)
        if len(events) == 1:  # nothing listened at the first attempt: bring the server up,
            start_server(port=port, rest_api_port=0, model_name="late", model_base_path=base)
            # and let the channel reconnect (no sleep: wait for the READY state itself).
            grpc.channel_ready_future(client.channel).result(timeout=30.0)

    client.on_retry = start_on_first_failure
    with client:
        y = client.predict({"x": np.array([1.0, 2.0, 5.0], np.float32)})["y"]
    np.testing.assert_allclose(y, Y)
    assert len(events) == 1
    assert events[0].error.code == Code.UNAVAILABLE and events[0].attempt == 0


def test_wait_for_ready_waits_for_the_server_within_the_deadline() -> None:
    # A fail-fast call against nothing gives UNAVAILABLE; a wait_for_ready call keeps waiting
    # for the channel until its deadline.
    client = PredictionClient(
        f"127.0.0.1:{free_port()}", "m", wait_for_ready=True, retries=0, timeout=0.3
    )
    with client, pytest.raises(RequestFailed) as info:
        client.status()
    assert info.value.code == Code.DEADLINE_EXCEEDED


def test_unavailable_after_all_retries_when_nothing_listens() -> None:
    client = PredictionClient(f"127.0.0.1:{free_port()}", "m", retries=0, timeout=5.0)
    with client, pytest.raises(RequestFailed) as info:
        client.status()
    assert info.value.code == Code.UNAVAILABLE and info.value.attempts == 1


# -- `seqline predict` end to end --------------------------------------------------------------


def run_cli(*argv: str) -> tuple[int, Any]:
    out = io.StringIO()
    parser = argparse.ArgumentParser(prog="seqline")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    code = cli.run_predict(args, out=out) if args.func is cli.run_predict else None
    return code, json.loads(out.getvalue()) if out.getvalue() else None


def test_cli_predict_text_over_grpc_and_rest(server: Served) -> None:
    code, result = run_cli(
        "predict", "--model", "text", "--target", server.grpc_target, "--text", "good good film"
    )
    assert code == cli.EXIT_OK
    assert result["version"] == 1 and result["signature"] == "predict_text"
    assert result["outputs"]["classes"] == ["positive"]
    assert result["outputs"]["class_ids"] == [1]
    code, via_rest = run_cli(
        "predict", "--model", "text", "--rest", server.rest_url, "--text", "good good film"
    )
    assert code == cli.EXIT_OK
    assert via_rest["outputs"] == result["outputs"]


def test_cli_predict_json_input_prints_to_stdout(
    server: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["predict", "--model", "half_plus_two", "--target", server.grpc_target]
    assert cli.main([*argv, "--input", '{"x": [1.0, 2.0, 5.0]}']) == cli.EXIT_OK
    printed = json.loads(capsys.readouterr().out)
    assert printed["outputs"] == {"y": Y}
    assert cli.main([*argv, "--input", '{"x": [1.0]}', "--version", "99"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("seqline predict: error: NOT_FOUND (Predict): ")
    assert "\n" not in err


def test_cli_predict_takes_tf_servings_unnamed_bodies(
    server: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """{"instances": [...]} and {"inputs": ...} without names feed the signature's one input,
    over gRPC and REST (they were usage errors)."""
    for transport in (["--target", server.grpc_target], ["--rest", server.rest_url]):
        for body in ('{"instances": [1.0, 2.0, 5.0]}', '{"inputs": [1.0, 2.0, 5.0]}'):
            argv = ["predict", "--model", "half_plus_two", *transport, "--input", body]
            assert cli.main(argv) == cli.EXIT_OK, capsys.readouterr().err
            assert json.loads(capsys.readouterr().out)["outputs"] == {"y": Y}


def test_cli_predict_refuses_a_bad_value_with_exit_2_over_grpc_and_rest(
    server: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """A number for a string input crashed with a TypeError traceback over gRPC and exited 1
    (the server's INVALID_ARGUMENT) over REST; --text with bytes that are not UTF-8 crashed
    with a UnicodeEncodeError."""
    for transport in (["--target", server.grpc_target], ["--rest", server.rest_url]):
        argv = ["predict", "--model", "text", *transport, "--signature", "predict_text"]
        assert cli.main([*argv, "--input", '{"text": [1]}']) == cli.EXIT_USAGE
        err = capsys.readouterr().err
        assert err.startswith("seqline predict: error: input 'text': expected str or bytes")
        assert err.count("\n") == 1
        # argv as Python holds a latin-1 byte under a UTF-8 locale: sent as the bytes typed
        assert cli.main([*argv, "--text", "caf\udce9 good"]) == cli.EXIT_OK
        printed = json.loads(capsys.readouterr().out)
        assert printed["outputs"]["classes"] == ["positive"]


def test_cli_serve_serves_until_stopped(half_plus_two_model: str, tmp_path: Any) -> None:
    base = tmp_path / "served"
    copy_model(half_plus_two_model, str(base), 1)
    port = free_port()
    stop = threading.Event()
    parser = argparse.ArgumentParser(prog="seqline")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["serve", f"--port={port}", "--model_name=hp2", f"--model_base_path={base}"]
    )
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(cli.run_serve(args, stop=stop)))
    thread.start()
    try:
        with PredictionClient(f"127.0.0.1:{port}", "hp2") as client:
            client.wait_until_available(timeout=60.0)
            y = client.predict({"x": np.array([1.0], np.float32)})["y"]
        np.testing.assert_allclose(y, [2.5])
    finally:
        stop.set()
        thread.join(timeout=60.0)
    assert codes == [cli.EXIT_OK]


@pytest.fixture
def grpc_experiments_unset(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """GRPC_EXPERIMENTS unset for the test and restored after it. prefer_low_latency_grpc
    writes os.environ itself, and monkeypatch.delenv of an unset variable records nothing, so
    without the setenv first its value would leak into every later test and subprocess."""
    monkeypatch.setenv(GRPC_EXPERIMENTS_VARIABLE, "recorded")
    monkeypatch.delenv(GRPC_EXPERIMENTS_VARIABLE)
    return monkeypatch


def test_low_latency_grpc_client_is_chosen_only_before_grpc_loads(
    grpc_experiments_unset: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch = grpc_experiments_unset
    monkeypatch.delitem(sys.modules, "grpc", raising=False)
    assert prefer_low_latency_grpc()
    assert os.environ[GRPC_EXPERIMENTS_VARIABLE] == LOW_LATENCY_GRPC_EXPERIMENTS
    monkeypatch.setenv(GRPC_EXPERIMENTS_VARIABLE, "")  # the caller's choice, even empty, stays
    assert not prefer_low_latency_grpc()
    assert os.environ[GRPC_EXPERIMENTS_VARIABLE] == ""
    monkeypatch.delenv(GRPC_EXPERIMENTS_VARIABLE)
    monkeypatch.setitem(sys.modules, "grpc", object())  # too late: gRPC read it already
    assert not prefer_low_latency_grpc()
    assert GRPC_EXPERIMENTS_VARIABLE not in os.environ
    monkeypatch.delitem(sys.modules, "grpc")
    # A grpcio release whose experiment names were not checked keeps its defaults.
    monkeypatch.setattr(grpc_experiments, "_grpcio_release", lambda: (1, 999))
    assert not prefer_low_latency_grpc()
    assert GRPC_EXPERIMENTS_VARIABLE not in os.environ


def test_a_fresh_process_predicts_with_the_low_latency_grpc_client(server: Served) -> None:
    import subprocess
    import sys

    script = (
        "import os, numpy as np\n"
        "from seqline.serving.client.client import PredictionClient\n"
        f"with PredictionClient({server.grpc_target!r}, 'half_plus_two') as client:\n"
        "    y = client.predict({'x': np.array([1.0, 3.0], np.float32)})['y']\n"
        "print(os.environ['GRPC_EXPERIMENTS'], y.tolist())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != GRPC_EXPERIMENTS_VARIABLE}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [LOW_LATENCY_GRPC_EXPERIMENTS, "[2.5,", "3.5]"]


def test_seqline_serve_chooses_the_low_latency_grpc_server(
    grpc_experiments_unset: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch = grpc_experiments_unset
    seen = []
    monkeypatch.delitem(sys.modules, "grpc", raising=False)

    def start_server(options):  # stands in for the server: records what grpc would read
        seen.append(os.environ.get(GRPC_EXPERIMENTS_VARIABLE))
        raise KeyboardInterrupt

    import seqline.serving.server.server as server_module

    monkeypatch.setattr(server_module, "start_server", start_server)
    with pytest.raises(KeyboardInterrupt):
        cli.main(["serve", "--model_base_path=/nonexistent", "--port=0"])
    assert seen == [LOW_LATENCY_GRPC_EXPERIMENTS]
