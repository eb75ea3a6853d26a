"""Reading the CSVLogger history of a training that may have been killed and resumed."""

from __future__ import annotations

import csv
import io
import math

from seqline.storage import filesystem


def read_history(path: str) -> dict[str, list[float]]:
    """Per-epoch metrics from a CSVLogger file, in epoch order.

    A resumed run appends to the file, so an epoch may appear twice (killed after the row was
    written, before the backup): the last row of each epoch wins. A header line repeated by an
    appending run is skipped.

    Returns:
        {"epoch": [0.0, 1.0, ...], "loss": [...], "val_loss": [...], ...}; {} if the file is
        missing or empty. Columns missing from some rows are NaN there.
    """
    if not filesystem.exists(path):
        return {}
    rows: dict[int, dict[str, str]] = {}
    columns: list[str] = []
    for row in csv.DictReader(io.StringIO(filesystem.read_text(path))):
        if row.get("epoch") in (None, "", "epoch"):
            continue
        for key in row:
            if key is not None and key not in columns:
                columns.append(key)
        rows[int(float(row["epoch"]))] = row
    history: dict[str, list[float]] = {c: [] for c in columns}
    for epoch in sorted(rows):
        for column in columns:
            value = rows[epoch].get(column)
            history[column].append(float(value) if value not in (None, "") else math.nan)
    return history


def higher_is_better(monitor: str) -> bool:
    """True for accuracy-like metrics (maximised), False for losses (minimised): the direction
    of every monitor train allows, as Keras's "auto" mode reads them."""
    return "acc" in monitor


def best_value(history: dict[str, list[float]], monitor: str) -> float | None:
    """Best value of `monitor` so far (max for accuracy-like metrics, else min); None if the
    history has no finite value for it."""
    values = [v for v in history.get(monitor, []) if math.isfinite(v)]
    if not values:
        return None
    return max(values) if higher_is_better(monitor) else min(values)


def best_epoch(history: dict[str, list[float]], monitor: str) -> int | None:
    """Epoch index (0-based) of best_value, or None."""
    best = best_value(history, monitor)
    if best is None:
        return None
    return int(history["epoch"][history[monitor].index(best)])


def first_nonfinite_epoch(history: dict[str, list[float]], metric: str = "loss") -> int | None:
    """Epoch index (0-based) of the first NaN/inf `metric` value (training diverged), or None."""
    for epoch, value in zip(history.get("epoch", []), history.get(metric, []), strict=False):
        if not math.isfinite(value):
            return int(epoch)
    return None


def metrics_at_epoch(history: dict[str, list[float]], index: int) -> dict[str, float | None]:
    """Every metric of the history's row `index` (not the "epoch" column); a non-finite value
    is None (JSON has no NaN: a diverged value is recorded as null)."""
    return {
        k: (v[index] if math.isfinite(v[index]) else None)
        for k, v in history.items()
        if k != "epoch" and len(v) > index
    }
