"""The executor shell train_text and train_series share: where a resumable training keeps its
state, how its outputs are filled once the model is trained, and the multi-worker hand-off.

A killed training resumes at the epoch after its last completed one when run again: the
BackupAndRestore state, history and best checkpoint live in
`{pipeline_root}/_work/{node_id}/{fingerprint}/` (callbacks.py), not in the temporary outputs.
When a training of another fingerprint starts (the config or data changed since the kill), the
killed one would never resume: `remove_stale_work_dirs` removes its work dir, but only while
holding that execution's node lock (pipeline/locking.py) without waiting, so the work dir of a
training another run is executing right now is never touched.
Under a multi-worker TF_CONFIG the executor trains in a child process (worker.py) and the other
workers run worker.py on their hosts.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from typing import Any

from seqline.components.train.config import TrainingConfig
from seqline.pipeline.artifacts import Model, ModelRun
from seqline.pipeline.component import ExecutionContext
from seqline.pipeline.locking import try_node_lock
from seqline.storage import filesystem


def _write_bytes(path: str, payload: bytes) -> None:
    if filesystem.is_remote(path):
        import tensorflow as tf  # noqa: PLC0415

        with tf.io.gfile.GFile(path, "wb") as f:
            f.write(payload)
    else:
        with open(path, "wb") as f:
            f.write(payload)


def _copy_file(src: str, dst: str) -> None:
    import tensorflow as tf  # noqa: PLC0415

    tf.io.gfile.copy(src, dst, overwrite=True)


def is_multi_worker(config: TrainingConfig) -> bool:
    """True under a multi-worker TF_CONFIG (also rejects a config that conflicts with it
    before anything heavy happens; the GPU count does not matter for this decision)."""
    from seqline.components.train.strategy import choose_strategy  # noqa: PLC0415

    tf_config = os.environ.get("TF_CONFIG")
    return choose_strategy(config.distribution, tf_config, num_gpus=0).kind == "multi_worker"


def _fingerprint(model: Model) -> str:
    return model.fingerprint or model.uri.rstrip("/").rsplit("/", 1)[-1]


def work_paths(ctx: ExecutionContext, model: Model) -> Any:
    """The stable work directory of this execution (shared by all workers, survives a kill)."""
    from seqline.components.train.callbacks import WorkPaths, work_dir  # noqa: PLC0415

    fallback = filesystem.join(ctx.temp_dir, "_work")
    return WorkPaths(work_dir(ctx.pipeline_root, ctx.node_id, _fingerprint(model), fallback))


def remove_stale_work_dirs(ctx: ExecutionContext, model: Model) -> list[str]:
    """Removes this node's work dirs of other fingerprints (`{root}/_work/{node}/{fp}/`, the
    backup and best weights of a training killed before its config changed), each while
    holding its node lock taken without waiting: one that another run is training in now is
    skipped. Returns the fingerprints removed. Only on local roots (remote roots have no
    flock; their stale work dirs stay)."""
    root, current = ctx.pipeline_root, _fingerprint(model)
    if not root or not current or filesystem.is_remote(root):
        return []
    node_id = ctx.node_id or "train"
    parent = filesystem.join(root, "_work", node_id)
    if not os.path.isdir(parent):
        return []
    removed = []
    for name in sorted(os.listdir(parent)):
        path = os.path.join(parent, name)
        if name == current or not os.path.isdir(path):
            continue
        fd = try_node_lock(root, node_id, name)
        if fd is None:
            continue  # another run is executing that training right now
        try:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
        finally:
            os.close(fd)
    return removed


def report_stale_work_dirs(ctx: ExecutionContext, model: Model) -> None:
    """remove_stale_work_dirs, saying what it removed."""
    removed = remove_stale_work_dirs(ctx, model)
    if removed:
        ctx.progress(
            f"removed the resume state of {len(removed)} earlier training(s) of this node "
            f"killed before their config changed: _work/{ctx.node_id or 'train'}/"
            f"{{{', '.join(removed)}}}"
        )


def publish_training(
    ctx: ExecutionContext,
    config: TrainingConfig,
    result: Any,
    paths: Any,
    model: Model,
    model_run: ModelRun,
    export: Callable[[str], tuple[dict[str, Any], dict[str, Any]]],
    summary_metric: str,
    splits: list[str],
) -> dict[str, Any]:
    """Fills both outputs from a finished training (on the chief) and returns the summary.

    Args:
        result: training.TrainResult (model, history, strategy...).
        paths: the WorkPaths the training used (removed once the outputs hold everything).
        export: saved_model dir -> (signature summary, task-specific Model properties).
        summary_metric: the validation metric the summary shows (val_accuracy, val_mae).
        splits: the TransformedExamples' splits, from which training.resolve_splits gives the
            split every val_* figure is on (the config's eval_split, else "eval" or
            "validation"), recorded as the Model's validation_split.
    """
    from seqline.components.train.history import best_epoch, metrics_at_epoch  # noqa: PLC0415
    from seqline.components.train.training import resolve_splits  # noqa: PLC0415

    _, validation_split = resolve_splits(config, splits)

    # What is left (export, saving, plots) runs on one core: let the runner warm up the nodes
    # waiting for this one (infra_validate's server child) on the other.
    ctx.finishing()
    ctx.progress("exporting the SavedModel with the transform graph")
    signatures, task_properties = export(model.saved_model_dir)
    filesystem.makedirs(model.path("keras"))
    result.model.save(model.keras_file)

    history = result.history
    ensemble = result.ensemble
    if ensemble is None:
        _publish_run_files(paths, history, model_run, ())
    else:
        _publish_member_files(ensemble, model_run)

    epochs = history.get("epoch", [])
    epochs_run = len(epochs)
    val_losses = [v for v in history.get("val_loss", []) if math.isfinite(v)]
    best_val_loss = min(val_losses) if val_losses else None
    monitor = config.early_stopping.monitor
    best = best_epoch(history, monitor)
    # The exported weights are the best epoch's, so its metrics describe the model.
    best_metrics = metrics_at_epoch(history, epochs.index(float(best))) if best is not None else {}
    final = metrics_at_epoch(history, epochs_run - 1) if epochs_run else {}
    resumed_from = result.epochs_this_process[0] if result.epochs_this_process else epochs_run
    extra: dict[str, Any] = {}
    if ensemble is not None:
        # The exported model is the members' mean: its own figures on the eval split describe
        # it (no epoch of it is "best"); each member's best figures sit in `ensemble`.
        best_metrics, best = dict(ensemble.metrics), None
        best_val_loss = best_metrics.get("val_loss")
        epochs_run = sum(m.epochs_run for m in ensemble.members)
        resumed_from = max((m.resumed_from_epoch for m in ensemble.members), default=0)
        extra = {"ensemble": ensemble.properties()}
    if result.refit is not None:
        # The exported weights are the refit's (Model.refit); best_metrics and the val_*
        # figures stay the first fit's, which chose the refit's epoch count.
        extra["refit"] = result.refit.properties()
    model.properties.update(
        {
            **task_properties,
            "signatures": signatures,
            # Which split the weights were fitted on: evaluate trains its linear baseline on
            # the same one, and never scores a blessing on it.
            "train_split": config.train_split,
            # ...and which split its val_* figures (best_val_loss, best_metrics, the summary's)
            # are on: early stopping's, not evaluate's, so `seqline show` can say so.
            "validation_split": validation_split,
            "epochs_run": epochs_run,
            "best_val_loss": best_val_loss,
            "best_epoch": best,
            "best_metrics": best_metrics,
            "monitor": monitor,
            "strategy": result.choice.kind,
            "trained_with": result.choice.keras_module,
            "replicas": result.replicas,
            "cudnn_incompatibilities": result.cudnn_incompatibilities,
            "diverged_at_epoch": result.diverged_at_epoch,
            **extra,
        }
    )
    model_run.properties.update(
        {"epochs_run": epochs_run, "resumed_from_epoch": resumed_from, "final": final, **extra}
    )
    # The outputs hold everything now; the resume state is no longer needed.
    filesystem.rmtree(paths.root)
    val_metric = best_metrics.get(summary_metric)
    summary: dict[str, Any] = {
        "epochs_run": epochs_run,
        "best_val_loss": round(best_val_loss, 4) if best_val_loss is not None else None,
        summary_metric: round(val_metric, 4) if val_metric is not None else None,
        "strategy": f"{result.choice.kind} x{result.replicas}",
    }
    if resumed_from:
        summary["resumed_from_epoch"] = resumed_from
    if result.refit is not None:
        refit = result.refit
        summary["refit"] = f"{refit.epochs} epoch(s) on {config.train_split}+{refit.split}"
    if ensemble is not None:
        shown = extra["ensemble"]
        summary["members"] = shown["members"]
        summary["member_val_loss"] = [
            round(v, 4) if v is not None else None for v in shown.get("member_val_loss", [])
        ]
        if ensemble.reused:
            summary["reused_members"] = list(ensemble.reused)
    return summary


def _publish_run_files(
    paths: Any, history: dict[str, list[float]], model_run: ModelRun, under: tuple[str, ...]
) -> None:
    """One training's TensorBoard logs, history.csv, best checkpoint and curves into
    `model_run`'s folder `under` (() = its root)."""
    from seqline.components.train.curves import plot_training_curves  # noqa: PLC0415
    from seqline.components.train.refit import refit_weights_path  # noqa: PLC0415

    if filesystem.exists(paths.tensorboard_dir):
        filesystem.copytree(paths.tensorboard_dir, model_run.path(*under, "tensorboard"))
    if under:
        filesystem.makedirs(model_run.path(*under))
    _copy_file(paths.history_csv, model_run.path(*under, "history.csv"))
    if filesystem.exists(paths.best_weights):
        filesystem.makedirs(model_run.path(*under, "checkpoints"))
        _copy_file(paths.best_weights, model_run.path(*under, "checkpoints", "best.weights.h5"))
    refit_weights = refit_weights_path(paths.root)  # train.refit's model
    if filesystem.exists(refit_weights):
        filesystem.makedirs(model_run.path(*under, "checkpoints"))
        _copy_file(refit_weights, model_run.path(*under, "checkpoints", "refit.weights.h5"))
    _write_bytes(model_run.path(*under, "training_curves.png"), plot_training_curves(history))


def _publish_member_files(ensemble: Any, model_run: ModelRun) -> None:
    """An ensemble's run files: every member's under members/member_{k}/, and member 1's
    history.csv and training_curves.png at the root too, where one model's are."""
    from seqline.components.train.ensemble import member_name  # noqa: PLC0415
    from seqline.components.train.history import read_history  # noqa: PLC0415

    for k, member_paths in enumerate(ensemble.paths):
        under = ("members", member_name(k))
        _publish_run_files(member_paths, read_history(member_paths.history_csv), model_run, under)
    for name in ("history.csv", "training_curves.png"):
        _copy_file(model_run.path("members", member_name(0), name), model_run.path(name))


def not_chief_summary(result: Any) -> dict[str, Any]:
    """What a non-chief worker returns: it wrote nothing."""
    return {"chief": False, "epochs_run": len(result.epochs_this_process)}
