"""The KerasTuner oracle for a TuneTextConfig (imports keras_tuner, and so TensorFlow)."""

from __future__ import annotations

from typing import Any

from seqline.components.tune.config import TuneTextConfig

# A failed (diverged) trial is a result, not a reason to abort the search (KerasTuner's default
# raises after 3 consecutive failures); the loop reports when none succeeded.
_NEVER_ABORT = 1_000_000


def make_oracle(config: TuneTextConfig, project_dir: str) -> Any:
    """A fresh keras_tuner oracle over config's space, writing its JSON state (oracle.json,
    trial_*/trial.json) under `{project_dir}/oracle/`; nothing is read back from an earlier
    search (a rerun of the node starts again, deterministically from `seed`)."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    for dimension in config.dimensions():
        dimension.declare(hp)
    direction = "min" if config.objective == "val_loss" else "max"
    common: dict[str, Any] = {
        "objective": kt.Objective(config.objective, direction),
        "hyperparameters": hp,
        # The space is exactly the declared one: a trial never invents a field.
        "tune_new_entries": False,
        "allow_new_entries": False,
        "seed": config.seed,
        "max_consecutive_failed_trials": _NEVER_ABORT,
    }
    if config.search == "random":
        oracle = kt.oracles.RandomSearchOracle(max_trials=config.max_trials, **common)
    elif config.search == "bayesian":
        oracle = kt.oracles.BayesianOptimizationOracle(max_trials=config.max_trials, **common)
    else:
        oracle = kt.oracles.HyperbandOracle(
            max_epochs=config.trial_epochs,
            factor=config.hyperband_factor,
            hyperband_iterations=1,
            **common,
        )
    oracle._set_project_dir(project_dir, "oracle")  # what a Tuner does with its directory
    oracle.verbose = 0  # progress goes through ctx.progress, not print
    return oracle
