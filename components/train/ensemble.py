"""Seed ensembles (`train.ensemble: {members: N}`): N trainings of one config, one model of their
mean.

Member k (0-based) trains with seed `seed + k`, which changes both its initial weights and its
shuffle order (member 1 is exactly the model the config trains without an ensemble). Each member
has its own work directory, `{work}/member_{k+1}/` (callbacks.WorkPaths: backup, best weights,
history, TensorBoard), so a training killed during member 2 resumes member 2 from its backup.
A member is finished when its directory holds

    member.weights.h5   the Keras 3 model's weights (its best epoch), written first
    done.json           MemberRecord, written atomically last: the marker

and a rerun loads a finished member instead of training it again. A member whose fit had
returned (its fit.json, training.read_fit_finished) but that was killed before done.json is
built from its best checkpoint and marked done, not trained again. Which members are finished,
and whose fit is, is read once, before anything trains, so every worker of a multi-worker run
(which all see the shared work directory) skips the same ones; every worker runs the divergence
checks after each member (training.divergence_error), so all fail together.

The exported model is a Keras 3 functional model over the members' inputs whose output is the
mean of the members' outputs: the head's probabilities for a classifier (every text head ends
in a sigmoid/softmax, also `linear_branch: only`), the forecast for a forecaster. Each member is
a nested model named `member_{k+1}`, its variables created under that name scope, so no layer
or weight name repeats. The mean model is scored once on the eval split fit validated on; those
figures (val_loss, val_accuracy / val_mae...) are the Model's, and each member's best epoch's
figures are kept beside them (EnsembleRecord).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from seqline.components.train.callbacks import WorkPaths
from seqline.components.train.config import EnsembleConfig, TrainingConfig
from seqline.components.train.history import best_epoch, metrics_at_epoch, read_history
from seqline.storage import filesystem

if TYPE_CHECKING:
    from seqline.components.train.training import Fitting, TrainResult

DONE = "done.json"
WEIGHTS = "member.weights.h5"
MEAN_LAYER = "ensemble_mean"


def member_name(index: int) -> str:
    """ "member_1" for index 0: the member's work subdirectory and nested model name."""
    return f"member_{index + 1}"


def member_paths(paths: WorkPaths, index: int) -> WorkPaths:
    """Member `index`'s (0-based) work directory inside the training's."""
    return WorkPaths(filesystem.join(paths.root, member_name(index)))


def member_config(config: TrainingConfig, index: int) -> TrainingConfig:
    """The config member `index` trains with: seed + index, and no ensemble of its own."""
    return dataclasses.replace(config, seed=config.seed + index, ensemble=EnsembleConfig())


@dataclass(frozen=True)
class MemberRecord:
    """One finished member (its done.json).

    Attributes:
        member: 1-based number.
        seed: the seed it trained with.
        epochs_run: epochs in its history (killed attempts included).
        best_epoch: 0-based epoch whose weights it keeps (the monitored metric's best), or None.
        best_metrics: its history's figures at best_epoch (loss, val_loss, accuracy...).
        diverged_at_epoch: first epoch whose loss was not finite, or None.
        resumed_from_epoch: where this member's training resumed (0: uninterrupted;
            epochs_run when its fit had finished in a killed attempt and only its model was
            kept afterwards).
    """

    member: int
    seed: int
    epochs_run: int
    best_epoch: int | None
    best_metrics: dict[str, float | None]
    diverged_at_epoch: int | None = None
    resumed_from_epoch: int = 0


