"""HyperParameters: what tune produces and train consumes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from seqline.pipeline.artifacts.base import Artifact
from seqline.pipeline.errors import DataError


@dataclass
class HyperParameters(Artifact):
    """The best hyperparameters a search found (TFX Tuner's best_hyperparameters).

    File structure:
        {uri}/trials.json     every trial in order: trial_id, values, epochs, history (the
                              objective per epoch), score, seconds
        {uri}/oracle/         KerasTuner's oracle state (oracle.json, trial_*/trial.json)

    Properties: values (tuned field -> best value; the one place they are stored), objective,
    best_score, best_trial_id, search, trials_run, stopped_by ("max_trials" | "time_budget" |
    "search_done"), elapsed_seconds, max_trials, time_budget_seconds.
    """

    TYPE_NAME: ClassVar[str] = "HyperParameters"
    SUMMARY_FACTS: ClassVar[tuple[str, ...]] = ("values", "best_score", "trials_run", "stopped_by")
    TRIALS_FILE: ClassVar[str] = "trials.json"

    @property
    def values(self) -> dict[str, Any]:
        """Tuned field -> value (names as in components/train/overrides.py). DataError when the
        property is missing or not a mapping."""
        value = self.properties.get("values")
        if not isinstance(value, dict):
            raise DataError(
                f"HyperParameters at {self.uri}: expected a mapping 'values' property, got "
                f"{value!r}; the artifact is damaged, re-run "
                f"{self.producer.get('component') or 'tune'}"
            )
        return dict(value)

    def content_key(self) -> str:
        """train reads only `values`: a search that finds the same values again (a changed
        budget, another seed) leaves train, evaluate and push cached."""
        canonical = json.dumps(self.values, sort_keys=True, separators=(",", ":"))
        return "values-" + hashlib.sha256(canonical.encode()).hexdigest()[:20]

    @property
    def trials_file(self) -> str:
        return self.path(self.TRIALS_FILE)

    @property
    def oracle_dir(self) -> str:
        return self.path("oracle")

    def describe(self) -> list[str]:
        p = self.properties
        return [
            f"best {p.get('objective')} {p.get('best_score')}"
            + (f" on the '{p['scored_on']}' split" if p.get("scored_on") else "")
            + f" (trial {p.get('best_trial_id')})",
            f"{p.get('trials_run')} trial(s) by {p.get('search')} search, stopped by "
            f"{p.get('stopped_by')} after {p.get('elapsed_seconds')} s",
        ] + [f"{name} = {value!r}" for name, value in self.values.items()]
