"""validate: ExampleStatistics + Schema -> ExampleAnomalies (+ the validated Schema), or stop.

Inputs:
    statistics (ExampleStatistics): the span to validate.
    schema (Schema): the contract (curated or inferred).
Outputs:
    anomalies (ExampleAnomalies): `{uri}/anomalies.pbtxt` + `anomalies.pb` (tensorflow_metadata
        Anomalies, TFDV's format), `{uri}/report.txt` (readable), and with serving data
        `{uri}/serving_statistics.pb(txt)`. Properties: blocking, warnings, anomalies
        (["TYPE feature (data)", ...]), baseline (previous statistics uri or None), span and
        baseline_span (the span validated and the span it was compared with, when the source
        has span patterns), serving, filled_fraction_checked (False: series examples without
        filled step counts) and filled_fraction_scope ("splits", "totals" for examples
        without per-split counts, or None).
    validated_schema (Schema): `{uri}/schema.pbtxt`, the schema this span passed. Downstream nodes
        (transform) take their raw feature spec from it, which also makes them depend on
        validation passing.

Checks (schema_checks.py, comparators.py): every selected split against the schema
(TRAINING environment), the share of each split's series grid ingest filled (the
statistics' grid_steps per split vs max_filled_fraction; totals over all splits for examples
without per-split counts, and validate says so), drift of each split against
the previous accepted span of the same pipeline (the resolved input `baseline_statistics`,
PreviousStatistics: the latest accepted span before this one, so a backfill compares with its
own predecessor), and, with `serving_examples`, the serving data against the schema (SERVING
environment) and skew against `skew_split`.

Blocking anomalies (severity ERROR) raise DataError naming feature, expectation and observed
value; the runner keeps the failed node's outputs, so the report the error names is under
`{pipeline_root}/_failed/{run_id}/{node_id}/anomalies/`. Warnings are recorded and returned in
the summary.
"""

from __future__ import annotations

import glob
from typing import Any

from seqline.components.validate.config import ValidateConfig, check_split_names
from seqline.pipeline import data_sources
from seqline.pipeline.artifacts import ExampleAnomalies, ExampleStatistics, Schema
from seqline.pipeline.component import ExecutionContext, Out, component
from seqline.pipeline.errors import ConfigError, DataError
from seqline.pipeline.execution import failed_outputs_dir
from seqline.pipeline.resolvers import PreviousStatistics
from seqline.storage import filesystem

ANOMALIES_PBTXT = ExampleAnomalies.ANOMALIES_PBTXT
ANOMALIES_PB = ExampleAnomalies.ANOMALIES_PB
REPORT = ExampleAnomalies.REPORT
SERVING_DIR = ExampleAnomalies.SERVING_DIR
MAX_LISTED = 5


def serving_files(pattern: str) -> list[str]:
    """The files matching `serving_examples`; DataError when none match."""
    if filesystem.is_remote(pattern):
        import tensorflow as tf  # noqa: PLC0415

        files = sorted(tf.io.gfile.glob(pattern))
    else:
        files = sorted(glob.glob(pattern))
    if not files:
        raise DataError(
            f"serving_examples: expected TFRecord files of serving tf.Examples matching "
            f"{pattern!r}, found none; fix the glob or remove serving_examples"
        )
    return files


def serving_statistics(
    ctx: ExecutionContext,
    statistics: ExampleStatistics,
    files: list[str],
    out_dir: str,
    span: Any,
) -> Any:
    """Statistics of the serving example `files`, computed like the statistics node computed
    the span's: same feature roles, read from the statistics artifact's properties; the text
    features are also read off the span's statistics `span` (the features with token-length
    statistics), so a statistics artifact without role properties still gets comparable
    serving statistics (otherwise the serving text would have no token-length histogram and
    its skew would silently measure 0)."""
    import apache_beam as beam  # noqa: PLC0415

    from seqline.components.statistics import statistics_proto as sp  # noqa: PLC0415
    from seqline.components.statistics.config import StatisticsConfig  # noqa: PLC0415
    from seqline.components.statistics.statistics_files import (  # noqa: PLC0415
        custom_stat,
        feature_name,
        read_statistics,
    )
    from seqline.components.statistics.transforms import GenerateStatistics  # noqa: PLC0415

    text_features = statistics.text_features
    for dataset in span.datasets:
        for feature in dataset.features:
            name = feature_name(feature)
            if custom_stat(feature, sp.TOKEN_LENGTH_HISTOGRAM) and name not in text_features:
                text_features.append(name)
    config = StatisticsConfig(
        text_features=tuple(text_features),
        label_feature=statistics.label_feature,
        timestamp_feature=statistics.timestamp_feature,
        series_id_feature=statistics.series_id_feature,
    )
    ctx.progress(f"computing statistics of {len(files)} serving file(s)")
    with beam.Pipeline(options=ctx.beam_options()) as pipeline:
        _ = pipeline | "ServingStatistics" >> GenerateStatistics(
            {"serving": files}, config, out_dir
        )
    return read_statistics(out_dir).datasets[0]


