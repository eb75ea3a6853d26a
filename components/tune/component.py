"""tune_text: a KerasTuner search over train_text's config (TFX Tuner's job).

Inputs:
    transform_graph (TransformGraph, kind "text"): vocab_size, max_tokens, labels.
    transformed_examples (TransformedExamples): the train split is fitted, the eval split
        scores each trial; the test split is never read.
Outputs:
    best_hyperparameters (HyperParameters): values (tuned field -> best value), objective,
        best_score, best_trial_id, search, trials_run, stopped_by ("max_trials" |
        "time_budget" | "search_done"), elapsed_seconds; trials.json and KerasTuner's oracle
        state beside it.

In the text pipeline the node exists when the YAML has `components.tune`; train then takes its
output and its values override train's config (recorded in the Model's `hyperparameters`
property). Trials run one after another on one device; no trial starts after
time_budget_seconds. The fingerprint covers the space, the base train config, the data and the
installed keras-tuner, so the search reruns only when one of them changes.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from typing import Any

from seqline.components.train.pretrained_source import check_dimension, pretrained_fingerprint
from seqline.components.tune.config import TuneTextConfig
from seqline.pipeline.artifacts import HyperParameters, TransformedExamples, TransformGraph
from seqline.pipeline.component import ExecutionContext, Out, component
from seqline.pipeline.errors import ConfigError
from seqline.storage import filesystem

# The `tune` extra: keras-tuner, plus scikit-learn and scipy for the Bayesian oracle.
_NEEDS: dict[str, tuple[str, ...]] = {
    "random": ("keras_tuner",),
    "hyperband": ("keras_tuner",),
    "bayesian": ("keras_tuner", "sklearn", "scipy"),
}


def check(config: TuneTextConfig) -> None:
    """Before anything runs: the search's libraries are installed (ConfigError otherwise)."""
    missing = [m for m in _NEEDS[config.search] if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"tune.search: {config.search!r} expected the modules {list(_NEEDS[config.search])}"
            f", missing {missing}; install them with pip install -c constraints.txt "
            "'seqline[tune]'"
        )
    # Every embedding_dim a trial can draw must fit the pretrained vectors (a trial found it
    # out after ingest and transform, and the search went on without those values).
    tuned = {d.name: d for d in config.dimensions()}.get("embedding_dim")
    candidates = (
        [config.train.model.embedding_dim]
        if tuned is None
        else list(tuned.values) or sorted({int(tuned.low), int(tuned.high)})
    )
    for embedding_dim in candidates:
        model = dataclasses.replace(config.train.model, embedding_dim=embedding_dim)
        check_dimension(
            dataclasses.replace(config.train, model=model),
            "tune.space.embedding_dim" if tuned else "tune.train.model.embedding_dim",
        )


def run(
    ctx: ExecutionContext,
    config: TuneTextConfig,
    transform_graph: TransformGraph,
    transformed_examples: TransformedExamples,
    best_hyperparameters: Out[HyperParameters],
) -> dict[str, Any]:
    """Runs the search and fills the output; returns {"best", "score", "trials_run",
    "stopped_by", "seconds"}."""
    from seqline.components.train import training  # noqa: PLC0415
    from seqline.components.tune.oracle import make_oracle  # noqa: PLC0415
    from seqline.components.tune.search import run_search  # noqa: PLC0415
    from seqline.components.tune.trial import fit_trial  # noqa: PLC0415

    # A setup problem every trial would hit alike (no eval split to score on) stops the node
    # here, with train's message, instead of failing each trial as if its values were bad.
    _, scored_on = training.resolve_splits(config.train, transformed_examples.splits)
    graph = transform_graph.text()
    out = best_hyperparameters
    oracle = make_oracle(config, out.uri)

    def trial(values: Any, epochs: int) -> list[float]:
        return fit_trial(
            config.train,
            values,
            epochs,
            config.objective,
            transform_graph.uri,
            graph,
            transformed_examples,
        )

    result = run_search(config, oracle, trial, progress=ctx.progress)
    filesystem.write_text(
        out.trials_file, json.dumps([t.to_json() for t in result.trials], indent=1)
    )
    out.properties.update(
        {
            "values": result.best_values,
            "objective": config.objective,
            # The split trials were scored on (train's eval split), for reports.
            "scored_on": scored_on,
            "best_score": result.best_score,
            "best_trial_id": result.best_trial_id,
            "search": config.search,
            "trials_run": len(result.trials),
            "stopped_by": result.stopped_by,
            "elapsed_seconds": round(result.elapsed_seconds, 1),
            "max_trials": config.max_trials,
            "time_budget_seconds": config.time_budget_seconds,
        }
    )
    return {
        "best": result.best_values,
        "score": round(result.best_score, 4),
        "trials_run": len(result.trials),
        "stopped_by": result.stopped_by,
        "seconds": round(result.elapsed_seconds, 1),
    }


def source_fingerprint(config: TuneTextConfig) -> str:
    """The trials' pretrained-vectors file, as train's (train/text_component.py)."""
    return pretrained_fingerprint(config.train)


COMPONENT = component(
    run,
    name="tune_text",
    check=check,
    libraries=("keras-tuner",),
    source_fingerprint=source_fingerprint,
)
