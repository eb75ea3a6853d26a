"""statistics: Examples -> ExampleStatistics, one Beam pass per split.

Input:
    examples (Examples, or SeriesWindows): read split by split through examples.split_files.
Output:
    statistics (ExampleStatistics): the proto files and HTML report of its file structure.
        Properties: splits, counts, and the feature roles the config named (label_feature,
        text_features, timestamp_feature, series_id_feature); span and spans, copied from
        examples when its source had a span pattern (validate's drift baseline is the
        statistics of the previous span, pipeline/resolvers.py PreviousStatistics);
        grid_steps, copied from series examples (examples.grid_steps: real and filled steps
        in total and per split), because a filled step looks real in the windows the
        statistics read and validate's max_filled_fraction needs the count of each split.
    For series examples whose ingest counted each split's missing grid steps
    (gaps.missing_by_split), the proto's timestamp feature of each split also carries
    series_grid_steps / series_grid_missing_steps / series_grid_gaps (statistics_proto.py):
    validate's max_gap_fraction compares missing data steps with grid steps from them, since
    the windows' own spacing counts a gap of g steps as up to g + lookback + horizon - 1
    missing window ends.

A thin shell over transforms.py (Beam), feature_stats.py / series_stats.py (the combiners'
logic), statistics_proto.py (layout) and report.py (HTML). Heavy imports live inside `run`.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

from seqline.components.statistics.config import StatisticsConfig
from seqline.pipeline.artifacts import Examples, ExampleStatistics
from seqline.pipeline.component import ExecutionContext, Out, component
from seqline.pipeline.errors import ConfigError, DataError
from seqline.pipeline.spans import span_properties
from seqline.schemas.text import LABEL_KEY, TEXT_KEY
from seqline.storage import filesystem


def run(
    ctx: ExecutionContext,
    config: StatisticsConfig,
    examples: Examples,
    statistics: Out[ExampleStatistics],
) -> dict[str, Any]:
    """Executor: computes the statistics of every split, writes the proto files and the HTML
    report, returns {"splits", "examples", "features"}."""
    import apache_beam as beam  # noqa: PLC0415 — heavy imports only when executing

    from seqline.components.statistics.report import write_report  # noqa: PLC0415
    from seqline.components.statistics.series_stats import grid_counts  # noqa: PLC0415
    from seqline.components.statistics.statistics_files import (  # noqa: PLC0415
        read_statistics,
        write_statistics,
    )
    from seqline.components.statistics.statistics_proto import add_grid_counts  # noqa: PLC0415
    from seqline.components.statistics.transforms import GenerateStatistics  # noqa: PLC0415
    from seqline.pipeline import beam_progress  # noqa: PLC0415

    splits = examples.splits
    if not splits:
        raise DataError(
            f"statistics: expected the examples artifact at {examples.uri} to list its splits, "
            "got none; produce it with an ingest component"
        )
    files = examples.all_split_files()
    ctx.progress(f"computing statistics of {len(splits)} split(s): {', '.join(splits)}")
    # The pipeline runs when its `with` exits, before the progress registration is removed.
    with (
        beam_progress.reporting(ctx.progress) as progress_key,
        beam.Pipeline(options=ctx.beam_options()) as pipeline,
    ):
        _ = pipeline | "GenerateStatistics" >> GenerateStatistics(
            files, config, statistics.uri, progress_key
        )
    stats = read_statistics(statistics.uri)
    _check_named_features(config, stats)
    grids = grid_counts(examples.properties)
    # ingest's own grid counts (missing data steps per split), which the windows cannot
    # show: validate's max_gap_fraction reads them from the proto.
    if (
        grids is not None
        and config.timestamp_feature
        and add_grid_counts(stats, config.timestamp_feature, grids)
    ):
        write_statistics(stats, statistics.uri)

    ctx.progress("writing the HTML report")
    report_dir = statistics.path(ExampleStatistics.REPORT_DIR)
    title = f"Statistics: {examples.uri}"
    if filesystem.is_remote(report_dir):
        local = tempfile.mkdtemp(prefix="statistics-report-", dir=ctx.temp_dir)
        try:
            write_report(stats, local, config.label_feature, title=title)
            filesystem.copytree(local, report_dir)
        finally:
            shutil.rmtree(local, ignore_errors=True)
    else:
        write_report(stats, report_dir, config.label_feature, title=title)

    counts = {d.name: int(d.num_examples) for d in stats.datasets}
    statistics.properties.update(
        {
            "splits": splits,
            "counts": counts,
            "label_feature": config.label_feature,
            "text_features": list(config.text_features),
            "timestamp_feature": config.timestamp_feature,
            "series_id_feature": config.series_id_feature,
            # Which span these statistics describe: what drift is ordered by.
            **span_properties(tuple(examples.properties.get("spans") or ())),
        }
    )
    grid = examples.grid_steps
    if grid is not None:  # series windows: how much of their grid is data
        statistics.properties["grid_steps"] = grid.properties()
    features = sorted({len(d.features) for d in stats.datasets})
    return {"splits": splits, "examples": sum(counts.values()), "features": max(features or [0])}


def _check_named_features(config: StatisticsConfig, stats: Any) -> None:
    """Raises ConfigError when a feature the config names is in no split of the Examples: a
    typo (`text_features: [txt]`, `label_feature: lbl`) would otherwise turn off the checks
    that role carries (empty texts, drift, skew, the label's domain and balance) without a
    word. The defaults (`text`, `label`) are not checked: a series dataset has neither."""
    from seqline.components.statistics.statistics_files import feature_name  # noqa: PLC0415

    present = {feature_name(f) for d in stats.datasets for f in d.features}
    if not any(d.num_examples for d in stats.datasets):
        return  # nothing to name features by; validate reports the empty dataset
    named = [("text_features", n) for n in config.text_features if n and n != TEXT_KEY]
    if config.label_feature and config.label_feature != LABEL_KEY:  # "" = no label
        named.append(("label_feature", config.label_feature))
    named += [
        (field, name)
        for field, name in (
            ("timestamp_feature", config.timestamp_feature),
            ("series_id_feature", config.series_id_feature),
        )
        if name is not None
    ]
    missing = [(field, name) for field, name in named if name not in present]
    if missing:
        raise ConfigError(
            "statistics: expected the features the config names to be in the Examples, got "
            + ", ".join(f"{field} {name!r}" for field, name in missing)
            + f" not among {sorted(present)}; fix the name(s) in components.statistics"
        )


COMPONENT = component(run, name="statistics")
