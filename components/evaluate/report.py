"""report.html: one self-contained page (PNG plots embedded as base64) that opens from disk in
any browser, no server: the decision and its reasons, metrics of the candidate, the baseline
model, the linear baseline and the majority baseline overall and per slice, and the plots.
Every table and figure names the split it is on.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence

import numpy as np

from seqline.components.evaluate import plots
from seqline.components.evaluate.evaluation import (
    BASELINE_MODEL,
    CANDIDATE,
    LINEAR_BASELINE,
    Evaluation,
    LinearBaselineInfo,
)
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


def _metrics_table(evaluation: Evaluation, split: str) -> str:
    overall = evaluation.overall
    columns = [("candidate", overall.metrics)]
    if overall.model_baseline_metrics is not None:
        columns.append(("baseline model", overall.model_baseline_metrics))
    if overall.linear_metrics is not None:
        columns.append(("linear baseline", overall.linear_metrics))
    columns.append(("majority baseline", overall.naive_metrics))
    head = "".join(f"<th>{html.escape(name)} on '{html.escape(split)}'</th>" for name, _ in columns)
    rows = "".join(
        f"<tr><td>{name}</td>"
        + "".join(f"<td>{_cell(values[name])}</td>" for _, values in columns)
        + "</tr>"
        for name in METRIC_NAMES
    )
    return f"<table><tr><th>metric</th>{head}</tr>{rows}</table>"


def _slices_table(evaluation: Evaluation, metrics: Sequence[str]) -> str:
    has_base = evaluation.overall.model_baseline_metrics is not None
    has_linear = evaluation.overall.linear_metrics is not None
    head = "<tr><th>slice</th><th>examples</th>" + "".join(
        f"<th>{m}</th>"
        + (f"<th>{m} (baseline model)</th>" if has_base else "")
        + (f"<th>{m} (linear baseline)</th>" if has_linear else "")
        for m in metrics
    ) + "</tr>"  # fmt: skip
    rows = []
    for s in evaluation.slices:
        cells = []
        for m in metrics:
            cells.append(f"<td>{_cell(s.metrics[m])}</td>")
            if has_base:
                base = s.model_baseline_metrics[m] if s.model_baseline_metrics else None
                cells.append(f"<td>{_cell(base)}</td>")
            if has_linear:
                linear = s.linear_metrics[m] if s.linear_metrics else None
                cells.append(f"<td>{_cell(linear)}</td>")
        rows.append(f"<tr><td>{html.escape(s.key)}</td><td>{s.count}</td>{''.join(cells)}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def absent_classes(labels: Sequence[str], label_ids: np.ndarray) -> list[str]:
    """The labels with no example among `label_ids` (they get no ROC/PR curve and no slice)."""
    present = set(np.asarray(label_ids, dtype=np.int64).tolist())
    return [label for k, label in enumerate(labels) if k not in present]


def classification_plots(
    evaluation: Evaluation,
    label_ids: np.ndarray,
    predictions: Mapping[str, tuple[np.ndarray, np.ndarray]],
    split: str,
) -> list[tuple[str, bytes]]:
    """(title, PNG) of the confusion matrix, ROC, PR and calibration plots; every title names
    `split`, the split the predictions are on.

    Binary: curves of the positive class for the candidate, the baseline model and the linear
    baseline. Multi-class: one-vs-rest curves of the candidate per class; calibration of the
    top class for each model.
    """
    labels = list(evaluation.labels)
    probabilities, class_ids = predictions[CANDIDATE]
    label_ids = np.asarray(label_ids)
    on = f"on '{split}'"
    others = [(key, name) for key, name in _OTHERS if key in predictions]
    out = [
        (
            f"confusion matrix (candidate) {on}",
            plots.confusion_matrix_png(
                confusion_matrix(label_ids, class_ids, len(labels)), labels, f"candidate {on}"
            ),
        )
    ]
    if evaluation.task == "binary":
        curves = {"candidate": (label_ids == 1, probabilities[:, 1])}
        for key, name in others:
            curves[name] = (label_ids == 1, predictions[key][0][:, 1])
        positive = labels[1]
        out.append((f"ROC {on}", plots.roc_png(curves, f"ROC {on} (positive: {positive})")))
        out.append(
            (f"PR {on}", plots.pr_png(curves, f"precision-recall {on} (positive: {positive})"))
        )
        out.append((f"calibration {on}", plots.calibration_png(curves, f"calibration {on}")))
        return out
    per_class = {label: (label_ids == k, probabilities[:, k]) for k, label in enumerate(labels)}
    out.append((f"ROC {on}", plots.roc_png(per_class, f"ROC one-vs-rest (candidate) {on}")))
    out.append(
        (f"PR {on}", plots.pr_png(per_class, f"precision-recall one-vs-rest (candidate) {on}"))
    )
    top = {"candidate": (class_ids == label_ids, probabilities.max(axis=1))}
    for key, name in others:
        other_probabilities, other_ids = predictions[key]
        top[name] = (other_ids == label_ids, other_probabilities.max(axis=1))
    out.append(
        (
            f"calibration {on}",
            plots.calibration_png(top, f"calibration of the top class {on}"),
        )
    )
    return out


# Models drawn beside the candidate when their predictions are there (key, legend name).
_OTHERS = ((BASELINE_MODEL, "baseline model"), (LINEAR_BASELINE, "linear baseline"))


def _linear_trained_on(linear: LinearBaselineInfo) -> str:
    """What the linear baseline was trained on and how long it took, for the report's header."""
    seconds = f"{linear.seconds:.1f} s"
    if linear.refit is None:
        return f"trained on '{linear.trained_on}' ({linear.train_examples} examples, {seconds})"
    return f"{linear.trained_on_note()}, {seconds}"