@dataclass
class EnsembleRecord:
    """What publish_training records for an ensemble (TrainResult.ensemble).

    Attributes:
        members: one MemberRecord per member, in order.
        paths: each member's WorkPaths (history, TensorBoard, best checkpoint to publish).
        metrics: the mean model's figures on the eval split, named as fit's validation
            metrics ({"val_loss": ..., "val_accuracy": ...} or val_mae, val_rmse).
        reused: 1-based numbers of the members a killed attempt had finished or fitted
            (loaded, not trained again).
    """

    members: list[MemberRecord]
    paths: list[WorkPaths]
    metrics: dict[str, float | None] = field(default_factory=dict)
    reused: list[int] = field(default_factory=list)

    def properties(self) -> dict[str, Any]:
        """The Model's `ensemble` property: members, seeds, each member's best figures."""
        # Every figure of each member's best epoch: val_* (eval split) and the train-split
        # figures Keras logs beside them (loss, accuracy, ...), which the mean model has none of.
        names = sorted({k for m in self.members for k in m.best_metrics})
        return {
            "members": len(self.members),
            "seeds": [m.seed for m in self.members],
            "member_best_epoch": [m.best_epoch for m in self.members],
            "member_epochs_run": [m.epochs_run for m in self.members],
            **{f"member_{k}": [m.best_metrics.get(k) for m in self.members] for k in names},
            "reused_members": list(self.reused),
        }


def read_done(paths: WorkPaths) -> MemberRecord | None:
    """The member's record if it finished in an earlier attempt (done.json exists), else None."""
    path = filesystem.join(paths.root, DONE)
    if not filesystem.exists(path):
        return None
    return MemberRecord(**json.loads(filesystem.read_text(path)))


def mark_done(paths: WorkPaths, model: Any, record: MemberRecord) -> None:
    """Saves the member's Keras 3 weights, then its record: done.json is written last (and
    atomically), so it never exists without the weights it vouches for."""
    model.save_weights(filesystem.join(paths.root, WEIGHTS))
    filesystem.write_text(filesystem.join(paths.root, DONE), json.dumps(dataclasses.asdict(record)))


def record_of(result: TrainResult, config: TrainingConfig, index: int) -> MemberRecord:
    """A finished member's record from its TrainResult (history read by the chief)."""
    history = result.history
    best = best_epoch(history, config.early_stopping.monitor)
    epochs = history.get("epoch", [])
    at_best = metrics_at_epoch(history, epochs.index(float(best))) if best is not None else {}
    return MemberRecord(
        member=index + 1,
        seed=config.seed,
        epochs_run=len(epochs),
        best_epoch=best,
        best_metrics=at_best,
        diverged_at_epoch=result.diverged_at_epoch,
        resumed_from_epoch=(
            result.epochs_this_process[0] if result.epochs_this_process else len(epochs)
        ),
    )


def load_member(build: Callable[[Any], Any], paths: WorkPaths, index: int) -> Any:
    """Member `index` as a Keras 3 model named member_{index+1}, its variables created under
    that name scope (unique weight paths inside the mean model), with its saved weights."""
    import keras  # noqa: PLC0415

    name = member_name(index)
    with keras.name_scope(name):
        model = build(keras)
    model.load_weights(filesystem.join(paths.root, WEIGHTS))
    model.name = name
    return model


def mean_model(members: list[Any]) -> Any:
    """A Keras 3 functional model over the first member's inputs (same names, shapes, dtypes)
    whose output is the element-wise mean of the members' outputs (float32, shape of one)."""
    import keras  # noqa: PLC0415

    inputs = keras.tree.map_structure(
        lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t.name), members[0].input
    )
    outputs = [member(inputs) for member in members]
    mean = keras.layers.Average(dtype="float32", name=MEAN_LAYER)(outputs)
    return keras.Model(inputs=inputs, outputs=mean, name="ensemble")


def evaluate_mean(model: Any, dataset: Any) -> dict[str, float | None]:
    """The compiled mean `model`'s figures on `dataset` (one finite pass), named as fit's
    validation metrics: {"val_loss": ..., "val_accuracy": ...} (forecasters: val_mae, val_rmse).

    Keras adds every regularization penalty of the model to its loss, here the sum of N
    members'; a single model's val_loss holds its one penalty, so the mean model's holds the
    members' mean penalty (the sum / N) to stay comparable.
    """
    figures = model.evaluate(dataset, return_dict=True, verbose=0)
    penalties = float(sum(float(loss) for loss in model.losses))
    members = sum(1 for layer in model.layers if layer.name.startswith("member_"))
    if penalties and members > 1:
        figures["loss"] = float(figures["loss"]) - penalties * (members - 1) / members
    return {
        f"val_{name}": (float(value) if math.isfinite(float(value)) else None)
        for name, value in figures.items()
    }


