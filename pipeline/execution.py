"""Executes one node: temporaries, the full ExecutionContext, atomic publish, failed outputs.

Shared by the runner (pipeline/runner.py) and the test harness (pipeline/harness.py), so a
component under test is run exactly as in a pipeline.

    {root}/{node}/{output}/.tmp-{fingerprint}-{owner}/   written by the executor
    {root}/{node}/{output}/{fingerprint}/                published: artifact.json written
                                                         last, then one rename
    {root}/_tmp/{run}-{node}-{owner}/                    scratch (ctx.temp_dir), always removed
    {root}/_failed/{run}/{node}/{output}/                what a failed executor had written
    {root}/_failed/{run}/{node}/error.txt                and its error, for the user to read

A failed node's outputs are never published; they are moved under `_failed/` (every
component gets this, so none copies its own files out) and the error says where they are.

`{owner}` is `{token}-{pid}@{host}~{pidns}` (pipeline/locking.py). A process killed before its
clean-up (kill -9, a power cut) leaves temporaries and scratch behind: every execution first
removes those of dead owners, of any fingerprint and any run, in the output folders it writes
and in `_tmp/`, never one a live process owns. Those whose owner cannot be checked (named by
an older version, e.g. `{run}-{node}-{token}` scratch, or by another PID namespace under this
hostname) are removed only once untouched for a day (locking.UNCHECKABLE_AGE): they may be a
live run's of an older version sharing the root.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from seqline.pipeline.artifact import Artifact, artifact_uri, write_descriptor
from seqline.pipeline.artifact_manifest import write_manifest
from seqline.pipeline.component import Component, ExecutionContext
from seqline.pipeline.errors import ConfigError, ContractError, SeqlineError
from seqline.pipeline.locking import (
    owned_by_this_process,
    owned_name,
    remove_dead_owned,
    remove_dead_temporaries,
    temporary_name,
)
from seqline.storage import filesystem

FAILED_DIR = "_failed"
SCRATCH_DIR = "_tmp"
ERROR_FILE = "error.txt"
# A run id names folders (`_failed/{run}/`, `_tmp/{run}-...`): one plain name. Letters,
# digits and `_ . ~ : + = @ -` cover what orchestrators pass (Airflow's run ids, raw or as
# orchestration/airflow.py rewrites them, KFP's job UUIDs) and seqline's own ids.
_RUN_ID = re.compile(r"[A-Za-z0-9_.~:+=@-]+")
# A run id is a folder name of its own (`_failed/{run}/`), at most 255 bytes (NAME_MAX); 200
# covers KFP's ids (a UUID; Vertex AI job ids are at most 128) and Airflow's as
# orchestration/airflow.py rewrites them (`{dag_id}-{run kind}__{time}...`) for dag ids of up
# to ~130 characters, and what earlier versions accepted in practice on SQLite (~195). The
# scratch folder `{run}-{node}-{owner}` is kept short enough by scratch_base.
RUN_ID_MAX_LENGTH = 200
# `{owner}` (locking.owned_name) is at most 8+1+7+1+64+1+10 = 92 bytes: a token, a pid up to
# Linux's pid_max, a 64-byte hostname (HOST_NAME_MAX), a PID namespace's inode; with the `-`
# before it, a scratch folder's `{run}-{node}` part may take 255 - 93 bytes.
SCRATCH_BASE_MAX_BYTES = 255 - 93


def scratch_base(run_id: str, node_id: str) -> str:
    """`{run}-{node}`, the start of a node execution's scratch folder name; when that would not
    leave room for the owner tag in a 255-byte folder name, the run id's first 64 characters
    and a digest of the whole pair (names stay unique per run and node)."""
    base = f"{run_id}-{node_id}"
    if len(base.encode()) <= SCRATCH_BASE_MAX_BYTES:
        return base
    return f"{run_id[:64]}-{hashlib.sha256(base.encode()).hexdigest()[:24]}"


def check_run_id(run_id: str) -> str:
    """Returns `run_id` if it is one plain name that can be a folder under the pipeline root,
    else raises ConfigError: letters, digits and `_ . ~ : + = @ -`, never `.` or `..`, at most
    RUN_ID_MAX_LENGTH characters (the id becomes a path segment and part of folder names; `..`
    made a failed node's clean-up delete the node's published outputs, or folders outside the
    root; an over-long id failed mid-run with "File name too long")."""
    if not run_id:
        raise ConfigError(
            "--run-id: expected a plain name of letters, digits and _ . ~ : + = @ -, got an "
            "empty string (an orchestrator's template that rendered empty?); pass the run's "
            "id, or omit --run-id for a new one"
        )
    if not _RUN_ID.fullmatch(run_id) or run_id in (".", ".."):
        raise ConfigError(
            f"--run-id: expected a plain name of letters, digits and _ . ~ : + = @ - (not '.' "
            f"or '..'), got {run_id!r}; the id names folders under the pipeline root. Choose "
            "another, e.g. nightly-2026-01-01, or omit --run-id for a whole run"
        )
    if len(run_id) > RUN_ID_MAX_LENGTH:
        raise ConfigError(
            f"--run-id: expected at most {RUN_ID_MAX_LENGTH} characters, got {len(run_id)} "
            f"({run_id[:40]!r}...); the id names a folder under the pipeline root "
            "(`_failed/{run}/`), and a folder name holds at most 255 bytes. Choose "
            "a shorter id (from Airflow: a shorter dag_id), or omit --run-id for a whole run"
        )
    return run_id


def make_artifact(type_name: str, uri: str, fingerprint: str, producer: dict[str, str]) -> Any:
    """The typed artifact class when pipeline/artifact.py provides `new_artifact`, else the
    plain Artifact."""
    from seqline.pipeline import artifact as artifact_module

    factory = getattr(artifact_module, "new_artifact", None)
    if factory is not None:
        return factory(type_name, uri, fingerprint, producer)
    return Artifact(type_name, uri, fingerprint, producer)


@dataclass(frozen=True)
class NodeExecution:
    """Everything needed to execute one node once.

    Attributes:
        component, config, node_id: what runs.
        inputs: wired input name -> published Artifact.
        resolved: resolved input name -> Artifact or None (pipeline/resolvers.py).
        fingerprint: the node's fingerprint (names the output directories).
        pipeline_name, pipeline_root, run_id, beam_args: the run it belongs to.
        progress: receives the executor's progress messages.
        metadata: the metadata store, passed to executors while ExecutionContext still has a
            `metadata` field.
        finishing, prestarted, resolved_notes: passed to the ExecutionContext (see there).
    """

    component: Component
    config: Any
    node_id: str
    inputs: Mapping[str, Artifact]
    resolved: Mapping[str, Artifact | None]
    fingerprint: str
    pipeline_name: str
    pipeline_root: str
    run_id: str
    beam_args: tuple[str, ...]
    progress: Callable[[str], None]
    metadata: Any = None
    finishing: Callable[[], None] = field(default=lambda: None)
    prestarted: Any = None
    resolved_notes: Mapping[str, str] = field(default_factory=dict)

    @property
    def failed_dir(self) -> str:
        """Where this execution's outputs go if it fails."""
        return failed_outputs_dir(self.pipeline_root, self.run_id, self.node_id)


