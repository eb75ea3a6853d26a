"""Which split evaluate may score: never one the trainer used, unless the config says so.

A blessing decided on the split training early-stopped on (and picked its best weights by) is
decided on inflated figures: on a 20-class topic corpus that split read 0.876 accuracy where
held-out data read 0.734. So the pipeline builder calls `check_evaluation_split` before any
node runs and refuses such a config with a ConfigError that names both fields and the fix.

Pure: works on the config dataclasses (duck-typed, so no component imports), no TensorFlow.
"""

from __future__ import annotations

from typing import Any

from seqline.pipeline.errors import ConfigError

# What train validates on when its eval_split is left to it (train/config.py's candidates).
_AUTO_EVAL_CANDIDATES: tuple[str, ...] = ("eval", "validation")


def ingest_output_splits(ingest_config: Any) -> list[str] | None:
    """The splits an ingest config produces, when the config alone says (None otherwise).

    ingest_text: IngestTextConfig.output_splits(); ingest_series: its `splits` (time order).
    """
    output_splits = getattr(ingest_config, "output_splits", None)
    if callable(output_splits):
        return list(output_splits())
    splits = getattr(ingest_config, "splits", None)
    if isinstance(splits, list | tuple) and all(isinstance(s, str) for s in splits):
        return list(splits)
    return None


def early_stopping_split(train_config: Any, splits: list[str] | None) -> str | None:
    """The split train validates on: its eval_split, else the first auto candidate present
    (the first candidate when the splits are unknown)."""
    if train_config.eval_split:
        return str(train_config.eval_split)
    train_split = train_config.train_split
    candidates = [c for c in _AUTO_EVAL_CANDIDATES if c != train_split]
    if splits is None:
        return candidates[0]
    return next((c for c in candidates if c in splits), None)


def trainer_splits(
    train_config: Any, transform_train_split: str | None, splits: list[str] | None
) -> dict[str, str]:
    """split name -> the config field that makes the trainer use it (fitting, early stopping
    and best-weights selection, or the transform's vocabulary / scaling fit)."""
    used: dict[str, str] = {}
    stopping = early_stopping_split(train_config, splits)
    if stopping:
        field = "train.eval_split" if train_config.eval_split else "train.eval_split (auto)"
        used[stopping] = f"{field}: early stopping and best-weights selection"
    if transform_train_split:
        used[transform_train_split] = "transform.train_split: vocabulary / scaling fit"
    used[train_config.train_split] = "train.train_split: fitting"
    return used


def check_evaluation_split(
    ingest_config: Any, transform_config: Any, train_config: Any, evaluate_config: Any
) -> None:
    """Raises ConfigError when evaluate would score a split the trainer used (and the config
    does not set evaluate.allow_trainer_split), or a split the ingest config cannot produce.

    Args:
        ingest_config: IngestTextConfig or IngestSeriesConfig (its splits, when knowable).
        transform_config: TransformConfig (train_split), or None.
        train_config: TrainConfig (train_split, eval_split).
        evaluate_config: EvaluateConfig (eval_split, allow_trainer_split).
    """
    split = evaluate_config.eval_split
    splits = ingest_output_splits(ingest_config)
    if splits is not None and split not in splits:
        raise ConfigError(
            f"evaluate.eval_split: expected one of the splits ingest produces {splits}, got "
            f"{split!r}; add a held-out {split!r} split to the ingest config (e.g. "
            "split_ratios: {train: 0.8, eval: 0.1, test: 0.1}) or set evaluate.eval_split"
        )
    if evaluate_config.allow_trainer_split:
        return
    transform_split = getattr(transform_config, "train_split", None)
    used = trainer_splits(train_config, transform_split, splits)
    if split in used:
        unused = [s for s in (splits or []) if s not in used]
        target = f"one of {unused}" if unused else "a held-out split such as 'test'"
        raise ConfigError(
            f"evaluate.eval_split: expected a split the trainer never saw, got {split!r}, "
            f"which the trainer uses ({used[split]}); figures on it are optimistic and a "
            f"blessing on it is not earned. Set evaluate.eval_split to {target} (ingest "
            "makes train/eval/test by default), or set evaluate.allow_trainer_split: true to "
            "accept optimistic figures knowingly"
        )
