"""Benchmark: the server's Python cost of one batch-1 Predict, without the network.

    python bench/serving_path.py [--calls 3000] [--profile]

Builds bench/serving.py's text model, loads it in a ModelManager, and times, interleaved in
rounds (p50 of single calls, microseconds): the signature's public call (bench/serving.py's
"in-process" line), the SignatureRunner alone, predict_on with the run replaced by canned
outputs (decode, checks, encode), InferenceService.predict, and PredictionServicer.Predict
from wire bytes to wire bytes; then a gRPC round trip over 127.0.0.1 to a sync Python server in
another process whose Predict returns a canned response (the transport floor: grpcio's client
and server doing no work), client and server with the GRPC_EXPERIMENTS value PredictionClient
and `seqline serve` choose (the floor), then with grpcio's EventEngine defaults.
gRPC p50 minus in-process p50 is roughly (servicer - in-process) + the floor. ``--profile``
adds a cProfile of the servicer loop. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent import futures
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from serving import TEXT, build_text_model  # noqa: E402


def p50_us(calls: dict[str, Callable[[], Any]], total: int, rounds: int = 10) -> dict[str, float]:
    """p50 microseconds of single calls, the functions taking turns in ``rounds`` blocks."""
    for call in calls.values():
        for _ in range(100):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            for _ in range(max(1, total // rounds)):
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
    return {name: float(np.percentile(t, 50)) * 1e6 for name, t in times.items()}


def _canned_server(response_bytes: bytes, ports: Any, experiments: str) -> None:
    """Child process: a sync gRPC server whose Predict returns ``response_bytes`` at once, with
    GRPC_EXPERIMENTS=``experiments``."""
    os.environ["GRPC_EXPERIMENTS"] = experiments
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    response = predict_pb2.PredictResponse.FromString(response_bytes)

    class Canned(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802 (gRPC method name)
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Canned(), server)
    ports.put(server.add_insecure_port("127.0.0.1:0"))
    server.start()
    server.wait_for_termination()


def _floor_client(port: int, request_bytes: bytes, total: int, experiments: str, out: Any) -> None:
    """Child process: times canned Predicts with GRPC_EXPERIMENTS=``experiments`` (set before
    grpc loads, the only time gRPC reads it); puts (p50 us, client CPU us per call)."""
    os.environ["GRPC_EXPERIMENTS"] = experiments
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest.FromString(request_bytes)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        cpu = time.process_time()
        p50 = p50_us({"floor": lambda: stub.Predict(request, timeout=60)}, total)["floor"]
        out.put((p50, (time.process_time() - cpu) / (total + 100) * 1e6))


def transport_floor_us(
    response: Any, request: Any, total: int, experiments: dict[str, str]
) -> dict[str, tuple[float, float]]:
    """{name: (p50 us, client CPU us per call)} of gRPC Predicts from a client process to a
    server process whose servicer returns ``response`` at once (the transport's share of the
    gRPC line), both with GRPC_EXPERIMENTS=value, for each (name, value) of ``experiments``,
    one pair of processes after another."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    figures = {}
    for name, value in experiments.items():
        ports, out = spawn.Queue(), spawn.Queue()
        server = spawn.Process(
            target=_canned_server, args=(response.SerializeToString(), ports, value)
        )
        server.start()
        try:
            port = ports.get(timeout=120)
            client = spawn.Process(
                target=_floor_client, args=(port, request.SerializeToString(), total, value, out)
            )
            client.start()
            figures[name] = out.get(timeout=600)
            client.join(30)
        finally:
            server.terminate()
            server.join(30)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--profile", action="store_true", help="cProfile the servicer loop")
    args = parser.parse_args(argv)

    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from seqline.serving.grpc_experiments import LOW_LATENCY_GRPC_EXPERIMENTS
    from seqline.serving.model_config import single_model_config
    from seqline.serving.server.grpc_service import PredictionServicer
    from seqline.serving.server.inference import InferenceService, predict_on
    from seqline.serving.server.metrics import ServerMetrics
    from seqline.serving.server.model_manager import ModelManager
    from seqline.serving.tensor_codec import from_ndarray

    base = tempfile.mkdtemp(prefix="seqline-bench-path-")
    build_text_model(os.path.join(base, "1"))
    metrics = ServerMetrics()
    manager = ModelManager(
        [single_model_config("bench", base)], metrics=metrics, file_system_poll_wait_seconds=0
    )
    manager.load_initial()
    service = InferenceService(manager, None, metrics)
    servicer = PredictionServicer(service)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "bench"
    request.model_spec.signature_name = "predict_text"
    text = np.array([TEXT.encode()], dtype=object)
    from_ndarray(text, request.inputs["text"])
    wire = request.SerializeToString()
    servable = manager.resolve("bench")
    runner = servable.signatures["predict_text"]
    outputs = runner({"text": text})
    signature = tf.saved_model.load(os.path.join(base, "1")).signatures["predict_text"]
    tf_text = tf.constant([TEXT])

    def in_process() -> None:
        for tensor in signature(text=tf_text).values():
            tensor.numpy()

    def servicer_call() -> bytes:
        parsed = predict_pb2.PredictRequest.FromString(wire)
        return servicer.Predict(parsed, None).SerializeToString()

    figures = p50_us(
        {
            "in-process (public signature call)": in_process,
            "SignatureRunner": lambda: runner({"text": text}),
            "predict_on, canned run": lambda: predict_on(
                servable, request, lambda s, r, i: outputs, service.limits.budget()
            ),
            "InferenceService.predict": lambda: service.predict(request),
            "servicer, wire to wire": servicer_call,
        },
        args.calls,
    )
    response = predict_pb2.PredictResponse.FromString(servicer_call())
    floors = transport_floor_us(
        response,
        request,
        args.calls,
        {
            "gRPC round trip, canned response": LOW_LATENCY_GRPC_EXPERIMENTS,
            "  same, grpcio's EventEngine default": "",
        },
    )
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
    for name, us in figures.items():
        print(f"  {name:<36} p50 {us:8.1f} us")
    for name, (us, cpu) in floors.items():
        print(f"  {name:<36} p50 {us:8.1f} us   client CPU {cpu:6.1f} us/call")
    python_share = figures["servicer, wire to wire"] - figures["in-process (public signature call)"]
    floor = floors["gRPC round trip, canned response"][0]
    print(f"  expected gRPC - in-process ~ {python_share:.0f} + {floor:.0f} = "
          f"{python_share + floor:.0f} us (aim <= 500)")  # fmt: skip
    if args.profile:
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.calls):
            servicer_call()
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
