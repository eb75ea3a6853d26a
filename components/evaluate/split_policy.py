"""Which split evaluate may score: never one the trainer used, unless the config says so.

A blessing decided on the split training early-stopped on (and picked its best weights by) is
decided on inflated figures: on a 20-class topic corpus that split read 0.876 accuracy where
held-out data read 0.734. So the pipeline builder calls `check_evaluation_split` before any
node runs and refuses such a config with a ConfigError that names both fields and the fix.

The config alone cannot see a model fitted under another split: a warm start from a model
trained before the split ratios changed carries weights fitted on records that now sit in
test (a probe: 178 of the new test split's 245 records). So evaluate also compares each
model's `split_lineage` (the split definitions of every Examples its weights were fitted on,
through warm starts; components/train/split_lineage.py) with the `split_definition` of the
Examples it scores: `check_candidate_lineage` refuses the candidate, `baseline_set_aside` says
why the last blessed model cannot be compared with it. `check_candidate_lineage` also refuses a
candidate whose exported weights were fitted on the scored split itself (Model.fitted_splits():
train_split, plus the split train.refit refit it on), which the config check cannot see when
the Model comes from elsewhere or was refit.

Pure: works on the config dataclasses (duck-typed, so no component imports), no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from seqline.pipeline.artifacts.examples import differing_definitions, split_definition_changes
from seqline.pipeline.errors import ConfigError, DataError

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


def lineage_changes(lineage: Sequence[Mapping[str, Any]], current: Mapping[str, Any]) -> list[str]:
    """How each split definition in `lineage` that is not `current` differs from it ("field:
    X -> Y", see split_definition_changes); [] when the whole lineage is `current`."""
    changes: list[str] = []
    for definition in differing_definitions(lineage, current):
        changes.extend(split_definition_changes(definition, current))
    return list(dict.fromkeys(changes))


def check_candidate_lineage(
    model_uri: str,
    lineage: Sequence[Mapping[str, Any]] | None,
    current: Mapping[str, Any] | None,
    eval_split: str,
    allow_trainer_split: bool,
    fitted_splits: Sequence[str] = (),
) -> str | None:
    """Raises DataError when the candidate's weights were fitted on `eval_split` itself (it is
    one of `fitted_splits`, Model.fitted_splits(): train_split, and the refit split of a model
    refit with train.refit), or (through warm starts too) under another split definition than
    the Examples' `current` one, so records it was fitted on may be in `eval_split`; with
    `allow_trainer_split` returns that as a reason line to record instead ("; "-joined when
    both hold). None when neither holds; a lineage or a definition that is not recorded (a
    model or an ingest from outside seqline) has nothing to compare."""
    reasons = [
        _fitted_on_eval_split(model_uri, fitted_splits, eval_split, allow_trainer_split),
        _lineage_differs(model_uri, lineage, current, eval_split, allow_trainer_split),
    ]
    return "; ".join(r for r in reasons if r) or None


def _fitted_on_eval_split(
    model_uri: str, fitted_splits: Sequence[str], eval_split: str, allow_trainer_split: bool
) -> str | None:
    """check_candidate_lineage's first rule: never score a split the weights were fitted on."""
    if eval_split not in fitted_splits:
        return None
    what = (
        f"the candidate {model_uri} was fitted on '{eval_split}' itself (its fitted splits: "
        f"{', '.join(repr(s) for s in fitted_splits)})"
    )
    return _accepted_or_refused(
        "fitted splits",
        what,
        allow_trainer_split,
        f"evaluate: expected a candidate never fitted on eval_split '{eval_split}', got "
        f"{what} (train.train_split, or the split train.refit refits on), and a blessing "
        "scored there is not earned. Fix: set evaluate.eval_split to a split the trainer "
        "never saw (e.g. 'test'), or refit on another split (train.eval_split); "
        "evaluate.allow_trainer_split: true accepts optimistic figures knowingly",
    )


def _accepted_or_refused(label: str, what: str, allowed: bool, refusal: str) -> str:
    """The blessing's reason line `label: what; ...optimistic (accepted: ...)` when the
    config allows trainer splits, else raises DataError(`refusal`)."""
    if allowed:
        return (
            f"{label}: {what}; its figures there are optimistic (accepted: "
            "evaluate.allow_trainer_split)"
        )
    raise DataError(refusal)


def _lineage_differs(
    model_uri: str,
    lineage: Sequence[Mapping[str, Any]] | None,
    current: Mapping[str, Any] | None,
    eval_split: str,
    allow_trainer_split: bool,
) -> str | None:
    """check_candidate_lineage's second rule: the weights were fitted under these Examples'
    split definition only."""
    if lineage is None or current is None:
        return None
    changes = lineage_changes(lineage, current)
    if not changes:
        return None
    what = (
        f"the candidate {model_uri} was fitted (through warm start) on Examples split "
        f"differently from these ({'; '.join(changes)}), so records it was fitted on may be "
        f"in '{eval_split}'"
    )
    return _accepted_or_refused(
        "split lineage",
        what,
        allow_trainer_split,
        f"evaluate: expected a candidate fitted only under these Examples' split definition, "
        f"got one whose split lineage includes another: {what}, and a blessing scored there "
        "is not earned. Fix: train the candidate on these Examples from scratch "
        "(train.warm_start: false), or keep the split its warm-start source was trained "
        "under; evaluate.allow_trainer_split: true accepts optimistic figures knowingly",
    )


def baseline_set_aside(
    baseline_uri: str,
    lineage: Sequence[Mapping[str, Any]] | None,
    current: Mapping[str, Any] | None,
    eval_split: str,
) -> str | None:
    """Why the last blessed model cannot be compared with the candidate on `eval_split` of
    Examples split by `current` (None: it can). Its figures are optimistic when it was fitted
    under another split definition, or may be when it records none (trained before seqline
    recorded split lineage: ingest_text's split key changed since). Without a definition on
    the Examples nothing can be told, and the baseline is kept."""
    if current is None:
        return None
    if lineage is None:
        why = "it records no split lineage (trained before seqline recorded it)"
    else:
        changes = lineage_changes(lineage, current)
        if not changes:
            return None
        why = f"it was fitted on Examples split differently ({'; '.join(changes)})"
    return (
        f"the last blessed model {baseline_uri} was set aside: {why}, so its figures on "
        f"'{eval_split}' may include records it was fitted on; change thresholds resume with "
        "the first model blessed under this split"
    )


def judge_lineages(
    model: Any,
    baseline_model: Any,
    definition: Mapping[str, Any] | None,
    config: Any,
    progress: Callable[[str], None],
) -> tuple[str | None, str | None]:
    """Both lineage checks for one evaluate run (text and series alike), each reason also
    reported through `progress`: (the candidate's accepted-lineage reason for the blessing or
    None, why the last blessed model is set aside or None). Raises as
    check_candidate_lineage does; `config` needs eval_split and allow_trainer_split."""
    accepted = check_candidate_lineage(
        model.uri,
        model.split_lineage,
        definition,
        config.eval_split,
        config.allow_trainer_split,
        model.fitted_splits(),
    )
    set_aside = (
        baseline_set_aside(
            baseline_model.uri, baseline_model.split_lineage, definition, config.eval_split
        )
        if baseline_model is not None
        else None
    )
    for line in (accepted, set_aside):
        if line is not None:
            progress(line)
    return accepted, set_aside