def run(
    ctx: ExecutionContext,
    config: ValidateConfig,
    statistics: ExampleStatistics,
    schema: Schema,
    baseline_statistics: ExampleStatistics | None,
    anomalies: Out[ExampleAnomalies],
    validated_schema: Out[Schema],
) -> dict[str, Any]:
    """Executor: validates, writes the anomalies and the schema, raises DataError on blocking
    anomalies; returns {"anomalies", "blocking", "warnings", "drift_baseline", "serving"}."""
    from google.protobuf import text_format  # noqa: PLC0415

    from seqline.components.statistics.statistics_files import (  # noqa: PLC0415
        read_statistics,
        split_statistics,
    )
    from seqline.components.validate import anomaly as anomaly_lib  # noqa: PLC0415
    from seqline.components.validate.comparators import compare  # noqa: PLC0415
    from seqline.components.validate.schema_checks import (  # noqa: PLC0415
        CheckOptions,
        check_filled_steps,
        check_split,
        counts_window_ends,
    )
    from seqline.schemas.feature_spec import SERVING, TRAINING  # noqa: PLC0415
    from seqline.schemas.loading import load_schema  # noqa: PLC0415

    stats = read_statistics(statistics.uri)
    contract = load_schema(schema.uri)
    available = [d.name for d in stats.datasets]
    # The pipeline builder refuses these before anything runs when ingest's splits are known
    # from its config; splits read off the data (a source's split column) are checked here.
    check_split_names(config, available, "the span's statistics hold")
    splits = list(config.splits) or available
    # Serving config errors before any work: the skew split exists, the glob matches files.
    reference = serving = None
    if config.serving_examples:
        reference = split_statistics(stats, config.skew_split)
        if reference is None:  # check_split_names saw it among the datasets' names
            raise ConfigError(
                f"validate.skew_split: expected one of the splits {available}, got "
                f"{config.skew_split!r}"
            )
        serving = serving_files(config.serving_examples)
    options = CheckOptions(
        max_empty_text_fraction=config.max_empty_text_fraction,
        max_irregular_fraction=config.max_irregular_fraction,
        max_gap_fraction=config.max_gap_fraction,
        max_filled_fraction=config.max_filled_fraction,
    )
    found: list[anomaly_lib.Anomaly] = []
    for split in splits:
        found.extend(
            check_split(split_statistics(stats, split), contract, TRAINING, split, options)
        )
    on_window_ends = [
        split
        for split in splits
        if counts_window_ends(split_statistics(stats, split), statistics.timestamp_feature)
    ]
    if on_window_ends:
        ctx.progress(
            f"max_gap_fraction counted on window ends for split(s) {on_window_ends}: their "
            "statistics carry no data-step counts from ingest_series (a gap of g steps weighs "
            "up to g + lookback + horizon - 1); re-run ingest_series and statistics to count "
            "data steps"
        )
    # ingest's filled steps, which the windows' statistics cannot see: per split (every
    # split ingest made, whatever `splits` lists), or totals for older examples.
    grid = statistics.grid_steps
    found.extend(check_filled_steps(grid, options))
    # Series examples from a producer that records no filled/real step counts: say the gate
    # could not run rather than pass it in silence.
    filled_unchecked = statistics.timestamp_feature is not None and grid is None
    filled_scope = None if grid is None else ("splits" if grid.splits else "totals")
    if filled_unchecked:
        ctx.progress(
            "max_filled_fraction not checked: the series examples carry no filled/real step "
            "counts (ingest_series records them as gaps.filled_steps)"
        )
    elif filled_scope == "totals":
        ctx.progress(
            "max_filled_fraction checked on totals over all splits only: the series examples "
            "carry no per-split filled step counts (written before ingest_series recorded "
            "gaps.filled_by_split); re-run ingest_series to check each split"
        )

    baseline = baseline_statistics.uri if config.drift and baseline_statistics else None
    span = statistics.span
    baseline_span = baseline_statistics.span if baseline and baseline_statistics else None
    # "span 2026-12-04", or "the previous statistics" when no span pattern is in play.
    baseline_name = f"span {baseline_span}" if baseline_span is not None else "previous span"
    if span is not None:
        ctx.progress(f"validating span {span}")
    if baseline is not None:
        ctx.progress(f"comparing with {baseline_name} ({baseline})")
        previous = read_statistics(baseline)
        for split in splits:
            other = split_statistics(previous, split)
            if other is not None:
                found.extend(
                    compare(
                        contract,
                        split_statistics(stats, split),
                        other,
                        "drift",
                        f"{split} vs {baseline_name}",
                    )
                )

    out = anomalies
    if serving is not None and reference is not None:
        serving_stats = serving_statistics(ctx, statistics, serving, out.path(SERVING_DIR), stats)
        found.extend(check_split(serving_stats, contract, SERVING, "serving", options))
        found.extend(
            compare(contract, serving_stats, reference, "skew", f"serving vs {config.skew_split}")
        )

    anomaly_lib.assign_severity(found, config.warning_types, contract)
    errors = anomaly_lib.blocking(found)
    proto = anomaly_lib.to_proto(found, contract)
    filesystem.write_text(
        filesystem.join(out.uri, ANOMALIES_PBTXT), text_format.MessageToString(proto)
    )
    _write_bytes(filesystem.join(out.uri, ANOMALIES_PB), proto.SerializeToString())
    context = [
        f"statistics: {statistics.uri}",
        f"schema:     {schema.uri}",
        f"splits:     {', '.join(splits)}",
        *([f"span:       {span}"] if span is not None else []),
        f"baseline:   {_baseline_line(baseline, baseline_span)}",
        f"serving:    {config.serving_examples or 'none'}",
    ]
    filesystem.write_text(filesystem.join(out.uri, REPORT), anomaly_lib.report_text(found, context))
    # The schema file's text as it came in, unchanged: the component forwards it (COMPONENT's
    # `forwards`), so transform keys its cache on the schema node's content, not on this node.
    filesystem.write_text(validated_schema.schema_file, filesystem.read_text(schema.schema_file))
    listed = [f"{a.type} {a.feature or '(dataset)'} ({a.split})" for a in found]
    out.properties.update(
        {
            "blocking": len(errors),
            "warnings": len(found) - len(errors),
            "anomalies": listed,
            "baseline": baseline,
            "span": span,
            "baseline_span": baseline_span,
            "serving": bool(config.serving_examples),
            "filled_fraction_checked": not filled_unchecked,
            # "splits" (each split checked), "totals" (older examples: all splits together)
            # or None (no counts, or no series grid).
            "filled_fraction_scope": filled_scope,
        }
    )
    validated_schema.properties.update(
        {
            "source": "validated",
            "origin": schema.uri,
            "features": [f.name for f in contract.feature],
        }
    )
    if errors:
        # The runner keeps a failed node's outputs under _failed/ (pipeline/execution.py).
        failed = failed_outputs_dir(ctx.pipeline_root, ctx.run_id, ctx.node_id)
        kept = filesystem.join(failed, "anomalies", REPORT)
        lines = [a.message() for a in errors[:MAX_LISTED]]
        more = f"\n  ... and {len(errors) - MAX_LISTED} more" if len(errors) > MAX_LISTED else ""
        noun = "anomaly" if len(errors) == 1 else "anomalies"
        raise DataError(
            f"data validation found {len(errors)} blocking {noun}; "
            "the pipeline stops before transform:\n  "
            + "\n  ".join(lines)
            + more
            + f"\nFull report: {kept}. "
            + " ".join(advice(errors, schema.properties.get("source"), schema.uri))
        )
    summary: dict[str, Any] = {
        "anomalies": len(found),
        "blocking": 0,
        "warnings": len(found),
        "drift_baseline": baseline is not None,
    }
    if span is not None:  # scheduled runs: which span passed, against which one
        summary.update({"span": span, "baseline_span": baseline_span})
    return summary


