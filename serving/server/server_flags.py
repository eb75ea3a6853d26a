"""`seqline serve`'s command line: every tensorflow_model_server flag, plus seqline's own.

A command line written for tensorflow_model_server starts unchanged. Its flags (the list in
TF Serving's model_servers/main.cc) are in three groups:

- implemented: those naming a ServerOptions field (ports, models, batching and its parameters
  file, monitoring and SSL config files, REST threads and timeout, TensorFlow thread pools,
  SavedModel tags, load retries and their interval, warmup, gRPC threads and channel
  arguments, version labels);
- ``--version``: prints the versions and exits 0;
- accepted and ignored (IGNORED_FLAGS: GPU/TPU/TFLite/XLA switches, thread-pool factories,
  CORS, ALTS...): each one given starts the server with one warning line naming it.

TF Serving ignores --model_name/--model_base_path when --model_config_file is given; so does
this parser (with a warning), so its docker entrypoint's flags plus a config file still work.
Values are given as ``--flag=value`` or ``--flag value``; booleans as ``--flag``,
``--flag=true`` or ``--flag=false``. Importing this module imports neither TensorFlow nor grpc.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import fields
from typing import Any

from seqline.serving.server.server import DEFAULT_MODEL_NAME, ServerOptions

log = logging.getLogger(__name__)

# tensorflow_model_server's flags (TF Serving's main.cc), every one accepted here.
TF_SERVING_FLAGS = (
    "port", "grpc_socket_path", "rest_api_port", "rest_api_num_threads",
    "rest_api_timeout_in_ms", "rest_api_enable_cors_support", "enable_batching",
    "allow_version_labels_for_unavailable_models", "batching_parameters_file",
    "enable_per_model_batching_parameters", "model_config_file",
    "model_config_file_poll_wait_seconds", "model_name", "model_base_path", "num_load_threads",
    "num_unload_threads", "max_num_load_retries", "load_retry_interval_micros",
    "file_system_poll_wait_seconds", "flush_filesystem_caches",
    "tensorflow_session_parallelism", "tensorflow_session_config_file",
    "tensorflow_intra_op_parallelism", "tensorflow_inter_op_parallelism",
    "use_alts_credentials", "ssl_config_file", "platform_config_file",
    "per_process_gpu_memory_fraction", "saved_model_tags", "grpc_channel_arguments",
    "grpc_max_threads", "enable_model_warmup", "num_request_iterations_for_warmup", "version",
    "monitoring_config_file", "remove_unused_fields_from_bundle_metagraph",
    "prefer_tflite_model", "num_tflite_pools", "num_tflite_interpreters_per_pool",
    "enable_signature_method_name_check", "xla_cpu_compilation_enabled",
    "xla_gpu_compilation_enabled", "enable_profiler", "thread_pool_factory_config_file",
    "mixed_precision", "skip_initialize_tpu", "enable_grpc_healthcheck_service",
    "enable_serialization_as_tensor_content",
)  # fmt: skip

# Accepted so a TF Serving command line starts, with no effect here.
IGNORED_FLAGS = (
    "grpc_socket_path", "rest_api_enable_cors_support", "enable_per_model_batching_parameters",
    "num_load_threads", "num_unload_threads", "flush_filesystem_caches",
    "tensorflow_session_config_file", "use_alts_credentials", "platform_config_file",
    "per_process_gpu_memory_fraction", "num_request_iterations_for_warmup",
    "remove_unused_fields_from_bundle_metagraph", "prefer_tflite_model", "num_tflite_pools",
    "num_tflite_interpreters_per_pool", "enable_signature_method_name_check",
    "xla_cpu_compilation_enabled", "xla_gpu_compilation_enabled", "enable_profiler",
    "thread_pool_factory_config_file", "mixed_precision", "skip_initialize_tpu",
    "enable_grpc_healthcheck_service", "enable_serialization_as_tensor_content",
)  # fmt: skip

_NOT_FLAGS = {"allowed_batch_sizes"}  # ServerOptions fields set only from files / in code

_HELP = {
    "port": "gRPC port (default 8500; 0 = any free port)",
    "grpc_bind_address": "interface for gRPC (default 127.0.0.1; 0.0.0.0 for all)",
    "rest_api_port": "REST port (default 0 = REST off)",
    "rest_api_bind_address": "interface for REST (default 127.0.0.1)",
    "rest_api_num_threads": "REST requests processed at once (default 0 = 4 x CPUs)",
    "rest_api_timeout_in_ms": "REST idle/read timeout and wait for a thread (default 30000)",
    "rest_api_max_connections": "REST connections open at once; more are refused with 503 "
    "(default 0 = half the file-descriptor limit, at most 1024)",
    "model_name": f"name of the model served from --model_base_path (default {DEFAULT_MODEL_NAME})",
    "model_base_path": "directory holding integer version subdirectories",
    "model_config_file": "ModelServerConfig text proto with one or more models",
    "model_config_file_poll_wait_seconds": "re-read --model_config_file this often (0 = never)",
    "file_system_poll_wait_seconds": "scan base paths for new versions this often (default 1)",
    "enable_batching": "merge concurrent Predict calls into one signature call",
    "batching_parameters_file": "BatchingParameters text proto (overrides the batching flags)",
    "max_batch_size": "batching: rows per merged call",
    "batch_timeout_micros": "batching: how long a batch waits to fill",
    "num_batch_threads": "batching: threads running batches (0 = one per CPU core)",
    "max_enqueued_batches": "batching: queued batches per signature before UNAVAILABLE",
    "pad_variable_length_inputs": "batching: pad non-batch dimensions to batch unequal shapes",
    "monitoring_config_file": "MonitoringConfig text proto (Prometheus on/off and path)",
    "ssl_config_file": "SSLConfig text proto: TLS for gRPC and REST",
    "tensorflow_session_parallelism": "TensorFlow intra- and inter-op threads (0 = auto)",
    "tensorflow_intra_op_parallelism": "threads inside one op (0 = auto)",
    "tensorflow_inter_op_parallelism": "ops run at once (0 = auto)",
    "tensorflow_executor": "auto: single-threaded executor on CPU-only hosts; default: TF's own",
    "tensorflow_runtime": "session: TF1 Session callables, as TF Serving (default); "
    "session_strict: no fallback to function",
    "saved_model_tags": "comma-separated tags of the MetaGraph to load (default serve)",
    "enable_model_warmup": "replay assets.extra/tf_serving_warmup_requests before serving",
    "max_num_load_retries": "retries of a failed load while the version directory is unchanged",
    "load_retry_interval_micros": "least time between those retries (default 60 s)",
    "allow_version_labels_for_unavailable_models": "let config reloads label unloaded versions",
    "grpc_max_threads": "gRPC worker threads",
    "grpc_channel_arguments": "gRPC server arguments key=value,... (e.g. max message size)",
    "max_message_size_bytes": "largest gRPC message / REST body accepted",
    "max_request_elements": "per-request limit on input tensor elements (from declared shapes)",
    "max_request_bytes": "per-request limit on decoded input bytes (from declared shapes)",
    "max_json_depth": "deepest JSON nesting a REST request may have",
    "shutdown_grace_seconds": "on SIGTERM, how long in-flight requests may finish (default 10)",
}


def _bool_flag(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


class _VersionAction(argparse.Action):
    """--version: what tensorflow_model_server --version prints, then exit 0."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs="?", const=True, default=False, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kwargs: Any) -> None:
        print(version_text(), flush=True)
        parser.exit(0)


