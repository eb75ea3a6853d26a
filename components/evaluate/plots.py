"""Evaluation plots as PNG bytes (matplotlib, Agg backend: no display needed).

Classification: confusion matrix, ROC and precision-recall curves, calibration (reliability)
diagram, each with the baseline model drawn beside the candidate when there is one.
Regression / forecasting (for the series pipeline): error by forecast horizon and forecast vs
actual. The curve points come from plain numpy functions (roc_points, pr_points,
calibration_bins) so tests can check them.

Labels are data: drawn as written (never mathtext), shortened in legends and ticks
(components/plot_text.py), one distinct colour per class, and a legend of more than
LEGEND_INSIDE_MAX entries goes beside the axes instead of over the curves.

Shapes: label_ids int [n]; scores float [n] (the positive class's probability); curves
{name: (label_ids, scores)}; errors {name: float [horizon]}.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np

from seqline.components.plot_text import display_label, distinct_colors, literal_text

COLORS = {
    "candidate": "#1f77b4",
    "baseline model": "#ff7f0e",
    "majority baseline": "#7f7f7f",
    "linear baseline": "#8c564b",
    # the naive forecasts a forecaster is compared with (forecast_evaluation.py)
    "persistence": "#2ca02c",
    "seasonal_naive": "#d62728",
    "moving_average": "#9467bd",
}


def roc_points(is_positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) at every distinct threshold, from (0,0) to
    (1,1); tied scores form one step. Empty arrays if either class is absent."""
    is_positive = np.asarray(is_positive, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(is_positive.sum()), int((~is_positive).sum())
    if n_pos == 0 or n_neg == 0:
        return np.array([]), np.array([])
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_pos = scores[order], is_positive[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(scores) - 1]
    tp = np.cumsum(sorted_pos)[last_of_tie]
    fp = (last_of_tie + 1) - tp
    return np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos]


def pr_points(is_positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) at every distinct threshold, highest threshold first."""
    is_positive = np.asarray(is_positive, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos = int(is_positive.sum())
    if n_pos == 0 or len(scores) == 0:
        return np.array([]), np.array([])
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_pos = scores[order], is_positive[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(scores) - 1]
    tp = np.cumsum(sorted_pos)[last_of_tie]
    predicted = last_of_tie + 1
    return tp / n_pos, tp / predicted


def calibration_bins(
    is_positive: np.ndarray, scores: np.ndarray, bins: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reliability diagram data over `bins` equal-width score bins in [0, 1]: (mean score,
    observed positive rate, count) per non-empty bin."""
    is_positive = np.asarray(is_positive, dtype=np.float64)
    scores = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
    index = np.minimum((scores * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    score_sums = np.bincount(index, weights=scores, minlength=bins)
    positive_sums = np.bincount(index, weights=is_positive, minlength=bins)
    keep = counts > 0
    return (
        score_sums[keep] / counts[keep],
        positive_sums[keep] / counts[keep],
        counts[keep],
    )


# Above this many legend entries, the legend goes to the right of the axes (it covered the plot).
LEGEND_INSIDE_MAX = 8
# Legend entries per column outside the axes.
LEGEND_ROWS = 20


def _colors(names: Sequence[str]) -> dict[str, object]:
    """A colour per curve: the fixed COLORS when every name is one of them (models), else one
    distinct colour per name (per-class curves; matplotlib's cycle repeats every 10)."""
    if all(name in COLORS for name in names):
        return {name: COLORS[name] for name in names}
    return dict(zip(names, distinct_colors(len(names)), strict=True))


def _legend_width(entries: int) -> float:
    """Inches to add to a figure whose legend of `entries` goes outside the axes."""
    if entries <= LEGEND_INSIDE_MAX:
        return 0.0
    return 2.2 * -(-entries // LEGEND_ROWS)


def _legend(axes, loc: str) -> None:  # noqa: ANN001 — matplotlib Axes
    """The legend inside the axes at `loc`, or beside them when it has many entries."""
    handles, _ = axes.get_legend_handles_labels()
    if len(handles) <= LEGEND_INSIDE_MAX:
        axes.legend(loc=loc, fontsize="small")
        return
    axes.legend(
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
        fontsize="x-small",
        ncol=-(-len(handles) // LEGEND_ROWS),
    )


def _figure(width: float = 4.8, height: float = 4.0):  # noqa: ANN202 — matplotlib Figure
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=90)


def _png(figure) -> bytes:  # noqa: ANN001
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


@literal_text()  # labels and series ids drawn as written, never as mathtext
def confusion_matrix_png(matrix: np.ndarray, labels: Sequence[str], title: str) -> bytes:
    """Counts [true, predicted] with each cell annotated; colour = share of its true row."""
    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    size = max(3.6, 0.6 * len(labels) + 2.4)
    figure = _figure(size, size - 0.4)
    axes = figure.add_subplot()
    axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ticks = [display_label(label) for label in labels]
    axes.set_xticks(range(len(labels)), ticks, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), ticks)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    for (t, p), count in np.ndenumerate(matrix):
        axes.text(p, t, str(count), ha="center", va="center",
                  color="white" if shares[t, p] > 0.5 else "black")  # fmt: skip
    return _png(figure)


@literal_text()  # labels and series ids drawn as written, never as mathtext
def roc_png(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str) -> bytes:
    """ROC curves {name: (is_positive, scores)} with the chance diagonal. A curve without
    both classes is not drawn (the report names classes with no examples)."""
    colors = _colors(list(curves))
    figure = _figure(4.8 + _legend_width(len(curves) + 1))
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle=":", color="#999999", label="chance")
    for name, (positive, scores) in curves.items():
        fpr, tpr = roc_points(positive, scores)
        if len(fpr):
            axes.plot(fpr, tpr, label=display_label(name), color=colors[name])
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.set_title(title)
    _legend(axes, "lower right")
    return _png(figure)


@literal_text()  # labels and series ids drawn as written, never as mathtext
def pr_png(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str) -> bytes:
    """Precision-recall curves {name: (is_positive, scores)} with the positive rate line."""
    colors = _colors(list(curves))
    figure = _figure(4.8 + _legend_width(len(curves) + 1))
    axes = figure.add_subplot()
    for name, (positive, scores) in curves.items():
        recall, precision = pr_points(positive, scores)
        if len(recall):
            axes.step(recall, precision, where="post", label=display_label(name),
                      color=colors[name])  # fmt: skip
    if curves:
        positive = np.asarray(next(iter(curves.values()))[0], dtype=bool)
        if len(positive):
            axes.axhline(positive.mean(), linestyle=":", color="#999999", label="positive rate")
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_ylim(0, 1.02)
    axes.set_title(title)
    _legend(axes, "lower left")
    return _png(figure)


@literal_text()  # labels and series ids drawn as written, never as mathtext
def calibration_png(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str, bins: int = 10
) -> bytes:
    """Reliability diagram {name: (is_positive, scores)}: observed rate vs mean score."""
    colors = _colors(list(curves))
    figure = _figure(4.8 + _legend_width(len(curves) + 1))
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle=":", color="#999999", label="perfectly calibrated")
    for name, (positive, scores) in curves.items():
        mean_score, observed, _counts = calibration_bins(positive, scores, bins)
        axes.plot(mean_score, observed, marker="o", label=display_label(name), color=colors[name])
    axes.set_xlabel("mean predicted probability")
    axes.set_ylabel("observed frequency")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_title(title)
    _legend(axes, "upper left")
    return _png(figure)