# Anomalies of the data against the schema's contract (types, presence, domains, bounds):
# intended changes get through by changing the schema.
_CONTRACT_PREFIXES = ("SCHEMA_", "UNEXPECTED_", "FEATURE_TYPE_", "ENUM_", "INT_", "FLOAT_")


def advice(errors: list[Any], schema_source: str | None, schema_uri: str) -> list[str]:
    """What to do about the blocking anomalies `errors`, one sentence per kind present (the
    schema's source, "curated" | "previous" | "inferred", decides how a contract is changed:
    re-inferring a reused schema cannot help drift, an empty span or a one-class split).
    Every sentence names real config keys; the last says how to let a kind through."""
    types = {a.type for a in errors}
    measured = {a.measurement[0] for a in errors if a.measurement is not None}
    out: list[str] = []
    if any(t.startswith(_CONTRACT_PREFIXES) for t in types):
        if schema_source == "curated":
            change = f"edit the curated schema (schema.curated_schema, here {schema_uri})"
        elif schema_source == "previous":
            change = (
                "the schema was reused from an earlier run: set schema.reuse_inferred: false "
                "for one run to infer it from this span, or curate it (schema.curated_schema)"
            )
        else:
            change = (
                "the schema was inferred from this span's infer_from_split: curate it (copy "
                f"{schema_uri}/schema.pbtxt, edit it, set schema.curated_schema)"
            )
        out.append(
            "Schema anomalies: fix the data, or, if the change is intended (e.g. a new "
            f"label), update the schema: {change}."
        )
    if "drift" in measured:
        out.append(
            "Drift from the previous span: if the shift is real and intended, raise the "
            "feature's threshold (schema.label_drift_threshold / text_drift_threshold / "
            "categorical_drift_threshold / numeric_drift_threshold, or the curated schema's "
            "drift_comparator: part of the schema, so transform and training rerun once) or "
            "set validate.drift: false (validate alone reruns); re-inferring the schema does "
            "not change drift."
        )
    if "skew" in measured:
        out.append(
            "Skew of serving data against validate.skew_split: check the serving logs "
            "(validate.serving_examples) for a preprocessing mismatch, or raise the "
            "threshold (schema.*_drift_threshold, or the curated schema's skew_comparator)."
        )
    if "NO_DATA_IN_SPAN" in types:
        out.append(
            "No data: a split is empty; check the ingest source pattern and its split "
            "ratios / cuts, or leave the split out with validate.splits."
        )
    if "LABEL_SINGLE_CLASS" in types:
        out.append("One label in a split: rebalance the splits (ingest split_ratios, more data).")
    if "TEXT_EMPTY_FRACTION_HIGH" in types:
        out.append(
            "Empty texts: drop them at the source, or raise validate.max_empty_text_fraction."
        )
    if types & {"SERIES_NON_MONOTONIC_TIMESTAMPS", "SERIES_IRREGULAR_TIMESTAMPS"}:
        out.append(
            "Series timestamps: check ingest_series.frequency against the data's step, or "
            "raise validate.max_irregular_fraction / max_gap_fraction for a known-irregular "
            "source."
        )
    if "SERIES_FILLED_FRACTION_HIGH" in types:
        out.append(
            "Filled grid: check ingest_series.frequency (see the anomaly), or raise "
            "validate.max_filled_fraction."
        )
    listed = ", ".join(sorted(types))
    out.append(
        f"To record an anomaly kind without stopping, list it in validate.warning_types ({listed})."
    )
    return out


def _baseline_line(baseline: str | None, baseline_span: Any) -> str:
    if baseline is None:
        return "none (first span, or drift disabled)"
    return f"{baseline} (span {baseline_span})" if baseline_span is not None else baseline


def _write_bytes(path: str, data: bytes) -> None:
    if filesystem.is_remote(path):
        import tensorflow as tf  # noqa: PLC0415

        with tf.io.gfile.GFile(path, "wb") as f:
            f.write(data)
        return
    with open(path, "wb") as f:
        f.write(data)


def source_fingerprint(config: ValidateConfig) -> str:
    """The serving logs matching `serving_examples` (data_sources.files_fingerprint), so a
    new log file is validated; "" without serving_examples."""
    if not config.serving_examples:
        return ""
    try:
        return data_sources.files_fingerprint(serving_files(config.serving_examples))
    except DataError:  # nothing matches (yet): the run says so
        return "none"


COMPONENT = component(
    run,
    name="validate",
    resolved={"baseline_statistics": PreviousStatistics()},
    source_fingerprint=source_fingerprint,
    # validated_schema is the checked schema passed on: changing only validate's thresholds
    # reruns validate, not transform and train.
    forwards={"validated_schema": "schema"},
)
