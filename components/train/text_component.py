"""train_text: a Keras 3 recurrent text classifier on TransformedExamples, exported with the TFT
graph.

Inputs:
    transform_graph (TransformGraph, kind "text"): vocab_size, max_tokens, labels.
    transformed_examples (TransformedExamples): "tokens" and "label_id" per split.
Outputs:
    model (Model): saved_model/ (signatures serving_default(examples) and predict_text(text) ->
        probabilities, class_ids, classes; see export.py) and keras/model.keras (the best
        epoch's weights). Properties: labels, task ("binary" | "multiclass"), head, signatures,
        train_split, epochs_run, best_val_loss, best_epoch (0-based), best_metrics, monitor,
        strategy, trained_with ("keras" | "tf_keras"), replicas, cudnn_incompatibilities,
        diverged_at_epoch.
    model_run (ModelRun): TensorBoard logs, history.csv, training_curves.png, best checkpoint;
        properties epochs_run, resumed_from_epoch (0 for an uninterrupted run), final.

The training loop (strategy, callbacks, resume) is training.py's, shared with train_series;
resume and multi-worker training are described in shell.py. Distribution is chosen
automatically (strategy.py).
"""

from __future__ import annotations

import os
from typing import Any

from seqline.components.train.config import TrainTextConfig
from seqline.components.train.shell import (
    is_multi_worker,
    not_chief_summary,
    publish_training,
    work_paths,
)
from seqline.pipeline.artifacts import Model, ModelRun, TransformedExamples, TransformGraph
from seqline.pipeline.component import ExecutionContext, Out, component


def run(
    ctx: ExecutionContext,
    config: TrainTextConfig,
    transform_graph: TransformGraph,
    transformed_examples: TransformedExamples,
    model: Out[Model],
    model_run: Out[ModelRun],
) -> dict[str, Any]:
    """Trains and exports the classifier, fills both outputs; returns {"epochs_run",
    "best_val_loss", "val_accuracy", "strategy"[, "resumed_from_epoch"]}."""
    if is_multi_worker(config):
        from seqline.components.train.worker import run_in_fresh_process  # noqa: PLC0415

        return run_in_fresh_process(ctx, "train_text", transform_graph, transformed_examples)
    return execute(ctx, config, transform_graph, transformed_examples, model, model_run)


def execute(
    ctx: ExecutionContext,
    config: TrainTextConfig,
    transform_graph: TransformGraph,
    transformed_examples: TransformedExamples,
    model: Model,
    model_run: ModelRun,
) -> dict[str, Any]:
    """Trains in this process (on every task of a multi-worker run: worker.py calls it); only
    the chief fills the outputs."""
    from seqline.components.train import training  # noqa: PLC0415
    from seqline.components.train.export import export_saved_model  # noqa: PLC0415

    graph = transform_graph.text()
    paths = work_paths(ctx, model)
    result = training.train_text_classifier(
        config,
        transform_graph.uri,
        graph,
        transformed_examples,
        paths,
        tf_config=os.environ.get("TF_CONFIG"),
        progress=ctx.progress,
    )
    if not result.is_chief:
        return not_chief_summary(result)

    def export(export_dir: str) -> tuple[dict[str, Any], dict[str, Any]]:
        signatures = export_saved_model(
            result.model,
            transform_graph.uri,
            graph.labels,
            sigmoid_head=result.head == "sigmoid",
            max_tokens=graph.max_tokens,
            export_dir=export_dir,
        )
        task = "binary" if len(graph.labels) == 2 else "multiclass"
        return signatures, {"labels": list(graph.labels), "task": task, "head": result.head}

    return publish_training(
        ctx, config, result, paths, model, model_run, export, summary_metric="val_accuracy"
    )


COMPONENT = component(run, name="train_text")
