"""From the pipeline's counts document to artifact properties, the summary and the verdict.

The counts document (written by transforms.IngestSeries) is
    {"input": n, "rejected": n, "by_reason": {code: n}, "points": {split: n},
     "filled_by_split": {split: n}, "missing_by_split": {split: n},
     "missing_gaps_by_split": {split: n}, "windows": {split: n}, "borrowed_steps": {split: n},
     "series_ids": [...],
     "stats": {out_of_order, off_grid, duplicates, gaps, missing_steps, largest_gap_steps,
     filled_steps, breaks, segments, short_segments},
     "float32_loss": [{series, column, low, high, max_error, distinct, distinct_float32}]}
Pure functions (no numpy, no Beam); the executor in component.py calls them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.pipeline import quarantine
from seqline.pipeline.errors import DataError


def accepted_count(counts: Mapping[str, Any]) -> int:
    """Rows kept as points of some split."""
    return sum(int(n) for n in counts["points"].values())


def check_conservation(counts: Mapping[str, Any]) -> None:
    """input == accepted + rejected, exactly. A mismatch is a bug in the pipeline, not a user
    error, hence RuntimeError."""
    quarantine.check_conservation(
        "ingest_series", "rows", counts["input"], accepted_count(counts), counts["rejected"],
        f"points {counts['points']}",
    )  # fmt: skip


def gap_properties(counts: Mapping[str, Any], config: IngestSeriesConfig) -> dict[str, Any]:
    """The "gaps" property: the policy and what regularisation found and did.

    gaps / missing_steps / largest_gap_steps: runs of missing steps over whole series;
    filled_steps: steps filled (interpolate/ffill), in total; filled_by_split: split -> steps
    filled inside it (every configured split; left out when the counts have no per-split
    figures); missing_by_split / missing_gaps_by_split: split -> missing steps of its grid
    left unfilled and the gaps they are in (gaps longer than max_gap_steps, and a gap across
    the boundary before the split; every split, left out when the counts have none): a
    split's grid is points + filled + missing, and validate's max_gap_fraction checks missing
    / grid per split; breaks: gaps inside a split left unfilled (they end a segment; gaps across a
    split boundary are neither filled nor breaks); segments: gap-free runs windows were cut
    from; short_segments: those shorter than lookback + horizon (no window).
    """
    stats = counts["stats"]
    keys = ("gaps", "missing_steps", "largest_gap_steps", "filled_steps", "breaks", "segments",
            "short_segments")  # fmt: skip
    out: dict[str, Any] = {
        "policy": config.gap_policy,
        "max_gap_steps": config.max_gap_steps,
        **{key: int(stats.get(key, 0)) for key in keys},
    }
    by_split = counts.get("filled_by_split")
    if by_split is not None:
        out["filled_by_split"] = {s: int(by_split.get(s, 0)) for s in config.splits}
    for key in ("missing_by_split", "missing_gaps_by_split"):
        per_split = counts.get(key)
        if per_split is not None:
            out[key] = {s: int(per_split.get(s, 0)) for s in config.splits}
    return out


def worst_filled_split(counts: Mapping[str, Any]) -> tuple[str, int, int] | None:
    """(split, filled, real) of the split whose grid gap filling made up the largest share
    of (filled / (filled + real), the first split among ties), or None when the counts have
    no per-split figures or nothing was filled."""
    by_split = counts.get("filled_by_split") or {}
    points = counts.get("points") or {}
    worst: tuple[float, str, int, int] | None = None
    for split, filled in by_split.items():
        filled, real = int(filled), int(points.get(split, 0))
        if filled == 0:
            continue
        share = filled / (filled + real)
        if worst is None or share > worst[0]:
            worst = (share, split, filled, real)
    return None if worst is None else worst[1:]


def examples_properties(counts: Mapping[str, Any], config: IngestSeriesConfig) -> dict[str, Any]:
    """Properties of the Examples artifact (schemas/series.py's contract, plus duplicates,
    out_of_order and off_grid row counts)."""
    splits = list(config.splits)
    stats = counts["stats"]
    return {
        "kind": "series",
        "lookback": config.lookback,
        "horizon": config.horizon,
        "stride": config.stride,
        "frequency": config.frequency,
        "targets": list(config.targets),
        "covariates": config.history_covariates(),
        "future_covariates": list(config.future_covariates),
        "series_ids": list(counts["series_ids"]) if config.series_id_column else [],
        "splits": splits,
        "counts": {s: int(counts["windows"].get(s, 0)) for s in splits},
        "points": {s: int(counts["points"].get(s, 0)) for s in splits},
        # Rolling-origin history: steps each split's windows took from the splits before it
        # (summed over series; all 0 when history_from_previous_split is off).
        "history_from_previous_split": config.history_from_previous_split,
        "borrowed_steps": {s: int(counts.get("borrowed_steps", {}).get(s, 0)) for s in splits},
        "gaps": gap_properties(counts, config),
        "duplicates": int(stats.get("duplicates", 0)),
        "out_of_order": int(stats.get("out_of_order", 0)),
        "off_grid": {"policy": config.off_grid, "rows": int(stats.get("off_grid", 0))},
        "rejected": int(counts["rejected"]),
        "input": int(counts["input"]),
    }


def filled_steps_warning(counts: Mapping[str, Any], config: IngestSeriesConfig) -> str | None:
    """The warning when gap filling made more steps than the data has points, in total or in
    one split, else None; it names the split with the largest filled share.

    More filled steps than real points is what a declared `frequency` finer than the data's
    step looks like (hourly rows, frequency 15min: 3 of every 4 steps filled): windows then
    are mostly interpolation. In one split only, it is a stretch of the source with sparse
    rows (a test split mostly interpolated scores a model on made-up targets). A warning
    here, not a failure: validate blocks it (the filled steps reach it as the statistics'
    grid_steps, checked per split against max_filled_fraction), since its statistics read
    the windows, where filled steps are not missing.
    """
    filled = int(counts["stats"].get("filled_steps", 0))
    points = accepted_count(counts)
    worst = worst_filled_split(counts)
    split_overfilled = worst is not None and worst[1] > worst[2]
    if filled <= points and not split_overfilled:
        return None
    where = ""
    if worst is not None:
        split, split_filled, split_real = worst
        share = split_filled / (split_filled + split_real)
        where = (
            f"; split {split!r} is the most filled: {split_filled} filled steps and "
            f"{split_real} real points ({share:.0%} filled)"
        )
    if filled > points:
        head = (
            f"ingest_series: {filled} steps were filled by gap_policy {config.gap_policy!r}, "
            f"more than the {points} real points{where}: is frequency {config.frequency!r} "
            "finer than the data's step? Set frequency to the step the rows are recorded at "
            "(hourly rows: 1h)."
        )
    else:
        head = (
            f"ingest_series: {filled} steps were filled by gap_policy {config.gap_policy!r} "
            f"({points} real points in total){where}: the source is sparse in that split's "
            "time range (or frequency is finer than the data's step there); a model scored "
            "on it is scored on interpolated targets."
        )
    return (
        f"{head} Those windows are mostly interpolated values; validate blocks a split whose "
        "filled steps exceed validate.max_filled_fraction of its grid (default 25%)"
    )


def rejected_properties(counts: Mapping[str, Any]) -> dict[str, Any]:
    """Properties of the RejectedRecords artifact: count and count by reason (most first)."""
    return quarantine.rejected_properties(counts["rejected"], counts["by_reason"])


def summary(counts: Mapping[str, Any]) -> dict[str, Any]:
    """The executor's small summary: rows in/accepted/rejected, series, windows per split,
    short segments, filled steps (total) and the most filled split (worst_filled_split:
    {"split", "filled", "real"}, None when nothing was filled or the counts have no
    per-split figures)."""
    return {
        "input": int(counts["input"]),
        "accepted": accepted_count(counts),
        "rejected": int(counts["rejected"]),
        "series": len(counts["series_ids"]),
        "windows": dict(counts["windows"]),
        # Gap-free runs shorter than lookback + horizon: accepted rows that give no window.
        "short_segments": int(counts.get("stats", {}).get("short_segments", 0)),
        # Steps made up by gap filling (interpolate / ffill): not data.
        "filled_steps": int(counts.get("stats", {}).get("filled_steps", 0)),
        # {"split", "filled", "real"} of the split with the largest filled share, or None.
        "worst_filled_split": _worst_as_dict(counts),
    }


def _worst_as_dict(counts: Mapping[str, Any]) -> dict[str, Any] | None:
    worst = worst_filled_split(counts)
    return None if worst is None else dict(zip(("split", "filled", "real"), worst, strict=True))


def enforce_quality(
    counts: Mapping[str, Any],
    config: IngestSeriesConfig,
    rejected_location: str,
    samples: Sequence[str] = (),
) -> None:
    """Raises DataError when no row was accepted, rejected / input > max_reject_ratio, a
    series has a column float32 cannot hold (float32_loss_error), or a split got no window.
    The message gives counts, top reasons, sample rejected lines and where the rejected JSONL
    is."""
    n_input = int(counts["input"])
    n_rejected = int(counts["rejected"])
    where = f"rejected rows are in {rejected_location}"
    by_reason = counts["by_reason"]
    if accepted_count(counts) == 0:
        raise quarantine.nothing_accepted_error(
            "ingest_series", "row",
            counted=f"input {n_input}, rejected {n_rejected}",
            by_reason=by_reason, where=where, samples=samples,
            fix="fix the data, or the columns / timestamp_format / frequency in the config",
        )  # fmt: skip
    error = quarantine.reject_ratio_error(
        "ingest_series", "rows",
        n_input=n_input, rejected=n_rejected, max_reject_ratio=config.max_reject_ratio,
        by_reason=by_reason, where=where, samples=samples,
        fix="fix the data or the config (off_grid: snap rounds off-grid rows), or raise "
        "max_reject_ratio if these rows are expected to be bad",
    )  # fmt: skip
    if error:
        raise error
    lossy = float32_loss_error(counts.get("float32_loss") or [])
    if lossy:
        raise lossy
    empty = [s for s in config.splits if not counts["windows"].get(s)]
    if empty:
        points = {s: int(counts["points"].get(s, 0)) for s in config.splits}
        stats = counts["stats"]
        raise DataError(
            f"ingest_series: expected windows in every split, got none in {empty} (windows "
            f"{dict(counts['windows'])}, points per split {points}, segments "
            f"{stats.get('segments', 0)} of which {stats.get('short_segments', 0)} shorter "
            f"than lookback + horizon = {config.lookback + config.horizon}); give those "
            "splits more of the series (split_fractions / split_cuts), shorten lookback / "
            "horizon, fill more gaps (max_gap_steps), set history_from_previous_split: "
            "true (later splits then need only horizon points), or drop the split"
        )


def float32_loss_error(losses: Sequence[Mapping[str, Any]], shown: int = 5) -> DataError | None:
    """The DataError for series columns that float32 cannot hold (counts' "float32_loss",
    worst first; at most `shown` named), or None when there are none."""
    from seqline.components.ingest_series.windowing import FLOAT32_TOLERANCE  # noqa: PLC0415

    if not losses:
        return None
    lines = []
    for loss in losses[:shown]:
        low, high, error = float(loss["low"]), float(loss["high"]), float(loss["max_error"])
        series = f"series {loss['series']!r}" if loss["series"] else "the series"
        lines.append(
            f"{series} column {loss['column']!r} (values {low:.15g} to {high:.15g}, range "
            f"{high - low:.6g}): float32 moves a value by up to {error:.6g} "
            f"({error / (high - low):.1%} of the range), {loss['distinct']} distinct values "
            f"become {loss['distinct_float32']}"
        )
    more = f"; and {len(losses) - shown} more" if len(losses) > shown else ""
    first = losses[0]
    return DataError(
        f"ingest_series: expected every target and covariate to survive float32 (windows, "
        f"the model and serving hold values as float32) within {FLOAT32_TOLERANCE:.1%} of "
        f"its range in each series, got {len(losses)} column(s) that do not: "
        + "; ".join(lines)
        + more
        + ". The values are large next to how much they move, so a model would see steps "
        f"or a constant. Subtract an offset in the source (e.g. {first['column']} - "
        f"{float(first['low']):.15g}, the level of the series) or rescale the column so "
        "that its range is not tiny next to its magnitude"
    )
