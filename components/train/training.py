"""Training on TransformedExamples: strategy, data, model, callbacks, fit.

`train_model` is the one training loop: strategy, callbacks, checkpointing, resume, best
weights. What differs between kinds of model is a `ModelTask` (a model builder, its compile
step and a dataset builder): `train_text_classifier` and `train_forecaster` build one and call
train_model; the component (and extra multi-worker processes) call those. The result holds the
trained weights in a Keras 3 model built outside any strategy scope, ready for export, whichever
Keras trained them (see strategy.py for why multi-worker uses tf_keras).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tensorflow_transform as tft

from seqline.components.train import data, forecasters, models, weight_averaging
from seqline.components.train.callbacks import WorkPaths, make_callbacks
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
        epochs_this_process: epochs run by this process (first = resume point).
        cudnn_incompatibilities: why cuDNN would be off on GPU ([] = it would be on).
        diverged_at_epoch: first epoch (0-based) whose loss was not finite (TerminateOnNaN
            stopped there; the model holds the best earlier checkpoint), or None.
        ensemble: for a seed ensemble, its ensemble.EnsembleRecord (members, their figures
            and the mean model's val metrics); None for one model.
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
        return fitted.train(config, paths, progress, initial_weights)
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
    ) -> TrainResult:
        """Trains one model with `config` (its seed) in `paths` (see train_model)."""
        return _train_one(self, config, paths, progress, initial_weights)


def _train_one(
    fitting: Fitting,
    config: TrainingConfig,
    paths: WorkPaths,
    progress: Callable[[str], None],
    initial_weights: Callable[[Any], None] | None,
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
    result = TrainResult(
        model=None,
        is_chief=is_chief,
        choice=choice,
        replicas=int(strategy.num_replicas_in_sync),
        head=head,
        epochs_this_process=list(recorder.epochs),
        cudnn_incompatibilities=cudnn,
    )
    if not is_chief:
        return result
    result.history = read_history(paths.history_csv)
    diverged = first_nonfinite_epoch(result.history)
    if diverged is not None and not filesystem.exists(paths.best_weights):
        raise DataError(
            f"training diverged: the loss was not finite at epoch {diverged + 1} and no "
            "epoch produced a usable checkpoint; expected finite losses, lower "
            f"learning_rate (got {config.learning_rate}) or check the data"
        )
    result.diverged_at_epoch = diverged
    result.model = _best_keras3_model(task, km, model, paths, choice)
    broken = [w.path for w in result.model.weights if not _all_finite(w)]
    if broken:  # never export a model that can only answer NaN
        raise DataError(
            f"training diverged: {len(broken)} weight tensor(s) hold NaN/inf (e.g. "
            f"{broken[0]}); expected finite weights, lower learning_rate (got "
            f"{config.learning_rate}) or check the data for extreme values"
        )
    return result


def _all_finite(weight: Any) -> bool:
    import numpy as np

    return bool(np.isfinite(np.asarray(weight)).all())


def _best_keras3_model(
    task: ModelTask, km: Any, trained: Any, paths: WorkPaths, choice: StrategyChoice
) -> Any:
    """A Keras 3 model, built outside any strategy scope, holding the best checkpoint's weights
    (the best epoch over the whole training, resumed attempts included) or, without one, the
    trained weights."""
    import keras

    # Same Keras as training: the checkpoint file is in that Keras's weights format.
    source = task.build(km)
    if filesystem.exists(paths.best_weights):
        source.load_weights(paths.best_weights)
    else:
        models.transplant_weights(trained, source)
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
