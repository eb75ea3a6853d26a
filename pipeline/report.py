"""Human-readable tables for the CLI: progress lines, run summaries, run history, run details."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from seqline.pipeline.artifact import Artifact, new_artifact
from seqline.pipeline.dag import Node
from seqline.pipeline.runner import NodeResult, Progress, RunResult

# Characters a terminal acts on instead of showing: C0 controls (ESC starts colour, cursor and
# OSC "set window title" sequences; a newline or carriage return forges a line), DEL, C1
# controls (U+009B is a one-byte CSI), line/paragraph separators, and the bidirectional
# controls that reorder what follows (U+202E shows "exe.txt" for "txt.exe").
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """`text` for a terminal: every character above as an escape (`\\x1b`, `\\n`, `\\u202e`), so
    a value that comes from data (a label in a blessing's reasons, an error text, a summary)
    prints as one inert line. The stored values (metrics.json, the metadata store) stay exact;
    only what is printed is escaped. Idempotent: its output has nothing left to escape."""

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        code = ord(char)
        if char in "\t\n\r":
            return repr(char)[1:-1]
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _UNPRINTABLE.sub(escape, str(text))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table."""
    cells = [[printable(h) for h in headers]] + [[printable(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def brief(summary: dict[str, Any], limit: int = 70) -> str:
    """`k=v, k=v` of a summary, floats shortened, control characters escaped (`printable`),
    cut at `limit` characters."""
    parts = []
    for key, value in summary.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, dict):
            value = "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
        parts.append(f"{key}={value}")
    text = printable(", ".join(parts))
    return text if len(text) <= limit else text[: limit - 3] + "..."


class PrintProgress(Progress):
    """Prints one line when a node starts and one when it ends, plus its progress messages."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def node_started(self, index: int, total: int, node: Node, cached: bool) -> None:
        state = "cached" if cached else "running"
        self._print(printable(f"[{index}/{total}] {node.node_id} ({state})"))

    def node_message(self, node: Node, message: str) -> None:
        self._print(printable(f"      {node.node_id}: {message}"))

    def node_finished(self, index: int, total: int, result: NodeResult) -> None:
        if result.status == "FAILED":
            self._print(
                printable(f"[{index}/{total}] {result.node_id} FAILED after {result.seconds:.1f}s")
            )
        elif result.status == "COMPLETE":
            self._print(
                printable(f"[{index}/{total}] {result.node_id} done in {result.seconds:.1f}s")
            )


def _summary_cell(summary: dict[str, Any], outputs: Sequence[Artifact], limit: int = 70) -> str:
    """A node's brief summary; an evaluate node's starts with the split its figures are on
    (its Blessing's eval_split, 'test' by default), a train node's with the split its val_*
    figures are on (its Model's validation_split, 'eval' by default: early stopping's), so
    neither is read as the other's."""
    from seqline.pipeline.artifacts import Blessing, Model

    split = next((_eval_split(a) for a in outputs if isinstance(a, Blessing)), None)
    validation = next((_validation_split(a) for a in outputs if isinstance(a, Model)), None)
    if split and summary:
        on = f"on '{printable(split)}': "
    elif validation and "refit" in summary:
        # The exported model trained on the validation split after these figures were taken:
        # say so first, and keep room for the figures (train.refit).
        refit = printable(str(summary["refit"]))
        on = f"first fit's val_* on '{printable(validation)}', then refit {refit}: "
        rest = {k: v for k, v in summary.items() if k != "refit"}
        rest = dict(sorted(rest.items(), key=lambda item: "val_" not in item[0]))
        return on + brief(rest, max(limit - len(on), 48))
    elif validation and any("val_" in key for key in summary):
        on = f"val_* on '{printable(validation)}': "
        # The figures the header names come right after it, and survive the cut.
        summary = dict(sorted(summary.items(), key=lambda item: "val_" not in item[0]))
    else:
        return brief(summary, limit)
    return on + brief(summary, max(limit - len(on), 10))


def run_summary(result: RunResult) -> str:
    rows = [
        (
            n.node_id,
            n.status,
            f"{n.seconds:.1f}s",
            n.fingerprint[:10],
            _summary_cell(n.summary, list(n.outputs.values())),
        )
        for n in result.nodes
    ]
    header = printable(
        f"run {result.run_id} of '{result.pipeline_name}': {result.status} in {result.seconds:.1f}s"
    )
    return header + "\n" + table(("node", "status", "time", "fingerprint", "summary"), rows)


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _run_status(run: dict[str, Any]) -> str:
    """A run's recorded status; a RUNNING run whose recorded process is verifiably gone
    (locking.check_process DEAD: this host and PID namespace) says so, since only the next
    run's start marks it CRASHED (MetadataStore.sweep_stale)."""
    from seqline.pipeline.locking import OwnerCheck, ProcessOwner, check_process

    status = str(run["status"])
    if status != "RUNNING" or run.get("host") is None or run.get("pid") is None:
        return status
    owner = ProcessOwner(run["host"], run["pid"], run.get("pidns"), run.get("proc_start"))
    if check_process(owner) is OwnerCheck.DEAD:
        return "RUNNING (process gone: next run marks it CRASHED)"
    return status


def runs_table(runs: Sequence[dict[str, Any]]) -> str:
    rows = []
    for run in runs:
        took = (run["finished_at"] - run["started_at"]) if run.get("finished_at") else None
        counts = ", ".join(f"{k.lower()} {v}" for k, v in sorted(run["executions"].items()))
        rows.append(
            (
                run["run_id"],
                run["pipeline_name"],
                _run_status(run),
                _when(run["started_at"]),
                f"{took:.1f}s" if took is not None else "-",
                counts,
            )
        )
    return table(("run", "pipeline", "status", "started", "took", "executions"), rows)


def _typed(record: Any) -> Artifact:
    """The typed artifact of a metadata record: its class knows which facts to show."""
    return new_artifact(record.type_name, record.uri, record.fingerprint, {}, record.properties)


def _evidence(blessing: Artifact) -> dict[str, Any]:
    """A Blessing's metrics.json when it is on a local filesystem, else {} (a remote one is
    not read: `show` stays a metadata read, without TensorFlow or the network); {} too when
    the file is missing or not a JSON object."""
    import json

    from seqline.pipeline.artifacts import Blessing
    from seqline.storage import filesystem

    path = blessing.path(Blessing.METRICS_FILE)
    if filesystem.is_remote(path):
        return {}
    try:
        document = json.loads(filesystem.read_text(path))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _eval_split(blessing: Artifact) -> str | None:
    """The split every figure of a Blessing is on (evaluate's eval_split, 'test' by default):
    its `eval_split` property if recorded (evaluate records it since stop 28; no file read),
    else metrics.json's "eval_split" (a blessing made before), else None."""
    value = blessing.properties.get("eval_split") or _evidence(blessing).get("eval_split")
    return str(value) if value else None


def _validation_split(model: Artifact) -> str | None:
    """The split a Model's val_* figures are on (train's early-stopping split, 'eval' by
    default): its `validation_split` property, None for a model trained before train
    recorded it."""
    value = model.properties.get("validation_split")
    return str(value) if value else None


def _describe(artifact: Artifact) -> list[str]:
    """What `show` prints under an output artifact: its describe(), a Blessing's with its
    metrics.json as evidence (the split of a blessing made before evaluate recorded it, the
    majority baseline's split; not read on a remote root)."""
    from seqline.pipeline.artifacts import Blessing, PushedModel

    if isinstance(artifact, Blessing):
        return artifact.describe(_evidence(artifact))
    if (
        isinstance(artifact, PushedModel)
        and artifact.pushed
        and artifact.properties.get("unchanged")
    ):
        # Worded here, not in PushedModel.describe: pipeline/artifacts is in every
        # component's code fingerprint, and `show` is not.
        return [
            f"pushed as version {artifact.version} to {artifact.destination} (unchanged: same "
            "program and weights as that serving version, published by an earlier push; no "
            "new version; `seqline lineage` says which run)"
        ]
    return artifact.describe()


def run_details(store: Any, run_id: str) -> str:
    """Executions (status, time, fingerprint), their input/output artifacts, metrics and
    blessing reasons of one run, from the metadata store. Every line is escaped by `printable`:
    a value from data (a label in a reason, an error text) cannot end a line or act on the
    terminal."""
    run = store.run(run_id)
    took = (run["finished_at"] - run["started_at"]) if run.get("finished_at") else None
    out = [
        f"run {run_id}  pipeline '{run['pipeline_name']}'  {_run_status(run)}  "
        f"started {_when(run['started_at'])}" + (f"  took {took:.1f}s" if took else "")
    ]
    if run.get("error"):
        first, *rest = str(run["error"]).split("\n")
        out.extend([f"error: {first}", *(f"  {line}" for line in rest)])
    executions = store.executions(run_id)
    artifacts = {
        execution.id: (
            store.artifacts_of(execution.id, "input"),
            store.artifacts_of(execution.id, "output"),
        )
        for execution in executions
    }
    gone = _deletion_marks(
        store,
        [a.uri for inputs, outputs in artifacts.values() for _name, a in (*inputs, *outputs)],
    )
    for execution in executions:
        inputs, outputs = artifacts[execution.id]
        seconds = (
            f"{execution.finished_at - execution.started_at:.1f}s" if execution.finished_at else "-"
        )
        out.append("")
        out.append(
            f"{execution.node_id} ({execution.component})  {execution.status}  {seconds}  "
            f"fingerprint {execution.fingerprint}"
        )
        typed_outputs = [(name, a, _typed(a)) for name, a in outputs]
        if execution.summary and execution.status != "CACHED":
            cell = _summary_cell(execution.summary, [typed for _, _, typed in typed_outputs], 200)
            out.append(f"  summary: {cell}")
        for name, artifact in inputs:
            mark = gone.get(artifact.uri, "")
            out.append(f"  in  {name:<22} {artifact.type_name:<20} {artifact.uri}{mark}")
        for name, artifact, typed in typed_outputs:
            mark = gone.get(artifact.uri, "")
            out.append(f"  out {name:<22} {artifact.type_name:<20} {artifact.uri}{mark}")
            out.extend(f"      {line}" for line in _describe(typed))
        if execution.error:
            out.append("  error:")
            out.extend(f"    {line}" for line in execution.error.strip().split("\n")[-6:])
    out = _mark_failed_dir(store, run_id, out)
    return "\n".join(printable(line) for line in out)


def _mark_failed_dir(store: Any, run_id: str, lines: list[str]) -> list[str]:
    """`lines` with "  (deleted TIME by seqline gc)" after each that names the run's
    `{root}/_failed/{run_id}` folder (its error says the failed outputs are kept there) when
    gc deleted it (MetadataStore.deletions)."""
    folder = re.compile(r"[^\s'\"(]*/_failed/" + re.escape(run_id) + r"(?![A-Za-z0-9_.~:+=@-])")
    named = [folder.findall(line) for line in lines]
    marks = _deletion_marks(store, sorted({path for paths in named for path in paths}))
    if not marks:
        return lines
    return [
        line + next((m for path, m in marks.items() if path in paths), "")
        for line, paths in zip(lines, named, strict=True)
    ]


def _deletion_marks(store: Any, uris: list[str]) -> dict[str, str]:
    """uri -> "  (deleted TIME by seqline gc)" for those of `uris` whose folder gc deleted."""
    if not uris:
        return {}
    return {
        uri: f"  (deleted {_when(deleted_at)} by seqline gc)"
        for uri, (deleted_at, _by) in store.deletions(uris).items()
    }


def _destination_matches(
    destination: Any, model_name: str, version: int, serving_root: str | None
) -> bool:
    """True if a PushedModel destination is `{serving_root}/{model_name}/{version}`."""
    if not isinstance(destination, str):
        return False
    parts = destination.rstrip("/").split("/")
    if len(parts) < 2 or parts[-1] != str(version) or parts[-2] != model_name:
        return False
    if serving_root is None:
        return True
    from seqline.storage import filesystem

    # Push records a local destination as an absolute path without file:// (deploy._absolute).
    root = filesystem.absolute(serving_root)
    return "/".join(parts[:-2]) == root.rstrip("/")


def _read_marker(version_dir: str) -> dict[str, Any] | None:
    """Push's provenance marker inside a version directory (PushedModel.read_marker, which
    push's adoption reads too), or None."""
    from seqline.pipeline.artifacts import PushedModel

    return PushedModel.read_marker(version_dir)


def _is_newest(version_dir: str, version: int) -> bool:
    """True if no integer-named version above `version` sits beside `version_dir` (version
    directories are 1-18 digits; other names are not versions)."""
    from seqline.storage import filesystem

    model_dir = version_dir.rstrip("/").rsplit("/", 1)[0]
    try:
        names = filesystem.listdir(model_dir)
    except OSError:
        return False
    return all(
        int(name) <= version
        for name in (n.rstrip("/") for n in names)
        if name.isdigit() and len(name) <= 18
    )


def _version_dirs(
    pushes: Sequence[Any], model_name: str, version: int, serving_root: str | None
) -> list[str]:
    """Where version `version` of `model_name` would be: under `serving_root`, or else under
    every serving root a recorded push of `model_name` went to."""
    if serving_root is not None:
        from seqline.storage import filesystem

        roots = [filesystem.absolute(serving_root)]
    else:
        roots = []
        for pushed in pushes:
            parts = str(pushed.properties.get("destination") or "").rstrip("/").split("/")
            root = "/".join(parts[:-2])
            if len(parts) >= 3 and parts[-2] == model_name and root and root not in roots:
                roots.append(root)
    return [f"{root.rstrip('/')}/{model_name}/{version}" for root in roots]


def _unrecorded_push(store: Any, model_name: str, version: int, where: str, marker: dict) -> str:
    """Lineage of a version whose push was never recorded, from its provenance marker."""
    fingerprint = marker.get("model_fingerprint")
    by = (
        f"run {marker.get('run_id')} of pipeline '{marker.get('pipeline_name')}' "
        f"({marker.get('node_id')}, {marker.get('published_at')})"
    )
    if _is_newest(where, version):
        why = (
            f"the version's provenance marker says {by} published it and was stopped before "
            "recording it; rerunning that pipeline adopts this version"
        )
    else:
        # Not the newest: no rerun would adopt it. A push killed before its record leaves the
        # newest version; an older one without a record here is usually a copied or mirrored
        # serving root (or a store other than the one that pushed).
        why = (
            f"no push at this path is recorded (a copied or mirrored serving root, or another "
            f"metadata store?); the version's provenance marker says {by} published it, as "
            f"version {version} of '{marker.get('model_name', model_name)}'; a newer version "
            "exists, so rerunning that pipeline would not adopt this one"
        )
    out = [
        f"model '{model_name}' version {version} at {where}",
        f"  push NOT recorded in {store.url}: {why}",
        f"  model {marker.get('model_uri')} (fingerprint {fingerprint})",
    ]
    models = [a for a in store.find_artifacts("Model") if a.fingerprint == fingerprint]
    # The same model may be recorded more than once (e.g. a re-run of train): prefer its uri.
    models.sort(key=lambda a: a.uri != marker.get("model_uri"))
    if not models:
        out.append(f"  that model is not recorded in {store.url} either")
        return "\n".join(printable(line) for line in out)
    model = models[0]
    if model.producer_execution_id is not None:
        producer = store.execution(model.producer_execution_id)
        out.append(f"  produced by run {producer.run_id} ({producer.node_id})")
    out.extend(_upstream_lines(store, model.id, indent_depth=2))
    return "\n".join(printable(line) for line in out)


def _as_tree(walk: list[tuple[int, Any, str, Any]]) -> list[tuple[int, Any, str, Any]]:
    """The breadth-first walk of store.lineage reordered depth first, so that the lines
    indented under an artifact are the inputs of the execution that produced it (breadth
    first, the inputs of a second input's producer were printed under the first input's
    subtree: a previous model's span looked like the new model's data). An execution reached
    twice is expanded under its first appearance only, as the walk itself does."""
    children: dict[int | None, list[int]] = {}
    expanded_under: dict[int, int] = {}  # producer execution id -> index of the entry it made
    for index, (depth, execution, _name, upstream) in enumerate(walk):
        parent = None if depth == 0 else expanded_under.get(execution.id)
        children.setdefault(parent, []).append(index)
        producer = upstream.producer_execution_id
        if producer is not None and producer not in expanded_under:
            expanded_under[producer] = index
    ordered: list[tuple[int, Any, str, Any]] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        index = stack.pop()
        ordered.append(walk[index])
        stack.extend(reversed(children.get(index, [])))
    return ordered


def _upstream_lines(store: Any, artifact_id: int, indent_depth: int) -> list[str]:
    """Two lines per upstream artifact of `artifact_id` (store.lineage): which node read it
    under which name (marked when `seqline gc` deleted its folder), and which run produced it
    with its facts; indented by depth, each artifact's own inputs right under it (a tree,
    depth first)."""
    lines = []
    tree = _as_tree(list(store.lineage(artifact_id)))
    gone = _deletion_marks(store, [upstream.uri for _, _, _, upstream in tree])
    for depth, execution, name, upstream in tree:
        made_by = "-"
        if upstream.producer_execution_id is not None:
            made_by = store.execution(upstream.producer_execution_id).run_id
        facts = ", ".join(f"{k}={v}" for k, v in _typed(upstream).facts().items())
        indent = "  " * (depth + indent_depth)
        lines.append(
            f"{indent}{execution.node_id} <- {name}: {upstream.type_name} {upstream.uri}"
            + gone.get(upstream.uri, "")
        )
        lines.append(f"{indent}  produced by run {made_by}" + (f"; {facts}" if facts else ""))
    return lines


def _deleted_note(destination: str) -> str:
    """ " (deleted since: ...)" when a recorded push's local version directory no longer
    exists (retention's keep_versions, or removed by hand), else "". A remote destination is
    not looked up: lineage stays a metadata read, without TensorFlow or the network (whose
    errors are not OSErrors)."""
    from seqline.storage import filesystem

    if not destination or filesystem.is_remote(destination):
        return ""
    try:
        gone = not filesystem.exists(destination)
    except OSError:  # cannot tell (e.g. a remote root out of reach): say nothing
        return ""
    return " (deleted since: retention or by hand)" if gone else ""


def _recorded_push_of(store: Any, run_id: str | None, pushed: Any) -> str | None:
    """How run `run_id` recorded the push of the version `pushed` adopted: "same" if one of its
    finished executions has `pushed` itself as output (a push re-run under the same
    fingerprint updates that row, and the earlier execution keeps its output event), "other"
    if one has another push record to the same destination (the rerun's push had another
    fingerprint, e.g. evaluate's config changed, and found the same model there), else None
    (that run was stopped before recording it)."""
    if run_id is None:
        return None
    destination = str(pushed.properties.get("destination") or "").rstrip("/")
    found = None
    for execution in store.executions(run_id):
        if execution.status != "COMPLETE":
            continue
        for _, artifact in store.artifacts_of(execution.id, "output"):
            if artifact.id == pushed.id:
                return "same"
            if (
                artifact.type_name == "PushedModel"
                and artifact.properties.get("pushed")
                and str(artifact.properties.get("destination") or "").rstrip("/") == destination
            ):
                found = "other"
    return found


def _marker_check(store: Any, pushed: Any, producer: Any) -> list[str]:
    """Lines comparing the provenance marker inside a recorded push's version with the record:
    a warning when the marker names another model or (for a version that was not adopted)
    another run, as after a version directory replaced or copied over by hand. An adopted
    version whose publishing run's push is recorded too (push's cached output deleted by hand)
    is not said to be unrecorded."""
    destination = pushed.properties.get("destination")
    marker = _read_marker(str(destination)) if destination else None
    if marker is None:
        return []
    lines = []
    models = [a for name, a in store.artifacts_of(producer.id, "input") if name == "model"]
    recorded_fp = models[0].fingerprint if models else None
    marker_fp = marker.get("model_fingerprint")
    if pushed.properties.get("unchanged"):
        # Adopted as the same program and weights: the marker names the model (and run) that
        # published the version, another fingerprint than this push's model by design.
        recorded = _recorded_push_of(store, marker.get("run_id"), pushed)
        by = f"run {marker.get('run_id')}" + (
            " (its push is recorded too)" if recorded else " (provenance marker)"
        )
        return [
            f"  unchanged: the model pushed ({recorded_fp}) is the same program and weights as "
            f"this version, published by {by} from model {marker_fp} "
            f"({marker.get('model_uri')}); no new version was published"
        ]
    if recorded_fp is not None and marker_fp != recorded_fp:
        lines.append(
            f"  WARNING: the version's provenance marker names model fingerprint {marker_fp} "
            f"({marker.get('model_uri')}, run {marker.get('run_id')}), but the recorded push "
            f"pushed {recorded_fp} ({models[0].uri}): the files at {destination} are not what "
            "this record says was pushed (replaced or copied over by hand?); the lineage below "
            "is the record's"
        )
    marker_run = marker.get("run_id")
    if marker_run != producer.run_id:
        recorded = (
            _recorded_push_of(store, marker_run, pushed)
            if pushed.properties.get("adopted")
            else None
        )
        if recorded == "same":
            lines.append(
                f"  adopted: run {marker_run} published these files and its push is recorded "
                "too; this push found them already there (push's cached output was missing)"
            )
        elif recorded == "other":
            lines.append(
                f"  adopted: run {marker_run} published these files and its push is recorded "
                "too; this push (its inputs or config differ, the model is the same) found them "
                "already there"
            )
        elif pushed.properties.get("adopted"):
            lines.append(
                f"  adopted: run {marker_run} published these files and was stopped before "
                "recording them (provenance marker)"
            )
        else:
            lines.append(
                f"  WARNING: the version's provenance marker says run {marker_run} published "
                f"it, but the record says run {producer.run_id}: the files at {destination} may "
                "not be the ones this push published"
            )
    return lines


def model_lineage(
    store: Any, model_name: str, version: int, serving_root: str | None = None
) -> str:
    """Which data, transform, training run and checks produced the model serving as `version`
    of `model_name`: the push that created that version directory, then every upstream
    artifact with the run that produced it (a cached execution names the original producer).

    A version no recorded push created (its push was killed after publishing, before the
    record) is traced through the provenance marker push writes into every version
    (PushedModel.MARKER_FILE), found under `serving_root` or, without it, under the serving
    roots of the recorded pushes of `model_name`: the answer names the model, run and pipeline
    from the marker and says that the push was not recorded.

    Raises:
        MetadataError: no push recorded that version and it has no marker (the message lists
            recorded pushes).
    """
    from seqline.pipeline.errors import MetadataError

    pushes = store.find_artifacts("PushedModel", properties={"pushed": True})
    matches = [
        a
        for a in pushes
        if a.properties.get("version") == version
        and _destination_matches(a.properties.get("destination"), model_name, version, serving_root)
    ]
    if not matches:
        for where in _version_dirs(pushes, model_name, version, serving_root):
            marker = _read_marker(where)
            if marker is not None:
                return _unrecorded_push(store, model_name, version, where, marker)
        known = [
            destination + _deleted_note(destination)
            for destination in sorted(
                {str(a.properties.get("destination")) for a in pushes if a.properties.get("pushed")}
            )
        ]
        raise MetadataError(
            f"no push of model '{model_name}' version {version}"
            + (f" under {serving_root}" if serving_root else "")
            + f" is recorded in {store.url}; recorded pushes: {known or 'none'}"
        )
    out: list[str] = []
    for pushed in matches:
        producer = store.execution(pushed.producer_execution_id)
        destination = str(pushed.properties.get("destination"))
        out.append(
            f"model '{model_name}' version {version} at {destination}" + _deleted_note(destination)
        )
        out.append(
            f"  pushed by run {producer.run_id} ({producer.node_id}, {_when(producer.started_at)})"
        )
        out.extend(_marker_check(store, pushed, producer))
        out.extend(_upstream_lines(store, pushed.id, indent_depth=1))
        out.append("")
    return "\n".join(printable(line) for line in out).rstrip()
