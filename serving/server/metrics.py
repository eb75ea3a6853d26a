"""Prometheus metrics of one server, in its own registry (never the process-global one).

Exposed on the REST port at /monitoring/prometheus/metrics (TF Serving's path; another with
``--monitoring_config_file``). The page holds TF Serving's own metrics first, under their
names and labels (seqline.serving.server.tf_metrics), then seqline's:

- ``seqline_serving_requests_total{model_name, version, signature_name, method, api, status}``
- ``seqline_serving_request_latency_seconds{model_name, version, signature_name, method, api}``
  (histogram)
- ``seqline_serving_model_load_events_total{model_name, version, event}`` with event one of
  loading, available, load_failed, unloading, unloaded
- ``seqline_serving_model_versions_available{model_name}`` (gauge)
- ``seqline_serving_model_version_state{model_name, version}`` (gauge): the version's
  ModelVersionStatus.State (10 START, 20 LOADING, 30 AVAILABLE, 40 UNLOADING, 50 END)
- ``seqline_serving_batch_size{model_name, signature_name}`` (histogram of merged batch rows)
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from seqline.serving.server.tf_metrics import TfServingMetrics

# Serving latencies on this machine run from ~0.3 ms to seconds for big batches.
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
)  # fmt: skip
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServerMetrics:
    """The metrics above; ``render()`` gives the exposition text and its content type."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        request_labels = ["model_name", "version", "signature_name", "method", "api"]
        self.requests = Counter(
            "seqline_serving_requests",
            "Requests answered, by model, version, signature, method, API and status code.",
            [*request_labels, "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "seqline_serving_request_latency_seconds",
            "Server-side request latency in seconds.",
            request_labels,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.load_events = Counter(
            "seqline_serving_model_load_events",
            "Version lifecycle events: loading, available, load_failed, unloading, unloaded.",
            ["model_name", "version", "event"],
            registry=self.registry,
        )
        self.available_versions = Gauge(
            "seqline_serving_model_versions_available",
            "Versions of a model currently serving.",
            ["model_name"],
            registry=self.registry,
        )
        self.version_state = Gauge(
            "seqline_serving_model_version_state",
            "ModelVersionStatus.State of each version: 10 START, 20 LOADING, 30 AVAILABLE, "
            "40 UNLOADING, 50 END.",
            ["model_name", "version"],
            registry=self.registry,
        )
        self.tf = TfServingMetrics()
        # (labels + status) -> (requests child, latency child): prometheus_client's labels()
        # validates and locks on every call; the label values are bounded (unknown names are
        # folded into "<unknown>"), so the children are looked up once per series.
        self._request_children: dict[tuple[str, ...], tuple[Any, Any]] = {}
        self.batch_size = Histogram(
            "seqline_serving_batch_size",
            "Rows per merged signature call when server-side batching is on.",
            ["model_name", "signature_name"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )

    def observe_request(
        self,
        *,
        model: str,
        version: str,
        signature: str,
        method: str,
        api: str,
        status: str,
        seconds: float,
    ) -> None:
        key = (model, version, signature, method, api, status)
        children = self._request_children.get(key)
        if children is None:
            children = (self.requests.labels(*key), self.latency.labels(*key[:5]))
            self._request_children[key] = children  # a racing duplicate is the same pair
        children[0].inc()
        children[1].observe(seconds)

    def load_event(self, model: str, version: int, event: str) -> None:
        self.load_events.labels(model, str(version), event).inc()

    def set_available(self, model: str, count: int) -> None:
        self.available_versions.labels(model).set(count)

    def observe_batch(self, model: str, signature: str, rows: int) -> None:
        self.batch_size.labels(model, signature).observe(rows)

    def set_version_state(self, model: str, version: int, state: int) -> None:
        self.version_state.labels(model, str(version)).set(state)

    def render(self) -> tuple[bytes, str]:
        """(TF Serving's metrics + seqline's, as exposition text; its content type)."""
        return self.tf.render().encode("utf-8") + generate_latest(self.registry), (
            CONTENT_TYPE_LATEST
        )
