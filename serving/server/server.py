"""The TF-Serving-compatible model server: options, start, drain and stop.

In-process (tests, notebooks, infra validation)::

    from seqline.serving.server.server import ServerOptions, start_server, FREE_PORT

    handle = start_server(ServerOptions(model_name="text", model_base_path="/models/text",
                                        port=0, rest_api_port=FREE_PORT))
    handle.wait_until_ready(timeout=60)
    ... grpc.insecure_channel(handle.grpc_target) / f"{handle.rest_url}/v1/models/text" ...
    handle.stop()

As a process: ``seqline serve --model_name=text --model_base_path=/models/text
--rest_api_port=8501`` (tensorflow_model_server's flags; seqline.serving.server.server_flags). This
module imports neither TensorFlow nor grpc at import time, so a CLI can build its parser
cheaply; start_server imports them.

Startup follows tensorflow_model_server: config files are read, then every configured model
gets its first load attempt, and only then are the ports opened. A client that connects
during a restart is refused (gRPC UNAVAILABLE, a retryable code) instead of being answered
NOT_FOUND by a server that has not loaded its models yet. Shutdown (``ServerHandle.stop``,
SIGTERM in ``seqline serve``) closes the REST listener (connections the kernel had already
accepted are still served), answers new gRPC calls UNAVAILABLE without running them, lets
the requests already running finish for up to ``shutdown_grace_seconds``, only then stops
the gRPC server (closing its port), and unloads the models.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from seqline.serving.errors import InitialLoadError, ServerConfigError
from seqline.serving.request_limits import (
    DEFAULT_MAX_JSON_DEPTH,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_REQUEST_ELEMENTS,
    RequestLimits,
)

if TYPE_CHECKING:
    from seqline.serving.server.batching import BatchScheduler
    from seqline.serving.server.grpc_service import DrainGate
    from seqline.serving.server.metrics import ServerMetrics
    from seqline.serving.server.model_manager import ModelManager
    from seqline.serving.server.rest_service import RestServer

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
        rest_api_num_threads: REST requests processed at once (0 = 4 x CPUs, TF Serving's).
        rest_api_timeout_in_ms: REST connection idle/read timeout and longest wait for a
            processing thread (default 30000).
        rest_api_max_connections: REST connections open at once, each holding a thread;
            one more is answered 503 and closed (0 = half the file-descriptor limit, at most
            1024). Not a TF Serving flag.
        model_config_file_poll_wait_seconds: re-read the config file this often (0 = never).
        file_system_poll_wait_seconds: scan base paths for versions this often (default 1).
        enable_batching ... max_enqueued_batches: server-side batching (off by default);
            ``batching_parameters_file`` (BatchingParameters text proto) overrides them and
            adds ``allowed_batch_sizes`` / ``pad_variable_length_inputs``.
            ``num_batch_threads`` 0 (the default) is one per CPU core.
        monitoring_config_file: MonitoringConfig text proto: Prometheus on/off and path
            (without it metrics are served at /monitoring/prometheus/metrics).
        ssl_config_file: SSLConfig text proto: TLS on gRPC and REST.
        tensorflow_session_parallelism: TensorFlow intra- and inter-op threads (0 = auto);
            tensorflow_intra_op_parallelism / tensorflow_inter_op_parallelism override each.
        tensorflow_executor: "auto" (default: TensorFlow's single-threaded executor for the
            signature call on hosts without GPUs, lowest batch-1 latency) or "default"
            (TensorFlow's own executor, whose inter-op pool runs a big graph's independent
            branches in parallel); process-wide, like the thread pools.
        tensorflow_runtime: "session" (default: each version's MetaGraph is loaded into a
            tf.compat.v1.Session, as tensorflow_model_server does, and signatures run as
            Session callables, on the request's thread with tensorflow_executor "auto" on
            hosts without GPUs: ~0.1-0.25 ms less per batch-1 Predict than "function"
            for bench/serving.py's model, as no inter-op pool thread is woken; a model the
            Session cannot run falls back to "function", logged), "session_strict" (no
            fallback: such a model fails to load, as in tensorflow_model_server; infra_validate
            uses it) or "function" (the SavedModel
            loaded with tf.saved_model.load, signatures called as eager functions).
        saved_model_tags: comma-separated tags of the MetaGraph to load (default "serve").
        enable_model_warmup: replay assets.extra/tf_serving_warmup_requests (default on).
        max_num_load_retries: retries of a failed load of an unchanged directory (default 5).
        load_retry_interval_micros: least time between those retries (default 60 s).
        allow_version_labels_for_unavailable_models: let reloads label unloaded versions.
        grpc_max_threads: gRPC worker threads (default 64; with batching, requests wait in
            them for their batch, so allow at least the expected client concurrency).
        grpc_channel_arguments: "key=value,key=value" gRPC server arguments (integers passed
            as integers), e.g. "grpc.max_receive_message_length=1073741824"; they override
            the defaults below.
        max_message_size_bytes: largest gRPC message / REST body accepted (default 256 MiB).
        max_request_elements, max_request_bytes: per-request budget over all input tensors,
            computed from their declared shapes before decoding (default 10^8 elements,
            1 GiB); over it is RESOURCE_EXHAUSTED. See seqline.serving.request_limits.
        max_json_depth: deepest REST JSON nesting accepted (default 100); deeper is
            INVALID_ARGUMENT.
        shutdown_grace_seconds: how long stopping waits for in-flight requests (default 10).
    """

    port: int = 8500
    grpc_bind_address: str = "127.0.0.1"
    rest_api_port: int = 0
    rest_api_bind_address: str = "127.0.0.1"
    rest_api_num_threads: int = 0
    rest_api_timeout_in_ms: int = 30000
    rest_api_max_connections: int = 0
    model_name: str | None = None
    model_base_path: str | None = None
    model_config_file: str | None = None
    model_config_file_poll_wait_seconds: float = 0.0
    file_system_poll_wait_seconds: float = 1.0
    enable_batching: bool = False
    batching_parameters_file: str | None = None
    max_batch_size: int = 32
    batch_timeout_micros: int = 0
    num_batch_threads: int = 0  # one per CPU core
    max_enqueued_batches: int = 100
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False
    monitoring_config_file: str | None = None
    ssl_config_file: str | None = None
    tensorflow_session_parallelism: int = 0
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0
    tensorflow_executor: str = "auto"
    tensorflow_runtime: str = "session"
    saved_model_tags: str = "serve"
    enable_model_warmup: bool = True
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 60_000_000
    allow_version_labels_for_unavailable_models: bool = False
    grpc_max_threads: int = 64
    grpc_channel_arguments: str = ""
    max_message_size_bytes: int = 256 * 1024 * 1024
    max_request_elements: int = DEFAULT_MAX_REQUEST_ELEMENTS
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    shutdown_grace_seconds: float = 10.0

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
        for name in ("model_config_file_poll_wait_seconds", "file_system_poll_wait_seconds",
                     "shutdown_grace_seconds"):  # fmt: skip
            if getattr(self, name) < 0:
                raise ServerConfigError(f"{name}: expected >= 0 seconds, got {getattr(self, name)}")
        for name in ("max_batch_size", "max_enqueued_batches", "grpc_max_threads",
                     "max_message_size_bytes", "max_request_elements", "max_request_bytes",
                     "max_json_depth", "rest_api_timeout_in_ms"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ServerConfigError(f"{name}: expected >= 1, got {getattr(self, name)}")
        for name in ("batch_timeout_micros", "num_batch_threads", "max_num_load_retries",
                     "rest_api_num_threads", "rest_api_max_connections",
                     "tensorflow_session_parallelism", "tensorflow_intra_op_parallelism",
                     "tensorflow_inter_op_parallelism"):  # fmt: skip
            if getattr(self, name) < 0:
                raise ServerConfigError(f"{name}: expected >= 0, got {getattr(self, name)}")
        if self.tensorflow_executor not in ("auto", "default"):
            raise ServerConfigError(
                "tensorflow_executor: expected auto (the single-threaded executor on hosts "
                f"without GPUs) or default, got {self.tensorflow_executor!r}"
            )
        if self.tensorflow_runtime not in ("session", "session_strict", "function"):
            raise ServerConfigError(
                "tensorflow_runtime: expected session (signatures run as TF1 Session callables, "
                "as in TF Serving), session_strict (the same, and a model that cannot run so "
                f"fails to load) or function (eager calls), got {self.tensorflow_runtime!r}"
            )
        if not self.tags:
            raise ServerConfigError(
                f"saved_model_tags: expected comma-separated tags such as 'serve', got "
                f"{self.saved_model_tags!r}"
            )
        parse_channel_arguments(self.grpc_channel_arguments)

    @property
    def tags(self) -> tuple[str, ...]:
        """saved_model_tags as a tuple ("serve" when empty, as TF Serving)."""
        return tuple(t.strip() for t in (self.saved_model_tags or "serve").split(",") if t.strip())


def parse_channel_arguments(text: str) -> list[tuple[str, int | str]]:
    """ "a=1,b=x" -> [("a", 1), ("b", "x")], the way tensorflow_model_server parses
    --grpc_channel_arguments (a value that parses as an integer is passed as one)."""
    arguments: list[tuple[str, int | str]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ServerConfigError(
                f"grpc_channel_arguments: expected key=value pairs separated by commas, got "
                f"{item!r} (e.g. grpc.max_connection_age_ms=2000)"
            )
        value = value.strip()
        try:
            arguments.append((key.strip(), int(value)))
        except ValueError:
            arguments.append((key.strip(), value))
    return arguments


class ServerHandle:
    """A running server: ports, the model manager, metrics; ``stop()`` drains and stops it."""

    def __init__(
        self,
        grpc_server: Any,
        grpc_port: int,
        grpc_host: str,
        rest: RestServer | None,
        manager: ModelManager,
        metrics: ServerMetrics,
        batcher: BatchScheduler | None,
        grace: float,
        tls: bool,
        grpc_gate: DrainGate,
    ) -> None:
        self._grpc_server = grpc_server
        self._grpc_gate = grpc_gate
        self.grpc_port = grpc_port
        self._grpc_host = grpc_host
        self._rest = rest
        self.rest_port: int | None = rest.port if rest is not None else None
        self.manager = manager
        self.metrics = metrics
        self.batcher = batcher
        self.grace = grace
        self.tls = tls
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        # Set by stop() once no new request is taken (REST listener closed, gRPC gate shut),
        # before it waits for the running ones.
        self.draining = threading.Event()

    @property
    def grpc_target(self) -> str:
        """ "host:port" for grpc.insecure_channel / grpc.secure_channel."""
        return f"{_url_host(self._grpc_host)}:{self.grpc_port}"

    @property
    def rest_url(self) -> str | None:
        """ "http(s)://host:port" of the REST API, or None when REST is off."""
        if self._rest is None:
            return None
        host = _url_host(str(self._rest.server_address[0]))
        return f"{self._rest.scheme}://{host}:{self.rest_port}"

    def wait_until_ready(self, timeout: float = 60.0) -> None:
        """Blocks until every configured model serves a version (TimeoutError otherwise)."""
        self.manager.wait_until_ready(timeout)

    def wait_until_available(
        self, name: str, version: int | None = None, timeout: float = 30.0
    ) -> bool:
        """True once ``name`` (``version``, or any) is AVAILABLE; False after ``timeout``."""
        return self.manager.wait_until_available(name, version, timeout)

    def stop(self, grace: float | None = None) -> bool:
        """Drains and stops the server; returns True if every request finished in time.

        1. The REST listener closes (new connections are refused); connections the kernel had
           already accepted are taken and their requests answered (a first request has
           FIRST_REQUEST_WAIT_SECONDS to arrive). New gRPC calls are answered UNAVAILABLE,
           not run. ``draining`` is set.
        2. Requests already running (gRPC and REST) finish, for up to ``grace`` seconds
           (default: the server's shutdown_grace_seconds); their REST responses say
           ``Connection: close``, idle keep-alive connections are closed.
        3. As soon as no gRPC call runs (REST may still drain), the gRPC server stops (its
           port closes and open connections get GOAWAY); what still ran at the deadline is
           cancelled. Then the batcher stops and the models unload.

        gRPC's port stays open until its running calls end because grpcio's
        ``server.stop(grace)`` cancels (CANCELLED) calls that had reached the server but not
        a handler yet, instead of refusing them with a code a client may retry.
        """
        with self._stop_lock:
            if self._stopped.is_set():
                return True
            grace = self.grace if grace is None else grace
            deadline = time.monotonic() + grace
            self._grpc_gate.close()
            if self._rest is not None:
                self._rest.stop_accepting()
            self.draining.set()
            log.info(
                "shutdown: no longer accepting requests; draining in-flight ones for up to %g s",
                grace,
            )
            # REST drains beside gRPC: gRPC's port closes (GOAWAY, so clients on open
            # connections move to another instance) as soon as its own calls are done, not
            # after the slowest REST connection.
            rest_result: dict[str, bool] = {}
            rest_thread = None
            if self._rest is not None:
                rest = self._rest
                rest_thread = threading.Thread(
                    target=lambda: rest_result.update(drained=rest.drain(deadline)),
                    name="rest-drain",
                    daemon=True,
                )
                rest_thread.start()
            grpc_drained = self._grpc_gate.wait_idle(deadline)
            # Nothing runs a model now (unless the deadline passed): calls still reaching the
            # port are refused by the gate; the grace left lets those answers go out.
            grpc_done = self._grpc_server.stop(max(0.0, deadline - time.monotonic()))
            grpc_done.wait(max(0.0, deadline - time.monotonic()) + 1.0)
            if rest_thread is not None:
                rest_thread.join(max(0.0, deadline - time.monotonic()) + 1.0)
            rest_drained = rest_result.get("drained", rest_thread is None)
            if self.batcher is not None:
                self.batcher.close()
            self.manager.stop()
            self._stopped.set()
            drained = rest_drained and grpc_drained
            if not drained:
                log.warning("shutdown: requests still running after %.1f s were cut", grace)
            return drained

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


def configure_tensorflow_threads(options: ServerOptions) -> tuple[int, int]:
    """Applies the TensorFlow thread-pool flags; returns the (intra, inter) op threads in effect.

    As in TF Serving, tensorflow_session_parallelism sets both pools and the specific flags
    override it; 0 leaves TensorFlow's automatic choice. The pools can only be sized before
    TensorFlow's first op: later (a server started inside a process that already ran
    TensorFlow) a different size is logged as not applied.
    """
    import tensorflow as tf

    threading_config = tf.config.threading
    intra = options.tensorflow_intra_op_parallelism or options.tensorflow_session_parallelism
    inter = options.tensorflow_inter_op_parallelism or options.tensorflow_session_parallelism
    for wanted, getter, setter, name in (
        (intra, threading_config.get_intra_op_parallelism_threads,
         threading_config.set_intra_op_parallelism_threads, "intra"),
        (inter, threading_config.get_inter_op_parallelism_threads,
         threading_config.set_inter_op_parallelism_threads, "inter"),
    ):  # fmt: skip
        if wanted and getter() != wanted:
            try:
                setter(wanted)
            except RuntimeError:
                log.warning(
                    "tensorflow_%s_op_parallelism=%d not applied: TensorFlow is already "
                    "initialised in this process (start the server in a fresh process)",
                    name,
                    wanted,
                )
    return threading_config.get_intra_op_parallelism_threads(), (
        threading_config.get_inter_op_parallelism_threads()
    )


def _max_response_bytes(channel_options: dict[str, Any]) -> int:
    """What gRPC would refuse to send (grpc.max_send_message_length; -1 = no limit): the
    largest response, gRPC or REST, the service encodes at all."""
    limit = int(channel_options["grpc.max_send_message_length"])
    return limit if limit >= 0 else 1 << 62


def _batching_options(options: ServerOptions) -> Any:
    from seqline.serving.server.batching import BatchingOptions
    from seqline.serving.server.server_config_files import read_batching_parameters

    values: dict[str, Any] = {
        "max_batch_size": options.max_batch_size,
        "batch_timeout_micros": options.batch_timeout_micros,
        "num_batch_threads": options.num_batch_threads,
        "max_enqueued_batches": options.max_enqueued_batches,
        "allowed_batch_sizes": tuple(options.allowed_batch_sizes),
        "pad_variable_length_inputs": options.pad_variable_length_inputs,
    }
    if options.batching_parameters_file:
        parameters = read_batching_parameters(options.batching_parameters_file)
        for name in ("max_batch_size", "batch_timeout_micros", "num_batch_threads",
                     "max_enqueued_batches"):  # fmt: skip
            value = getattr(parameters, name)
            if value is not None:
                values[name] = value
        values["allowed_batch_sizes"] = parameters.allowed_batch_sizes
        values["pad_variable_length_inputs"] = parameters.pad_variable_length_inputs
        for name in parameters.ignored:
            log.warning("batching_parameters_file: %s is accepted and ignored", name)
    if values["num_batch_threads"] == 0:
        # One batch per core at a time: Session runs release the GIL, so with fewer threads
        # a core idles while the other runs a batch (docs/operations.md, "When to turn
        # batching on"); TF Serving's batching guide starts CPU-only servers the same way.
        values["num_batch_threads"] = os.cpu_count() or 1
    for name in ("max_batch_size", "num_batch_threads", "max_enqueued_batches"):
        if values[name] < 1:
            raise ServerConfigError(f"batching: {name} expected >= 1, got {values[name]}")
    return BatchingOptions(**values)


def _initial_load_failures(manager: Any, configs: list[Any]) -> list[str]:
    """The versions whose first load failed ("{name: m version: 2} due to error: ..."), as
    GetModelStatus reports them after ``manager.load_initial()``: END with an error code."""
    from seqline.serving.errors import Code, ServingError
    from seqline.serving.server.model_manager import END

    failed = []
    for config in configs:
        try:
            statuses = manager.status(config.name)
        except ServingError:  # no version found yet: waited for, as TF Serving does
            continue
        for status in sorted(statuses, key=lambda s: s.version):
            if status.state == END and status.error_code != Code.OK:
                failed.append(
                    f"{{name: {config.name} version: {status.version}}} due to error: "
                    f"{status.error_message} (base path {config.base_path})"
                )
    return failed


def start_server(options: ServerOptions) -> ServerHandle:
    """Loads the models (first attempt of each), then opens the gRPC (and REST) ports.

    Raises ServerConfigError for a bad config file (models, batching, monitoring, SSL, gRPC
    arguments) or a port that cannot be bound, and its subclass InitialLoadError (no port
    opened) when a version aspired at start-up fails its first load, as tensorflow_model_server
    fails its start. A base path with no version yet is not an error: the server starts and
    loads the first version when it appears. Call ``handle.wait_until_ready()`` when a test
    needs every model AVAILABLE.
    """
    from concurrent import futures

    import grpc
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    from seqline.serving.model_config import read_model_config_file, single_model_config
    from seqline.serving.server.batching import BatchScheduler
    from seqline.serving.server.grpc_service import DrainGate, ModelServicer, PredictionServicer
    from seqline.serving.server.inference import InferenceService
    from seqline.serving.server.metrics import ServerMetrics
    from seqline.serving.server.model_manager import ModelManager
    from seqline.serving.server.rest_service import METRICS_PATH, RestServer
    from seqline.serving.server.server_config_files import read_monitoring_config, read_ssl_config
    from seqline.serving.server.tls import grpc_server_credentials, rest_ssl_context

    # Every file first: a typo fails the start before anything loads or binds.
    if options.model_config_file:
        configs = read_model_config_file(options.model_config_file)
    else:
        assert options.model_base_path is not None
        configs = [
            single_model_config(options.model_name or DEFAULT_MODEL_NAME, options.model_base_path)
        ]
    batching = _batching_options(options) if options.enable_batching else None
    metrics_path: str | None = METRICS_PATH
    if options.monitoring_config_file:
        monitoring = read_monitoring_config(options.monitoring_config_file)
        metrics_path = monitoring.prometheus_path if monitoring.prometheus_enabled else None
    ssl_config = read_ssl_config(options.ssl_config_file) if options.ssl_config_file else None
    rest_context = rest_ssl_context(ssl_config) if ssl_config else None  # validates the PEMs
    channel_options = dict(
        [
            ("grpc.max_receive_message_length", options.max_message_size_bytes),
            ("grpc.max_send_message_length", options.max_message_size_bytes),
            # Without this a second server could silently share the port with the first.
            ("grpc.so_reuseport", 0),
            *parse_channel_arguments(options.grpc_channel_arguments),
        ]
    )
    intra, inter = configure_tensorflow_threads(options)
    log.info("TensorFlow threads: intra-op %d, inter-op %d (0 = automatic)", intra, inter)
    from seqline.serving.server.signature_runner import choose_executor

    choose_executor(options.tensorflow_executor)

    metrics = ServerMetrics()
    manager = ModelManager(
        configs,
        file_system_poll_wait_seconds=options.file_system_poll_wait_seconds,
        enable_warmup=options.enable_model_warmup,
        max_num_load_retries=options.max_num_load_retries,
        load_retry_interval_seconds=max(options.load_retry_interval_micros, 0) / 1e6,
        saved_model_tags=options.tags,
        tensorflow_runtime=options.tensorflow_runtime,
        metrics=metrics,
        model_config_file=options.model_config_file,
        model_config_file_poll_wait_seconds=options.model_config_file_poll_wait_seconds,
        allow_version_labels_for_unavailable_models=options.allow_version_labels_for_unavailable_models,
    )
    # tensorflow_model_server opens its ports only after the first load of every model: a
    # client retrying through a restart sees UNAVAILABLE, never NOT_FOUND. And it fails its
    # start when an aspired version does not load, so the orchestrator keeps the old instance
    # (a model with no version on disk yet is waited for, not an error).
    poll_error = manager.load_initial()
    if poll_error is not None:
        # The scan itself failed (not one version's load): models may never have been looked
        # at, so starting would answer NOT_FOUND for them until a later poll succeeded.
        manager.stop()
        raise InitialLoadError(
            "Failed to start server: the first scan of the model base paths failed with "
            f"{type(poll_error).__name__}: {poll_error}. Expected every configured base path "
            "to be listable and its versions loadable; fix the cause (the log above has the "
            "traceback) and start again. No port was opened"
        ) from poll_error
    failed = _initial_load_failures(manager, configs)
    if failed:
        manager.stop()
        raise InitialLoadError(
            f"Failed to start server: {len(failed)} servable(s) did not become available: "
            + "; ".join(failed)
            + ". Expected every aspired version to load at start-up; fix or remove the broken "
            "version directory (or pin a version that loads in the model config) and start "
            "again. No port was opened, so clients keep using the running instance"
        )
    batcher = BatchScheduler(batching, metrics=metrics) if batching is not None else None
    limits = RequestLimits(
        max_elements=options.max_request_elements,
        max_bytes=options.max_request_bytes,
        max_json_depth=options.max_json_depth,
        max_response_bytes=_max_response_bytes(channel_options),
    )
    service = InferenceService(manager, batcher, metrics, limits)
    grpc_server = grpc.server(
        futures.ThreadPoolExecutor(
            max_workers=options.grpc_max_threads, thread_name_prefix="seqline-grpc"
        ),
        options=list(channel_options.items()),
    )
    gate = DrainGate()  # closed by ServerHandle.stop: new calls then answer UNAVAILABLE
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(service, gate), grpc_server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelServicer(manager, gate), grpc_server
    )

    def give_up(error: ServerConfigError) -> ServerConfigError:
        if batcher is not None:
            batcher.close()
        manager.stop()
        return error

    host = options.grpc_bind_address
    address = f"[{host}]:{options.port}" if ":" in host else f"{host}:{options.port}"
    cause: Exception | None = None
    try:
        if ssl_config is not None:
            grpc_port = grpc_server.add_secure_port(address, grpc_server_credentials(ssl_config))
        else:
            grpc_port = grpc_server.add_insecure_port(address)
    except RuntimeError as e:
        grpc_port, cause = 0, e
    if not grpc_port:
        raise give_up(
            ServerConfigError(
                f"port: cannot bind gRPC to {address} ({cause or 'address in use?'}); choose a "
                "free port or stop the process using it"
            )
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
                metrics_path=metrics_path,
                num_threads=options.rest_api_num_threads,
                timeout_seconds=options.rest_api_timeout_in_ms / 1000,
                ssl_context=rest_context,
                max_connections=options.rest_api_max_connections,
            )
        except OSError as e:
            grpc_server.stop(0)
            raise give_up(
                ServerConfigError(
                    f"rest_api_port: cannot bind REST to {options.rest_api_bind_address}:"
                    f"{rest_port} ({e.strerror}); choose a free port"
                )
            ) from e
    grpc_server.start()
    if rest is not None:
        rest.start()
    manager.start()
    log.info(
        "serving %s: gRPC on %s:%d%s%s",
        ", ".join(c.name for c in configs),
        options.grpc_bind_address,
        grpc_port,
        f", REST on {options.rest_api_bind_address}:{rest.port}" if rest else "",
        " (TLS)" if ssl_config else "",
    )
    return ServerHandle(
        grpc_server,
        grpc_port,
        options.grpc_bind_address,
        rest,
        manager,
        metrics,
        batcher,
        grace=options.shutdown_grace_seconds,
        tls=ssl_config is not None,
        grpc_gate=gate,
    )
