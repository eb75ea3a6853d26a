"""evaluate_text: score the candidate classifier, the last blessed model of the same name, a
majority-class baseline and (when configured) a linear baseline on the eval split in one pass,
overall and per slice; apply value, beat-the-baseline and change thresholds; write the Blessing.

The linear baseline (TF-IDF-weighted hashed word 1-2-grams + softmax regression, see
linear_baseline.py) is trained here, on the split the candidate was trained on (the Model's
train_split), never on eval_split; when the candidate was refit (Model.refit), it is refit on
the same splits for the passes its own early stopping kept. It depends only on this node's
config and its `examples` and `model` inputs, all in the fingerprint, so it is cached
with the Blessing.

Inputs:
    examples (Examples): the raw eval split (what a model server receives).
    model (Model): the candidate classifier.
    baseline_model (Model, resolved): the last model evaluate blessed under the same model
        name in this pipeline (LatestBlessedModel), or None on a first run; it is part of the
        fingerprint, so a new blessed model re-runs this node. It is set aside (change
        thresholds skipped, with the reason) when its split_lineage does not match the
        Examples' split_definition: its figures there may include records it was fitted on.
Output:
    blessing (Blessing): metrics.json, checks.json, report.html; properties blessed, reasons,
        metrics, eval_split (the split every figure is on), model_fingerprint, model_uri,
        model_name, baseline_model_uri, baseline_model_version.

A model that fails its thresholds is a NOT_BLESSED artifact, not an exception; only unusable
inputs (unknown labels, a broken export, a candidate fitted under another split definition
than the Examples', split_policy.check_candidate_lineage) raise. The config and its YAML form
are in config.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqline.components.evaluate.config import EvaluateTextConfig
from seqline.components.evaluate.split_policy import judge_lineages
from seqline.pipeline.artifacts import Blessing, Examples, Model
from seqline.pipeline.component import ExecutionContext, Out, component
from seqline.pipeline.errors import DataError
from seqline.pipeline.resolvers import LatestBlessedModel

__all__ = ["COMPONENT", "EvaluateTextConfig", "run"]


def baseline_counts(
    config: EvaluateTextConfig, examples: Examples, eval_label_ids: Any, labels: list[str]
) -> tuple[dict[str, int], str]:
    """Label counts to fit the majority baseline on, and which split they come from."""
    from seqline.components.evaluate.splits import count_labels  # noqa: PLC0415

    split = config.baseline_split
    usable = (
        split
        and split != config.eval_split
        and split in examples.splits
        # An empty split may have no files at all; fall back to eval rather than fail.
        and examples.counts.get(split, 1) > 0
    )
    if usable:
        assert split is not None
        # An ingest that already counted labels per split saves a pass over the data.
        known = examples.label_counts(split)
        counts = known if known is not None else count_labels(examples.split_files(split))
        unknown = sorted(set(counts) - set(labels))
        if unknown:
            raise DataError(
                f"expected the '{split}' split's labels to be the model's labels {labels}, "
                f"got also {unknown}; the model was trained on different data than this "
                "Examples artifact"
            )
        if sum(counts.values()) > 0:
            return counts, split
    eval_counts = np.bincount(eval_label_ids, minlength=len(labels))
    return {label: int(n) for label, n in zip(labels, eval_counts, strict=True)}, config.eval_split


def linear_training_split(config: EvaluateTextConfig, examples: Examples, model: Model) -> str:
    """The split the linear baseline is trained on: the candidate's own training split (the
    Model's train_split property), else config.baseline_split for models that do not record it.

    Raises:
        DataError: the split is the one the blessing is scored on, or the Examples lack it.
    """
    split = model.train_split or config.baseline_split
    where = "the Model's train_split" if model.train_split else "evaluate.baseline_split"
    if not split:
        raise DataError(
            "linear baseline: expected the split the candidate was trained on, got none (the "
            "Model does not record train_split and evaluate.baseline_split is null); set "
            "evaluate.baseline_split to the training split, e.g. 'train'"
        )
    if split == config.eval_split:
        raise DataError(
            f"linear baseline: expected a training split other than eval_split "
            f"{config.eval_split!r}, got {split!r} ({where}); a baseline trained on the split "
            "it is scored on is not a baseline. Evaluate on a held-out split (e.g. 'test'), or "
            "drop 'linear' from beat_baseline and linear_baseline"
        )
    if split not in examples.splits:
        raise DataError(
            f"linear baseline: expected the Examples to have the split {split!r} ({where}), "
            f"got splits {examples.splits}; wire the Examples the candidate was trained from"
        )
    return split


def linear_validation_split(
    config: EvaluateTextConfig, examples: Examples, train_split: str
) -> str | None:
    """The split the linear baseline early-stops on: linear_baseline.validation_split when the
    Examples have it and it is neither its training split nor the split evaluate scores (a
    baseline stopped on the split it is judged on would be tuned on it); else None."""
    linear = config.linear_baseline
    name = linear.validation_split if linear is not None else None
    if not name or name in (train_split, config.eval_split) or name not in examples.splits:
        return None
    return name


def linear_refit_split(config: EvaluateTextConfig, examples: Examples, model: Model) -> str | None:
    """The split the linear baseline is refit on together with its training split: the one
    the candidate was refit on (Model.refit, train.refit), so both are fitted on the same
    data; None when the candidate was not refit.

    Raises:
        DataError: that split is the one the blessing is scored on, or the Examples lack it.
    """
    refit = model.refit
    if refit is None:
        return None
    if refit.split == config.eval_split:
        raise DataError(
            f"linear baseline: expected the candidate's refit split (Model.refit, train.refit) "
            f"to differ from eval_split {config.eval_split!r}, got {refit.split!r}: the "
            "candidate was fitted on the split it would be scored on. Fix: set "
            "evaluate.eval_split to a held-out split (e.g. 'test'), or refit on another split"
        )
    if refit.split not in examples.splits:
        raise DataError(
            f"linear baseline: expected the Examples to have the candidate's refit split "
            f"{refit.split!r} (Model.refit, train.refit), got splits {examples.splits}; wire "
            "the Examples the candidate was trained from, or drop 'linear' from beat_baseline "
            "and linear_baseline"
        )
    return refit.split


def model_name_of(model_name: str, model: Model) -> str:
    """The name baselines are matched by: the config's, else the node that trained the model."""
    return model_name or model.producer.get("node_id") or "model"


