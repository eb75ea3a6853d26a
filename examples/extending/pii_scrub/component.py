"""pii_scrub: Examples -> scrubbed Examples + RejectedRecords.

Inputs:
    examples (Examples): text examples, `{uri}/{split}/data-*-of-*.tfrecord.gz`.
Outputs:
    examples (Examples): the same splits and properties, text masked ("[EMAIL]", "[PHONE]",
        "[CARD]"); `counts` are the kept records per split, `rejected` adds this step's
        rejections to the input's, and `scrubbed` counts the masked matches by kind.
    rejected (RejectedRecords): records that were mostly PII, with reason "mostly_pii" and
        their masked text.

The record accounting holds across the step: for every split, input = kept + rejected. More
than `max_reject_ratio` rejected fails the node (DataError); the runner then keeps the
rejected records under `{root}/_failed/{run}/{node}/rejected/`.
"""

from __future__ import annotations

from typing import Any

from pii_scrub.config import ScrubConfig
from seqline.pipeline.artifact import ArtifactType
from seqline.pipeline.component import Component, ExecutionContext

FILE_PATTERN = "data-*-of-*.tfrecord.gz"
COUNTS_FILE = "pii_scrub_counts.json"


def run(ctx: ExecutionContext) -> dict[str, Any]:
    """Executor: scrubs every split in one Beam pipeline; returns kept/rejected/masked counts."""
    from pii_scrub.transforms import ScrubExamples
    from seqline.pipeline import quarantine
    from seqline.pipeline.beam_io import run_for_json
    from seqline.storage import filesystem

    config: ScrubConfig = ctx.config
    examples = ctx.inputs["examples"]
    out, rejected = ctx.outputs["examples"], ctx.outputs["rejected"]
    splits = list(examples.properties.get("splits", []))
    patterns = {s: filesystem.join(examples.uri, s, FILE_PATTERN) for s in splits}
    ctx.progress(f"scrubbing {', '.join(config.kinds)} from splits {splits}")
    counts = run_for_json(
        ctx,
        "ScrubExamples",
        lambda counts_path: ScrubExamples(
            patterns, out.uri, rejected.uri, counts_path, config.kinds, config.max_pii_fraction
        ),
        COUNTS_FILE,
        scratch_prefix="pii_scrub-",
    )
    kept = {s: int(counts.get(f"{s}:accepted", 0)) for s in splits}
    dropped = {s: int(counts.get(f"{s}:rejected", 0)) for s in splits}
    by_reason = {k.split(":", 1)[1]: int(n) for k, n in counts.items() if k.startswith("reason:")}
    found = {k.split(":", 1)[1]: int(n) for k, n in counts.items() if k.startswith("found:")}
    n_input = sum(int(v) for v in examples.properties.get("counts", {}).values())
    n_kept, n_rejected = sum(kept.values()), sum(dropped.values())
    quarantine.check_conservation("pii_scrub", "records", n_input, n_kept, n_rejected, f"{kept}")

    properties = {k: v for k, v in examples.properties.items() if k != "label_counts"}
    properties.update(
        counts=kept,
        rejected=int(examples.properties.get("rejected", 0)) + n_rejected,
        scrubbed=found,
    )
    out.properties.update(properties)
    rejected.properties.update(quarantine.rejected_properties(n_rejected, by_reason))
    ctx.progress(f"kept {n_kept} of {n_input} records, masked {found or 'nothing'}")

    def enforce(samples: list[str]) -> None:
        error = quarantine.reject_ratio_error(
            "pii_scrub",
            "records",
            n_input=n_input,
            rejected=n_rejected,
            max_reject_ratio=config.max_reject_ratio,
            by_reason=by_reason,
            where="the rejected records are the node's 'rejected' output",
            samples=samples,
            fix="Raise pii_scrub.max_reject_ratio or max_pii_fraction, or clean the source data.",
        )
        if error is not None:
            raise error

    quarantine.enforce_with_samples(rejected.uri, enforce)
    return {"input": n_input, "kept": n_kept, "rejected": n_rejected, "masked": found}


COMPONENT = Component(
    name="pii_scrub",
    inputs={"examples": ArtifactType.EXAMPLES},
    outputs={"examples": ArtifactType.EXAMPLES, "rejected": ArtifactType.REJECTED},
    config_type=ScrubConfig,
    executor=run,
)
