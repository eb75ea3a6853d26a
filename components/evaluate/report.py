"""report.html: one self-contained page (PNG plots embedded as base64) that opens from disk in
any browser, no server: the decision and its reasons, metrics of the candidate, the baseline
model and the majority baseline overall and per slice, and the plots.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence

import numpy as np

from seqline.components.evaluate import plots
from seqline.components.evaluate.evaluation import BASELINE_MODEL, CANDIDATE, Evaluation
from seqline.components.evaluate.metrics import METRIC_NAMES, confusion_matrix
from seqline.pipeline.artifacts import Blessing

REPORT_FILE = Blessing.REPORT_FILE

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { margin-bottom: 0.2em; } .muted { color: #666; }
.badge { display: inline-block; padding: 0.2em 0.7em; border-radius: 4px; color: white;
         font-weight: bold; }
.blessed { background: #2e7d32; } .not-blessed { background: #c62828; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
li.PASS { color: #2e7d32; } li.FAIL { color: #c62828; } li.SKIPPED { color: #8d6e00; }
.plots img { margin: 0.5em; border: 1px solid #eee; }
"""


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _cell(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "&ndash;"
    return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}"


def _verdict(reason: str) -> str:
    for word in ("SKIPPED", "FAIL", "PASS"):
        if word in reason:
            return word
    return ""


def _metrics_table(evaluation: Evaluation) -> str:
    overall = evaluation.overall
    columns = [("candidate", overall.metrics), ("majority baseline", overall.naive_metrics)]
    if overall.model_baseline_metrics is not None:
        columns.insert(1, ("baseline model", overall.model_baseline_metrics))
    head = "".join(f"<th>{html.escape(name)}</th>" for name, _ in columns)
    rows = "".join(
        f"<tr><td>{name}</td>"
        + "".join(f"<td>{_cell(values[name])}</td>" for _, values in columns)
        + "</tr>"
        for name in METRIC_NAMES
    )
    return f"<table><tr><th>metric</th>{head}</tr>{rows}</table>"


def _slices_table(evaluation: Evaluation, metrics: Sequence[str]) -> str:
    has_base = evaluation.overall.model_baseline_metrics is not None
    head = "<tr><th>slice</th><th>examples</th>" + "".join(
        f"<th>{m}</th>" + (f"<th>{m} (baseline model)</th>" if has_base else "") for m in metrics
    ) + "</tr>"  # fmt: skip
    rows = []
    for s in evaluation.slices:
        cells = []
        for m in metrics:
            cells.append(f"<td>{_cell(s.metrics[m])}</td>")
            if has_base:
                base = s.model_baseline_metrics[m] if s.model_baseline_metrics else None
                cells.append(f"<td>{_cell(base)}</td>")
        rows.append(f"<tr><td>{html.escape(s.key)}</td><td>{s.count}</td>{''.join(cells)}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def classification_plots(
    evaluation: Evaluation,
    label_ids: np.ndarray,
    predictions: Mapping[str, tuple[np.ndarray, np.ndarray]],
) -> list[tuple[str, bytes]]:
    """(title, PNG) of the confusion matrix, ROC, PR and calibration plots.

    Binary: curves of the positive class for the candidate and the baseline model.
    Multi-class: one-vs-rest curves of the candidate per class; calibration of the top class.
    """
    labels = list(evaluation.labels)
    probabilities, class_ids = predictions[CANDIDATE]
    label_ids = np.asarray(label_ids)
    out = [
        (
            "confusion matrix (candidate)",
            plots.confusion_matrix_png(
                confusion_matrix(label_ids, class_ids, len(labels)), labels, "candidate"
            ),
        )
    ]
    if evaluation.task == "binary":
        curves = {"candidate": (label_ids == 1, probabilities[:, 1])}
        if BASELINE_MODEL in predictions:
            curves["baseline model"] = (label_ids == 1, predictions[BASELINE_MODEL][0][:, 1])
        positive = labels[1]
        out.append(("ROC", plots.roc_png(curves, f"ROC (positive: {positive})")))
        out.append(("PR", plots.pr_png(curves, f"precision-recall (positive: {positive})")))
        out.append(("calibration", plots.calibration_png(curves, "calibration")))
        return out
    per_class = {label: (label_ids == k, probabilities[:, k]) for k, label in enumerate(labels)}
    out.append(("ROC", plots.roc_png(per_class, "ROC one-vs-rest (candidate)")))
    out.append(("PR", plots.pr_png(per_class, "precision-recall one-vs-rest (candidate)")))
    top = {"candidate": (class_ids == label_ids, probabilities.max(axis=1))}
    if BASELINE_MODEL in predictions:
        base_probabilities, base_ids = predictions[BASELINE_MODEL]
        top["baseline model"] = (base_ids == label_ids, base_probabilities.max(axis=1))
    out.append(("calibration", plots.calibration_png(top, "calibration of the top class")))
    return out


def render_report(
    evaluation: Evaluation,
    figures: Sequence[tuple[str, bytes]],
    *,
    model_uri: str,
    eval_split: str,
) -> str:
    """The whole HTML page as a string."""
    blessed = evaluation.blessed
    badge = (
        '<span class="badge blessed">BLESSED</span>'
        if blessed
        else '<span class="badge not-blessed">NOT BLESSED</span>'
    )
    reasons = "".join(
        f'<li class="{_verdict(r)}">{html.escape(r)}</li>' for r in evaluation.reasons
    )
    info = evaluation.baseline_model
    baseline_line = (
        f"baseline model: <code>{html.escape(info.uri)}</code> ({html.escape(info.note)})"
        if info.uri
        else f"baseline model: none ({html.escape(info.note)})"
    )
    images = "".join(_img(png, title) for title, png in figures)
    slice_metrics = [m for m in ("accuracy", "auc", "loss", "f1")]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>seqline evaluation</title>
<style>{_STYLE}</style></head><body>
<h1>Evaluation {badge}</h1>
<p class="muted">model <code>{html.escape(model_uri)}</code> on split
'{html.escape(eval_split)}' ({evaluation.overall.count} examples, {evaluation.task};
{html.escape(evaluation.averaging)})<br>{baseline_line}<br>
majority baseline: always '{html.escape(evaluation.labels[evaluation.baseline.majority_id])}'
(fitted on '{html.escape(evaluation.baseline.source)}')</p>
<h2>Reasons</h2><ul>{reasons}</ul>
<h2>Overall metrics</h2>{_metrics_table(evaluation)}
<h2>Slices</h2>{_slices_table(evaluation, slice_metrics)}
<h2>Plots</h2><div class="plots">{images}</div>
</body></html>
"""
