"""train_series: a Keras 3 recurrent forecaster on scaled series windows, exported with the TFT
graph so it forecasts in original units.

Inputs:
    transform_graph (TransformGraph, kind "series"): the window layout and its scaling.
    transformed_examples (TransformedExamples): "history" and "target" per split.
    examples (SeriesWindows, resolved): the windows transformed_examples were made from
        (split_lineage.UpstreamExamples), for their split_definition; None when unknown.
Outputs:
    model (Model): saved_model/ (signatures serving_default(examples) and forecast(history
        [, series_id][, window_end][, future_covariates]) -> forecast in original units,
        series_export.py; and, when the model can run point by point (series_step.streamable),
        the streaming step_start(series_id) -> state and step(value, state) -> forecast, state,
        series_step.py) and keras/model.keras.
        Properties: task "forecast", targets, covariates, future_covariates, calendar,
        lookback, horizon (the data's H), forecast_steps (S), output, per_series, streaming
        (step signatures exported), plus the training facts train_text records (signatures,
        train_split, validation_split, epochs_run, best_val_loss, best_epoch, best_metrics,
        monitor, strategy, trained_with, replicas, cudnn_incompatibilities,
        diverged_at_epoch) and split_lineage ([the windows' split_definition], None when
        unknown; split_lineage.py).
    model_run (ModelRun): as train_text's.

The forecaster is configured by `forecaster` (forecasters.py) and trained by the same loop,
callbacks, resume and strategy as train_text (training.py, shell.py).
"""

from __future__ import annotations

import os
from typing import Any

from seqline.components.train.config import TrainSeriesConfig
from seqline.components.train.shell import (
    is_multi_worker,
    not_chief_summary,
    publish_training,
    report_stale_work_dirs,
    work_paths,
)
from seqline.components.train.split_lineage import (
    UpstreamExamples,
    current_definition,
    model_split_lineage,
)
from seqline.pipeline.artifact import ArtifactType
from seqline.pipeline.artifacts import (
    Model,
    ModelRun,
    SeriesWindows,
    TransformedExamples,
    TransformGraph,
)
from seqline.pipeline.artifacts.model import SPLIT_LINEAGE
from seqline.pipeline.component import ExecutionContext, Out, component


def run(
    ctx: ExecutionContext,
    config: TrainSeriesConfig,
    transform_graph: TransformGraph,
    transformed_examples: TransformedExamples,
    examples: SeriesWindows | None,
    model: Out[Model],
    model_run: Out[ModelRun],
) -> dict[str, Any]:
    """Trains and exports the forecaster, fills both outputs; returns {"epochs_run",
    "best_val_loss", "val_mae" (scaled units), "strategy"[, "resumed_from_epoch"]}."""
    report_stale_work_dirs(ctx, model)
    if is_multi_worker(config):
        from seqline.components.train.worker import run_in_fresh_process  # noqa: PLC0415

        summary = run_in_fresh_process(ctx, "train_series", transform_graph, transformed_examples)
    else:
        summary = execute(ctx, config, transform_graph, transformed_examples, model, model_run)
    if summary.get("chief") is not False:
        model.properties[SPLIT_LINEAGE] = model_split_lineage(current_definition(examples), None)
    return summary


def execute(
    ctx: ExecutionContext,
    config: TrainSeriesConfig,
    transform_graph: TransformGraph,
    transformed_examples: TransformedExamples,
    model: Model,
    model_run: ModelRun,
) -> dict[str, Any]:
    """Trains in this process (on every task of a multi-worker run: worker.py calls it); only
    the chief fills the outputs."""
    from seqline.components.train import training  # noqa: PLC0415
    from seqline.components.train.forecaster_windows import output_steps  # noqa: PLC0415
    from seqline.components.train.series_export import (  # noqa: PLC0415
        ForecasterExport,
        export_forecaster,
    )
    from seqline.components.train.series_step import (  # noqa: PLC0415
        attach_step_signatures,
        streamable,
    )

    scaling = transform_graph.series()
    windows = scaling.windows
    paths = work_paths(ctx, model)
    result = training.train_forecaster(
        config,
        transform_graph.uri,
        scaling,
        transformed_examples,
        paths,
        tf_config=os.environ.get("TF_CONFIG"),
        progress=ctx.progress,
    )
    if not result.is_chief:
        return not_chief_summary(result)

    def export(export_dir: str) -> tuple[dict[str, Any], dict[str, Any]]:
        output = config.forecaster.output
        module = ForecasterExport(
            result.model,
            transform_graph.uri,
            windows.targets,
            windows.covariates,
            windows.lookback,
            windows.horizon,
            output,
            scaling.log1p,
            scaling.per_series,
            future_covariates=windows.future_covariates,
            calendar=bool(scaling.calendar),
        )
        not_streamable = streamable(
            config.forecaster,
            calendar=bool(scaling.calendar),
            future_covariates=bool(windows.future_covariates),
            ensemble_members=config.ensemble.members,
        )
        if not_streamable is not None:
            ctx.progress(f"no streaming step signatures: {not_streamable}")
        else:
            attach_step_signatures(
                module,
                config.forecaster,
                windows.targets,
                windows.covariates,
                windows.lookback,
                windows.horizon,
                scaling.log1p,
            )
        return export_forecaster(module, export_dir), {
            "task": "forecast",
            "targets": list(windows.targets),
            "covariates": list(windows.covariates),
            "future_covariates": list(windows.future_covariates),
            "calendar": list(scaling.calendar),
            "lookback": windows.lookback,
            "horizon": windows.horizon,
            "forecast_steps": output_steps(output, windows.horizon),
            "output": output,
            "per_series": scaling.per_series,
            "streaming": not_streamable is None,
        }

    # val_mae is in scaled units.
    return publish_training(
        ctx,
        config,
        result,
        paths,
        model,
        model_run,
        export,
        summary_metric="val_mae",
        splits=transformed_examples.splits,
    )


COMPONENT = component(
    run,
    name="train_series",
    resolved={"examples": UpstreamExamples(type_name=ArtifactType.SERIES_WINDOWS)},
)