def render_report(
    evaluation: Evaluation,
    figures: Sequence[tuple[str, bytes]],
    *,
    model_uri: str,
    eval_split: str,
    absent: Sequence[str] = (),
) -> str:
    """The whole HTML page as a string; `absent`: the classes with no example in `eval_split`
    (absent_classes), named above the plots, which cannot draw their curves."""
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
    missing = (
        f"<p class=\"muted\">classes with no examples in '{html.escape(eval_split)}' (no ROC or "
        "precision-recall curve, no slice row): "
        + ", ".join(f"'{html.escape(label)}'" for label in absent)
        + "</p>"
        if absent
        else ""
    )
    linear = evaluation.linear
    linear_line = (
        f"<br>linear baseline: TF-IDF word 1-{linear.config.ngrams}-grams + logistic "
        f"regression, {html.escape(_linear_trained_on(linear), quote=False)}"
        if linear is not None
        else ""
    )
    slice_metrics = [m for m in ("accuracy", "auc", "loss", "f1")]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>seqline evaluation</title>
<style>{_STYLE}</style></head><body>
<h1>Evaluation {badge}</h1>
<p class="muted">model <code>{html.escape(model_uri)}</code> on split
'{html.escape(eval_split)}' ({evaluation.overall.count} examples, {evaluation.task};
{html.escape(evaluation.averaging)})<br>{baseline_line}<br>
majority baseline: always '{html.escape(evaluation.labels[evaluation.baseline.majority_id])}'
(fitted on '{html.escape(evaluation.baseline.source)}'){linear_line}</p>
<h2>Reasons</h2><ul>{reasons}</ul>
<h2>Overall metrics on '{html.escape(eval_split)}'</h2>{_metrics_table(evaluation, eval_split)}
<h2>Slices of '{html.escape(eval_split)}'</h2>{_slices_table(evaluation, slice_metrics)}
<h2>Plots on '{html.escape(eval_split)}'</h2>{missing}<div class="plots">{images}</div>
</body></html>
"""
