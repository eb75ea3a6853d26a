"""The TF-Serving-compatible model server: options, command-line flags, start/stop.

In-process (tests, notebooks, infra validation)::

    from seqline.serving.server import ServerOptions, start_server, FREE_PORT

    handle = start_server(ServerOptions(model_name="text", model_base_path="/models/text",
                                        port=0, rest_api_port=FREE_PORT))
    handle.wait_until_ready(timeout=60)
    ... grpc.insecure_channel(handle.grpc_target) / f"{handle.rest_url}/v1/models/text" ...
    handle.stop()

As a process: ``seqline serve --model_name=text --model_base_path=/models/text
--rest_api_port=8501`` (flags in tensorflow_model_server's vocabulary; see
add_server_arguments). This module imports neither TensorFlow nor grpc at import time, so a
CLI can build its parser cheaply; start_server imports them.
"""

from __future__ import annotations

import argparse
import logging
import threading
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from seqline.serving.errors import ServerConfigError
from seqline.serving.request_limits import (
    DEFAULT_MAX_JSON_DEPTH,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_REQUEST_ELEMENTS,
    RequestLimits,
)

if TYPE_CHECKING:
    from seqline.serving.batching import BatchScheduler
    from seqline.serving.metrics import ServerMetrics
    from seqline.serving.model_manager import ModelManager
    from seqline.serving.rest_service import RestServer

log = logging.getLogger(__name__)

FREE_PORT = -1  # rest_api_port: bind any free port (read ServerHandle.rest_port); 0 = REST off
DEFAULT_MODEL_NAME = "default"  # TF Serving's --model_name default


