"""What `seqline gc` prints: the runs it kept and why, what it deleted (or would, with
--dry-run) per node and output with sizes, and the total (pipeline/retention.py plans and
deletes; this module only words the Plan)."""

from __future__ import annotations

from collections.abc import Sequence

from seqline.pipeline.retention import (
    FAILED_DIR,
    NEWEST_EXECUTION,
    SIBLING,
    SPAN_STATISTICS,
    Doomed,
    Plan,
    link_target,
)


def _span_list(spans: Sequence[str]) -> str:
    """Spans in order (numbers as numbers, dates as text), the first and last three of more."""
    ordered = sorted(spans, key=lambda span: (0, int(span), "") if span.isdigit() else (1, 0, span))
    if len(ordered) > 8:
        ordered = [*ordered[:3], "...", *ordered[-3:]]
    return ", ".join(ordered)


def human_size(size: int | None) -> str:
    """`1.5 MB`-style bytes (powers of 1000, as `du --si`); "?" when unknown."""
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _total_size(sizes: Sequence[int | None]) -> str:
    """human_size of the sum of `sizes`, saying so when a remote folder's (None) is missing."""
    total = human_size(sum(size or 0 for size in sizes))
    if any(size is None for size in sizes):
        total += " (sizes of remote folders not counted)"
    return total


def _run_label(plan: Plan, run_id: str) -> str:
    """`d12`, `f13 (FAILED)`, `bf03 (backfill)`: a kept run with what sets it apart."""
    marks = [] if plan.statuses.get(run_id, "SUCCEEDED") == "SUCCEEDED" else [plan.statuses[run_id]]
    if run_id in plan.backfills:
        marks.append("backfill")
    return f"{run_id} ({', '.join(marks)})" if marks else run_id


def describe(plan: Plan, dry_run: bool) -> str:
    """What gc kept and deleted (or would delete, `dry_run`), per node and output, with sizes
    and the total."""
    lines = [f"pipeline root {plan.root}"]
    for pipeline, kept in plan.kept_runs.items():
        named = [_run_label(plan, run_id) for run_id in kept]
        lines.append(f"keeping {len(kept)} run(s) of pipeline '{pipeline}': {', '.join(named)}")
    if not plan.kept_runs:
        lines.append("no runs recorded in this root")
    for other, same in plan.recorded_roots:
        lines.append(
            f"the metadata store records runs under {other}: "
            + (
                f"the same folder as {plan.root}, spelled another way (a symbolic link); run gc "
                f"with --root {other}"
                if same
                else "another folder (is this root a copy or a move of it?); gc deletes only "
                "what the store records under the root it is given"
            )
        )
    span_statistics: dict[str, list[str]] = {}  # node -> older spans whose statistics stay
    for uri, why in sorted(plan.also_kept.items()):
        if why.startswith(SPAN_STATISTICS):
            span, node = why[len(SPAN_STATISTICS) + 1 :].rsplit(" of ", 1)
            span_statistics.setdefault(node, []).append(span)
            continue
        if not why.startswith((NEWEST_EXECUTION, SIBLING)):
            why += " (a resolved input of the next run)"
        lines.append(f"also keeping {uri}: {why}")
    for node, spans in sorted(span_statistics.items()):
        lines.append(
            f"also keeping the accepted statistics of {len(spans)} older span(s) of {node} "
            f"(spans {_span_list(spans)}): a backfill of a span compares with the span before it"
        )
    verb = "would delete (dry run: nothing deleted)" if dry_run else "deleted"
    groups: dict[tuple[str, str], list[Doomed]] = {}
    for doomed in plan.doomed:
        key = (doomed.node, "" if doomed.node == FAILED_DIR else doomed.output)
        groups.setdefault(key, []).append(doomed)
    if groups:
        lines.append(f"{verb}:")
    for (node, output), folders in groups.items():
        size = None if any(d.size is None for d in folders) else sum(d.size or 0 for d in folders)
        label = f"{node}/{output}" if output else f"{node}/"
        lines.append(f"  {label:<40} {len(folders):>4} folder(s) {human_size(size):>10}")
        for doomed in folders:
            run = f"  (run {doomed.run_id})" if doomed.run_id else ""
            lines.append(f"    {doomed.path}  {human_size(doomed.size)}{run}")
    if plan.failed:
        lines.append(f"could not delete {len(plan.failed)} folder(s); the next gc tries again:")
    for doomed, why in plan.failed:
        lines.append(f"  - {doomed.path}: {why}")
    for path in plan.unknown:
        lines.append(f"unknown, left alone: {path}  {human_size(plan.unknown_sizes.get(path))}")
    if plan.unknown:
        left = _total_size([plan.unknown_sizes.get(path) for path in plan.unknown])
        lines.append(f"left alone: {len(plan.unknown)} unknown folder(s), {left}")
    for path in plan.links:
        lines.append(
            f"a symbolic link, left alone: {path} -> {link_target(path)} (gc deletes nothing "
            "through a link; delete its target and the link by hand if nothing needs them)"
        )
    total = _total_size([d.size for d in plan.doomed])
    if plan.locks_removed:
        lines.append(
            f"{'would remove' if dry_run else 'removed'} {plan.locks_removed} lock file(s) of "
            f"{plan.root}/_locks/ whose fingerprint no longer has a folder in the root"
            + (" (dry run: nothing removed)" if dry_run else "")
        )
    if not plan.doomed:
        lines.append("nothing to delete")
    elif dry_run:
        lines.append(f"total: {len(plan.doomed)} folder(s), {total} would be reclaimed")
    else:
        lines.append(f"total: {len(plan.doomed)} folder(s), {total} reclaimed")
    if plan.busy:
        lines.append(f"note: the real gc would refuse now (exit 2), deleting nothing: {plan.busy}")
    return "\n".join(lines)
