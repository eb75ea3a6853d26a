"""Choosing the tf.distribute strategy, and which Keras trains under it.

Selection (choose_strategy, pure, tested on CPU):
    auto          -> multi_worker when TF_CONFIG names >= 2 training tasks (chief + workers),
                     else mirrored with >= 2 GPUs, else the default (one device) strategy.
    default       -> one device.
    mirrored      -> MirroredStrategy over all local GPUs; with no GPU, over all logical CPU
                     devices (so the multi-replica path can be exercised on a CPU machine by
                     splitting the CPU with tf.config.set_logical_device_configuration).
    multi_worker  -> MultiWorkerMirroredStrategy over the TF_CONFIG cluster (required).

Which Keras (the deliberate decision):
    default and mirrored train with Keras 3 (`import keras`), the project standard.
    multi_worker trains with tf_keras 2.21 (Keras 2), for two reasons checked on this stack:
      1. Keras 3.15 under MultiWorkerMirroredStrategy fails at the first training step
         (keras-team/keras#20585, "Attempt to convert a value (PerReplica...)").
      2. Keras 3 callbacks (ModelCheckpoint, BackupAndRestore, TensorBoard) do not restrict
         writes to the chief, so workers sharing a checkpoint path collide. tf_keras's callbacks
         route non-chief writes to private temporary directories (distributed_file_utils) and
         every worker restores BackupAndRestore state from the chief's directory.
    The model is built by the same builder (models.build_text_model takes the Keras module), and
    after training the chief copies the weights into an identically built Keras 3 model. So the
    exported SavedModel and keras/model.keras are Keras 3 whichever strategy trained them, and
    the export goes through the same tf.Module path. When Keras 3 fixes #20585 and chief-only
    writes, dropping tf_keras here is a one-line change in choose_strategy.

MultiWorkerMirroredStrategy must be created before TensorFlow initialises its runtime in the
process, so the executor creates the strategy first. Extra workers run
`python -m seqline.components.train.worker` (see worker.py) with their own TF_CONFIG.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from seqline.pipeline.errors import ConfigError

StrategyKind = Literal["default", "mirrored", "multi_worker"]
KerasModuleName = Literal["keras", "tf_keras"]


@dataclass(frozen=True)
class ClusterRole:
    """This process's place in a TF_CONFIG cluster.

    Attributes:
        task_type: "chief" or "worker" ("" when there is no TF_CONFIG).
        task_index: index within task_type.
        num_workers: training processes in the cluster (chief + workers); 1 without TF_CONFIG.
        is_chief: True for the task that writes outputs: "chief", or worker 0 when the
            cluster has no "chief" entry, or the only process.
    """

    task_type: str = ""
    task_index: int = 0
    num_workers: int = 1
    is_chief: bool = True


@dataclass(frozen=True)
class StrategyChoice:
    """The decision: strategy kind, Keras module, this process's role, and why."""

    kind: StrategyKind
    keras_module: KerasModuleName
    role: ClusterRole
    reason: str


def cluster_role(tf_config: str | None) -> ClusterRole:
    """Parses a TF_CONFIG value (None or "" = single process).

    Raises:
        ConfigError: TF_CONFIG is not valid JSON, lacks cluster/task, or names a task type
            other than chief/worker.
    """
    if not tf_config:
        return ClusterRole()
    try:
        data = json.loads(tf_config)
    except json.JSONDecodeError as e:
        raise ConfigError(
            f"TF_CONFIG: expected JSON like "
            f'{{"cluster": {{"worker": ["host:port", ...]}}, "task": {{"type": "worker", '
            f'"index": 0}}}}, got {tf_config!r} ({e}); fix or unset the TF_CONFIG variable'
        ) from e
    cluster = data.get("cluster") if isinstance(data, dict) else None
    task = data.get("task") if isinstance(data, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ConfigError(
            f'TF_CONFIG: expected both "cluster" and "task" objects, got {tf_config!r}; '
            "fix or unset the TF_CONFIG variable"
        )
    task_type = str(task.get("type", ""))
    if task_type not in ("chief", "worker"):
        raise ConfigError(
            f'TF_CONFIG task.type: expected "chief" or "worker", got {task_type!r}; '
            "seqline trains with MultiWorkerMirroredStrategy, which has no ps/evaluator tasks"
        )
    task_index = int(task.get("index", 0))
    num_workers = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
    if task_index >= len(cluster.get(task_type, [])):
        raise ConfigError(
            f"TF_CONFIG task.index: expected < {len(cluster.get(task_type, []))} "
            f"({task_type} entries in cluster), got {task_index}; fix the task index"
        )
    has_chief = bool(cluster.get("chief"))
    is_chief = task_type == "chief" or (not has_chief and task_index == 0)
    return ClusterRole(task_type, task_index, num_workers, is_chief)


def choose_strategy(requested: str, tf_config: str | None, num_gpus: int) -> StrategyChoice:
    """Decides the strategy (pure: the caller passes the environment in).

    Args:
        requested: TrainingConfig.distribution ("auto" | "default" | "mirrored" | "multi_worker").
        tf_config: the TF_CONFIG environment variable, or None.
        num_gpus: physical GPUs visible to this process.

    Raises:
        ConfigError: multi_worker without a multi-task TF_CONFIG, or a single-process strategy
            while TF_CONFIG describes several workers (each would train alone and they would
            overwrite each other's outputs).
    """
    role = cluster_role(tf_config)
    multi = role.num_workers >= 2
    if requested == "multi_worker" or (requested == "auto" and multi):
        if not multi:
            raise ConfigError(
                "distribution: multi_worker expects TF_CONFIG naming >= 2 tasks (chief/worker), "
                f"got {'no TF_CONFIG' if not tf_config else f'{role.num_workers} task'}; set "
                "TF_CONFIG on every worker or use distribution: auto"
            )
        return StrategyChoice(
            "multi_worker",
            "tf_keras",
            role,
            f"TF_CONFIG names {role.num_workers} workers; tf_keras because Keras 3 fails under "
            "MultiWorkerMirroredStrategy (keras-team/keras#20585)",
        )
    if multi:
        raise ConfigError(
            f"distribution: {requested} trains in one process, but TF_CONFIG names "
            f"{role.num_workers} workers; use distribution: auto or multi_worker, or unset "
            "TF_CONFIG"
        )
    if requested == "mirrored":
        devices = f"{num_gpus} GPUs" if num_gpus else "the logical CPU devices"
        return StrategyChoice("mirrored", "keras", role, f"requested; replicas on {devices}")
    if requested == "auto" and num_gpus >= 2:
        return StrategyChoice("mirrored", "keras", role, f"{num_gpus} GPUs visible")
    if requested not in ("auto", "default"):
        raise ConfigError(
            f"distribution: expected auto, default, mirrored or multi_worker, got {requested!r}"
        )
    reason = "requested" if requested == "default" else f"{num_gpus} GPU(s), no TF_CONFIG"
    return StrategyChoice("default", "keras", role, reason)


def make_strategy(choice: StrategyChoice) -> Any:
    """Creates the tf.distribute.Strategy for `choice` (imports TensorFlow).

    Call before any other TensorFlow work in the process: MultiWorkerMirroredStrategy must
    configure collective ops before the runtime starts.
    """
    import tensorflow as tf

    if choice.kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if choice.kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    return tf.distribute.get_strategy()


def num_physical_gpus() -> int:
    """GPUs visible to TensorFlow, without initialising the runtime."""
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))