def failed_outputs_dir(pipeline_root: str, run_id: str, node_id: str) -> str:
    """`{root}/_failed/{run}/{node}`: the kept outputs of a failed node. Raises ValueError
    unless `run_id` and `node_id` are each one plain name, so the folder (which
    keep_failed_outputs empties first) is always inside `{root}/_failed/`: the runner checks
    run ids (check_run_id) and the DAG node ids before anything runs; this is the backstop."""
    for what, name in (("run id", run_id), ("node id", node_id)):
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            raise ValueError(
                f"{what} {name!r} would put the failed node's outputs outside "
                f"{filesystem.join(pipeline_root, FAILED_DIR)}/; expected one plain name "
                "(check_run_id)"
            )
    return filesystem.join(pipeline_root, FAILED_DIR, run_id, node_id)


def remove_own_scratch(pipeline_root: str, run_id: str, node_ids: Iterable[str]) -> list[str]:
    """Removes the scratch folders this process made for `run_id`'s nodes `node_ids` (a run
    interrupted while nodes still run in other threads); returns their names."""
    parent = filesystem.join(pipeline_root, SCRATCH_DIR)
    if not filesystem.exists(parent):
        return []
    prefixes = tuple(f"{scratch_base(run_id, node_id)}-" for node_id in node_ids)
    removed = []
    for name in filesystem.listdir(parent):
        if name.startswith(prefixes) and owned_by_this_process(name):
            filesystem.rmtree(filesystem.join(parent, name))
            removed.append(name)
    return removed


