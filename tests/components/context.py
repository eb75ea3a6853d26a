"""Builds a complete ExecutionContext for component tests (every field is required).

The identity fields get test values and `temp_dir` a fresh directory unless a test passes its
own. The runner's harness (seqline.pipeline.harness.run_component) replaces this once it
exists: it also publishes outputs exactly as the runner does.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from typing import Any

from seqline.pipeline.artifact import Artifact
from seqline.pipeline.component import ExecutionContext


def make_context(
    config: Any,
    inputs: Mapping[str, Artifact | None],
    outputs: Mapping[str, Artifact],
    *,
    pipeline_name: str = "test",
    run_id: str = "test-run",
    node_id: str = "",
    pipeline_root: str = "",
    beam_args: tuple[str, ...] = (),
    temp_dir: str = "",
    progress: Callable[[str], None] = lambda _message: None,
    resolved: Mapping[str, Artifact | None] | None = None,
    prestarted: Any = None,
) -> ExecutionContext:
    return ExecutionContext(
        config=config,
        inputs=inputs,
        outputs=outputs,
        pipeline_name=pipeline_name,
        run_id=run_id,
        node_id=node_id,
        pipeline_root=pipeline_root,
        beam_args=beam_args,
        temp_dir=temp_dir or tempfile.mkdtemp(prefix="seqline-test-"),
        progress=progress,
        resolved=dict(resolved or {}),
        prestarted=prestarted,
    )