def run(
    ctx: ExecutionContext,
    config: EvaluateTextConfig,
    examples: Examples,
    model: Model,
    baseline_model: Model | None,
    blessing: Out[Blessing],
) -> dict[str, Any]:
    """Scores the candidate (and the baseline model) on the eval split, writes the Blessing;
    returns {"blessed", "accuracy", "auc", "loss", "baseline_model_accuracy",
    "majority_accuracy", "linear_accuracy", "examples", "slices", "inference_seconds"}."""
    from seqline.components.evaluate.baseline import fit_majority_baseline  # noqa: PLC0415
    from seqline.components.evaluate.evaluation import (  # noqa: PLC0415
        BASELINE_MODEL,
        CANDIDATE,
        LINEAR_BASELINE,
        BaselineModelInfo,
        LinearBaselineInfo,
        baseline_model_info,
        checks_document,
        evaluate_scored,
        metrics_document,
        rounded,
        write_evidence,
    )
    from seqline.components.evaluate.scoring import score_models  # noqa: PLC0415

    examples.check_split(
        config.eval_split, f"node '{ctx.node_id}'", f"components.{ctx.node_id}.eval_split"
    )
    labels = model.labels
    task = model.task
    model_name = model_name_of(config.model_name, model)
    if baseline_model is not None and baseline_model.labels != labels:
        raise DataError(
            f"the baseline model {baseline_model.uri} predicts labels {baseline_model.labels}, "
            f"the candidate {labels}; they cannot be compared (the resolver skips such models)"
        )
    # A blessing is never decided on records a model was fitted on (split_policy.py).
    accepted, set_aside = judge_lineages(
        model, baseline_model, examples.split_definition, config, ctx.progress
    )
    info = baseline_model_info(baseline_model, model_name, ctx.resolved_notes.get("baseline_model"))
    if set_aside is not None:
        baseline_model = None
        info = BaselineModelInfo(None, None, set_aside)
    saved_models = {CANDIDATE: model.saved_model_dir}
    if baseline_model is not None:
        saved_models[BASELINE_MODEL] = baseline_model.saved_model_dir

    functions = {}
    linear = None
    if config.linear_baseline is not None:
        from seqline.components.evaluate.linear_baseline import (  # noqa: PLC0415
            train_linear_baseline,
        )

        split = linear_training_split(config, examples, model)
        ctx.progress(f"training the linear baseline on the '{split}' split")
        validation = linear_validation_split(config, examples, split)
        refit = linear_refit_split(config, examples, model)
        trained = train_linear_baseline(
            examples.split_files(split),
            labels,
            config.linear_baseline,
            split,
            ctx.progress,
            validation=(validation, examples.split_files(validation)) if validation else None,
            refit=(refit, examples.split_files(refit)) if refit else None,
        )
        functions[LINEAR_BASELINE] = trained.serving_function()
        linear = LinearBaselineInfo(
            split,
            trained.train_examples,
            trained.seconds,
            config.linear_baseline,
            validated_on=trained.validated_on,
            epochs=trained.fit.epochs,
            best_epoch=trained.fit.best_epoch,
            refit=trained.refit,
        )

    files = examples.split_files(config.eval_split)
    ctx.progress(
        f"scoring {len(saved_models)} model(s) on the '{config.eval_split}' split "
        f"({len(files)} file(s)); baseline model: {info.uri or info.note}"
    )
    scored = score_models(
        saved_models,
        files,
        labels,
        config.batch_size,
        slice_features=config.slicing.features,
        progress=ctx.progress,
        functions=functions,
        split=config.eval_split,
    )
    counts, source = baseline_counts(config, examples, scored.label_ids, labels)
    naive = fit_majority_baseline(counts, labels, source)
    predictions = {k: (p.probabilities, p.class_ids) for k, p in scored.predictions.items()}
    evaluation = evaluate_scored(
        scored.label_ids,
        predictions,
        labels,
        task,  # type: ignore[arg-type]
        naive,
        config,
        features=scored.features,
        lengths=scored.lengths,
        baseline_model=info,
        linear=linear,
    )
    metrics_doc = metrics_document(evaluation, config.eval_split)
    write_evidence(blessing, metrics_doc, checks_document(evaluation, model.uri, model.fingerprint))
    if config.report:
        from seqline.components.evaluate.report import (  # noqa: PLC0415
            absent_classes,
            classification_plots,
            render_report,
        )
        from seqline.storage import filesystem  # noqa: PLC0415

        ctx.progress("writing report.html")
        figures = classification_plots(evaluation, scored.label_ids, predictions, config.eval_split)
        page = render_report(
            evaluation,
            figures,
            model_uri=model.uri,
            eval_split=config.eval_split,
            absent=absent_classes(labels, scored.label_ids),
        )
        filesystem.write_text(blessing.path(Blessing.REPORT_FILE), page)
    reasons = [*evaluation.reasons, *([accepted] if accepted is not None else [])]
    blessing.record(evaluation.blessed, reasons, model)
    blessing.properties.update(
        {
            "metrics": metrics_doc["model"],
            # The split every figure above is on, so `seqline show` names it without reading
            # metrics.json (which it cannot read on a remote root).
            "eval_split": config.eval_split,
            "model_uri": model.uri,
            "model_name": model_name,
            "baseline_model_uri": info.uri,
            "baseline_model_version": info.version,
        }
    )
    base = evaluation.overall.model_baseline_metrics
    linear_metrics = evaluation.linear_metrics
    return {
        "blessed": evaluation.blessed,
        "accuracy": rounded(evaluation.metrics["accuracy"]),
        "auc": rounded(evaluation.metrics["auc"]),
        "loss": rounded(evaluation.metrics["loss"]),
        "baseline_model_accuracy": rounded(base["accuracy"]) if base else None,
        "majority_accuracy": rounded(evaluation.baseline_metrics["accuracy"]),
        "linear_accuracy": rounded(linear_metrics["accuracy"]) if linear_metrics else None,
        "examples": len(scored),
        "slices": len(evaluation.slices) - 1,
        "inference_seconds": round(max(scored.inference_seconds.values(), default=0.0), 3),
    }


COMPONENT = component(run, name="evaluate_text", resolved={"baseline_model": LatestBlessedModel()})