def _context(run: NodeExecution, outputs: Mapping[str, Artifact], scratch: str) -> Any:
    values: dict[str, Any] = {
        "config": run.config,
        "inputs": dict(run.inputs),
        "outputs": outputs,
        "pipeline_name": run.pipeline_name,
        "run_id": run.run_id,
        "node_id": run.node_id,
        "pipeline_root": run.pipeline_root,
        "beam_args": tuple(run.beam_args),
        "temp_dir": scratch,
        "progress": run.progress,
        "resolved": dict(run.resolved),
        "metadata": run.metadata,
        "finishing": run.finishing,
        "prestarted": run.prestarted,
        "resolved_notes": dict(run.resolved_notes),
    }
    # Build every field the context has (all but finishing and prestarted are required, and
    # those are passed too); `metadata` leaves the context once components take baselines
    # from resolvers, and this works on both sides of that change.
    fields = {f.name for f in dataclasses.fields(ExecutionContext)}
    return ExecutionContext(**{k: v for k, v in values.items() if k in fields})


def keep_failed_outputs(run: NodeExecution, temporaries: Mapping[str, str], error: str) -> str:
    """Moves what the executor wrote into `{root}/_failed/{run}/{node}/{output}/` (empty
    outputs are dropped), writes error.txt, and returns the folder."""
    target = run.failed_dir
    filesystem.rmtree(target)
    filesystem.makedirs(target)
    for output, temporary in temporaries.items():
        if not filesystem.exists(temporary):
            continue
        if filesystem.listdir(temporary):
            filesystem.rename(temporary, filesystem.join(target, output))
        else:
            filesystem.rmtree(temporary)
    try:
        filesystem.write_text(filesystem.join(target, ERROR_FILE), error)
    except BaseException:
        # A full disk fails a local write after its temporary (error.txt.tmp-PID) was created:
        # remove it, or it is all the folder holds and nothing ever removes it.
        if not filesystem.is_remote(target):
            local = filesystem.local_path(target)
            for name in os.listdir(local):
                if name.startswith(f"{ERROR_FILE}.tmp-"):
                    with contextlib.suppress(OSError):
                        os.remove(os.path.join(local, name))
        raise
    return target


def _say_where_kept(exc: BaseException, kept: str, temporaries: Mapping[str, str]) -> None:
    """Adds where the failed outputs are to the error: to its message for seqline's own errors
    (what the CLI prints), as a note otherwise. A message that names an output's temporary
    directory (e.g. "rejected records are in .../.tmp-...") names where it was moved instead:
    the temporary no longer exists."""
    if _printable(exc):
        message = exc.args[0]
        for output, temporary in temporaries.items():
            message = message.replace(temporary, filesystem.join(kept, output))
        exc.args = (message,)
    add_line(exc, f"{FAILED_OUTPUTS} are kept in {kept}")


# How execute's line about the failed outputs starts (the runner repeats it for errors it wraps).
FAILED_OUTPUTS = "the failed node's outputs and error"


def _printable(exc: BaseException) -> bool:
    """True for seqline's own errors with a one-string message: what the CLI prints."""
    return isinstance(exc, SeqlineError) and len(exc.args) == 1 and isinstance(exc.args[0], str)