# -- regression / forecasting --------------------------------------------------------------------


@literal_text()  # labels and series ids drawn as written, never as mathtext
def error_by_horizon_png(
    errors: Mapping[str, np.ndarray], title: str = "error by horizon", metric: str = "MAE"
) -> bytes:
    """One line per model {name: float [horizon]} (e.g. MAE at steps 1..H ahead); naive
    forecasts (persistence, seasonal naive) belong in the same plot for scale."""
    figure = _figure(5.6, 3.8)
    axes = figure.add_subplot()
    for name, values in errors.items():
        values = np.asarray(values, dtype=np.float64)
        axes.plot(np.arange(1, len(values) + 1), values, marker="o",
                  label=display_label(name), color=COLORS.get(name))  # fmt: skip
    axes.set_xlabel("steps ahead")
    axes.set_ylabel(metric)
    axes.set_title(title)
    axes.legend(fontsize="small")
    return _png(figure)


@literal_text()  # labels and series ids drawn as written, never as mathtext
def forecast_vs_actual_png(
    actual: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    title: str = "forecast vs actual",
    history: np.ndarray | None = None,
) -> bytes:
    """The actual series float [t] with each model's forecast float [t] over it, optionally
    preceded by the history (lookback window) the forecast was made from."""
    figure = _figure(6.4, 3.6)
    axes = figure.add_subplot()
    offset = 0
    if history is not None and len(history):
        offset = len(history)
        axes.plot(np.arange(offset), history, color="#555555", label="history")
    steps = np.arange(offset, offset + len(actual))
    axes.plot(steps, actual, color="black", linewidth=2, label="actual")
    for name, forecast in forecasts.items():
        axes.plot(steps, np.asarray(forecast), linestyle="--", marker=".",
                  label=display_label(name), color=COLORS.get(name))  # fmt: skip
    axes.set_xlabel("time step")
    axes.set_title(title)
    axes.legend(fontsize="small")
    return _png(figure)
