"""train_text: a Keras 3 recurrent text classifier on TransformedExamples, exported with the TFT
graph.

Inputs:
    transform_graph (TransformGraph, kind "text"): vocab_size, max_tokens, labels.
    transformed_examples (TransformedExamples): "tokens" and "label_id" per split.
    hyperparameters (HyperParameters, optional): tune_text's best values; they override the
        config's fields of the same names (overrides.py) and are recorded in the Model.
    warm_start_model (Model, resolved): with `warm_start` on, the last model evaluate blessed
        under this node's name (LatestBlessedModel; one trained by this node from the same
        transformed examples is skipped, so a rerun stays cached). warm_start.py checks it.
    examples (Examples, resolved): the Examples transformed_examples were made from
        (split_lineage.UpstreamExamples), for their split_definition; None when unknown.
Outputs:
    model (Model): saved_model/ (signatures serving_default(examples) and predict_text(text) ->
        probabilities, class_ids, classes; see export.py) and keras/model.keras (the best
        epoch's weights). Properties: labels, task ("binary" | "multiclass"), head, signatures,
        train_split, validation_split (the split the val_* figures are on: early stopping's,
        "eval" by default), epochs_run, best_val_loss, best_epoch (0-based), best_metrics,
        monitor, strategy, trained_with ("keras" | "tf_keras"), replicas,
        cudnn_incompatibilities, diverged_at_epoch, hyperparameters (the tuned values applied,
        or None untuned), vocabulary ({sha256, size}: what its token ids mean),
        warm_started_from ({uri, fingerprint, pushed_version} or None), warm_start_skipped (why
        an incompatible baseline was not used, or None), split_lineage (the split definitions of
        the Examples its weights were fitted on, through warm starts; None when unknown) and
        precision ({policy, reason}: the dtype policy it was trained under and why, e.g. float32
        because mixed_precision was asked for without a GPU).
    model_run (ModelRun): TensorBoard logs, history.csv, training_curves.png, best checkpoint;
        properties epochs_run, resumed_from_epoch (0 for an uninterrupted run), final.

The training loop (strategy, callbacks, resume) is training.py's, shared with train_series;
resume and multi-worker training are described in shell.py. Distribution is chosen
automatically (strategy.py).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from seqline.components.train.config import TrainTextConfig
from seqline.components.train.overrides import apply_overrides
from seqline.components.train.pretrained_source import check_dimension, pretrained_fingerprint
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
from seqline.pipeline.artifacts import (
    Examples,
    HyperParameters,
    Model,
    ModelRun,
    TransformedExamples,
    TransformGraph,
)
from seqline.pipeline.artifacts.model import SPLIT_LINEAGE
from seqline.pipeline.component import ExecutionContext, Out, component
from seqline.pipeline.errors import ConfigError
from seqline.pipeline.resolvers import LatestBlessedModel


def run(
    ctx: ExecutionContext,
    config: TrainTextConfig,
    transform_graph: TransformGraph,
    transformed_examples: TransformedExamples,
    warm_start_model: Model | None,
    examples: Examples | None,
    model: Out[Model],
    model_run: Out[ModelRun],
    hyperparameters: HyperParameters | None,
) -> dict[str, Any]:
    """Trains and exports the classifier, fills both outputs; returns {"epochs_run",
    "best_val_loss", "val_accuracy", "strategy"[, "resumed_from_epoch", "warm_started",
    "tuned"]}."""
    tuned = hyperparameters.values if hyperparameters is not None else None
    if tuned is not None:
        config = apply_overrides(config, tuned, "hyperparameters")
        ctx.progress(f"tuned hyperparameters override the config: {tuned}")
    report_stale_work_dirs(ctx, model)
    if is_multi_worker(config):
        if config.warm_start and warm_start_model is not None:
            raise ConfigError(
                "train.warm_start: not supported with multi-worker training yet; set "
                "warm_start: false, or train on one worker"
            )
        from seqline.components.train.worker import run_in_fresh_process  # noqa: PLC0415

        # The child reads its config from the context: hand it the tuned one.
        child_ctx = dataclasses.replace(ctx, config=config)
        summary = run_in_fresh_process(
            child_ctx, "train_text", transform_graph, transformed_examples
        )
    else:
        summary = execute(
            ctx,
            config,
            transform_graph,
            transformed_examples,
            model,
            model_run,
            warm_start_model,
            split_definition=current_definition(examples),
        )
    if summary.get("chief") is not False:
        model.properties["hyperparameters"] = tuned
        started = model.properties.get("warm_started_from") is not None
        model.properties[SPLIT_LINEAGE] = model_split_lineage(
            current_definition(examples), warm_start_model if started else None
        )
        if tuned is not None:
            summary["tuned"] = tuned
    return summary


def execute(
    ctx: ExecutionContext,
    config: TrainTextConfig,
    transform_graph: TransformGraph,
    transformed_examples: TransformedExamples,
    model: Model,
    model_run: ModelRun,
    warm_start_model: Model | None = None,
    split_definition: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Trains in this process (on every task of a multi-worker run: worker.py calls it); only
    the chief fills the outputs. `split_definition`: this run's Examples', which the warm
    start baseline's split lineage must match."""
    from seqline.components.train import models, training  # noqa: PLC0415
    from seqline.components.train import warm_start as ws  # noqa: PLC0415
    from seqline.components.train.export import export_saved_model  # noqa: PLC0415
    from seqline.components.train.precision import choose_precision  # noqa: PLC0415
    from seqline.components.train.strategy import num_physical_gpus  # noqa: PLC0415

    graph = transform_graph.text()
    paths = work_paths(ctx, model)
    # The policy training.py applies (zoo_inputs.py: the same inputs), said where it is seen.
    precision = choose_precision(config.model.mixed_precision, num_physical_gpus())
    if config.model.mixed_precision:
        ctx.progress(f"precision: {precision.policy} ({precision.reason})")
    vocabulary = ws.vocabulary_identity(transform_graph.uri, graph.vocab_size)
    skipped: list[str] = []  # why the baseline was not used (if_compatible)
    start_from = None
    if config.warm_start and warm_start_model is None:
        ctx.progress("warm start: no blessed model yet, training from scratch")
    elif config.warm_start and warm_start_model is not None:
        differences = ws.static_differences(
            warm_start_model,
            component=COMPONENT.name,
            vocabulary=vocabulary,
            labels=graph.labels,
            head=models.resolve_head(config.model.head, len(graph.labels)),
            split_definition=split_definition,
        )
        if differences:
            skipped.append(ws.refuse_or_skip(config.warm_start, warm_start_model, differences))
        else:
            start_from = warm_start_model

    def initial_weights(built: Any) -> None:
        assert start_from is not None
        reason = ws.load_baseline_weights(config.warm_start, start_from, built, ctx.progress)
        if reason is not None:
            skipped.append(reason)

    for reason in skipped:
        ctx.progress(f"warm start: {reason}; training from scratch")
    result = training.train_text_classifier(
        config,
        transform_graph.uri,
        graph,
        transformed_examples,
        paths,
        tf_config=os.environ.get("TF_CONFIG"),
        progress=ctx.progress,
        initial_weights=initial_weights if start_from is not None else None,
    )
    if start_from is not None and skipped:  # layer shapes differed (if_compatible)
        ctx.progress(f"warm start: {skipped[-1]}; trained from scratch")
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

    summary = publish_training(
        ctx,
        config,
        result,
        paths,
        model,
        model_run,
        export,
        summary_metric="val_accuracy",
        splits=transformed_examples.splits,
    )
    started = start_from is not None and not skipped
    model.properties.update(
        {
            "vocabulary": vocabulary,
            "warm_started_from": {
                "uri": start_from.uri,
                "fingerprint": start_from.fingerprint,
                "pushed_version": start_from.properties.get("pushed_version"),
            }
            if started and start_from is not None
            else None,
            "warm_start_skipped": skipped[-1] if skipped else None,
            "precision": {"policy": precision.policy, "reason": precision.reason},
        }
    )
    if config.warm_start:
        summary["warm_started"] = started
    return summary


def check(config: TrainTextConfig) -> None:
    """Pre-run check: a local pretrained-vectors file exists and has model.embedding_dim
    numbers per word (before ingest and transform run, rather than at train). Remote paths are
    checked when train reads them."""
    pretrained = config.model.pretrained
    if pretrained is None or not pretrained.path or "://" in pretrained.path:
        return
    if not os.path.isfile(pretrained.path):
        raise ConfigError(
            f"model.pretrained.path: expected a word2vec/GloVe text file, got "
            f"{pretrained.path!r}, which does not exist; a relative path is taken from the "
            "config file's folder"
        )
    check_dimension(config)


COMPONENT = component(
    run,
    name="train_text",
    check=check,
    source_fingerprint=pretrained_fingerprint,
    resolved={
        "warm_start_model": LatestBlessedModel(
            candidate_input="",
            model_name=lambda query: "",  # any name evaluate blessed it under...
            same_node=True,  # ...of a model this train node trained
            enabled=lambda config: bool(getattr(config, "warm_start", False)),
            skip_same_inputs=("transformed_examples",),
        ),
        "examples": UpstreamExamples(),
    },
)