def _described(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def add_line(exc: BaseException, line: str) -> None:
    """Adds `(line)` to the message of seqline's own errors, as a note to any other."""
    if _printable(exc):
        exc.args = (f"{exc.args[0]}\n({line})",)
    else:
        exc.add_note(line)


def failed_outputs_line(exc: BaseException) -> str | None:
    """The line execute added to a non-seqline error about its failed outputs (where they are
    kept, or why they could not be), for the runner to print with the error that wraps it."""
    notes = getattr(exc, "__notes__", [])
    found = [n for n in notes if n.startswith(FAILED_OUTPUTS)]
    return found[-1] if found else None


def executor_summary(node_id: str, returned: object) -> dict[str, Any]:
    """What an executor returned, as its summary ({} for None).

    Raises:
        ContractError: it is not a mapping of str to JSON values (None, bool, int, float, str,
            numpy scalars, and lists and str-keyed mappings of those): the metadata store
            records the summary as JSON, and anything else would be stored as its str().
    """
    if returned is None:
        return {}
    expected = "a mapping of str to JSON values (e.g. {'rows': 10}) or None"
    if not isinstance(returned, Mapping):
        raise ContractError(
            f"node '{node_id}': expected its executor to return {expected}, got a "
            f"{type(returned).__name__} ({_shown(returned)}); return a dict of the few figures "
            "worth recording, or nothing"
        )
    keys = [key for key in returned if not isinstance(key, str)]
    values = [
        f"{key!r} ({type(value).__name__})"
        for key, value in returned.items()
        if isinstance(key, str) and not _json_value(value)
    ]
    if keys or values:
        problems = [f"keys that are not str: {keys}"] if keys else []
        if values:
            problems.append(f"values that are not JSON at {', '.join(values)}")
        raise ContractError(
            f"node '{node_id}': expected its executor to return {expected}, got "
            f"{'; '.join(problems)}; convert them (a set to a sorted list, an object to the "
            "figures it holds)"
        )
    return dict(returned)


def _json_value(value: object) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return True  # a numpy scalar (np.float32, np.int64): stored as its value's str
    if isinstance(value, list | tuple):
        return all(_json_value(item) for item in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _json_value(v) for k, v in value.items())
    return False


def _shown(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def check_outputs(node_id: str, outputs: Mapping[str, Artifact]) -> None:
    """Raises ContractError naming every output the executor left incomplete for its type
    (Artifact.missing: an Examples without splits or shards, an ExampleStatistics without
    statistics.pb, ...), so the node fails and nothing half-made is published or cached.
    Asked only of freshly written outputs: a cached run never pays for it."""
    problems = []
    for name, artifact in outputs.items():
        missing = artifact.missing()
        if missing:
            problems.append(
                f"output '{name}' ({artifact.type_name}) {'; '.join(missing)}; "
                f"{artifact.contract()}"
            )
    if problems:
        raise ContractError(f"node '{node_id}': {'. '.join(problems)} (see docs/extending.md)")


def execute(run: NodeExecution) -> tuple[dict[str, Artifact], dict[str, Any]]:
    """Runs the executor into temporaries and publishes each output atomically; returns
    (outputs by name, summary). On failure keeps what was written (keep_failed_outputs),
    says so in the error, and re-raises it."""
    component, fingerprint = run.component, run.fingerprint
    # Before anything is written: ids that would put the failed outputs outside `_failed/`.
    failed_outputs_dir(run.pipeline_root, run.run_id, run.node_id)
    producer = {"node_id": run.node_id, "component": component.name, "run_id": run.run_id}
    temporaries: dict[str, str] = {}
    finals: dict[str, str] = {}
    for output in component.outputs:
        final = artifact_uri(run.pipeline_root, run.node_id, output, fingerprint)
        parent = final.rsplit("/", 1)[0]
        remove_dead_temporaries(parent)  # any fingerprint: a killed run's config may not return
        temporary = filesystem.join(parent, temporary_name(fingerprint))
        filesystem.makedirs(temporary)
        temporaries[output], finals[output] = temporary, final
    outputs = {
        name: make_artifact(type_name, temporaries[name], fingerprint, dict(producer))
        for name, type_name in component.outputs.items()
    }
    scratch_root = filesystem.join(run.pipeline_root, SCRATCH_DIR)
    # Scratch of killed runs, whatever their run or node; an older version's names only when
    # untouched for a day (a live run of that version may share the root).
    remove_dead_owned(scratch_root)
    scratch = filesystem.join(scratch_root, owned_name(scratch_base(run.run_id, run.node_id)))
    filesystem.makedirs(scratch)
    try:
        summary = executor_summary(run.node_id, component.executor(_context(run, outputs, scratch)))
        check_outputs(run.node_id, outputs)
    except BaseException as exc:
        try:
            kept = keep_failed_outputs(run, temporaries, traceback.format_exc(limit=20))
        except Exception as also:  # e.g. a full disk: the executor's error still comes first
            line = f"{FAILED_OUTPUTS} could not all be kept in {run.failed_dir}"
            add_line(exc, f"{line}: {_described(also)}")
        else:
            _say_where_kept(exc, kept, temporaries)
        raise
    finally:
        filesystem.rmtree(scratch)
    for name, artifact in outputs.items():
        # Downstream caches key on what an output holds: a forwarded input's content, else
        # this node's own result. An executor that copied its input's properties (as the
        # `seqline new-component` skeleton does) must not carry an upstream gate's key on.
        source = component.forwards.get(name)
        if source is None:
            artifact.properties.pop(Artifact.CONTENT_FINGERPRINT, None)
            key = artifact.content_key()
            if key is not None:
                artifact.properties[Artifact.CONTENT_FINGERPRINT] = key
        else:
            forwarded = run.inputs[source].content_fingerprint
            artifact.properties[Artifact.CONTENT_FINGERPRINT] = forwarded
    for name, artifact in outputs.items():
        artifact.uri = finals[name]
        write_manifest(temporaries[name])  # before artifact.json, which marks it complete
        write_descriptor(artifact, temporaries[name])
        if filesystem.exists(finals[name]):
            # A directory without a complete descriptor from a crashed publish of this same
            # fingerprint (only possible on object stores): never trusted, replaced.
            filesystem.rmtree(finals[name])
        filesystem.rename(temporaries[name], finals[name])
    return outputs, summary
