"""`seqline gc`: which artifact folders of a pipeline root are still needed, and deleting the rest.

A root grows by `{root}/{node}/{output}/{fingerprint}/` with every new fingerprint. What gc keeps
(`live`), per pipeline recorded in the root:

- every artifact an execution of a kept run published or read: wired inputs, resolved inputs
  (the previous schema, the drift baseline, the baseline model), and the older fingerprints a
  cached execution reused. The kept runs are the newest `keep_runs` SUCCEEDED runs that
  executed at least one node (a fully CACHED rerun does not count, nor does a backfill: a
  run whose spans are all older than the newest span an earlier run already processed,
  backfill_runs) and every run started since the oldest of them (failed, interrupted, fully
  cached and backfill ones too: they never push a run that did the work out, nor tonight's
  run of the newest span); with fewer such runs, every run. The newest run is always kept,
  so the next run of unchanged inputs is fully CACHED;
- what the newest finished (COMPLETE or CACHED) execution of each node read and published,
  though the kept runs never reached that node (runs of a data-only config, runs that failed
  early): the next run of an unchanged node reuses it, and push does not push again;
- what the resolvers would pick for a next run with new data (pipeline/resolvers.py):
  LatestBlessedModel's newest two usable blessed models per model name (two: a candidate
  equal to the newest one is compared with the one before), PreviousStatistics' newest
  accepted statistics per statistics node and the newest accepted ones of every span (a
  backfill of span S compares with the latest accepted span before S, however old: small
  files), and PreviousSchema's newest schema (and newest accepted one) per schema node. They
  are normally in the newest run already (each resolves among artifacts newer runs keep), but
  for older spans' statistics, or in the rule above; this is the safety net. A custom
  component's own resolver is not foreseen: what it resolved in the kept runs and its node's
  newest execution is kept (the first two rules), nothing further back;
- every output of an execution one of whose outputs the rules above keep (a model kept as a
  baseline keeps its ModelRun): the cache reuses an execution only with all its outputs, and
  the next run of that config would otherwise execute it again and publish into the kept
  folders.

Everything else the metadata store knows under `{root}/{node}/{output}/{fingerprint}/` is dead.
`{root}/_failed/{run}/` of a run that is not kept and started before the oldest kept run of
its pipeline is dead too (nothing reads it back). A folder the store does not know is never
deleted, only listed ("unknown, left alone"); nor is a dead folder that is a symbolic link
(listed "a symbolic link, left alone": what it points at is outside the root, and removing
artifact.json through it before shutil.rmtree refuses the link would damage the target);
`_tmp/`, temporaries and anything outside the root (serving_root: push's keep_versions
prunes it) are not gc's business; of `_locks/`, gc removes the node lock files of fingerprints
that no longer have a folder in the root (remove_unused_locks), never `.root.lock`.

Deleting one folder: its `artifact.json` first (from then on no cache hit or resolver takes it:
a folder without one is not an artifact), then the deletion is recorded in the store
(`seqline show` marks the URI deleted), then the rest. A gc killed midway leaves folders
without `artifact.json` that the store knows and that are not live: the next gc deletes them.

Pure Python over the store and the filesystem: no TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from seqline.pipeline.artifact import DESCRIPTOR, ArtifactType
from seqline.pipeline.errors import SeqlineError
from seqline.pipeline.locking import (
    LOCKS_DIR,
    OwnerCheck,
    ProcessOwner,
    RootBusyError,
    check_process,
    try_exclusive,
)
from seqline.pipeline.report import _when
from seqline.pipeline.resolvers import (
    accepted_inputs,
    earlier_span,
    nonfinite_metrics,
    statistics_span,
)
from seqline.pipeline.root_lock import ROOT_LOCK, root_lock_path, try_root_exclusive
from seqline.storage import filesystem

if TYPE_CHECKING:
    from seqline.pipeline.metadata import ArtifactRecord, MetadataStore, RootLease

# The newest SUCCEEDED runs kept per pipeline by default (docs/operations.md says why).
DEFAULT_KEEP_RUNS = 3
FAILED_DIR = "_failed"
# Why gc keeps an older span's statistics (resolver_picks); retention_report.describe lists
# them per node as one line of spans.
SPAN_STATISTICS = "the newest accepted statistics of span"
# Why gc keeps what a node's newest execution read or published (not a resolver's pick).
NEWEST_EXECUTION = "read or published by the newest execution of"
# Why gc keeps an output whose sibling (another output of the same execution) it keeps.
SIBLING = "published by the same execution as"


@dataclass(frozen=True)
class Doomed:
    """A folder gc deletes: an artifact (`node`, `output`) or a failed run's leftovers
    (`node` is "_failed", `output` the run id). `size` in bytes, None when unknown (remote)."""

    path: str
    node: str
    output: str
    size: int | None
    run_id: str | None = None  # the run that produced it, when known


@dataclass
class Plan:
    """What gc found: the kept runs (pipeline -> run ids, newest first), the live URIs and why
    each one the kept runs do not account for is live, what to delete, what is unknown."""

    root: str
    kept_runs: dict[str, list[str]] = field(default_factory=dict)
    live: set[str] = field(default_factory=set)
    also_kept: dict[str, str] = field(default_factory=dict)  # uri -> reason (resolvers)
    doomed: list[Doomed] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    unknown_sizes: dict[str, int | None] = field(default_factory=dict)  # bytes; None: remote
    links: list[str] = field(default_factory=list)  # dead folders that are symbolic links
    failed: list[tuple[Doomed, str]] = field(default_factory=list)  # could not delete: why
    locks_removed: int = 0  # node lock files of fingerprints no longer in the root (a dry
    # run: that the real gc would remove)
    statuses: dict[str, str] = field(default_factory=dict)  # kept run id -> its status
    # With no runs recorded under the root: the roots the store records artifacts under, each
    # with True when it is this root's folder spelled another way (a symbolic link).
    recorded_roots: list[tuple[str, bool]] = field(default_factory=list)
    busy: str | None = None  # a dry run's: why the real gc would refuse now
    backfills: set[str] = field(default_factory=set)  # runs of older spans: not counted


def choose_kept_runs(
    runs: Sequence[Mapping[str, Any]], keep_runs: int, executed: Collection[str] | None = None
) -> list[str]:
    """Run ids to keep among the runs of one pipeline: the newest `keep_runs` SUCCEEDED ones
    that count (their ids in `executed`: runs that executed at least one node and are no
    backfill; None: every run counts) and every run started since the oldest of them; every
    run when fewer such runs there are.

    A fully CACHED rerun (an orchestrator's retry, the same span run again) does not count: it
    adds nothing, and counting it pushed the runs that did the work out of the window."""
    if keep_runs < 1:
        raise ValueError(f"keep_runs: expected >= 1, got {keep_runs}")
    newest_first = sorted(runs, key=lambda r: r["started_at"], reverse=True)
    succeeded = [
        r
        for r in newest_first
        if r["status"] == "SUCCEEDED" and (executed is None or r["run_id"] in executed)
    ]
    if len(succeeded) < keep_runs:
        return [r["run_id"] for r in newest_first]
    oldest = succeeded[keep_runs - 1]["started_at"]
    return [r["run_id"] for r in newest_first if r["started_at"] >= oldest]


def _run_spans(
    uses: Iterable[tuple[str, int, str, str, float, str]], artifacts: Sequence[ArtifactRecord]
) -> dict[str, list[object]]:
    """run id -> the spans of the Examples its executions read or published (their `spans`
    property, else `span`; pipeline/spans.span_properties); a run of a source without a span
    pattern has none."""
    examples = {a.uri: a for a in artifacts if a.type_name == ArtifactType.EXAMPLES}
    found: dict[str, list[object]] = {}
    for run_id, _execution_id, _node, _status, _started, uri in uses:
        record = examples.get(uri)
        if record is None:
            continue
        spans = record.properties.get("spans")
        if spans is None and record.properties.get("span") is not None:
            spans = [record.properties["span"]]
        found.setdefault(run_id, []).extend(spans or [])
    return found


def backfill_runs(
    runs: Sequence[Mapping[str, Any]], spans: Mapping[str, Sequence[object]]
) -> set[str]:
    """The backfills among the runs of one pipeline: a run whose spans (`spans[run_id]`) are
    all older (resolvers.earlier_span) than the newest span an earlier-started run of it
    already processed. Spans of another kind are never older, and a run without spans (a
    source without a span pattern, a run that failed before ingest) is no backfill.

    They do not count toward --keep-runs: three backfills after tonight's run pushed it out of
    the window, and a retry of tonight's span then ingested again."""
    found: set[str] = set()
    newest: object = None
    for run in sorted(runs, key=lambda r: r["started_at"]):
        its = spans.get(run["run_id"], [])
        if its and newest is not None and all(earlier_span(s, newest) for s in its):
            found.add(run["run_id"])
        for span in its:
            if newest is None or earlier_span(newest, span):
                newest = span
    return found


def _present(uri: str) -> bool:
    return filesystem.exists(filesystem.join(uri, DESCRIPTOR))


def resolver_picks(
    store: MetadataStore, pipelines: Iterable[str], artifacts: Sequence[ArtifactRecord]
) -> dict[str, str]:
    """uri -> why: what the resolvers could pick for a next run with new inputs (see the module
    docstring), among `artifacts` (the store's artifacts under the root, newest first)."""
    under = {a.uri: a for a in artifacts}
    picks: dict[str, str] = {}
    for pipeline in sorted(pipelines):
        per_name: dict[str, list[str]] = {}
        for blessing in store.find_artifacts(
            ArtifactType.BLESSING, pipeline_name=pipeline, properties={"blessed": True}
        ):
            uri = blessing.properties.get("model_uri")
            fingerprint = str(blessing.properties.get("model_fingerprint") or uri)
            chosen = per_name.setdefault(str(blessing.properties.get("model_name", "")), [])
            if len(chosen) >= 2 or not uri or fingerprint in chosen:
                continue
            if nonfinite_metrics(blessing.properties) or not filesystem.exists(
                filesystem.join(uri, "saved_model", "saved_model.pb")
            ):
                continue  # LatestBlessedModel passes it over
            chosen.append(fingerprint)
            if uri in under:
                name = blessing.properties.get("model_name", "")
                picks.setdefault(uri, f"a latest blessed model '{name}' of pipeline '{pipeline}'")
    accepted_stats = accepted_inputs(store, "statistics", None)
    accepted_schemas = accepted_inputs(store, "schema", None)
    newest: dict[tuple[str, str], str] = {}  # (rule, node) -> uri
    per_span: dict[tuple[str, str], str] = {}  # (node, repr(span)) -> uri
    spans: dict[str, Any] = {}  # uri -> span
    for record in artifacts:  # newest first
        if record.type_name == ArtifactType.STATISTICS and record.uri in accepted_stats:
            if not _present(record.uri):
                continue
            newest.setdefault(("the newest accepted statistics", record.node_id), record.uri)
            span = statistics_span(store, record)
            if span is not None:
                # Every span's: a backfill of span S is compared with the span before S.
                per_span.setdefault((record.node_id, repr(span)), record.uri)
                spans[record.uri] = span
        elif record.type_name == ArtifactType.SCHEMA and _present(record.uri):
            newest.setdefault(("the newest schema", record.node_id), record.uri)
            if record.uri in accepted_schemas:
                newest.setdefault(("the newest accepted schema", record.node_id), record.uri)
    for (why, node), uri in newest.items():
        picks.setdefault(uri, f"{why} of {node}")
    for (node, _span), uri in per_span.items():
        picks.setdefault(uri, f"{SPAN_STATISTICS} {spans[uri]} of {node}")
    return picks


def folder_size(path: str) -> int | None:
    """Bytes of the files below `path` (symlinks not followed); None on a remote root."""
    if filesystem.is_remote(path):
        return None
    total = 0
    for directory, _dirs, files in os.walk(filesystem.local_path(path)):
        for name in files:
            with contextlib.suppress(OSError):  # removed meanwhile
                total += os.lstat(os.path.join(directory, name)).st_size
    return total


def _listdir(path: str) -> list[str]:
    try:
        return sorted(filesystem.listdir(path))
    except (OSError, FileNotFoundError):
        return []


def _folders(parent: str, names: Iterable[str]) -> list[str]:
    """The paths of those of `names` in `parent` that are folders."""
    return [path for path in (filesystem.join(parent, name) for name in names) if _is_dir(path)]


def _is_dir(path: str) -> bool:
    if filesystem.is_remote(path):
        return bool(filesystem._gfile(path).isdir(path))
    return os.path.isdir(filesystem.local_path(path))


def _is_link(path: str) -> bool:
    """True for a local folder that is a symbolic link (say an artifact moved to another disk
    and linked back): gc never deletes through one, since what it points at is outside the
    root, and shutil.rmtree refuses it anyway (after artifact.json had gone from the target)."""
    return not filesystem.is_remote(path) and os.path.islink(filesystem.local_path(path))


def link_target(path: str) -> str:
    try:
        return os.readlink(filesystem.local_path(path))
    except OSError:  # removed meanwhile
        return "?"


def _still_running(run: Mapping[str, Any]) -> bool:
    """True for a RUNNING run unless its process is verifiably gone (this host and PID
    namespace): the runs MetadataStore.sweep_stale, which gc calls before deleting, leaves
    RUNNING. Judged here without writing, so a dry run plans what the real one deletes."""
    if run["status"] != "RUNNING":
        return False
    if run.get("host") != socket.gethostname() or run.get("pid") is None:
        return True
    owner = ProcessOwner(run["host"], run["pid"], run.get("pidns"), run.get("proc_start"))
    return check_process(owner) is not OwnerCheck.DEAD


def plan_gc(store: MetadataStore, root: str, keep_runs: int = DEFAULT_KEEP_RUNS) -> Plan:
    """What gc would delete in `root` (nothing is deleted here); see the module docstring."""
    plan = Plan(root=root.rstrip("/"))
    prefix = plan.root + "/"  # every URI under the root starts with it
    uses = store.root_uses(prefix)
    used_by: dict[str, set[str]] = {}
    by_execution: dict[int, set[str]] = {}
    executed: set[str] = set()  # runs that executed a node (not all CACHED)
    for run_id, execution_id, _node, status, _started, uri in uses:
        used_by.setdefault(run_id, set()).add(uri)
        by_execution.setdefault(execution_id, set()).add(uri)
        if status == "COMPLETE":
            executed.add(run_id)
    runs = {r["run_id"]: r for r in store.all_runs()}
    per_pipeline: dict[str, list[Mapping[str, Any]]] = {}
    # A run that recorded nothing under the root but failed in it (ingest failed: only
    # `_failed/{run}/`) is one of its runs too, kept and listed as the others are.
    failed_here = set(_listdir(filesystem.join(plan.root, FAILED_DIR)))
    for run_id in sorted(set(used_by) | (failed_here & set(runs))):
        if run_id in runs:
            per_pipeline.setdefault(runs[run_id]["pipeline_name"], []).append(runs[run_id])
    artifacts = store.artifacts_under(prefix)
    run_spans = _run_spans(uses, artifacts)
    oldest_kept: dict[str, float] = {}
    for pipeline, its_runs in sorted(per_pipeline.items()):
        backfills = backfill_runs(its_runs, run_spans)
        plan.backfills |= backfills
        kept = choose_kept_runs(its_runs, keep_runs, executed - backfills)
        oldest_kept[pipeline] = min(runs[r]["started_at"] for r in kept)
        # A RUNNING run left by a process gc cannot judge (another host): keep what it uses.
        kept += [r["run_id"] for r in its_runs if _still_running(r) and r["run_id"] not in kept]
        plan.kept_runs[pipeline] = kept
        for run_id in kept:
            plan.live |= used_by.get(run_id, set())
            plan.statuses[run_id] = runs[run_id]["status"]
    if not per_pipeline:
        plan.recorded_roots = _recorded_roots(store, plan.root)
    # The newest finished execution of every node: what the next run of an unchanged node
    # reuses, though the kept runs never reached it (a data-only run, a run that failed early).
    newest: dict[tuple[str, str], tuple[float, int, str]] = {}
    for run_id, execution_id, node_id, status, started, _uri in uses:
        if status not in ("COMPLETE", "CACHED") or run_id not in runs:
            continue
        key = (runs[run_id]["pipeline_name"], node_id)
        if key not in newest or newest[key][:2] < (started, execution_id):
            newest[key] = (started, execution_id, run_id)
    picks = {
        uri: f"{NEWEST_EXECUTION} {node} (run {run_id}): the next run of it reuses it"
        for (_pipeline, node), (_started, execution_id, run_id) in sorted(newest.items())
        for uri in sorted(by_execution[execution_id])
    }
    for uri, why in resolver_picks(store, per_pipeline, artifacts).items():
        picks.setdefault(uri, why)
    for uri, why in picks.items():
        if uri not in plan.live:
            plan.also_kept[uri] = why
            plan.live.add(uri)
    _keep_siblings(store, plan, artifacts)
    for record in artifacts:
        parts = record.uri[len(prefix) :].split("/")
        if (
            record.uri in plan.live
            or len(parts) != 3
            or parts[0].startswith(("_", "."))
            or not _is_dir(record.uri)
        ):
            continue
        if _is_link(record.uri):
            plan.links.append(record.uri)
            continue
        plan.doomed.append(
            Doomed(
                record.uri,
                record.node_id,
                record.output,
                folder_size(record.uri),
                _producer_run(store, record),
            )
        )
    plan.unknown = _unknown_folders(plan.root, {a.uri for a in artifacts})
    failed = filesystem.join(plan.root, FAILED_DIR)
    for run_id in _listdir(failed):
        path = filesystem.join(failed, run_id)
        run = runs.get(run_id)
        if run is None:
            plan.unknown.append(path)
            continue
        pipeline = run["pipeline_name"]
        if run_id in plan.kept_runs.get(pipeline, []) or _still_running(run):
            continue
        if pipeline not in oldest_kept or run["started_at"] >= oldest_kept[pipeline]:
            continue  # as new as the kept runs, or of a pipeline with none to compare
        if _is_link(path):
            plan.links.append(path)
            continue
        plan.doomed.append(Doomed(path, FAILED_DIR, run_id, folder_size(path), run_id))
    plan.doomed.sort(key=lambda d: (d.node, d.output, d.path))
    plan.unknown_sizes = {path: folder_size(path) for path in plan.unknown}
    return plan


def _keep_siblings(store: MetadataStore, plan: Plan, artifacts: Sequence[ArtifactRecord]) -> None:
    """Adds to `plan.live` every output of an execution one of whose outputs is live (a model
    kept as a baseline keeps the ModelRun its training published beside it). The cache reuses
    an execution only when all its outputs are there: with one deleted, the next run of that
    config would execute the node again and republish into the kept folders, which a
    blessing, a pushed version and the kept runs' lineage name (with other content where
    training is not deterministic)."""
    by_uri = {a.uri: a for a in artifacts}
    done: set[int] = set()
    pending = sorted(plan.live)
    while pending:
        uri = pending.pop()
        record = by_uri.get(uri)
        if record is None or record.producer_execution_id is None:
            continue
        if record.producer_execution_id in done:
            continue
        done.add(record.producer_execution_id)
        for _name, sibling in store.artifacts_of(record.producer_execution_id, "output"):
            if sibling.uri in plan.live or sibling.uri not in by_uri:
                continue
            plan.live.add(sibling.uri)
            plan.also_kept[sibling.uri] = (
                f"{SIBLING} {uri} (kept): a cache hit needs every output of an execution"
            )
            pending.append(sibling.uri)


def _recorded_roots(store: MetadataStore, root: str) -> list[tuple[str, bool]]:
    """The roots the store records artifacts under (`{root}/{node}/{output}/{fingerprint}`),
    each with True when it is `root`'s own folder under another spelling (a symbolic link on
    either side): said when the store records no run under `root` as given."""
    roots = sorted(
        {a.uri.rsplit("/", 3)[0] for a in store.artifacts_under("") if a.uri.count("/") > 3}
    )

    if filesystem.is_remote(root):
        return [(other, False) for other in roots]
    real = _lease_root(root)  # a local root's real path
    return [
        (other, not filesystem.is_remote(other) and _lease_root(other) == real) for other in roots
    ]


def _producer_run(store: MetadataStore, record: ArtifactRecord) -> str | None:
    if record.producer_execution_id is None:
        return None
    return store.execution(record.producer_execution_id).run_id


def _unknown_folders(root: str, known: set[str]) -> list[str]:
    """Folders at `{root}/{node}/{output}/{fingerprint}` depth that the store does not know, and
    top-level or output folders holding none it knows (temporaries `.tmp-*` and `_*`/`.*`
    top-level folders are the runner's, and not listed)."""
    unknown: list[str] = []
    known_dirs = {uri.rsplit("/", 1)[0] for uri in known}
    known_nodes = {uri.rsplit("/", 2)[0] for uri in known}
    nodes = [node for node in _listdir(root) if not node.startswith(("_", "."))]
    for node_path in _folders(root, nodes):
        if node_path not in known_nodes:
            unknown.append(node_path)
            continue
        for output_path in _folders(node_path, _listdir(node_path)):
            if output_path not in known_dirs:
                unknown.append(output_path)
                continue
            for name in _listdir(output_path):
                path = filesystem.join(output_path, name)
                if name.startswith(".tmp-") or path in known:
                    continue
                unknown.append(path)
    return unknown


def delete(store: MetadataStore, doomed: Doomed, deleted_by: str) -> None:
    """Deletes one folder gc planned to: an artifact's `artifact.json` first (it is then no
    artifact to the cache or a resolver), its deletion recorded, then the rest. A failed run's
    `_failed/{run}/` (nothing reads it back) is removed first and its deletion recorded once
    it is gone, so `seqline show` of the run marks the folder its error names."""
    if doomed.node == FAILED_DIR:
        _remove_tree(doomed.path)
        store.record_deletion(doomed.path, deleted_by)
        return
    descriptor = filesystem.join(doomed.path, DESCRIPTOR)
    if filesystem.exists(descriptor):
        if filesystem.is_remote(descriptor):
            filesystem._gfile(descriptor).remove(descriptor)
        else:
            os.remove(filesystem.local_path(descriptor))
    store.record_deletion(doomed.path, deleted_by)
    _remove_tree(doomed.path)


def _remove_tree(path: str) -> None:
    """Removes the folder `path` and everything in it, as much as it can; raises OSError naming
    what it could not remove (a file of another user in a shared root): gc must not report a
    folder reclaimed that is still there, as shutil.rmtree(ignore_errors=True) would."""
    if filesystem.is_remote(path):
        filesystem.rmtree(path)
        return
    local = filesystem.local_path(path)
    problems: list[str] = []
    shutil.rmtree(local, onerror=lambda _f, name, info: problems.append(f"{name}: {info[1]}"))
    if problems or os.path.lexists(local):
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise OSError(f"{problems[0] if problems else local + ' is still there'}{more}")


def gc_id() -> str:
    """The id gc holds the root lease under: `gc-{time}-{pid}`."""
    return time.strftime("gc-%Y%m%d-%H%M%S-") + str(os.getpid())


def _busy(store: MetadataStore, root: str) -> RootBusyError:
    """The error for a local root that a run holds (root_in_use), naming the runs the store
    has RUNNING."""
    running = [r for r in store.all_runs() if r["status"] == "RUNNING"]
    named = "; ".join(
        f"run {r['run_id']} of pipeline '{r['pipeline_name']}' (pid {r['pid']}, host "
        f"{r['host']}, started {_when(r['started_at'])})"
        for r in running
    )
    named = named or "no RUNNING run is recorded: a `seqline run --node` task"
    return RootBusyError(
        f"a run is using {root} ({named}); gc deletes only while no run uses the root. Run gc "
        "again once it has finished (e.g. right after the scheduled run, in the same job)"
    )


def _lease_root(root: str) -> str:
    """The name gc leases a root under: a local root's real path (os.path.realpath), so a gc
    through a symbolic link or another spelling of the folder finds the lease of a gc given the
    canonical one (and names it, not a `seqline run --node` task); a remote root as given
    (MetadataStore.lease_key folds its spellings). Local runs hold the root lock, no lease."""
    if filesystem.is_remote(root):
        return root
    return os.path.realpath(filesystem.local_path(root))


def _gc_holds(leases: Iterable[RootLease], root: str) -> RootBusyError | None:
    """The error for a root another `seqline gc` holds (among `leases`, the root's
    store.root_leases: one whose id is gc_id's), else None."""
    for lease in leases:
        if lease.run_id.startswith("gc-"):
            return RootBusyError(
                f"seqline gc (pid {lease.pid}, host {lease.host}, started "
                f"{_when(lease.acquired_at)}) is cleaning {root}; run it again when it ends"
            )
    return None


def _acquire(store: MetadataStore, root: str, holder: str) -> None:
    """store.acquire_root, saying so plainly when the holder is another gc (the lease's own
    message is written for a remote root's run)."""
    try:
        store.acquire_root(_lease_root(root), holder)
    except RootBusyError as exc:
        raise (_gc_holds(store.root_leases(_lease_root(root)), root) or exc) from None


def _busy_now(store: MetadataStore, root: str) -> str | None:
    """For a dry run: why the real gc would refuse now (exit 2), None if it would not: another
    gc or a remote root's run holds the lease, or a run holds a local root's lock (tried
    without waiting and let go at once; only an existing lock file, opened for reading, so a
    dry run writes nothing)."""
    leases = store.root_leases(_lease_root(root))
    by_gc = _gc_holds(leases, root)
    if by_gc is not None:
        return str(by_gc)
    if leases:
        lease = leases[0]
        return (
            f"run {lease.run_id} (pid {lease.pid}, host {lease.host}) holds the lease on {root} "
            f"since {_when(lease.acquired_at)}"
        )
    if filesystem.is_remote(root):
        return None
    try:
        opened = os.open(root_lock_path(root), os.O_RDONLY)
    except OSError:
        return None  # no lock file: no run has held this root (or it may not be read)
    held = try_exclusive(opened)
    if held is not None:
        os.close(held)
        return None
    return str(_busy(store, root))


def collect(
    store: MetadataStore,
    root: str,
    keep_runs: int = DEFAULT_KEEP_RUNS,
    dry_run: bool = False,
    deleted: Callable[[Doomed], None] | None = None,
) -> Plan:
    """Plans gc of `root` and, unless `dry_run`, deletes what the plan says, calling
    `deleted(doomed)` after each folder. Holds the root for the whole of it: the root lease
    in the store (MetadataStore.acquire_root: a remote root's run holds it) and, on a local
    root, the exclusive root lock (root_lock.root_in_use: every local run holds it shared).

    Raises:
        RootBusyError: a run uses the root, or another gc holds it (naming it).
    """
    if dry_run:
        plan = plan_gc(store, root, keep_runs)
        plan.busy = _busy_now(store, root)
        if not filesystem.is_remote(root):  # the lock files the real gc would remove
            gone = {filesystem.local_path(d.path) for d in plan.doomed}
            plan.locks_removed = len(unused_locks(root, gone))
        return plan
    holder = gc_id()
    _acquire(store, root, holder)
    fd: int | None = None
    try:
        if not filesystem.is_remote(root):
            try:
                fd = try_root_exclusive(root)
            except OSError as exc:  # a root this user may not write: say so, no traceback
                raise SeqlineError(
                    f"cannot take the root lock {filesystem.join(root, LOCKS_DIR, ROOT_LOCK)} "
                    f"({exc.strerror or exc}); expected a user that can write the pipeline "
                    "root, since gc deletes from it: run gc as the user that runs the pipeline"
                ) from exc
            if fd is None:
                raise _busy(store, root)
        store.sweep_stale()
        plan = plan_gc(store, root, keep_runs)
        if plan.doomed:
            store.check_deletions_writable()
        why = f"seqline gc --keep-runs {keep_runs} ({holder})"
        for doomed in plan.doomed:
            try:
                delete(store, doomed, why)
            except OSError as exc:  # this folder stays (the next gc tries again), not the rest
                plan.failed.append((doomed, str(exc)))
                continue
            if deleted is not None:
                deleted(doomed)
        failed = {d.path for d, _why in plan.failed}
        plan.doomed = [d for d in plan.doomed if d.path not in failed]
        if fd is not None:
            plan.locks_removed = len(remove_unused_locks(root))
        return plan
    finally:
        if fd is not None:
            os.close(fd)
        store.release_root(_lease_root(root), holder)


def _fingerprints_in(root: str, without: Collection[str] = ()) -> set[tuple[str, str]]:
    """(node, fingerprint) of every folder `{root}/{node}/{output}/{fingerprint}` but those in
    `without` (local paths: what a dry run's plan would delete) and of every
    `{root}/_work/{node}/{fingerprint}` (train's resume state, locked under the same name)."""
    found: set[tuple[str, str]] = set()
    for node in _listdir(root):
        if node.startswith(("_", ".")):
            continue
        for output in _listdir(os.path.join(root, node)):
            found.update(
                (node, name)
                for name in _listdir(os.path.join(root, node, output))
                if os.path.join(root, node, output, name) not in without
            )
    work = os.path.join(root, "_work")
    for node in _listdir(work):
        found.update((node, name) for name in _listdir(os.path.join(work, node)))
    return found


def unused_locks(root: str, without: Collection[str] = ()) -> list[str]:
    """The names of the node lock files `{root}/_locks/{node}-{fingerprint}.lock` whose node
    has no folder of that fingerprint in the local `root` once the folders `without` (local
    paths) are gone: what remove_unused_locks removes after deleting them (a dry run's count).
    A fingerprint is hex (pipeline/fingerprint.py), so the last '-' of the name ends the node
    id, which may hold '-' itself (dag.check_node_id); a name that does not parse so is left
    alone, and so is `.root.lock`."""
    local = filesystem.local_path(root)
    remaining = _fingerprints_in(local, without)
    unused = []
    for name in _listdir(os.path.join(local, LOCKS_DIR)):
        node, dash, fingerprint = name.removesuffix(".lock").rpartition("-")
        if (
            name == ROOT_LOCK
            or not name.endswith(".lock")
            or not dash
            or not node
            or not re.fullmatch(r"[0-9a-f]+", fingerprint)
            or (node, fingerprint) in remaining
        ):
            continue
        unused.append(name)
    return unused


def remove_unused_locks(root: str) -> list[str]:
    """Removes the node lock files `{root}/_locks/{node}-{fingerprint}.lock` (locking.node_lock)
    whose node has no folder of that fingerprint left in the local `root` (unused_locks);
    returns their names. One is added per executed fingerprint, and nothing else removes them.

    Only while holding the root lock exclusively (collect): every run, `--node` task and
    training that takes a node lock does so while holding the root lock shared, so then no
    process holds or has open a node lock file, and none can open one meanwhile."""
    directory = os.path.join(filesystem.local_path(root), LOCKS_DIR)
    removed = []
    for name in unused_locks(root):
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(directory, name))
        removed.append(name)
    return removed
