"""Training on TransformedExamples: strategy, data, model, callbacks, fit.

`train_model` is the one training loop: strategy, callbacks, checkpointing, resume, best
weights. What differs between kinds of model is a `ModelTask` (a model builder, its compile
step and a dataset builder): `train_text_classifier` and `train_forecaster` build one and call
train_model; the component (and extra multi-worker processes) call those. The result holds the
trained weights in a Keras 3 model built outside any strategy scope, ready for export, whichever
Keras trained them (see strategy.py for why multi-worker uses tf_keras).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tensorflow_transform as tft

from seqline.components.train import data, forecasters, models, weight_averaging
from seqline.components.train.callbacks import WorkPaths, make_callbacks, read_learning_rates
from seqline.components.train.config import (
    EVAL_SPLIT_CANDIDATES,
    TrainingConfig,
    TrainSeriesConfig,
    TrainTextConfig,
)
from seqline.components.train.cudnn import warn_if_cudnn_disabled
from seqline.components.train.history import best_value, first_nonfinite_epoch, read_history
from seqline.components.train.strategy import (
    StrategyChoice,
    choose_strategy,
    make_strategy,
    num_physical_gpus,
)
from seqline.pipeline.artifacts import SeriesScaling, TextVocabulary, TransformedExamples
from seqline.pipeline.errors import ConfigError, DataError
from seqline.storage import filesystem


@dataclass(frozen=True)
class ModelTask:
    """What one kind of model brings to the shared training loop (train_model).

    Attributes:
        build: keras module -> an uncompiled model (the same layers whichever Keras).
        compile: (model, keras module) -> None.
        dataset: (files, batch_size, shuffle_buffer=, seed=, repeat=, shard_by_data=) ->
            tf.data.Dataset of (features, target) batches.
        recurrent: the recurrent settings checked for cuDNN (cudnn.RecurrentSettings).
        head: the classifier head ("sigmoid" | "softmax"), "" for forecasters.
        monitors: metrics early stopping may watch for this kind of model.
    """

    build: Callable[[Any], Any]
    compile: Callable[[Any, Any], None]
    dataset: Callable[..., Any]
    recurrent: Any
    head: str = ""
    monitors: tuple[str, ...] = ("val_loss", "val_accuracy", "loss", "accuracy")
    class_weight: dict[int, float] | None = None  # Model.fit's class_weight


def resolve_splits(config: TrainingConfig, splits: list[str]) -> tuple[str, str]:
    """(train split, eval split) among the TransformedExamples artifact's `splits`.

    Raises ConfigError naming the available splits when one is missing.
    """
    if config.train_split not in splits:
        raise ConfigError(
            f"train_split: expected one of the TransformedExamples splits {splits}, got "
            f"{config.train_split!r}; set train.train_split"
        )
    if config.eval_split is not None:
        if config.eval_split not in splits:
            raise ConfigError(
                f"eval_split: expected one of the TransformedExamples splits {splits}, got "
                f"{config.eval_split!r}; set train.eval_split"
            )
        return config.train_split, config.eval_split
    for candidate in EVAL_SPLIT_CANDIDATES:
        if candidate in splits and candidate != config.train_split:
            return config.train_split, candidate
    raise ConfigError(
        f"eval_split: none of {list(EVAL_SPLIT_CANDIDATES)} is among the TransformedExamples "
        f"splits {splits}; set train.eval_split to the split to validate on"
    )


def steps_for(count: int | None, batch_size: int) -> int:
    """Batches in one pass over `count` records (at least 1)."""
    return max(1, math.ceil((count or 0) / batch_size))


@dataclass
class TrainResult:
    """The outcome of train_text_classifier.

    Attributes:
        model: Keras 3 model (outside any strategy scope) with the best weights, or None on a
            non-chief worker.
        is_chief: this process writes the outputs.
        choice: the strategy decision.
        replicas: number of replicas in sync.
        head: "sigmoid" | "softmax" ("" for a forecaster).
        history: per-epoch metrics of the whole training, killed attempts included.
        epochs_this_process: epochs run by this process (first = resume point; [] when an
            earlier attempt's fit had finished, see read_fit_finished). For an ensemble, the
            lists of the members this process trained, one after the other.
        cudnn_incompatibilities: why cuDNN would be off on GPU ([] = it would be on), from
            the config.
        diverged_at_epoch: first epoch (0-based) whose loss was not finite (TerminateOnNaN
            stopped there; the model holds the best earlier checkpoint), or None.
        ensemble: for a seed ensemble, its ensemble.EnsembleRecord (members, their figures
            and the mean model's val metrics); None for one model.
        refit: with train.refit, the refit.RefitRecord of the model that `model` holds (a
            fresh model trained on train + eval for the best epoch count); else None.
    """

    model: Any
    is_chief: bool
    choice: StrategyChoice
    replicas: int
    head: str
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs_this_process: list[int] = field(default_factory=list)
    cudnn_incompatibilities: list[str] = field(default_factory=list)
    diverged_at_epoch: int | None = None
    ensemble: Any = None
    refit: Any = None


def _keras_module(name: str) -> Any:
    if name == "tf_keras":
        import tf_keras

        return tf_keras
    import keras

    return keras


def text_task(
    config: TrainTextConfig,
    transform_graph_uri: str,
    graph: TextVocabulary,
    examples: TransformedExamples,
) -> ModelTask:
    """The text classifier's ModelTask (builder, compile step, datasets, class weights), also
    used by tune's trials so that a trial trains exactly the model train_text would."""
    from seqline.components.train.zoo_inputs import text_model_extras

    head = models.resolve_head(config.model.head, len(graph.labels))
    feature_spec = tft.TFTransformOutput(transform_graph_uri).transformed_feature_spec()
    # Pretrained vectors, class weights and the dtype policy (zoo_inputs.py).
    extras = text_model_extras(config, transform_graph_uri, graph, examples)

    def build(km: Any) -> Any:
        return models.build_text_model(
            config.model,
            graph.vocab_size,
            graph.max_tokens,
            len(graph.labels),
            km,
            ngram_vocab_size=graph.ngram_vocab_size,
            embedding_matrix=extras.embedding_matrix,
            ngram_weights=graph.ngram_weights,
        )

    def dataset(files: list[str], batch_size: int, **kwargs: Any) -> Any:
        return data.make_dataset(
            files,
            feature_spec,
            batch_size,
            head == "sigmoid",
            trim_padding=config.model.mask_zero,
            features=models.model_inputs(config.model),
            **kwargs,
        )

    return ModelTask(
        build=build,
        compile=lambda model, km: models.compile_text_model(
            model, head, config.learning_rate, km, config.model.label_smoothing, config.ema
        ),
        dataset=dataset,
        recurrent=config.model,
        head=head,
        class_weight=extras.class_weight,
    )


def train_text_classifier(
    config: TrainTextConfig,
    transform_graph_uri: str,
    graph: TextVocabulary,
    examples: TransformedExamples,
    paths: WorkPaths,
    tf_config: str | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
    initial_weights: Callable[[Any], None] | None = None,
) -> TrainResult:
    """Trains the configured text classifier (see train_model for the arguments).

    Args:
        graph: vocab_size, max_tokens, labels the TransformGraph fixed.
    """

    def make_task() -> ModelTask:
        return text_task(config, transform_graph_uri, graph, examples)

    return train_model(config, make_task, examples, paths, tf_config, progress, initial_weights)


def train_forecaster(
    config: TrainSeriesConfig,
    transform_graph_uri: str,
    scaling: SeriesScaling,
    examples: TransformedExamples,
    paths: WorkPaths,
    tf_config: str | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
) -> TrainResult:
    """Trains the configured forecaster (config.forecaster) on series windows (see
    train_model for the arguments).

    Args:
        scaling: the window layout (lookback, horizon, targets, covariates) the TransformGraph
            scaled.
    """
    fc = config.forecaster
    series = scaling.windows

    def make_task() -> ModelTask:
        feature_spec = tft.TFTransformOutput(transform_graph_uri).transformed_feature_spec()
        targets = len(series.targets)

        def build(km: Any) -> Any:
            return forecasters.build_forecaster(
                fc,
                series.lookback,
                scaling.history_features,
                series.horizon,
                targets,
                km,
                num_future=scaling.future_features,
            )

        def dataset(files: list[str], batch_size: int, **kwargs: Any) -> Any:
            return data.make_series_dataset(
                files,
                feature_spec,
                batch_size,
                series.lookback,
                scaling.history_features,
                series.horizon,
                targets,
                fc.output,
                num_future=scaling.future_features,
                **kwargs,
            )

        return ModelTask(
            build=build,
            compile=lambda model, km: forecasters.compile_forecaster(
                model, fc, config.learning_rate, km, config.ema
            ),
            dataset=dataset,
            recurrent=fc,
            monitors=("val_loss", "loss"),
        )

    return train_model(config, make_task, examples, paths, tf_config, progress)


def fit_inputs(
    task: ModelTask,
    config: TrainingConfig,
    examples: TransformedExamples,
    splits: tuple[str, str],
    repeat_eval: bool = False,
    shard_by_data: bool = False,
) -> tuple[Any, Any]:
    """(train dataset, validation dataset) for Model.fit, used by train and by tune's trials.

    The train split is shuffled (config.shuffle_buffer, config.seed) and repeated; the eval
    split is one finite pass unless `repeat_eval` (several replicas). Both run without tf.data's
    autotuning thread: Keras drops the validation iterator at every validation reset and the
    train iterator as fit returns, and that teardown idled up to ~10 s each time with
    autotuning on (data.without_autotune_thread).
    """
    train_split, eval_split = splits
    train_ds = task.dataset(
        examples.split_files(train_split),
        config.batch_size,
        shuffle_buffer=config.shuffle_buffer,
        seed=config.seed,
        repeat=True,
        shard_by_data=shard_by_data,
    )
    eval_ds = task.dataset(
        examples.split_files(eval_split),
        config.batch_size,
        repeat=repeat_eval,
        shard_by_data=shard_by_data,
    )
    return data.without_autotune_thread(train_ds), data.without_autotune_thread(eval_ds)


def train_model(
    config: TrainingConfig,
    make_task: Callable[[], ModelTask],
    examples: TransformedExamples,
    paths: WorkPaths,
    tf_config: str | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
    initial_weights: Callable[[Any], None] | None = None,
) -> TrainResult:
    """Trains a model, or with `config.ensemble.members` N > 1 a seed ensemble of N
    (ensemble.py); resumes from `paths` if a killed run left state there.

    Args:
        config: the training loop's settings (epochs, batch size, callbacks, distribution...).
        make_task: returns the ModelTask; called after the strategy exists (a multi-worker
            strategy must be created before anything starts TensorFlow's runtime).
        examples: the TransformedExamples (splits, counts, split files).
        paths: the stable work directory (shared by all workers of a multi-worker run).
        tf_config: the TF_CONFIG environment variable (None = single process).
        progress: one-line progress messages.
        initial_weights: called with the built, compiled model before fit (warm start);
            a resumed run's backup still wins, since fit restores it afterwards. Not with an
            ensemble (the config refuses warm_start there).
    """
    # First: MultiWorkerMirroredStrategy must exist before TensorFlow's runtime starts. One
    # strategy serves every member of an ensemble: it is made once per process.
    choice = choose_strategy(config.distribution, tf_config, num_physical_gpus())
    strategy = make_strategy(choice)
    km = _keras_module(choice.keras_module)
    weight_averaging.check_supported(km, config.ema)
    progress(f"strategy {choice.kind} ({choice.reason}), {strategy.num_replicas_in_sync} replicas")

    task = make_task()
    monitor = config.early_stopping.monitor
    if monitor not in task.monitors:
        raise ConfigError(
            f"early_stopping.monitor: expected one of {list(task.monitors)} for this model, got "
            f"{monitor!r}; forecasters have no accuracy, watch val_loss"
        )
    fitted = Fitting(task, examples, choice, strategy, km)
    if config.ensemble.members == 1:
        # Read once, before anything trains: every worker decides alike.
        finished = read_fit_finished(paths)
        return fitted.train(config, paths, progress, initial_weights, finished)
    if initial_weights is not None:
        raise ValueError("an ensemble's members start from scratch (warm_start is refused)")
    from seqline.components.train.ensemble import train_members  # noqa: PLC0415

    return train_members(config, fitted, paths, progress)


@dataclass(frozen=True)
class Fitting:
    """What every model of one training shares (one member of an ensemble or the one model):
    the task, the data and the strategy made once for the process."""

    task: ModelTask
    examples: TransformedExamples
    choice: StrategyChoice
    strategy: Any
    km: Any

    @property
    def is_chief(self) -> bool:
        return bool(self.choice.role.is_chief)

    @property
    def replicas(self) -> int:
        return int(self.strategy.num_replicas_in_sync)

    def train(
        self,
        config: TrainingConfig,
        paths: WorkPaths,
        progress: Callable[[str], None],
        initial_weights: Callable[[Any], None] | None = None,
        fit_finished: bool = False,
    ) -> TrainResult:
        """Trains one model with `config` (its seed) in `paths` (see train_model); with
        `fit_finished` (read_fit_finished, read by the caller before anything trained) builds
        it from the best checkpoint of the fit a killed attempt finished instead."""
        return _train_one(self, config, paths, progress, initial_weights, fit_finished)


def read_fit_finished(paths: WorkPaths) -> bool:
    """True when a killed attempt's fit had returned in `paths` (its fit.json marker, written
    right after fit, and the best checkpoint it vouches for both exist): the model is then
    built from best.weights.h5 without fitting again. Keras deletes the backup at the end of
    fit, so without this a kill while keeping the weights, exporting or publishing restarted
    training from epoch 1 (appending duplicate history rows). Read it once, before training:
    every worker of a multi-worker run sees the same shared files then."""
    return filesystem.exists(paths.fit_done) and filesystem.exists(paths.best_weights)


def epoch_values(
    prior: dict[str, list[float]], logs: dict[int, dict[str, float]], name: str
) -> dict[int, float]:
    """{epoch: value of `name`} over the whole training: the rows history.csv held before
    this process's fit (killed attempts), overridden by the epochs this process ran (`logs`,
    EpochRecorder.logs), as read_history keeps the last row per epoch. Every worker of a
    multi-worker run computes the same from the same inputs (the chief's history.csv is read
    by all before fit; the logs hold cross-replica figures)."""
    values = {
        int(epoch): value
        for epoch, value in zip(prior.get("epoch", []), prior.get(name, []), strict=False)
    }
    values.update({epoch: row[name] for epoch, row in logs.items() if name in row})
    return dict(sorted(values.items()))


def checkpoint_kept(had_checkpoint: bool, logs: dict[int, dict[str, float]], monitor: str) -> bool:
    """Whether best.weights.h5 exists once fit returns, decided from what every worker knows
    (a non-chief worker's checkpoint writes go to a private directory): it existed before fit,
    or an epoch of this process had a finite loss and monitored value, which FiniteCheckpoint
    saves (the first such epoch beats ModelCheckpoint's initial inf / -inf)."""
    return had_checkpoint or any(
        all(name in row and math.isfinite(row[name]) for name in ("loss", monitor))
        for row in logs.values()
    )


def divergence_error(
    losses: dict[int, float], kept_checkpoint: bool, learning_rate: float
) -> tuple[int | None, DataError | None]:
    """(first epoch whose loss was not finite or None, the DataError to fail with or None).

    A diverged training fails when no epoch left a usable checkpoint; with one, the model
    holds it and records where it diverged. Every worker of a multi-worker run decides this
    from the same figures (epoch_values, checkpoint_kept), so all fail together: a chief
    failing alone would leave the others blocked in the next member's collectives.
    """
    diverged = first_nonfinite_epoch(
        {"epoch": [float(e) for e in losses], "loss": [*losses.values()]}
    )
    if diverged is None or kept_checkpoint:
        return diverged, None
    return diverged, DataError(
        f"training diverged: the loss was not finite at epoch {diverged + 1} and no "
        "epoch produced a usable checkpoint; expected finite losses, lower "
        f"learning_rate (got {learning_rate}) or check the data"
    )


def nonfinite_weights_error(weights: list[Any], learning_rate: float) -> DataError | None:
    """The DataError for a model whose weights hold NaN/inf (it could only answer NaN), or
    None when every weight tensor is finite."""
    broken = [getattr(w, "path", None) or w.name for w in weights if not _all_finite(w)]
    if not broken:
        return None
    return DataError(
        f"training diverged: {len(broken)} weight tensor(s) hold NaN/inf (e.g. "
        f"{broken[0]}); expected finite weights, lower learning_rate (got "
        f"{learning_rate}) or check the data for extreme values"
    )


def _train_one(
    fitting: Fitting,
    config: TrainingConfig,
    paths: WorkPaths,
    progress: Callable[[str], None],
    initial_weights: Callable[[Any], None] | None,
    fit_finished: bool = False,
) -> TrainResult:
    task, examples, choice, strategy, km = (
        fitting.task,
        fitting.examples,
        fitting.choice,
        fitting.strategy,
        fitting.km,
    )
    is_chief = choice.role.is_chief
    head = task.head
    cudnn = warn_if_cudnn_disabled(task.recurrent)
    result = TrainResult(
        model=None,
        is_chief=is_chief,
        choice=choice,
        replicas=int(strategy.num_replicas_in_sync),
        head=head,
        cudnn_incompatibilities=cudnn,
    )
    if fit_finished:
        progress(
            "fit finished in an earlier attempt (killed before the model was kept); building "
            "the model from its best checkpoint instead of training again"
        )
        # history.csv is complete: fit.json is written after fit returned.
        history = read_history(paths.history_csv)
        losses = epoch_values(history, {}, "loss")
        result = _after_fit(fitting, config, paths, result, None, losses, True)
        monitored = epoch_values(history, {}, config.early_stopping.monitor)
        rates = read_learning_rates(paths)
        return _refit(
            fitting, config, paths, progress, initial_weights, result, (monitored, losses, rates)
        )
    train_split, eval_split = resolve_splits(config, examples.splits)
    counts = examples.counts
    multi_worker = choice.kind == "multi_worker"

    # One device: exact validation metrics from one finite pass. Several replicas: Keras's
    # distributed iterator raises StopIteration when a finite dataset ends inside a validation
    # run, and every worker must run the same number of steps, so the eval split repeats and
    # validation runs a fixed number of steps (the last batch is topped up from the start).
    distributed = choice.kind != "default"
    train_ds, eval_ds = fit_inputs(
        task, config, examples, (train_split, eval_split), distributed, multi_worker
    )
    train_count = counts.get(train_split)
    if config.steps_per_epoch is None and train_count is None:
        train_count = data.count_records(examples.split_files(train_split))
    steps_per_epoch = config.steps_per_epoch or steps_for(train_count, config.batch_size)
    # With the count known, validate on exactly one pass (Keras warns when a dataset of unknown
    # length runs out); a repeated eval split needs the count.
    eval_count = counts.get(eval_split)
    if eval_count is None and distributed:
        eval_count = data.count_records(examples.split_files(eval_split))
    for split, count in ((train_split, train_count), (eval_split, eval_count)):
        if count == 0:
            raise DataError(
                f"TransformedExamples split {split!r} is empty: expected at least one example "
                "to train and validate on; check the ingest split ratios and rejected records"
            )
    validation_steps = steps_for(eval_count, config.batch_size) if eval_count else None

    km.utils.set_random_seed(config.seed)
    with strategy.scope():
        model = task.build(km)
        task.compile(model, km)
        if initial_weights is not None:
            initial_weights(model)

    filesystem.makedirs(paths.root)
    # Non-chief workers log their CSV privately; tf_keras redirects their other writes itself.
    private_dir = None if is_chief else tempfile.mkdtemp(prefix="seqline-train-worker-")
    csv_path = os.path.join(private_dir, "history.csv") if private_dir else paths.history_csv
    prior = read_history(paths.history_csv)
    has_best = filesystem.exists(paths.best_weights)
    initial_best = best_value(prior, config.early_stopping.monitor) if has_best else None
    callbacks, recorder = make_callbacks(
        km, config, paths, csv_path, initial_best, progress, write_summaries=is_chief
    )

    try:
        model.fit(
            train_ds,
            validation_data=eval_ds,
            epochs=config.epochs,
            steps_per_epoch=steps_per_epoch,
            validation_steps=validation_steps,
            class_weight=task.class_weight,
            callbacks=callbacks,
            shuffle=False,  # the tf.data pipeline shuffles; Keras cannot shuffle a dataset
            verbose=0,
        )
    finally:
        if private_dir:
            filesystem.rmtree(private_dir)
    if is_chief and filesystem.exists(paths.best_weights):
        # First thing after fit (which deleted backup/): a kill from here on rebuilds the
        # model from best.weights.h5 instead of training again (read_fit_finished).
        filesystem.write_text(paths.fit_done, json.dumps({"epochs": list(recorder.epochs)}))
    result.epochs_this_process = list(recorder.epochs)
    kept = checkpoint_kept(has_best, recorder.logs, config.early_stopping.monitor)
    losses = epoch_values(prior, recorder.logs, "loss")
    result = _after_fit(fitting, config, paths, result, model, losses, kept)
    # Every worker has the same figures (the logs are cross-replica): all refit alike.
    monitored = epoch_values(prior, recorder.logs, config.early_stopping.monitor)
    rates = recorder.all_learning_rates()
    return _refit(
        fitting, config, paths, progress, initial_weights, result, (monitored, losses, rates)
    )


def _refit(
    fitting: Fitting,
    config: TrainingConfig,
    paths: WorkPaths,
    progress: Callable[[str], None],
    initial_weights: Callable[[Any], None] | None,
    result: TrainResult,
    first_fit: tuple[dict[int, float], dict[int, float], dict[int, float]],
) -> TrainResult:
    """With config.refit, `result` holding a fresh model trained on train + eval for the
    first fit's best epoch count (refit.py), or the one a killed attempt finished; else
    `result` as it is. `first_fit`: its {epoch: monitored value}, {epoch: loss} and
    {epoch: learning rate} (recorded ones; missing epochs are replayed)."""
    if not config.refit:
        return result
    from seqline.components.train import refit as refitting  # noqa: PLC0415

    task, examples, km = fitting.task, fitting.examples, fitting.km
    train_split, eval_split = resolve_splits(config, examples.splits)
    monitor = config.early_stopping.monitor
    monitored, losses, recorded = first_fit
    epochs = refitting.refit_epochs(monitored, losses, monitor)
    rates = refitting.first_fit_rates(recorded, monitored, epochs, config)
    record = refitting.read_refit_done(paths.root)
    if record is not None:
        progress("refit finished in an earlier attempt; building the model from its weights")
    else:
        counts = [
            examples.counts.get(split) or data.count_records(examples.split_files(split))
            for split in (train_split, eval_split)
        ]
        count = sum(counts)
        # A user-set steps_per_epoch stays the epoch's length, as in the first fit.
        steps = config.steps_per_epoch or steps_for(count, config.batch_size)
        progress(
            f"refit: a fresh model on '{train_split}' + '{eval_split}' ({count} examples) for "
            f"{epochs} epoch(s) of {steps} steps, the best epoch count early stopping found "
            f"on '{eval_split}'"
        )
        km.utils.set_random_seed(config.seed)
        with fitting.strategy.scope():
            model = task.build(km)
            task.compile(model, km)
            if initial_weights is not None:
                initial_weights(model)
        dataset = refitting.refit_dataset(
            task,
            config,
            [examples.split_files(train_split), examples.split_files(eval_split)],
            counts,
            fitting.choice.kind == "multi_worker",
        )
        refit_losses = refitting.fit_refit(
            model, km, dataset, steps, rates, task.class_weight, progress
        )
        error = refitting.divergence(refit_losses, epochs, config.learning_rate)
        if error is not None:
            raise error
        record = refitting.RefitRecord(eval_split, epochs, count, tuple(rates), tuple(refit_losses))
        if fitting.is_chief:
            # Weights first, then the marker naming them: a kill between the two refits again.
            partial = filesystem.join(paths.root, "refit.partial.weights.h5")
            model.save_weights(partial)
            # Over a killed attempt's weights that never got their refit.json.
            filesystem.replace_file(partial, refitting.refit_weights_path(paths.root))
            filesystem.write_text(
                refitting.refit_done_path(paths.root), json.dumps(record.properties())
            )
    result.refit = record
    if fitting.is_chief:
        source = task.build(km)
        source.load_weights(refitting.refit_weights_path(paths.root))
        result.model = _as_keras3(task, km, source, fitting.choice)
        error = nonfinite_weights_error(result.model.weights, config.learning_rate)
        if error is not None:
            raise error
    return result


def _after_fit(
    fitting: Fitting,
    config: TrainingConfig,
    paths: WorkPaths,
    result: TrainResult,
    trained: Any | None,
    losses: dict[int, float],
    kept_checkpoint: bool,
) -> TrainResult:
    """The checks after fit, on every worker alike, then (chief, without refit) the Keras 3
    model of the best checkpoint (or of `trained`'s weights without one; `trained` is None
    when fit finished in an earlier attempt, which implies the checkpoint)."""
    diverged, error = divergence_error(losses, kept_checkpoint, config.learning_rate)
    if error is not None:
        raise error
    result.diverged_at_epoch = diverged
    if not fitting.is_chief or config.refit:
        # Without a checkpoint the chief exports the trained weights, which are synced: the
        # same check here fails every worker together. (With one, the chief checks the
        # checkpoint's weights, saved from an epoch whose loss and val figures were finite.)
        # With refit the exported model is the refit's (_refit builds and checks it), so the
        # chief does not build the first fit's model only to drop it.
        if not kept_checkpoint and trained is not None:
            error = nonfinite_weights_error(trained.weights, config.learning_rate)
            if error is not None:
                raise error
        if fitting.is_chief:
            result.history = read_history(paths.history_csv)
        return result
    result.history = read_history(paths.history_csv)
    result.model = _best_keras3_model(fitting.task, fitting.km, trained, paths, fitting.choice)
    # Never export a model that can only answer NaN.
    error = nonfinite_weights_error(result.model.weights, config.learning_rate)
    if error is not None:
        raise error
    return result


def _all_finite(weight: Any) -> bool:
    import numpy as np

    return bool(np.isfinite(np.asarray(weight)).all())


def _best_keras3_model(
    task: ModelTask, km: Any, trained: Any | None, paths: WorkPaths, choice: StrategyChoice
) -> Any:
    """A Keras 3 model, built outside any strategy scope, holding the best checkpoint's weights
    (the best epoch over the whole training, resumed attempts included) or, without one, the
    trained weights."""
    # Same Keras as training: the checkpoint file is in that Keras's weights format.
    source = task.build(km)
    if trained is None or filesystem.exists(paths.best_weights):
        source.load_weights(paths.best_weights)
    else:
        models.transplant_weights(trained, source)
    return _as_keras3(task, km, source, choice)


def _as_keras3(task: ModelTask, km: Any, source: Any, choice: StrategyChoice) -> Any:
    """`source` (built by `km`, outside any strategy scope) as a compiled Keras 3 model."""
    import keras

    if choice.keras_module == "keras":
        final = source
    else:
        final = task.build(keras)
        models.transplant_weights(source, final)
    # Compiled (loss, metrics) so model.keras can be evaluated as loaded; the optimizer is
    # built so that load_model finds the variables it expects (otherwise Keras warns that it
    # skips loading the optimizer).
    task.compile(final, keras)
    final.optimizer.build(final.trainable_variables)
    return final
