"""The tune component: tune_text, a KerasTuner search over train_text's config whose best
values train_text takes as an optional input (TFX Tuner's job).

Modules (component.py is the shell; the rest is the core it wires):
    config.py     TuneTextConfig: search, max_trials, time budget, objective, space
    space.py      the YAML search space, checked against the train config, declared to KerasTuner
    oracle.py     make_oracle(config, dir): a random | bayesian | hyperband KerasTuner oracle
    search.py     run_search: the trial loop, bounded by trial count and time budget
    trial.py      fit_trial: train_text's model with one trial's values, train -> eval
"""
