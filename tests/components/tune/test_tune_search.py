"""The search loop over real KerasTuner oracles, with a stand-in trial (a known objective per
configuration) and a fake clock: trial count, time budget, the oracle's end, best selection."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from seqline.components.tune.config import TuneTextConfig
from seqline.components.tune.oracle import make_oracle
from seqline.components.tune.search import run_search
from seqline.pipeline.errors import DataError

SPACE = {"units": {"choice": [8, 16, 32]}, "learning_rate": {"log_range": [1e-4, 1e-2]}}


class FakeClock:
    """Seconds that advance only when a trial 'trains'."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def trial_runner(clock: FakeClock, seconds: float = 10.0) -> tuple[Any, list]:
    calls: list[tuple[dict[str, Any], int]] = []

    def fit(values: Mapping[str, Any], epochs: int) -> list[float]:
        calls.append((dict(values), epochs))
        clock.now += seconds
        # Larger models score higher here, and the objective grows with the epochs run.
        return [values["units"] / 100 + e / 1000 for e in range(epochs)]

    return fit, calls


def test_stops_at_max_trials_and_picks_the_best_trial(tmp_path: Path) -> None:
    config = TuneTextConfig(space=SPACE, max_trials=4, epochs=2, time_budget_seconds=None)
    clock = FakeClock()
    fit, calls = trial_runner(clock)
    result = run_search(config, make_oracle(config, str(tmp_path)), fit, clock=clock)
    assert len(calls) == len(result.trials) == 4
    assert result.stopped_by == "max_trials"
    assert all(epochs == 2 for _, epochs in calls)
    best = max(result.trials, key=lambda t: t.score or 0)
    assert result.best_values == best.values
    assert result.best_score == pytest.approx(best.values["units"] / 100 + 0.001)
    assert set(result.best_values) == set(SPACE)
    assert all(1e-4 <= v["learning_rate"] <= 1e-2 for v, _ in calls)
    # KerasTuner's own state is written where it was told, and agrees on the best trial.
    oracle_state = tmp_path / "oracle" / "oracle.json"
    assert oracle_state.exists()
    trial_file = tmp_path / "oracle" / f"trial_{result.best_trial_id}" / "trial.json"
    assert json.loads(trial_file.read_text())["score"] == pytest.approx(result.best_score)


def test_no_trial_starts_after_the_time_budget(tmp_path: Path) -> None:
    config = TuneTextConfig(space=SPACE, max_trials=10, epochs=1, time_budget_seconds=25)
    clock = FakeClock()
    fit, calls = trial_runner(clock, seconds=10.0)
    result = run_search(config, make_oracle(config, str(tmp_path)), fit, clock=clock)
    # Trials start at t=0, 10 and 20 (< 25); at t=30 the budget is spent.
    assert len(calls) == len(result.trials) == 3
    assert result.stopped_by == "time_budget"
    assert result.elapsed_seconds == 30.0


def test_the_same_seed_proposes_the_same_trials(tmp_path: Path) -> None:
    runs = []
    for i, seed in enumerate((7, 7, 8)):
        config = TuneTextConfig(space=SPACE, max_trials=3, epochs=1, seed=seed)
        fit, calls = trial_runner(FakeClock())
        run_search(config, make_oracle(config, str(tmp_path / str(i))), fit)
        runs.append(calls)
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_hyperband_gives_trials_epoch_budgets_and_ends_by_itself(tmp_path: Path) -> None:
    config = TuneTextConfig(space=SPACE, search="hyperband", max_trials=50, epochs=3)
    fit, calls = trial_runner(FakeClock())
    result = run_search(config, make_oracle(config, str(tmp_path)), fit)
    assert result.stopped_by == "search_done"
    budgets = sorted({epochs for _, epochs in calls})
    assert budgets[0] < budgets[-1] == 3
    assert all("tuner/" not in k for values, _ in calls for k in values)
    assert set(result.best_values) == set(SPACE)


def test_val_loss_is_minimised(tmp_path: Path) -> None:
    config = TuneTextConfig(space=SPACE, max_trials=4, epochs=1, objective="val_loss")
    fit, _ = trial_runner(FakeClock())
    result = run_search(config, make_oracle(config, str(tmp_path)), fit)
    assert result.best_score == min(t.score for t in result.trials if t.score is not None)


def test_diverged_trials_are_recorded_and_skipped_and_all_diverged_is_an_error(
    tmp_path: Path,
) -> None:
    config = TuneTextConfig(space=SPACE, max_trials=4, epochs=2)

    def small_ones_diverge(values: Mapping[str, Any], epochs: int) -> list[float]:
        return [math.nan] * epochs if values["units"] < 32 else [0.5, 0.6]

    result = run_search(config, make_oracle(config, str(tmp_path / "a")), small_ones_diverge)
    assert any(t.score is None for t in result.trials)
    assert result.best_values["units"] == 32 and result.best_score == 0.6

    with pytest.raises(DataError, match="expected at least one trial with a finite val_accuracy"):
        run_search(config, make_oracle(config, str(tmp_path / "b")), lambda v, e: [math.nan])


@pytest.mark.skipif(
    not all(__import__("importlib").util.find_spec(m) for m in ("sklearn", "scipy")),
    reason="search: bayesian needs scikit-learn and scipy (the tune extra)",
)
def test_bayesian_search_runs_with_scikit_learn(tmp_path: Path) -> None:
    config = TuneTextConfig(space=SPACE, search="bayesian", max_trials=4, epochs=1)
    fit, calls = trial_runner(FakeClock())
    result = run_search(config, make_oracle(config, str(tmp_path)), fit)
    assert len(calls) == 4 and result.stopped_by == "max_trials"


def test_a_diverged_epoch_scores_nothing_whatever_its_objective_says() -> None:
    from seqline.components.tune.trial import objective_per_epoch

    history = {"loss": [0.7, math.nan], "val_accuracy": [0.6, 0.44]}
    got = objective_per_epoch(history, "val_accuracy")
    assert got[0] == 0.6 and math.isnan(got[1])
    assert objective_per_epoch({"val_loss": [0.5]}, "val_loss") == [0.5]


def test_a_trial_whose_values_train_rejects_is_failed_and_the_search_goes_on(
    tmp_path: Path,
) -> None:
    """A clash of values not checked up front (spaces past MAX_CHECKED_COMBINATIONS) failed
    the whole tune node and discarded the finished trials."""
    from seqline.pipeline.errors import ConfigError

    config = TuneTextConfig(space=SPACE, max_trials=4, epochs=1)

    drawn: list[dict] = []

    def first_one_clashes(values: Mapping[str, Any], epochs: int) -> list[float]:
        drawn.append(dict(values))
        if len(drawn) == 1:
            raise ConfigError("trial: these values clash")
        return [values["units"] / 100]

    lines: list[str] = []
    result = run_search(
        config, make_oracle(config, str(tmp_path)), first_one_clashes, progress=lines.append
    )
    assert len(result.trials) == 4
    assert result.trials[0].score is None and all(t.score is not None for t in result.trials[1:])
    assert result.best_values in drawn[1:]
    assert any("FAILED, train rejects these values: trial: these values clash" in x for x in lines)