@dataclass(frozen=True)
class ServerOptions:
    """Server settings, named like tensorflow_model_server's flags.

    Models: ``model_base_path`` (+ ``model_name``, default "default") or ``model_config_file``
    (a ModelServerConfig text proto), not both.

    Attributes:
        port: gRPC port (default 8500; 0 = any free port).
        grpc_bind_address: gRPC interface (default 127.0.0.1; "0.0.0.0" exposes it).
        rest_api_port: REST port (default 0 = off, as TF Serving; FREE_PORT = any free port).
        rest_api_bind_address: REST interface (default 127.0.0.1).
        model_config_file_poll_wait_seconds: re-read the config file this often (0 = never).
        file_system_poll_wait_seconds: scan base paths for versions this often (default 1).
        enable_batching ... max_enqueued_batches: server-side batching (off by default).
        enable_model_warmup: replay assets.extra/tf_serving_warmup_requests (default on).
        max_num_load_retries: retries of a failed load of an unchanged directory (default 5).
        allow_version_labels_for_unavailable_models: let reloads label unloaded versions.
        grpc_max_threads: gRPC worker threads (default 64; with batching, requests wait in
            them for their batch, so allow at least the expected client concurrency).
        max_message_size_bytes: largest gRPC message / REST body accepted (default 256 MiB).
        max_request_elements, max_request_bytes: per-request budget over all input tensors,
            computed from their declared shapes before decoding (default 10^8 elements,
            1 GiB); over it is RESOURCE_EXHAUSTED. See seqline.serving.request_limits.
        max_json_depth: deepest REST JSON nesting accepted (default 100); deeper is
            INVALID_ARGUMENT.
    """

    port: int = 8500
    grpc_bind_address: str = "127.0.0.1"
    rest_api_port: int = 0
    rest_api_bind_address: str = "127.0.0.1"
    model_name: str | None = None
    model_base_path: str | None = None
    model_config_file: str | None = None
    model_config_file_poll_wait_seconds: float = 0.0
    file_system_poll_wait_seconds: float = 1.0
    enable_batching: bool = False
    max_batch_size: int = 32
    batch_timeout_micros: int = 1000
    num_batch_threads: int = 2
    max_enqueued_batches: int = 100
    enable_model_warmup: bool = True
    max_num_load_retries: int = 5
    allow_version_labels_for_unavailable_models: bool = False
    grpc_max_threads: int = 64
    max_message_size_bytes: int = 256 * 1024 * 1024
    max_request_elements: int = DEFAULT_MAX_REQUEST_ELEMENTS
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ServerConfigError(f"port: expected 0..65535 (0 = any free port), got {self.port}")
        if not (self.rest_api_port == FREE_PORT or 0 <= self.rest_api_port <= 65535):
            raise ServerConfigError(
                f"rest_api_port: expected 0..65535 (0 = REST off) or {FREE_PORT} (any free "
                f"port), got {self.rest_api_port}"
            )
        if self.rest_api_port not in (0, FREE_PORT) and self.rest_api_port == self.port:
            raise ServerConfigError(
                f"rest_api_port: expected a port other than the gRPC port {self.port}; pick "
                "another, e.g. 8501"
            )
        if bool(self.model_base_path) == bool(self.model_config_file):
            raise ServerConfigError(
                "models: expected exactly one of model_base_path (with model_name) or "
                f"model_config_file, got model_base_path={self.model_base_path!r} and "
                f"model_config_file={self.model_config_file!r}"
            )
        if self.model_config_file and self.model_name:
            raise ServerConfigError(
                "model_name: only used with model_base_path; with model_config_file the names "
                "come from the file"
            )
        for name in ("model_config_file_poll_wait_seconds", "file_system_poll_wait_seconds"):
            if getattr(self, name) < 0:
                raise ServerConfigError(f"{name}: expected >= 0 seconds, got {getattr(self, name)}")
        for name in ("max_batch_size", "num_batch_threads", "max_enqueued_batches",
                     "grpc_max_threads", "max_message_size_bytes", "max_request_elements",
                     "max_request_bytes", "max_json_depth"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ServerConfigError(f"{name}: expected >= 1, got {getattr(self, name)}")
        if self.batch_timeout_micros < 0 or self.max_num_load_retries < 0:
            raise ServerConfigError(
                "batch_timeout_micros and max_num_load_retries: expected >= 0, got "
                f"{self.batch_timeout_micros} and {self.max_num_load_retries}"
            )


def _bool_flag(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


_HELP = {
    "port": "gRPC port (default 8500; 0 = any free port)",
    "grpc_bind_address": "interface for gRPC (default 127.0.0.1; 0.0.0.0 for all)",
    "rest_api_port": "REST port (default 0 = REST off)",
    "rest_api_bind_address": "interface for REST (default 127.0.0.1)",
    "model_name": f"name of the model served from --model_base_path (default {DEFAULT_MODEL_NAME})",
    "model_base_path": "directory holding integer version subdirectories",
    "model_config_file": "ModelServerConfig text proto with one or more models",
    "model_config_file_poll_wait_seconds": "re-read --model_config_file this often (0 = never)",
    "file_system_poll_wait_seconds": "scan base paths for new versions this often (default 1)",
    "enable_batching": "merge concurrent Predict calls into one signature call",
    "max_batch_size": "batching: rows per merged call",
    "batch_timeout_micros": "batching: how long a batch waits to fill",
    "num_batch_threads": "batching: threads running batches",
    "max_enqueued_batches": "batching: queued batches per signature before UNAVAILABLE",
    "enable_model_warmup": "replay assets.extra/tf_serving_warmup_requests before serving",
    "max_num_load_retries": "retries of a failed load while the version directory is unchanged",
    "allow_version_labels_for_unavailable_models": "let config reloads label unloaded versions",
    "grpc_max_threads": "gRPC worker threads",
    "max_message_size_bytes": "largest gRPC message / REST body accepted",
    "max_request_elements": "per-request limit on input tensor elements (from declared shapes)",
    "max_request_bytes": "per-request limit on decoded input bytes (from declared shapes)",
    "max_json_depth": "deepest JSON nesting a REST request may have",
}


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds tensorflow_model_server's flags (``--port=8500`` or ``--port 8500``) to ``parser``.

    Booleans accept ``--enable_batching``, ``--enable_batching=true`` and ``=false``.
    """
    defaults = ServerOptions.__dataclass_fields__
    for f in fields(ServerOptions):
        default = defaults[f.name].default
        help_text = _HELP.get(f.name, "")
        if f.type in ("bool", bool):
            parser.add_argument(
                f"--{f.name}",
                type=_bool_flag,
                nargs="?",
                const=True,
                default=default,
                metavar="BOOL",
                help=f"{help_text} (default {str(default).lower()})",
            )
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            parser.add_argument(f"--{f.name}", type=kind, default=default, help=help_text)


def options_from_args(namespace: argparse.Namespace) -> ServerOptions:
    """ServerOptions from a namespace parsed with add_server_arguments (ServerConfigError)."""
    values: dict[str, Any] = {
        f.name: getattr(namespace, f.name)
        for f in fields(ServerOptions)
        if hasattr(namespace, f.name)
    }
    if values.get("model_base_path") and not values.get("model_name"):
        values["model_name"] = DEFAULT_MODEL_NAME
    return ServerOptions(**values)


class ServerHandle:
    """A running server: ports, the model manager, metrics; ``stop()`` shuts it down."""

    def __init__(
        self,
        grpc_server: Any,
        grpc_port: int,
        grpc_host: str,
        rest: RestServer | None,
        manager: ModelManager,
        metrics: ServerMetrics,
        batcher: BatchScheduler | None,
    ) -> None:
        self._grpc_server = grpc_server
        self.grpc_port = grpc_port
        self._grpc_host = grpc_host
        self._rest = rest
        self.rest_port: int | None = rest.port if rest is not None else None
        self.manager = manager
        self.metrics = metrics
        self.batcher = batcher
        self._stopped = threading.Event()

    @property
    def grpc_target(self) -> str:
        """ "host:port" for grpc.insecure_channel."""
        return f"{_url_host(self._grpc_host)}:{self.grpc_port}"

    @property
    def rest_url(self) -> str | None:
        """ "http://host:port" of the REST API, or None when REST is off."""
        if self._rest is None:
            return None
        return f"http://{_url_host(self._rest.server_address[0])}:{self.rest_port}"

    def wait_until_ready(self, timeout: float = 60.0) -> None:
        """Blocks until every configured model serves a version (TimeoutError otherwise)."""
        self.manager.wait_until_ready(timeout)

    def wait_until_available(
        self, name: str, version: int | None = None, timeout: float = 30.0
    ) -> bool:
        """True once ``name`` (``version``, or any) is AVAILABLE; False after ``timeout``."""
        return self.manager.wait_until_available(name, version, timeout)

    def stop(self, grace: float = 1.0) -> None:
        """Stops accepting requests, lets running ones finish (``grace`` s), unloads models."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._rest is not None:
            self._rest.stop()
        self._grpc_server.stop(grace).wait()
        if self.batcher is not None:
            self.batcher.close()
        self.manager.stop()

    def wait_for_termination(self) -> None:
        self._stopped.wait()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def start_server(options: ServerOptions) -> ServerHandle:
    """Starts gRPC (and REST) at once; models load in the background.

    Call ``handle.wait_until_ready()`` before sending traffic (tensorflow_model_server blocks
    its start the same way). Raises ServerConfigError for a bad config file or a port that
    cannot be bound.
    """
    from concurrent import futures

    import grpc
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    from seqline.serving.batching import BatchingOptions, BatchScheduler
    from seqline.serving.grpc_service import ModelServicer, PredictionServicer
    from seqline.serving.inference import InferenceService
    from seqline.serving.metrics import ServerMetrics
    from seqline.serving.model_config import read_model_config_file, single_model_config
    from seqline.serving.model_manager import ModelManager
    from seqline.serving.rest_service import RestServer

    if options.model_config_file:
        configs = read_model_config_file(options.model_config_file)
    else:
        assert options.model_base_path is not None
        configs = [
            single_model_config(options.model_name or DEFAULT_MODEL_NAME, options.model_base_path)
        ]
    metrics = ServerMetrics()
    manager = ModelManager(
        configs,
        file_system_poll_wait_seconds=options.file_system_poll_wait_seconds,
        enable_warmup=options.enable_model_warmup,
        max_num_load_retries=options.max_num_load_retries,
        metrics=metrics,
        model_config_file=options.model_config_file,
        model_config_file_poll_wait_seconds=options.model_config_file_poll_wait_seconds,
        allow_version_labels_for_unavailable_models=options.allow_version_labels_for_unavailable_models,
    )
    batcher = None
    if options.enable_batching:
        batcher = BatchScheduler(
            BatchingOptions(
                max_batch_size=options.max_batch_size,
                batch_timeout_micros=options.batch_timeout_micros,
                num_batch_threads=options.num_batch_threads,
                max_enqueued_batches=options.max_enqueued_batches,
            ),
            metrics=metrics,
        )
    limits = RequestLimits(
        max_elements=options.max_request_elements,
        max_bytes=options.max_request_bytes,
        max_json_depth=options.max_json_depth,
    )
    service = InferenceService(manager, batcher, metrics, limits)
    grpc_server = grpc.server(
        futures.ThreadPoolExecutor(
            max_workers=options.grpc_max_threads, thread_name_prefix="seqline-grpc"
        ),
        options=[
            ("grpc.max_receive_message_length", options.max_message_size_bytes),
            ("grpc.max_send_message_length", options.max_message_size_bytes),
            # Without this a second server could silently share the port with the first.
            ("grpc.so_reuseport", 0),
        ],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(service), grpc_server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(manager), grpc_server)
    host = options.grpc_bind_address
    address = f"[{host}]:{options.port}" if ":" in host else f"{host}:{options.port}"
    try:
        grpc_port = grpc_server.add_insecure_port(address)
    except RuntimeError as e:
        grpc_port = 0
        cause: Exception | None = e
    else:
        cause = None
    if not grpc_port:
        raise ServerConfigError(
            f"port: cannot bind gRPC to {address} ({cause or 'address in use?'}); choose a free "
            "port or stop the process using it"
        )
    rest = None
    if options.rest_api_port != 0:
        rest_port = 0 if options.rest_api_port == FREE_PORT else options.rest_api_port
        try:
            rest = RestServer(
                (options.rest_api_bind_address, rest_port),
                manager,
                service,
                metrics,
                max_body_bytes=options.max_message_size_bytes,
            )
        except OSError as e:
            grpc_server.stop(0)
            raise ServerConfigError(
                f"rest_api_port: cannot bind REST to {options.rest_api_bind_address}:{rest_port} "
                f"({e.strerror}); choose a free port"
            ) from e
    grpc_server.start()
    if rest is not None:
        rest.start()
    manager.start()
    log.info(
        "serving %s: gRPC on %s:%d%s",
        ", ".join(c.name for c in configs),
        options.grpc_bind_address,
        grpc_port,
        f", REST on {options.rest_api_bind_address}:{rest.port}" if rest else "",
    )
    return ServerHandle(
        grpc_server, grpc_port, options.grpc_bind_address, rest, manager, metrics, batcher
    )


def serve(options: ServerOptions, ready_timeout: float = 600.0) -> None:
    """Runs a server until SIGINT/SIGTERM (the ``seqline serve`` command)."""
    import signal

    handle = start_server(options)
    stop_requested = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: shutting down", signum)
        stop_requested.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
    try:
        try:
            handle.wait_until_ready(ready_timeout)
            log.info("all models available; serving on %s", handle.grpc_target)
        except TimeoutError as e:
            log.warning("%s (still polling)", e)
        stop_requested.wait()
    finally:
        handle.stop()
