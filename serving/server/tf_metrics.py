"""TF Serving's own metrics, named, labelled and rendered exactly as tensorflow_model_server does.

Dashboards and alerts written for TF Serving query these names, so they are kept verbatim
(TensorFlow monitoring paths, rendered by TF Serving's Prometheus exporter):

- ``:tensorflow:serving:request_count{model_name, status}`` counter; status is the canonical
  code name (OK, INVALID_ARGUMENT, NOT_FOUND...).
- ``:tensorflow:serving:request_latency{model_name, API, entrypoint}`` histogram in
  microseconds, successful requests only; API Predict/Classify/Regress (gRPC) or
  predict/classify/regress (REST), entrypoint GRPC or REST.
- ``:tensorflow:serving:runtime_latency{model_name, API, runtime}`` histogram in microseconds
  of the signature run alone; runtime "TF1", TF Serving's label for the TensorFlow runtime.
- ``:tensorflow:serving:request_example_counts{model}`` histogram and
  ``:tensorflow:serving:request_example_count_total{model}`` counter (Classify/Regress).
- ``:tensorflow:cc:saved_model:load_attempt_count{model_path, status}`` counter, status
  success or fail, and ``:tensorflow:cc:saved_model:load_latency{model_path}`` counter of
  microseconds spent in successful loads (TensorFlow's SavedModel loader metrics).

The exporter's rules: every character of the monitoring path outside ``[a-zA-Z0-9_]`` becomes
``:`` (a leading digit gets a ``_``), label names have every non-alphanumeric character replaced
by ``_``, label values escape ``\\`` and ``"``; each metric is a ``# TYPE`` line (no HELP) and
its points, counters without a ``_total`` suffix, histograms with the bucket limits printed
like ``absl::StrCat`` prints doubles (six significant digits) and a last ``+Inf`` bucket.
Latency buckets are TensorFlow's ``Buckets::Exponential(10, 1.8, 33)`` (10 us to ~25 min); a
value lands in the first bucket whose limit is strictly greater.
"""

from __future__ import annotations

import bisect
import re
import sys
import threading
from collections.abc import Sequence

_NOT_NAME_CHAR = re.compile(r"[^a-zA-Z0-9_]")
_NOT_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9]")


def prometheus_name(path: str) -> str:
    """'/tensorflow/serving/request_count' -> ':tensorflow:serving:request_count'."""
    name = _NOT_NAME_CHAR.sub(":", path)
    return f"_{name}" if name[:1].isdigit() else name


def _label_name(name: str) -> str:
    name = _NOT_LABEL_CHAR.sub("_", name)
    return f"_{name}" if name[:1].isdigit() else name


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _double(value: float) -> str:
    """A double as absl::StrCat prints it (six significant digits, %g style)."""
    return format(value, ".6g")


def exponential_buckets(scale: float, growth: float, count: int) -> list[float]:
    """TensorFlow's Buckets::Exponential limits, with the implicit last (DBL_MAX) bucket."""
    limits = [scale * growth**i for i in range(count)]
    return [*limits, sys.float_info.max]


LATENCY_BUCKETS = exponential_buckets(10, 1.8, 33)
EXAMPLE_COUNT_BUCKETS = exponential_buckets(1, 2, 15)


class _Metric:
    kind = ""

    def __init__(self, path: str, labels: Sequence[str]) -> None:
        self.path = path
        self.name = prometheus_name(path)
        self.labels = tuple(labels)
        self._lock = threading.Lock()

    def lines(self) -> list[str]:
        """The metric's exposition lines (each kind renders its own)."""
        raise NotImplementedError

    def _label_text(self, values: tuple[str, ...]) -> list[str]:
        pairs = zip(self.labels, values, strict=True)
        return [f'{_label_name(n)}="{_label_value(v)}"' for n, v in pairs]


