"""A custom node that always fails (wired after ingest by the Airflow failure test)."""

from __future__ import annotations

from dataclasses import dataclass

from seqline.pipeline.artifacts import Examples
from seqline.pipeline.component import ExecutionContext, Out, component


@dataclass(frozen=True)
class BreakConfig:
    reason: str = "deliberate failure"


def run(
    ctx: ExecutionContext, config: BreakConfig, examples: Examples, scrubbed: Out[Examples]
) -> dict[str, int]:
    raise RuntimeError(config.reason)


COMPONENT = component(run, name="break_examples")
