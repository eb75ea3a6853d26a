"""The search loop: a KerasTuner oracle proposes trials, `fit_trial` runs each one, the loop
stops on the trial count, the time budget or the oracle's own end.

KerasTuner's Tuner classes would also save a model per trial and own the training loop; seqline
drives the oracle directly (create_trial / update_trial / end_trial, as a Tuner does) so that a
trial trains exactly the model train_text would build (trial.py) and nothing else is written
but the oracle's JSON state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from seqline.components.tune.config import TuneTextConfig
from seqline.pipeline.errors import ConfigError, DataError

StoppedBy = Literal["max_trials", "time_budget", "search_done"]
# Keys a hyperband oracle adds to a trial's values (its epoch budget); not config fields.
TUNER_PREFIX = "tuner/"
TUNER_ID = "seqline"


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial.

    Attributes:
        trial_id: the oracle's id ("0", "1"... or zero-padded).
        values: the tuned fields' values (hyperband's tuner/* keys removed).
        epochs: the epoch budget it had.
        history: objective value per epoch run.
        score: the best epoch's objective value (None if no epoch gave a finite one).
        seconds: wall time of the trial.
    """

    trial_id: str
    values: dict[str, Any]
    epochs: int
    history: tuple[float, ...]
    score: float | None
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "trial_id": self.trial_id,
            "values": self.values,
            "epochs": self.epochs,
            "history": list(self.history),
            "score": self.score,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class SearchResult:
    """What the search found.

    Attributes:
        best_values: the best trial's tuned values.
        best_score: its objective value.
        best_trial_id: its id.
        trials: every trial run, in order.
        stopped_by: "max_trials", "time_budget" (no trial started after the budget) or
            "search_done" (the oracle had nothing left: hyperband's brackets ended, or a
            small discrete space was exhausted).
        elapsed_seconds: wall time of the whole search.
    """

    best_values: dict[str, Any]
    best_score: float
    best_trial_id: str
    trials: list[TrialRecord] = field(default_factory=list)
    stopped_by: StoppedBy = "max_trials"
    elapsed_seconds: float = 0.0


FitTrial = Callable[[Mapping[str, Any], int], list[float]]


def _score(history: list[float], maximize: bool) -> float | None:
    finite = [v for v in history if math.isfinite(v)]
    if not finite:
        return None
    return max(finite) if maximize else min(finite)


def run_search(
    config: TuneTextConfig,
    oracle: Any,
    fit_trial: FitTrial,
    clock: Callable[[], float] = time.monotonic,
    progress: Callable[[str], None] = lambda _msg: None,
) -> SearchResult:
    """Runs trials until max_trials, the time budget or the oracle's end.

    Args:
        config: max_trials, time_budget_seconds, objective, trial epochs.
        oracle: a keras_tuner Oracle (oracle.py) whose space is config's.
        fit_trial: (tuned values, epochs) -> the objective per epoch on the eval split.
        clock: seconds, monotonic (tests pass a fake one).
        progress: one-line progress messages.

    Raises DataError when no trial produced a finite objective (every trial diverged).
    """
    maximize = config.objective != "val_loss"
    dimensions = {d.name: d for d in config.dimensions()}
    budget = config.time_budget_seconds
    start = clock()
    trials: list[TrialRecord] = []
    stopped_by: StoppedBy = "max_trials"
    while True:
        if len(trials) >= config.max_trials:
            stopped_by = "max_trials"
            break
        if budget is not None and clock() - start >= budget:
            stopped_by = "time_budget"
            break
        trial = oracle.create_trial(TUNER_ID)
        if trial.status != "RUNNING":  # STOPPED: nothing left (one tuner never sees IDLE)
            stopped_by = "search_done"
            break
        raw = dict(trial.hyperparameters.values)
        values = {
            k: dimensions[k].typed(v) if k in dimensions else v
            for k, v in raw.items()
            if not k.startswith(TUNER_PREFIX)
        }
        epochs = int(raw.get(f"{TUNER_PREFIX}epochs", config.trial_epochs))
        progress(f"trial {trial.trial_id}: {values} for up to {epochs} epochs")
        began = clock()
        rejected = False
        try:
            history = [float(v) for v in fit_trial(values, epochs)]
        except ConfigError as e:  # a clash of values not checked up front (a large space)
            progress(f"trial {trial.trial_id}: FAILED, train rejects these values: {e}")
            history, rejected = [], True
        score = _score(history, maximize)
        for step, value in enumerate(history):
            # KerasTuner keeps the best step's value as the trial's score; a diverged epoch
            # (NaN loss) is not a value a Gaussian process can fit.
            if math.isfinite(value):
                oracle.update_trial(trial.trial_id, {config.objective: value}, step=step)
        trial.status = "COMPLETED" if score is not None else "FAILED"
        oracle.end_trial(trial)
        trials.append(
            TrialRecord(trial.trial_id, values, epochs, tuple(history), score, clock() - began)
        )
        shown = (
            f"{score:.4f}"
            if score is not None
            else "none (values rejected)"
            if rejected
            else "not finite (diverged)"
        )
        progress(f"trial {trial.trial_id}: {config.objective} {shown} in {clock() - began:.1f} s")
    scored = [t for t in trials if t.score is not None]
    if not scored:
        raise DataError(
            f"tune: expected at least one trial with a finite {config.objective}, got "
            f"{len(trials)} trial(s) without one (diverged or no epoch ran); lower the "
            "learning_rate range or raise time_budget_seconds"
        )
    best = (max if maximize else min)(scored, key=lambda t: t.score or 0.0)
    assert best.score is not None
    return SearchResult(
        best_values=dict(best.values),
        best_score=best.score,
        best_trial_id=best.trial_id,
        trials=trials,
        stopped_by=stopped_by,
        elapsed_seconds=clock() - start,
    )
