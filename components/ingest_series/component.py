"""ingest_series: CSV / Parquet time series -> sliding-window tf.Examples per time split.

Outputs:
    examples (SeriesWindows): one tf.Example per window with the features of
        schemas/series.py (series_id, window_end, history/{column}, future/{target}) in the
        Examples split layout; properties: the WindowSpec (lookback, horizon, stride,
        frequency, targets, covariates, series_ids), splits, counts = windows per split,
        points, gaps, rejected, input, duplicates, out_of_order, off_grid, split_definition
        (`split_definition` below); with a span-pattern source also span and spans
        (docs/scheduled-runs.md).
    rejected (RejectedRecords): one {"source", "position", "reason", "message", "record"} per
        rejected row; properties count, by_reason.
Fails with DataError when no row is accepted, rejected / input > max_reject_ratio, or a split
gets no window; with ConfigError before the run when the source matches no file or lacks the
configured columns.

A thin shell (components/ingest_shell.py, shared with ingest_text): the logic is in
parsing.py, regularize.py, windowing.py (pure), transforms.py (Beam) and counts.py. numpy,
TensorFlow and Beam are imported inside `run` only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from seqline.components.ingest_series import counts as counts_lib
from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.ingest_series.sources import (
    check_source,
    resolve_source,
    source_fingerprint,
)
from seqline.components.ingest_shell import IngestAccounting, run_ingest
from seqline.pipeline.artifacts import RejectedRecords, SeriesWindows
from seqline.pipeline.component import ExecutionContext, Out, component
from seqline.pipeline.spans import span_properties

logger = logging.getLogger(__name__)


def split_definition(config: IngestSeriesConfig) -> dict[str, Any]:
    """What decides which points of each series land in which split, recorded on the
    SeriesWindows (`split_definition`, docs/ingest.md) and carried onto the models trained from
    them: the split names in time order and the fractions, or the cut times (as epoch
    microseconds, so two spellings of one instant are one definition)."""
    if config.split_by == "time":
        cuts: dict[str, Any] = {"cuts_us": config.cut_micros()}
    else:
        cuts = {"fractions": [float(f) for f in config.split_fractions]}
    return {
        "ingest": "ingest_series",
        "split_by": config.split_by,
        "splits": list(config.splits),
        **cuts,
    }


def run(
    ctx: ExecutionContext,
    config: IngestSeriesConfig,
    examples: Out[SeriesWindows],
    rejected: Out[RejectedRecords],
) -> dict[str, Any]:
    """Executor: one Beam pipeline reads, regularises, splits and windows the source; fills
    both outputs' properties; returns {"input", "accepted", "rejected", "series", "windows"}."""
    from seqline.components.ingest_series.transforms import IngestSeries  # noqa: PLC0415

    found = resolve_source(config)
    files = list(found.files)
    if found.spans:
        ctx.progress(f"spans {', '.join(map(str, found.spans))}")
    ctx.progress(f"reading {len(files)} {config.format} file(s), windowing per series")
    accounting = IngestAccounting(
        check_conservation=counts_lib.check_conservation,
        examples_properties=lambda counts: {
            **counts_lib.examples_properties(counts, config),
            **span_properties(found.spans),
            "split_definition": split_definition(config),
        },
        rejected_properties=counts_lib.rejected_properties,
        summary=lambda counts: summarize(counts, config),
        done_message=lambda s: done_message(s, config),
        enforce_quality=lambda counts, where, samples: counts_lib.enforce_quality(
            counts, config, where, samples
        ),
    )
    return run_ingest(
        ctx,
        "ingest_series",
        lambda counts_path, progress_key: IngestSeries(
            files, config, examples.uri, rejected.uri, counts_path, progress_key
        ),
        accounting,
        examples,
        rejected,
    )


def done_message(s: Mapping[str, Any], config: IngestSeriesConfig) -> str:
    """The progress line after the run, from the summary (counts_lib.summary)."""
    return (
        f"accepted {s['accepted']} of {s['input']} rows ({s['rejected']} rejected) from "
        f"{s['series']} series; windows {s['windows']}"
        + (
            f"; {s['short_segments']} gap-free stretch(es) shorter than lookback + horizon "
            f"= {config.lookback + config.horizon} gave no window (a short series or the "
            "pieces between long gaps: their rows are in no example)"
            if s["short_segments"]
            else ""
        )
        + (
            f"; {s['filled_steps']} steps filled, more than the {s['accepted']} real "
            f"points: frequency {config.frequency!r} may be finer than the data"
            if s["filled_steps"] > s["accepted"]
            else ""
        )
        + _worst_split_note(s.get("worst_filled_split"))
    )


def _worst_split_note(worst: Mapping[str, Any] | None) -> str:
    """The note "; split 'test' mostly filled (...)" when gap filling made up more steps of
    one split than it has real points, else ""."""
    if not worst or int(worst["filled"]) <= int(worst["real"]):
        return ""
    filled, real = int(worst["filled"]), int(worst["real"])
    return (
        f"; split {worst['split']!r} mostly filled ({filled} filled steps, {real} real "
        f"points, {filled / (filled + real):.0%} filled)"
    )


def summarize(counts: Mapping[str, Any], config: IngestSeriesConfig) -> dict[str, Any]:
    """counts_lib.summary, logging the filled-steps warning (counts_lib.filled_steps_warning)."""
    warning = counts_lib.filled_steps_warning(counts, config)
    if warning:
        logger.warning(warning)
    return counts_lib.summary(counts)


COMPONENT = component(
    run, name="ingest_series", source_fingerprint=source_fingerprint, check=check_source
)
