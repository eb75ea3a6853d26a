"""The time-series forecasting pipeline: ingest_series -> statistics -> schema -> validate ->
transform (transform_series) -> train (train_series) -> evaluate (evaluate_series) ->
infra_validate -> push (wired in standard_pipeline.py).

transform_series scales windows (fitted on the train split), train_series builds the configured
forecaster and exports forecast signatures in original units, evaluate_series scores it against
naive baselines and the last blessed forecaster. statistics defaults to per-series statistics
over window_end / series_id (the windows' time and series features).

Build it from YAML (`kind: series`, see examples/series/) or from Python:

    from seqline.components.series_pipeline import series_pipeline
    pipeline = series_pipeline(
        "demand", "runs/demand",
        ingest_series={"source": "data/demand.csv", "frequency": "30min", "targets": ["demand"],
                       "lookback": 48, "horizon": 6},
        evaluate={...},
        push={"serving_root": "serving", "model_name": "demand"},
    )

Each component argument is either that component's config dataclass or a mapping of its fields
(validated exactly like YAML).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from seqline.components.evaluate.series_component import COMPONENT as EVALUATE_SERIES
from seqline.components.ingest_series.component import COMPONENT as INGEST_SERIES
from seqline.components.standard_pipeline import (
    PipelineKind,
    build_standard_pipeline,
    python_settings,
)
from seqline.components.train.forecaster_windows import check_lags_fit
from seqline.components.train.series_component import COMPONENT as TRAIN_SERIES
from seqline.components.transform.series_component import COMPONENT as TRANSFORM_SERIES
from seqline.pipeline.config_file import PipelineSettings
from seqline.pipeline.dag import Pipeline
from seqline.pipeline.errors import ConfigError
from seqline.schemas.series import SERIES_ID_KEY, WINDOW_END_KEY


def check_series_configs(configs: Mapping[str, Any]) -> None:
    """The forecaster's lags and evaluate's baselines fit the windows ingest_series cuts
    (ConfigError naming the fields); they were found only once train or evaluate ran."""
    ingest, train, evaluate = configs["ingest_series"], configs["train"], configs["evaluate"]
    lookback, horizon = ingest.lookback, ingest.horizon
    try:
        check_lags_fit(train.forecaster, lookback, horizon)
    except ConfigError as e:
        raise ConfigError(f"components.train.{e}") from None
    for name in ("season", "moving_average"):
        value = getattr(evaluate, name)
        if value > lookback:
            raise ConfigError(
                f"components.evaluate.{name}: expected <= ingest_series.lookback {lookback} "
                f"(the baseline reads the last {name.replace('_', ' ')} steps of each window's "
                f"history), got {value}; lengthen lookback or shorten {name}"
            )


# statistics over the windows' time and series features unless the YAML says otherwise.
KIND = PipelineKind(
    ingest_id="ingest_series",
    ingest=INGEST_SERIES,
    transform=TRANSFORM_SERIES,
    train=TRAIN_SERIES,
    evaluate=EVALUATE_SERIES,
    defaults={
        "statistics": {"timestamp_feature": WINDOW_END_KEY, "series_id_feature": SERIES_ID_KEY}
    },
    check_configs=check_series_configs,
)


def build_series_pipeline(settings: PipelineSettings) -> Pipeline:
    """The `series` pipeline kind (entry point): validates every component config, then wires."""
    return build_standard_pipeline(settings, KIND)


def series_pipeline(
    name: str,
    root: str,
    *,
    ingest_series: Any,
    evaluate: Any,
    push: Any,
    statistics: Any = None,
    schema: Any = None,
    validate: Any = None,
    transform: Any = None,
    train: Any = None,
    infra_validate: Any = None,
    metadata_url: str | None = None,
    beam_args: Sequence[str] = (),
    base_dir: str = ".",
) -> Pipeline:
    """Builds the series pipeline from Python (configs as dataclasses or mappings)."""
    components = {
        "ingest_series": ingest_series,
        "statistics": statistics,
        "schema": schema,
        "validate": validate,
        "transform": transform,
        "train": train,
        "evaluate": evaluate,
        "infra_validate": infra_validate,
        "push": push,
    }
    return build_series_pipeline(
        python_settings(name, root, "series", components, metadata_url, beam_args, base_dir)
    )