class Counter(_Metric):
    """A monitoring::Counter: integer cells per label tuple."""

    kind = "counter"

    def __init__(self, path: str, labels: Sequence[str]) -> None:
        super().__init__(path, labels)
        self._cells: dict[tuple[str, ...], int] = {}

    def increment(self, *values: str, by: int = 1) -> None:
        with self._lock:
            self._cells[values] = self._cells.get(values, 0) + int(by)

    def value(self, *values: str) -> int:
        with self._lock:
            return self._cells.get(values, 0)

    def lines(self) -> list[str]:
        with self._lock:
            cells = dict(self._cells)
        out = [f"# TYPE {self.name} counter"]
        for values, count in cells.items():
            out.append(f"{self.name}{{{','.join(self._label_text(values))}}} {count}")
        return out


class Sampler(_Metric):
    """A monitoring::Sampler: a histogram cell per label tuple."""

    kind = "histogram"

    def __init__(self, path: str, labels: Sequence[str], limits: list[float]) -> None:
        super().__init__(path, labels)
        self.limits = limits
        self._cells: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def add(self, value: float, *values: str) -> None:
        bucket = min(bisect.bisect_right(self.limits, value), len(self.limits) - 1)
        with self._lock:
            counts, total = self._cells.setdefault(values, ([0] * len(self.limits), [0.0]))
            counts[bucket] += 1
            total[0] += value

    def count(self, *values: str) -> int:
        with self._lock:
            cell = self._cells.get(values)
            return sum(cell[0]) if cell else 0

    def lines(self) -> list[str]:
        with self._lock:
            cells = {k: (list(c), s[0]) for k, (c, s) in self._cells.items()}
        out = [f"# TYPE {self.name} histogram"]
        last = len(self.limits) - 1
        for values, (counts, total) in cells.items():
            labels = self._label_text(values)
            prefix = f"{self.name}_bucket{{{','.join(labels)}{',' if labels else ''}"
            cumulative = 0
            for i, count in enumerate(counts):
                cumulative += count
                le = _double(self.limits[i]) if i < last else "+Inf"
                out.append(f'{prefix}le="{le}"}} {cumulative}')
            out.append(f"{self.name}_sum{{{','.join(labels)}}} {_double(total)}")
            out.append(f"{self.name}_count{{{','.join(labels)}}} {cumulative}")
        return out


class TfServingMetrics:
    """The metrics above for one server (not process-global: several servers in one process
    in tests each count their own)."""

    def __init__(self) -> None:
        self.request_count = Counter("/tensorflow/serving/request_count", ["model_name", "status"])
        self.request_latency = Sampler(
            "/tensorflow/serving/request_latency",
            ["model_name", "API", "entrypoint"],
            LATENCY_BUCKETS,
        )
        self.runtime_latency = Sampler(
            "/tensorflow/serving/runtime_latency", ["model_name", "API", "runtime"], LATENCY_BUCKETS
        )
        self.example_counts = Sampler(
            "/tensorflow/serving/request_example_counts", ["model"], EXAMPLE_COUNT_BUCKETS
        )
        self.example_count_total = Counter(
            "/tensorflow/serving/request_example_count_total", ["model"]
        )
        self.load_attempt_count = Counter(
            "/tensorflow/cc/saved_model/load_attempt_count", ["model_path", "status"]
        )
        self.load_latency = Counter("/tensorflow/cc/saved_model/load_latency", ["model_path"])
        self._all: list[_Metric] = [
            self.request_count,
            self.request_latency,
            self.runtime_latency,
            self.example_counts,
            self.example_count_total,
            self.load_attempt_count,
            self.load_latency,
        ]

    def render(self) -> str:
        """The exposition text, metrics ordered by monitoring path as TensorFlow's registry
        (a std::map) orders them."""
        lines: list[str] = []
        for metric in sorted(self._all, key=lambda m: m.path):
            lines.extend(metric.lines())
        return "\n".join(lines) + "\n"
