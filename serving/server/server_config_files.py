"""tensorflow_model_server's other config files: batching parameters, monitoring, SSL.

Each is a text proto of a TF Serving message that the ``tensorflow-serving-api`` wheel does not
ship (``BatchingParameters`` from session_bundle_config.proto, ``MonitoringConfig``,
``SSLConfig``), so the messages are declared here with TF Serving's field names and numbers in
a private descriptor pool, and files are parsed with protobuf's own text format parser: a file
written for tensorflow_model_server parses unchanged, and a typo is an error naming the line.

Examples (the formats of TF Serving's docs)::

    # --batching_parameters_file
    max_batch_size { value: 128 }
    batch_timeout_micros { value: 0 }
    max_enqueued_batches { value: 1000000 }
    num_batch_threads { value: 8 }
    allowed_batch_sizes: 32
    allowed_batch_sizes: 128
    pad_variable_length_inputs: true

    # --monitoring_config_file
    prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }

    # --ssl_config_file: the PEM texts themselves, not paths
    server_key: "-----BEGIN PRIVATE KEY-----\\n..."
    server_cert: "-----BEGIN CERTIFICATE-----\\n..."
    custom_ca: ""          # CA that signs client certificates (with client_verify)
    client_verify: false
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from seqline.serving.errors import ServerConfigError

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"

_INT64_WRAPPER = ".google.protobuf.Int64Value"


@functools.cache
def _messages() -> dict[str, Any]:
    """Message classes for the three protos, built once in a private pool."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    file = descriptor_pb2.FileDescriptorProto(
        name="seqline/tf_serving_server_configs.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    field = descriptor_pb2.FieldDescriptorProto
    optional, repeated = field.LABEL_OPTIONAL, field.LABEL_REPEATED

    def message(name: str, fields: list[tuple[str, int, int, int, str]]) -> None:
        proto = file.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            entry = proto.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:  # a set-but-empty type_name is an error for scalar fields
                entry.type_name = type_name

    message(
        "BatchingParameters",
        [
            ("max_batch_size", 1, field.TYPE_MESSAGE, optional, _INT64_WRAPPER),
            ("batch_timeout_micros", 2, field.TYPE_MESSAGE, optional, _INT64_WRAPPER),
            ("max_enqueued_batches", 3, field.TYPE_MESSAGE, optional, _INT64_WRAPPER),
            ("num_batch_threads", 4, field.TYPE_MESSAGE, optional, _INT64_WRAPPER),
            ("thread_pool_name", 5, field.TYPE_MESSAGE, optional,
             ".google.protobuf.StringValue"),
            ("allowed_batch_sizes", 6, field.TYPE_INT64, repeated, ""),
            ("pad_variable_length_inputs", 7, field.TYPE_BOOL, optional, ""),
            ("enable_large_batch_splitting", 8, field.TYPE_MESSAGE, optional,
             ".google.protobuf.BoolValue"),
            ("max_execution_batch_size", 9, field.TYPE_MESSAGE, optional, _INT64_WRAPPER),
        ],
    )  # fmt: skip
    message(
        "PrometheusConfig",
        [
            ("enable", 1, field.TYPE_BOOL, optional, ""),
            ("path", 2, field.TYPE_STRING, optional, ""),
        ],
    )
    message(
        "MonitoringConfig",
        [
            ("prometheus_config", 1, field.TYPE_MESSAGE, optional,
             ".tensorflow.serving.PrometheusConfig"),
        ],
    )  # fmt: skip
    message(
        "SSLConfig",
        [
            ("server_key", 1, field.TYPE_STRING, optional, ""),
            ("server_cert", 2, field.TYPE_STRING, optional, ""),
            ("custom_ca", 3, field.TYPE_STRING, optional, ""),
            ("client_verify", 4, field.TYPE_BOOL, optional, ""),
        ],
    )
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"tensorflow.serving.{name}")
        )
        for name in ("BatchingParameters", "MonitoringConfig", "SSLConfig")
    }


