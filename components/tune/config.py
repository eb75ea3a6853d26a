"""tune_text's config (no TensorFlow or KerasTuner import).

YAML shape (under `components:`; the node exists only when this section does):

    tune:
      search: random            # random | bayesian (needs scikit-learn) | hyperband
      max_trials: 10            # trials started at most
      time_budget_seconds: 3600 # no trial starts after this; null = no time limit
      objective: val_accuracy   # val_accuracy (maximised) | val_loss (minimised), on eval
      epochs: null              # per trial (hyperband: the largest budget); null = train.epochs
      hyperband_factor: 3       # hyperband's reduction factor
      seed: 42                  # the oracle's and every trial's seed
      space:                    # see space.py
        units: {choice: [32, 64]}
        learning_rate: {log_range: [1.0e-4, 1.0e-2]}
        layer: {choice: [gru, lstm]}

`train` is not written by the user: the pipeline copies `components.train` into it, so trials
start from the same config train uses and the fingerprint changes when it does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from seqline.components.train.config import TrainTextConfig
from seqline.components.tune.space import Dimension, candidate_trains, parse_space
from seqline.pipeline.errors import ConfigError

Search = Literal["random", "bayesian", "hyperband"]
Objective = Literal["val_accuracy", "val_loss"]
SEARCHES: tuple[str, ...] = ("random", "bayesian", "hyperband")


def _check(ok: bool, path: str, expected: str, got: Any, fix: str) -> None:
    if not ok:
        raise ConfigError(f"{path}: expected {expected}, got {got!r}; {fix}")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True)
class TuneTextConfig:
    """A hyperparameter search for train_text with KerasTuner.

    Attributes:
        space: tuned field -> {choice: [...]} | {range: [low, high], step?} |
            {log_range: [low, high]} (space.py); required, at least one entry.
        search: the KerasTuner oracle: "random" (default), "bayesian" (Gaussian process;
            needs scikit-learn and scipy, the `tune` extra) or "hyperband" (many short
            trials, the best promoted to longer ones; each trial trains from scratch).
        max_trials: trials started at most (default 10; hyperband may stop sooner when its
            brackets are done).
        time_budget_seconds: no trial starts once this much wall time has passed (the running
            one finishes); None = no time limit (default 3600).
        objective: what the best trial maximises/minimises on the eval split: "val_accuracy"
            (default) or "val_loss". A trial's score is its best epoch's value.
        epochs: epochs per trial (early stopping from train.early_stopping may end a trial
            sooner); hyperband's largest per-trial budget. None = train.epochs (default).
        hyperband_factor: hyperband's reduction factor, >= 2 (default 3).
        seed: seeds the oracle and every trial's weights and shuffle (default 42).
        train: the base train_text config the trials override; the pipeline fills it from
            components.train.
    """

    space: dict[str, dict[str, Any]] = field(default_factory=dict)
    search: Search = "random"
    max_trials: int = 10
    time_budget_seconds: float | None = 3600.0
    objective: Objective = "val_accuracy"
    epochs: int | None = None
    hyperband_factor: int = 3
    seed: int = 42
    train: TrainTextConfig = field(default_factory=TrainTextConfig)

    def __post_init__(self) -> None:
        _check(self.search in SEARCHES, "search", f"one of {list(SEARCHES)}", self.search, "")
        _check(_positive_int(self.max_trials), "max_trials", "a positive integer", self.max_trials,
               "e.g. 10")  # fmt: skip
        if self.time_budget_seconds is not None:
            _check(
                isinstance(self.time_budget_seconds, int | float) and self.time_budget_seconds > 0,
                "time_budget_seconds",
                "a number of seconds > 0, or null for no limit",
                self.time_budget_seconds,
                "e.g. 3600",
            )
        if self.epochs is not None:
            _check(_positive_int(self.epochs), "epochs", "a positive integer or null",
                   self.epochs, "e.g. 3")  # fmt: skip
        _check(
            isinstance(self.hyperband_factor, int) and self.hyperband_factor >= 2,
            "hyperband_factor",
            "an integer >= 2",
            self.hyperband_factor,
            "e.g. 3",
        )
        _check(
            isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed >= 0,
            "seed",
            "an integer >= 0",
            self.seed,
            "e.g. 42",
        )
        if "test" in (self.train.train_split, self.train.eval_split):
            raise ConfigError(
                f"train: expected trials to fit and score on splits other than 'test', got "
                f"train_split={self.train.train_split!r}, eval_split={self.train.eval_split!r}; "
                "tuning on test would make evaluate's test figures optimistic, set "
                "train.eval_split to eval (or null)"
            )
        # The space is checked against the base config now, not mid-run: every candidate,
        # and every combination of them (two values fine alone can clash together).
        for _ in self.candidate_trains():
            pass

    def dimensions(self) -> tuple[Dimension, ...]:
        """The parsed search space (ConfigError naming `space.<name>` when it is wrong)."""
        return parse_space(self.space, self.train)

    def candidate_trains(self) -> Iterator[tuple[str, Any, TrainTextConfig]]:
        """(`space` or `space.<name>`, values, the train config a trial gets with them) for
        every combination of the candidates (each choice, both ends of each range) when there
        are at most MAX_CHECKED_COMBINATIONS, else for every candidate alone; for checks that
        need other nodes' configs too (components/standard_pipeline.py). Raises ConfigError
        for a combination train itself rejects."""
        return candidate_trains(self.dimensions(), self.train)

    @property
    def trial_epochs(self) -> int:
        """Epochs per trial (hyperband: the largest budget)."""
        return self.epochs or self.train.epochs
