"""From the pipeline's counts document to artifact properties, the summary, and the verdict.

The counts document (written by transforms.IngestText) is
    {"input": n, "splits": {split: n}, "rejected": n, "by_reason": {code: n},
     "skipped": {reason: n}}
Pure functions; the executor in component.py calls them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from seqline.components.ingest_text.config import IngestTextConfig
from seqline.pipeline import quarantine


def accepted_count(counts: Mapping[str, Any]) -> int:
    """Records written to any split."""
    return sum(int(n) for n in counts["splits"].values())


def check_conservation(counts: Mapping[str, Any]) -> None:
    """input == accepted + rejected, exactly. A mismatch means records were lost or duplicated
    inside the pipeline: a bug, not a user error, hence RuntimeError."""
    quarantine.check_conservation(
        "ingest_text", "records", counts["input"], accepted_count(counts), counts["rejected"],
        f"splits {counts['splits']}",
    )  # fmt: skip


def examples_properties(counts: Mapping[str, Any], config: IngestTextConfig) -> dict[str, Any]:
    """Properties of the Examples artifact: splits, counts, labels, rejected, input (+ skipped,
    the non-records such as blank lines, by reason) and split_definition (what decided each
    record's split, IngestTextConfig.split_definition)."""
    splits = config.output_splits()
    return {
        "splits": splits,
        "split_definition": config.split_definition(),
        "counts": {s: int(counts["splits"].get(s, 0)) for s in splits},
        "labels": list(config.labels),
        "rejected": int(counts["rejected"]),
        "input": int(counts["input"]),
        "skipped": dict(counts.get("skipped", {})),
    }


def rejected_properties(counts: Mapping[str, Any]) -> dict[str, Any]:
    """Properties of the RejectedRecords artifact: count and count by reason code (most frequent
    first)."""
    return quarantine.rejected_properties(counts["rejected"], counts["by_reason"])


def summary(counts: Mapping[str, Any]) -> dict[str, Any]:
    """The executor's small summary: input, accepted, rejected, per-split counts."""
    return {
        "input": int(counts["input"]),
        "accepted": accepted_count(counts),
        "rejected": int(counts["rejected"]),
        "splits": dict(counts["splits"]),
    }


def enforce_quality(
    counts: Mapping[str, Any],
    config: IngestTextConfig,
    rejected_location: str,
    samples: Sequence[str] = (),
) -> None:
    """Raises DataError when nothing was accepted, or rejected / input > max_reject_ratio.

    The message gives the counts, the ratio, the top reasons, up to a few sample rejected
    lines, and `rejected_location` (where the full rejected JSONL is).
    """
    n_input = int(counts["input"])
    n_rejected = int(counts["rejected"])
    where = f"rejected records are in {rejected_location}"
    by_reason = counts["by_reason"]
    if accepted_count(counts) == 0:
        skipped = counts.get("skipped") or {}
        raise quarantine.nothing_accepted_error(
            "ingest_text", "record",
            counted=f"input {n_input}, rejected {n_rejected}, skipped {skipped}",
            by_reason=by_reason, where=where, samples=samples,
            fix="fix the data, or the columns/labels in the config",
        )  # fmt: skip
    error = quarantine.reject_ratio_error(
        "ingest_text", "records",
        n_input=n_input, rejected=n_rejected, max_reject_ratio=config.max_reject_ratio,
        by_reason=by_reason, where=where, samples=samples,
        fix="fix the data or the config, or raise max_reject_ratio if these records are "
        "expected to be bad",
    )  # fmt: skip
    if error:
        raise error