def _parse(path: str, message_name: str, flag: str) -> Any:
    from google.protobuf import text_format

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ServerConfigError(f"--{flag}: cannot read {path}: {e.strerror}") from e
    proto = _messages()[message_name]()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as e:
        raise ServerConfigError(
            f"--{flag}: {path} is not a valid {message_name} text proto: {e}; see TF Serving's "
            "docs for the format"
        ) from e
    return proto


@dataclass(frozen=True)
class BatchingParameters:
    """What a batching parameters file sets (None: keep the server's value)."""

    max_batch_size: int | None = None
    batch_timeout_micros: int | None = None
    max_enqueued_batches: int | None = None
    num_batch_threads: int | None = None
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False
    ignored: tuple[str, ...] = ()  # fields set in the file that seqline does not implement


def read_batching_parameters(path: str) -> BatchingParameters:
    """Parses a --batching_parameters_file (ServerConfigError if unreadable or invalid)."""
    proto = _parse(path, "BatchingParameters", "batching_parameters_file")

    def wrapped(name: str) -> int | None:
        return getattr(proto, name).value if proto.HasField(name) else None

    ignored = tuple(
        name
        for name in ("thread_pool_name", "enable_large_batch_splitting", "max_execution_batch_size")
        if proto.HasField(name)
    )
    return BatchingParameters(
        max_batch_size=wrapped("max_batch_size"),
        batch_timeout_micros=wrapped("batch_timeout_micros"),
        max_enqueued_batches=wrapped("max_enqueued_batches"),
        num_batch_threads=wrapped("num_batch_threads"),
        allowed_batch_sizes=tuple(proto.allowed_batch_sizes),
        pad_variable_length_inputs=proto.pad_variable_length_inputs,
        ignored=ignored,
    )


@dataclass(frozen=True)
class MonitoringConfig:
    """Prometheus exposition: on or off, and its path."""

    prometheus_enabled: bool = True
    prometheus_path: str = DEFAULT_PROMETHEUS_PATH


def read_monitoring_config(path: str) -> MonitoringConfig:
    """Parses a --monitoring_config_file. As in TF Serving, metrics are exported only when
    ``prometheus_config { enable: true }``; an empty path means the default one."""
    proto = _parse(path, "MonitoringConfig", "monitoring_config_file")
    prometheus = proto.prometheus_config
    metrics_path = prometheus.path or DEFAULT_PROMETHEUS_PATH
    if not metrics_path.startswith("/"):
        raise ServerConfigError(
            f"--monitoring_config_file: prometheus_config.path must start with '/', got "
            f"{metrics_path!r}"
        )
    return MonitoringConfig(prometheus_enabled=prometheus.enable, prometheus_path=metrics_path)


@dataclass(frozen=True)
class SslConfig:
    """PEM texts for TLS on gRPC and REST (SSLConfig's fields)."""

    server_key: str
    server_cert: str
    custom_ca: str = ""
    client_verify: bool = False


def read_ssl_config(path: str) -> SslConfig:
    """Parses a --ssl_config_file; ServerConfigError unless it holds a key and a certificate
    (and a CA when client_verify is on: without one no client certificate can verify)."""
    proto = _parse(path, "SSLConfig", "ssl_config_file")
    if not proto.server_key.strip() or not proto.server_cert.strip():
        raise ServerConfigError(
            f"--ssl_config_file: {path} needs server_key and server_cert, the PEM texts "
            "themselves (not file paths)"
        )
    if proto.client_verify and not proto.custom_ca.strip():
        raise ServerConfigError(
            f"--ssl_config_file: {path} sets client_verify but no custom_ca; add the PEM of "
            "the CA that signs client certificates"
        )
    return SslConfig(
        server_key=proto.server_key,
        server_cert=proto.server_cert,
        custom_ca=proto.custom_ca,
        client_verify=proto.client_verify,
    )