def train_members(
    config: TrainingConfig, fitting: Fitting, paths: WorkPaths, progress: Callable[[str], None]
) -> TrainResult:
    """Trains config.ensemble.members members (each as training.train_model trains one model,
    progress lines prefixed "member k/N: "), skipping the ones a killed attempt finished
    (done.json) and building the ones whose fit it finished (fit.json) from their checkpoint; on
    the chief returns a TrainResult whose model is the compiled mean model and whose
    `ensemble` is the EnsembleRecord. A member that diverges fails the run (DataError), as a
    single model does."""
    from seqline.components.train import data  # noqa: PLC0415
    from seqline.components.train.cudnn import cudnn_incompatibilities  # noqa: PLC0415
    from seqline.components.train.training import (  # noqa: PLC0415
        TrainResult,
        read_fit_finished,
        resolve_splits,
    )

    count = config.ensemble.members
    all_paths = [member_paths(paths, k) for k in range(count)]
    # Read once, before training: every worker decides alike from the same shared files.
    done = [read_done(p) for p in all_paths]
    fitted = [d is None and read_fit_finished(p) for p, d in zip(all_paths, done, strict=True)]
    records: list[MemberRecord] = []
    epochs_here: list[int] = []
    for k, (mpaths, finished) in enumerate(zip(all_paths, done, strict=True)):

        def say(message: str, k: int = k) -> None:
            progress(f"member {k + 1}/{count}: {message}")

        if finished is not None:
            say("finished by an earlier attempt; loading its weights instead of training it")
            records.append(finished)
            continue
        mconfig = member_config(config, k)
        if not fitted[k]:
            say(f"training with seed {mconfig.seed}")
        trained = fitting.train(mconfig, mpaths, say, fit_finished=fitted[k])
        epochs_here.extend(trained.epochs_this_process)
        if trained.is_chief:
            finished = record_of(trained, mconfig, k)
            mark_done(mpaths, trained.model, finished)
            records.append(finished)
    result = TrainResult(
        model=None,
        is_chief=fitting.is_chief,
        choice=fitting.choice,
        replicas=fitting.replicas,
        head=fitting.task.head,
        epochs_this_process=epochs_here,
        # From the config, whichever members were trained here (all may have been reused).
        cudnn_incompatibilities=cudnn_incompatibilities(fitting.task.recurrent),
    )
    if not fitting.is_chief:
        return result
    import keras  # noqa: PLC0415

    task = fitting.task
    model = mean_model([load_member(task.build, p, k) for k, p in enumerate(all_paths)])
    # Compiled (loss, metrics) to score it, and so model.keras loads ready to evaluate; the
    # optimizer is built so that load_model finds the variables it expects.
    task.compile(model, keras)
    model.optimizer.build(model.trainable_variables)
    _, eval_split = resolve_splits(config, fitting.examples.splits)
    # One finite pass, without tf.data's autotuning thread (see training.fit_inputs: its
    # teardown idles up to ~10 s when the iterator is dropped).
    eval_ds = data.without_autotune_thread(
        task.dataset(fitting.examples.split_files(eval_split), config.batch_size)
    )
    record = EnsembleRecord(
        members=records,
        paths=all_paths,
        metrics=evaluate_mean(model, eval_ds),
        reused=[
            r.member for r, d, f in zip(records, done, fitted, strict=True) if d is not None or f
        ],
    )
    progress(
        f"ensemble of {count}: "
        + ", ".join(f"{k}={v:.4f}" for k, v in sorted(record.metrics.items()) if v is not None)
        + " (the mean model on "
        + f"{eval_split}; members' {config.early_stopping.monitor}: "
        + ", ".join(_shown(r.best_metrics.get(config.early_stopping.monitor)) for r in records)
        + ")"
    )
    result.model = model
    result.history = read_history(all_paths[0].history_csv)
    result.ensemble = record
    diverged = [r.diverged_at_epoch for r in records if r.diverged_at_epoch is not None]
    result.diverged_at_epoch = min(diverged) if diverged else None
    return result


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