def version_text() -> str:
    """'TensorFlow ModelServer: seqline-X' and 'TensorFlow Library: Y' (installed versions)."""
    from importlib import metadata

    def installed(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "unknown"

    return (
        f"TensorFlow ModelServer: seqline-{installed('seqline')}\n"
        f"TensorFlow Library: {installed('tensorflow')}"
    )


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds tensorflow_model_server's flags and seqline's (``--port=8500`` or ``--port 8500``).

    Booleans accept ``--enable_batching``, ``--enable_batching=true`` and ``=false``.
    """
    defaults = ServerOptions.__dataclass_fields__
    for f in fields(ServerOptions):
        if f.name in _NOT_FLAGS:
            continue
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
    parser.add_argument(
        "--version", action=_VersionAction, help="print the server and TensorFlow versions"
    )
    ignored = parser.add_argument_group(
        "accepted for tensorflow_model_server compatibility and ignored"
    )
    for name in IGNORED_FLAGS:
        ignored.add_argument(
            f"--{name}", nargs="?", const="true", default=None, metavar="VALUE", help="ignored"
        )


def options_from_args(namespace: argparse.Namespace) -> ServerOptions:
    """ServerOptions from a namespace parsed with add_server_arguments (ServerConfigError).

    Logs one warning line for each ignored flag that was given.
    """
    for name in IGNORED_FLAGS:
        value = getattr(namespace, name, None)
        if value is not None:
            log.warning(
                "--%s=%s: a tensorflow_model_server flag that seqline serve accepts and ignores",
                name,
                value,
            )
    values: dict[str, Any] = {
        f.name: getattr(namespace, f.name)
        for f in fields(ServerOptions)
        if hasattr(namespace, f.name)
    }
    if values.get("model_config_file") and (
        values.get("model_name") or values.get("model_base_path")
    ):
        log.warning(
            "--model_name/--model_base_path are ignored because --model_config_file is given "
            "(as tensorflow_model_server does)"
        )
        values["model_name"] = values["model_base_path"] = None
    if values.get("model_base_path") and not values.get("model_name"):
        values["model_name"] = DEFAULT_MODEL_NAME
    return ServerOptions(**values)
