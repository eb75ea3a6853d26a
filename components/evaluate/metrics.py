"""Classification metrics as pure numpy functions over (label ids, probabilities) arrays.

Everything here takes plain arrays, so the same functions score the candidate model, the
majority-class baseline and (later) baseline models and slices:

    label_ids      int   [n]     true class index into the label list
    probabilities  float [n, k]  one row per example; for a binary model k == 2 and row = [1-p, p]
    predicted_ids  int   [n]     the class the model decided on (its `class_ids` output)

Averaging: for a binary task precision, recall and F1 are those of the positive class (index 1,
i.e. labels[1]); for a multi-class task they are macro averages (unweighted mean over classes, see
`macro_precision_recall_f1`). AUC is ROC AUC for binary and macro one-vs-rest for multi-class.
A metric that is undefined on the data (e.g. AUC with a single class present) is NaN; the caller
decides what NaN means for a threshold (it fails) and for JSON (it becomes null).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np

# Keras' backend epsilon: probabilities are clipped to [EPSILON, 1 - EPSILON] before the log, so a
# confident wrong prediction costs -log(1e-7) ~= 16.1 instead of infinity.
EPSILON = 1e-7

Task = Literal["binary", "multiclass"]

# Every metric name `compute_metrics` returns, with the direction in which it improves. Thresholds
# and baseline comparisons are validated against these names.
HIGHER_IS_BETTER: Mapping[str, bool] = {
    "loss": False,
    "accuracy": True,
    "auc": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "example_count": True,
}
METRIC_NAMES: tuple[str, ...] = tuple(HIGHER_IS_BETTER)
# Metrics that are fractions: a bound outside [0, 1] on them can never (or always) hold.
UNIT_INTERVAL_METRICS = frozenset({"accuracy", "auc", "precision", "recall", "f1"})


def _check_shapes(label_ids: np.ndarray, probabilities: np.ndarray) -> None:
    if probabilities.ndim != 2 or label_ids.ndim != 1 or len(label_ids) != len(probabilities):
        raise ValueError(
            f"expected label_ids [n] and probabilities [n, k], got {label_ids.shape} and "
            f"{probabilities.shape}"
        )
    if len(label_ids) and (label_ids.min() < 0 or label_ids.max() >= probabilities.shape[1]):
        raise ValueError(
            f"label ids must lie in [0, {probabilities.shape[1]}), got range "
            f"[{label_ids.min()}, {label_ids.max()}]"
        )


def log_loss(label_ids: np.ndarray, probabilities: np.ndarray, epsilon: float = EPSILON) -> float:
    """Mean cross-entropy -log(p[true class]) with p clipped to [epsilon, 1 - epsilon].

    For a binary model whose rows are [1-p, p] this equals binary cross-entropy
    -(y log p + (1-y) log(1-p)) with the same clipping, so one formula serves both tasks.
    Returns NaN for zero examples.
    """
    label_ids = np.asarray(label_ids, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    _check_shapes(label_ids, probabilities)
    if len(label_ids) == 0:
        return float("nan")
    p_true = probabilities[np.arange(len(label_ids)), label_ids]
    return float(-np.mean(np.log(np.clip(p_true, epsilon, 1.0 - epsilon))))


def accuracy(label_ids: np.ndarray, predicted_ids: np.ndarray) -> float:
    """Fraction of examples whose predicted class is the true class (NaN for zero examples)."""
    label_ids = np.asarray(label_ids)
    predicted_ids = np.asarray(predicted_ids)
    if len(label_ids) == 0:
        return float("nan")
    return float(np.mean(label_ids == predicted_ids))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of `values`, tied values sharing the mean of the ranks they span."""
    unique, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    del unique
    # Tie group g spans ranks (ends[g] - counts[g], ends[g]]; its average rank is the midpoint.
    ends = np.cumsum(counts)
    group_rank = ends - (counts - 1) / 2.0
    return group_rank[inverse]


