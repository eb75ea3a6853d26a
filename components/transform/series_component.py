"""transform_series: TFT on Beam scales series windows (fitted on the train split only).

Inputs:
    examples (SeriesWindows): windows of seqline.schemas.series; their WindowSpec (lookback L,
        horizon H, targets, covariates, series_ids) fixes the raw feature spec.
    schema (Schema, optional): validate's schema. The windows are parsed by the series
        contract's own spec (fixed shapes [L] and [H]); the input is wired so transform runs
        only after validation passed.
Outputs:
    transform_graph (TransformGraph, kind "series"): TFT output + the contract's raw schema
        (future included) in metadata/; properties the WindowSpec plus scaling, log1p,
        per_series, calendar, calendar_features (C, columns per step).
    transformed_examples (TransformedExamples): history [L * (F + C)], future [H * G] (with
        future covariates or calendar features, G = their count + C), target [H * T],
        target_offset [T], target_scale [T]; properties splits, counts.

Calendar features (`calendar`) are computed inside the graph from window_end (calendar.py), so
the exported model derives them from the timestamp a serving request gives.

The scaling statistics are fitted on `train_split` only (TFT analyzes that split) and applied
to every split; see series_preprocessing.py. The Beam pipeline is shared with transform_text
(beam_pipeline.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seqline.components.transform.config import TransformSeriesConfig, calendar_width
from seqline.pipeline.artifacts import Schema, SeriesWindows, TransformedExamples, TransformGraph
from seqline.pipeline.component import ExecutionContext, Out, component
from seqline.pipeline.errors import ConfigError, DataError
from seqline.storage import filesystem


def tft_feature_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The contract's feature spec without default values: a TFT schema cannot hold them
    (FixedLenFeature must have default_value=None there), and ingest_series always writes
    series_id and window_end, so nothing relies on the defaults while transforming."""
    import tensorflow as tf  # noqa: PLC0415

    return {
        name: tf.io.FixedLenFeature(f.shape, f.dtype) if isinstance(f, tf.io.FixedLenFeature) else f
        for name, f in spec.items()
    }


def calendar_step_seconds(config: TransformSeriesConfig, frequency: str | None) -> int:
    """The windows' step in seconds when calendar features are configured (else 0); a
    ConfigError when the frequency has no fixed step (months) or is unknown."""
    if not config.calendar:
        return 0
    from seqline.components.ingest_series.frequency import parse_frequency  # noqa: PLC0415

    parsed = parse_frequency(frequency) if frequency else None
    if parsed is None or parsed.is_monthly or parsed.step_micros % 1_000_000:
        raise ConfigError(
            f"calendar: {list(config.calendar)} needs a fixed step of whole seconds to date "
            f"every step from window_end, got frequency {frequency!r}; drop transform.calendar "
            "for monthly series, or use covariate columns"
        )
    return parsed.step_micros // 1_000_000


def run(
    ctx: ExecutionContext,
    config: TransformSeriesConfig,
    examples: SeriesWindows,
    schema: Schema | None,
    transform_graph: Out[TransformGraph],
    transformed_examples: Out[TransformedExamples],
) -> dict[str, Any]:
    """Fits the scaling on the train split, transforms every split, fills both outputs;
    returns {"scaling", "per_series", "splits"}."""
    from seqline.components.transform import beam_pipeline  # noqa: PLC0415
    from seqline.components.transform.series_preprocessing import (  # noqa: PLC0415
        make_series_preprocessing_fn,
    )
    from seqline.pipeline import beam_progress  # noqa: PLC0415
    from seqline.schemas.series import raw_series_feature_spec  # noqa: PLC0415

    windows = examples.windows
    splits = examples.splits
    if config.train_split not in splits:
        raise ConfigError(
            f"train_split: expected one of the Examples splits {splits}, got "
            f"{config.train_split!r}; set transform.train_split to the split to fit scaling on"
        )
    if examples.counts.get(config.train_split, 1) == 0:
        raise DataError(
            f"the Examples split {config.train_split!r} has no windows: expected at least one to "
            "fit the scaling on; lengthen the series or shorten lookback + horizon"
        )
    examples.all_split_files()  # every listed split exists, or a DataError says which not
    per_series = config.per_series and len(windows.series_ids) > 1
    step_seconds = calendar_step_seconds(config, windows.frequency)
    ctx.progress(
        f"fitting {config.scaling} scaling on '{config.train_split}' "
        f"({'per series' if per_series else 'global'}), transforming {len(splits)} split(s)"
    )
    with beam_progress.reporting(ctx.progress) as progress_key:
        result = beam_pipeline.run_transform_pipeline(
            examples_uri=examples.uri,
            splits=splits,
            train_split=config.train_split,
            preprocessing_fn=make_series_preprocessing_fn(
                config,
                windows.targets,
                windows.covariates,
                per_series,
                future_covariates=windows.future_covariates,
                step_seconds=step_seconds,
                horizon=windows.horizon,
            ),
            transform_graph_uri=transform_graph.uri,
            transformed_uri=transformed_examples.uri,
            tft_temp_dir=filesystem.join(ctx.temp_dir, "tft"),
            options=ctx.beam_options(),
            # The contract's spec (fixed shapes [L] and [H]) rather than an inferred schema's.
            feature_spec=tft_feature_spec(
                raw_series_feature_spec(
                    windows.targets,
                    windows.covariates,
                    windows.lookback,
                    windows.horizon,
                    future_covariates=windows.future_covariates,
                )
            ),
            progress_key=progress_key,
        )
    nonfinite = {split: n for split, n in result.nonfinite.items() if n}
    if nonfinite:
        hint = (
            "log1p needs target values > -1: disable transform.log1p or fix the data"
            if config.log1p
            else "expected ingest_series to reject NaN/Inf values; re-run it"
        )
        raise DataError(
            f"windows whose scaled values are NaN or infinite: {nonfinite} (split: count); {hint}"
        )
    ctx.progress(f"wrote {sum(result.counts.values())} transformed windows")
    transform_graph.properties.update(
        {
            "kind": "series",
            **windows.properties(),
            "series_ids": list(windows.series_ids),
            "scaling": config.scaling,
            "log1p": config.log1p,
            "per_series": per_series,
            "calendar": list(config.calendar),
            "calendar_features": calendar_width(config.calendar),
        }
    )
    transformed_examples.properties.update({"splits": splits, "counts": result.counts})
    return {"scaling": config.scaling, "per_series": per_series, "splits": result.counts}


COMPONENT = component(run, name="transform_series")
