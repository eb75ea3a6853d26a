"""The one executor shell of every ingest component (ingest_text, ingest_series).

An ingest component differs from another only in its Beam transform and its counts document;
the shell around them is the same: run one Beam pipeline that writes the Examples and the
RejectedRecords and a counts JSON file, check that every record is accounted for
(input = accepted + rejected), fill both artifacts' properties, report progress, and apply the
reject-ratio verdict (keeping the rejected records where the user can read them if it fails).
While the pipeline runs, the transform reports records read so far through the node's progress
(pipeline/beam_progress.py: the key `make_transform` receives).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from seqline.pipeline import quarantine
from seqline.pipeline.artifacts import Examples, RejectedRecords
from seqline.pipeline.component import ExecutionContext
from seqline.storage import filesystem

Counts = Mapping[str, Any]


@dataclass(frozen=True)
class IngestAccounting:
    """What one ingest component brings to the shell (functions of its counts document).

    Attributes:
        check_conservation: raises RuntimeError when input != accepted + rejected.
        examples_properties: counts -> the Examples artifact's properties.
        rejected_properties: counts -> the RejectedRecords artifact's properties.
        summary: counts -> the executor's small JSON-able summary.
        done_message: summary -> the progress line after the pipeline ran.
        enforce_quality: (counts, where the rejected records are, sample lines) -> None, or
            DataError when too much was rejected.
    """

    check_conservation: Callable[[Counts], None]
    examples_properties: Callable[[Counts], dict[str, Any]]
    rejected_properties: Callable[[Counts], dict[str, Any]]
    summary: Callable[[Counts], dict[str, Any]]
    done_message: Callable[[Mapping[str, Any]], str]
    enforce_quality: Callable[[Counts, str, Sequence[str]], None]


def run_ingest(
    ctx: ExecutionContext,
    component_name: str,
    make_transform: Callable[[str, str], Any],
    accounting: IngestAccounting,
    examples: Examples,
    rejected: RejectedRecords,
) -> dict[str, Any]:
    """Runs `PBegin | make_transform(counts_path, progress_key)` on Beam and does the
    bookkeeping above; returns the summary. The transform writes the counts document to
    `counts_path` and reports progress under `progress_key` (beam_progress.ReportProgress)."""
    import apache_beam as beam  # noqa: PLC0415 — heavy imports only when executing

    from seqline.pipeline import beam_progress  # noqa: PLC0415 — imports apache_beam

    counts_path = filesystem.join(ctx.temp_dir, f"{component_name}_counts.json")
    # The pipeline runs when its `with` exits, before the progress registration is removed.
    with (
        beam_progress.reporting(ctx.progress) as progress_key,
        beam.Pipeline(options=ctx.beam_options()) as pipeline,
    ):
        _ = pipeline | component_name >> make_transform(counts_path, progress_key)
    counts = json.loads(filesystem.read_text(counts_path))

    accounting.check_conservation(counts)
    examples.properties.update(accounting.examples_properties(counts))
    rejected.properties.update(accounting.rejected_properties(counts))
    summary = accounting.summary(counts)
    ctx.progress(accounting.done_message(summary))
    # On failure the runner keeps the rejected output under _failed/ and says where.
    quarantine.enforce_with_samples(
        rejected.uri, lambda samples: accounting.enforce_quality(counts, rejected.uri, samples)
    )
    return summary