def roc_auc(is_positive: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC: the probability that a random positive scores above a random negative, a tie
    counting 1/2 (the Mann-Whitney U statistic / (n_pos * n_neg)), computed in O(n log n) from
    average ranks. NaN when either class is absent.

    Args:
        is_positive: bool [n].
        scores: float [n], higher means more positive.
    """
    is_positive = np.asarray(is_positive, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos = int(is_positive.sum())
    n_neg = len(is_positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(scores)
    u_statistic = ranks[is_positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u_statistic / (n_pos * n_neg))


def macro_ovr_auc(label_ids: np.ndarray, probabilities: np.ndarray) -> float:
    """Macro one-vs-rest ROC AUC: the mean over classes k of roc_auc(label == k, p[:, k]).

    Classes whose AUC is undefined on this data (no example of them, or every example is of
    them) are left out of the mean; NaN if that leaves none.
    """
    label_ids = np.asarray(label_ids, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    _check_shapes(label_ids, probabilities)
    per_class = [
        roc_auc(label_ids == k, probabilities[:, k]) for k in range(probabilities.shape[1])
    ]
    defined = [a for a in per_class if not np.isnan(a)]
    return float(np.mean(defined)) if defined else float("nan")


def confusion_matrix(
    label_ids: np.ndarray, predicted_ids: np.ndarray, num_classes: int
) -> np.ndarray:
    """int64 [num_classes, num_classes]; entry [t, p] counts examples of class t predicted p."""
    label_ids = np.asarray(label_ids, dtype=np.int64)
    predicted_ids = np.asarray(predicted_ids, dtype=np.int64)
    flat = label_ids * num_classes + predicted_ids
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    # 0/0 is reported as 0 (scikit-learn's zero_division=0): a class never predicted has no
    # precision to speak of, and counting it as 0 keeps a degenerate model from looking good.
    out = np.zeros(len(numerator), dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def per_class_precision_recall_f1(
    matrix: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 per class (each float [k]) from a confusion matrix."""
    true_pos = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    actual = matrix.sum(axis=1).astype(np.float64)
    precision = _ratio(true_pos, predicted)
    recall = _ratio(true_pos, actual)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return precision, recall, f1


def macro_precision_recall_f1(matrix: np.ndarray) -> tuple[float, float, float]:
    """Unweighted means of per-class precision, recall and F1 over the classes that occur in the
    data, as truth or as prediction (scikit-learn's default label set): a class absent from the
    eval split and never predicted says nothing about the model and is left out."""
    precision, recall, f1 = per_class_precision_recall_f1(matrix)
    present = (matrix.sum(axis=0) + matrix.sum(axis=1)) > 0
    if not present.any():
        return float("nan"), float("nan"), float("nan")
    return (
        float(precision[present].mean()),
        float(recall[present].mean()),
        float(f1[present].mean()),
    )


def compute_metrics(
    label_ids: np.ndarray,
    probabilities: np.ndarray,
    predicted_ids: np.ndarray | None = None,
    task: Task = "binary",
) -> dict[str, float]:
    """All metrics of METRIC_NAMES for one set of predictions.

    Args:
        label_ids: int [n], true class indices.
        probabilities: float [n, k]; for "binary", k must be 2 and column 1 is the positive class.
        predicted_ids: int [n], the decided classes; default argmax of probabilities (first
            index on ties). Pass the model's own `class_ids` so the metrics judge the decision
            serving returns.
        task: "binary" (positive-class precision/recall/F1, ROC AUC on column 1) or
            "multiclass" (macro averages, macro one-vs-rest AUC).

    Returns:
        {name: float} with the keys of METRIC_NAMES; NaN where undefined.
    """
    label_ids = np.asarray(label_ids, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    _check_shapes(label_ids, probabilities)
    num_classes = probabilities.shape[1]
    if task == "binary" and num_classes != 2:
        raise ValueError(f"a binary task needs probabilities [n, 2], got [n, {num_classes}]")
    if predicted_ids is None:
        predicted_ids = np.argmax(probabilities, axis=1)
    predicted_ids = np.asarray(predicted_ids, dtype=np.int64)
    matrix = confusion_matrix(label_ids, predicted_ids, num_classes)
    if task == "binary":
        precision, recall, f1 = (float(v[1]) for v in per_class_precision_recall_f1(matrix))
        auc = roc_auc(label_ids == 1, probabilities[:, 1])
    else:
        precision, recall, f1 = macro_precision_recall_f1(matrix)
        auc = macro_ovr_auc(label_ids, probabilities)
    return {
        "loss": log_loss(label_ids, probabilities),
        "accuracy": accuracy(label_ids, predicted_ids),
        "auc": auc,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "example_count": float(len(label_ids)),
    }
