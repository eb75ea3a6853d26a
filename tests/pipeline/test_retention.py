"""`seqline gc`: deletes what no kept run and no next run needs, and nothing else."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from seqline.pipeline.artifact import ArtifactType
from seqline.pipeline.cli import main
from seqline.pipeline.component import Component, ExecutionContext
from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.metadata import MetadataStore
from seqline.pipeline.node_run import run_node
from seqline.pipeline.retention import choose_kept_runs, resolver_picks
from seqline.pipeline.root_lock import root_in_use
from seqline.pipeline.runner import run_pipeline
from tests.pipeline import toy_resolved as toy

REPO = Path(__file__).resolve().parents[2]


def full_pipeline(root: Path, serving: Path, span: int, quality: int) -> Pipeline:
    """statistics -> schema, validate (previous schema, drift baseline) and train -> evaluate
    (latest blessed model) -> push: every resolver seqline's components use."""
    stats = {"statistics": OutputRef("statistics", "statistics")}
    model = {"model": OutputRef("train", "model")}
    return Pipeline(
        "daily",
        str(root),
        [
            Node(toy.STATISTICS, toy.SpanConfig(span=span)),
            Node(toy.SCHEMA, toy.SchemaConfig(), stats),
            Node(toy.VALIDATE, toy.ValidateConfig(), stats),
            Node(toy.TRAIN, toy.TrainConfig(quality=quality)),
            Node(toy.EVALUATE, toy.EvaluateConfig(), model),
            Node(
                toy.PUSH,
                toy.PushConfig(serving_dir=str(serving)),
                {**model, "blessing": OutputRef("evaluate", "blessing")},
            ),
        ],
    )


def stats_pipeline(root: Path, span: int) -> Pipeline:
    """The same pipeline name, only its data half: runs that never reach evaluate."""
    return Pipeline("daily", str(root), [Node(toy.STATISTICS, toy.SpanConfig(span=span))])


def statuses(result) -> set[str]:
    return {n.status for n in result.nodes}


def tree(root: Path) -> set[str]:
    """Every file and folder under the root, but the metadata store and the lock files."""
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.name != "metadata.sqlite" and "_locks" not in p.parts
    }


def gc(root: Path, capsys, *args: str) -> tuple[int, str]:
    code = main(["gc", "--root", str(root), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_gc_deletes_superseded_fingerprints_and_the_next_run_is_fully_cached(tmp_path, capsys):
    root, serving = tmp_path / "root", tmp_path / "serving"
    runs = [
        run_pipeline(full_pipeline(root, serving, span, quality))
        for span, quality in [(1, 1), (2, 2), (3, 3), (3, 3), (4, 4)]
    ]
    newest = runs[-1]
    old_model = runs[0].node("train").outputs["model"].uri
    old_stats = runs[0].node("statistics").outputs["statistics"].uri
    baseline_model = runs[2].node("train").outputs["model"].uri  # model C, D's baseline
    baseline_stats = runs[2].node("statistics").outputs["statistics"].uri  # span 3

    code, out = gc(root, capsys, "--keep-runs", "1")
    assert code == 0, out
    assert f"keeping 1 run(s) of pipeline 'daily': {newest.run_id}" in out
    assert not os.path.exists(old_model)
    assert os.path.exists(old_stats)  # span 1's: a backfill of span 2 would compare with them
    # Resolved inputs of the kept run (evaluate's baseline, validate's drift baseline) stay.
    assert os.path.exists(baseline_model) and os.path.exists(baseline_stats)
    for node in newest.nodes:
        for artifact in node.outputs.values():
            assert os.path.exists(os.path.join(artifact.uri, "artifact.json"))
    assert "train/model" in out and "total: " in out and "reclaimed" in out

    again = run_pipeline(full_pipeline(root, serving, 4, 4))
    assert statuses(again) == {"CACHED"}
    assert {n.node_id: n.fingerprint for n in again.nodes} == {
        n.node_id: n.fingerprint for n in newest.nodes
    }
    # A new span and model still find their baselines: the newest run's outputs.
    later = run_pipeline(full_pipeline(root, serving, 5, 5))
    validate = later.node("validate").outputs["anomalies"].properties
    assert validate["compared_with_span"] == 4
    blessing = later.node("evaluate").outputs["blessing"].properties
    assert blessing["baseline_model_uri"] == newest.node("train").outputs["model"].uri

    # `seqline show` of the first run marks what gc deleted.
    assert main(["show", runs[0].run_id, "--root", str(root)]) == 0
    shown = capsys.readouterr().out
    line = next(x for x in shown.splitlines() if x.strip().startswith("out") and old_model in x)
    assert "deleted" in line and "by seqline gc" in line


def test_the_latest_blessed_model_survives_when_older_than_the_kept_runs(tmp_path, capsys):
    root, serving = tmp_path / "root", tmp_path / "serving"
    first = run_pipeline(full_pipeline(root, serving, 1, 1))  # model A, no baseline
    second = run_pipeline(full_pipeline(root, serving, 1, 2))  # model B, baseline A
    model_a = first.node("train").outputs["model"].uri
    model_b = second.node("train").outputs["model"].uri
    # Newer runs that never reach validate, train or evaluate.
    unvalidated = [run_pipeline(stats_pipeline(root, span)) for span in (2, 3)]

    code, out = gc(root, capsys, "--keep-runs", "1")
    assert code == 0, out
    # B is the latest blessed model; A is what a re-evaluation of B compares with.
    assert os.path.exists(model_a) and os.path.exists(model_b)
    assert "the newest execution of evaluate" in out
    # Kept for the cache (what the next run of train reuses), not as a resolver's pick.
    line = next(x for x in out.splitlines() if f"also keeping {model_b}:" in x)
    assert line.endswith(f"the newest execution of train (run {second.run_id}): the next run of "
                         "it reuses it")  # fmt: skip
    # Span 1's statistics are the last validate accepted: the next span's drift baseline.
    assert os.path.exists(first.node("statistics").outputs["statistics"].uri)
    assert not os.path.exists(unvalidated[0].node("statistics").outputs["statistics"].uri)

    again = run_pipeline(full_pipeline(root, serving, 1, 2))
    assert again.node("train").status == "CACHED"
    assert again.node("evaluate").status == "CACHED"
    assert again.node("evaluate").fingerprint == second.node("evaluate").fingerprint
    blessing = again.node("evaluate").outputs["blessing"].properties
    assert blessing["baseline_model_uri"] == model_a
    assert statuses(again) == {"CACHED"}  # push too: no new serving version of the same model
    assert sorted(os.listdir(serving)) == ["1", "2"]
    # A new model is compared with B, the latest blessed one.
    later = run_pipeline(full_pipeline(root, serving, 1, 3))
    assert later.node("evaluate").outputs["blessing"].properties["baseline_model_uri"] == model_b


def test_dry_run_deletes_nothing_and_a_second_gc_is_a_no_op(tmp_path, capsys):
    root, serving = tmp_path / "root", tmp_path / "serving"
    for quality in (1, 2, 3, 4):
        run_pipeline(full_pipeline(root, serving, quality, quality))
    before = tree(root)

    code, dry = gc(root, capsys, "--keep-runs", "1", "--dry-run")
    assert code == 0, dry
    assert tree(root) == before
    assert "would delete (dry run: nothing deleted)" in dry and "would be reclaimed" in dry

    code, real = gc(root, capsys, "--keep-runs", "1")
    assert code == 0, real
    after = tree(root)
    assert after < before
    # The dry run listed exactly what the real one deleted.
    listed = {line.split()[0] for line in dry.splitlines() if line.startswith("    /")}
    deleted = {line.split()[0] for line in real.splitlines() if line.startswith("    /")}
    assert listed == deleted and listed
    assert all(not os.path.exists(path) for path in deleted)

    code, second = gc(root, capsys, "--keep-runs", "1")
    assert code == 0 and "nothing to delete" in second
    assert tree(root) == after


def test_gc_finishes_a_deletion_an_earlier_gc_left_half_done(tmp_path, capsys):
    root, serving = tmp_path / "root", tmp_path / "serving"
    first = run_pipeline(full_pipeline(root, serving, 1, 1))
    run_pipeline(full_pipeline(root, serving, 2, 2))
    run_pipeline(full_pipeline(root, serving, 3, 3))
    old = first.node("statistics").outputs["statistics"].uri
    os.remove(os.path.join(old, "artifact.json"))  # where a killed gc stops first

    code, out = gc(root, capsys, "--keep-runs", "1")
    assert code == 0, out
    assert not os.path.exists(old)
    assert old in out


def test_unknown_folders_and_failed_runs_of_kept_runs_are_left_alone(tmp_path, capsys):
    root, serving = tmp_path / "root", tmp_path / "serving"
    for quality in (1, 2):
        run_pipeline(full_pipeline(root, serving, quality, quality))
    handmade = root / "train" / "model" / "handmade"
    stranger = root / "notes"
    orphan_failed = root / "_failed" / "no-such-run" / "train"
    for folder in (handmade, stranger, orphan_failed):
        folder.mkdir(parents=True)
        (folder / "keep.txt").write_text("mine")

    code, out = gc(root, capsys, "--keep-runs", "1")
    assert code == 0, out
    for folder in (handmade, stranger, orphan_failed):
        assert (folder / "keep.txt").read_text() == "mine"
        assert f"unknown, left alone: {folder if folder != orphan_failed else folder.parent}" in out
    assert sorted(os.listdir(serving)) == ["1", "2"]  # the serving root is not gc's


def test_failed_runs_older_than_the_kept_runs_are_deleted(tmp_path, capsys):
    root, serving = tmp_path / "root", tmp_path / "serving"
    run_pipeline(full_pipeline(root, serving, 1, 1))
    store = MetadataStore(f"sqlite:///{root}/metadata.sqlite")
    old_failure = root / "_failed" / store.runs(limit=1)[0]["run_id"] / "train"
    old_failure.mkdir(parents=True)
    (old_failure / "error.txt").write_text("boom")
    store.close()
    newest = [run_pipeline(full_pipeline(root, serving, q, q)) for q in (2, 3)][-1]
    new_failure = root / "_failed" / newest.run_id / "train"
    new_failure.mkdir(parents=True)
    (new_failure / "error.txt").write_text("boom")

    code, out = gc(root, capsys, "--keep-runs", "1")
    assert code == 0, out
    assert not old_failure.parent.exists()
    assert "_failed/" in out
    assert (new_failure / "error.txt").read_text() == "boom"  # a kept run's


def test_gc_refuses_while_a_run_uses_the_root(tmp_path, capsys):
    root, serving = tmp_path / "root", tmp_path / "serving"
    for quality in (1, 2):
        run_pipeline(full_pipeline(root, serving, quality, quality))
    before = tree(root)
    store = MetadataStore(f"sqlite:///{root}/metadata.sqlite")
    store.start_run("r-live", "daily")  # RUNNING in this (live) process
    with root_in_use(str(root)):  # what every run on a local root holds
        code, out = gc(root, capsys, "--keep-runs", "1")
    assert code == 2
    assert "r-live" in out and "gc deletes only while no run uses the root" in out
    assert tree(root) == before

    # The root lease (a remote root's run holds it) stops gc the same way.
    store.acquire_root(str(root), "r-remote")
    code, out = gc(root, capsys, "--keep-runs", "1")
    assert code == 2 and "r-remote" in out
    assert tree(root) == before
    store.release_root(str(root), "r-remote")
    store.finish_run("r-live", "FAILED")
    store.close()
    code, out = gc(root, capsys, "--keep-runs", "1")
    assert code == 0 and tree(root) < before


@dataclass(frozen=True)
class GcDuringRunConfig:
    root: str = ""


def gc_during_run(ctx: ExecutionContext) -> dict:
    """Runs `seqline gc` on its own root from inside a run."""
    code = main(["gc", "--root", ctx.config.root, "--keep-runs", "1"])
    ctx.outputs["examples"].properties["gc_exit"] = code
    from tests.pipeline.toy_components import complete_examples

    complete_examples(ctx.outputs["examples"])
    return {}


GC_DURING_RUN = Component(
    name="gc_during_run",
    inputs={},
    outputs={"examples": ArtifactType.EXAMPLES},
    config_type=GcDuringRunConfig,
    executor=gc_during_run,
)


def test_a_running_pipeline_holds_its_root_against_gc(tmp_path, capsys):
    root = tmp_path / "root"
    pipeline = Pipeline("daily", str(root), [Node(GC_DURING_RUN, GcDuringRunConfig(str(root)))])
    result = run_pipeline(pipeline)
    assert result.node("gc_during_run").outputs["examples"].properties["gc_exit"] == 2
    err = capsys.readouterr().err
    assert result.run_id in err and "gc deletes only while no run uses the root" in err

    # So does one node run as an orchestrator's task (`seqline run CONFIG --node N`).
    task = Pipeline("daily", str(root), [Node(GC_DURING_RUN, GcDuringRunConfig(str(root) + "/"))])
    node = run_node(task, "gc_during_run", "orchestrated-1")
    assert node.outputs["examples"].properties["gc_exit"] == 2
    assert "orchestrated-1" in capsys.readouterr().err


def test_kept_runs_are_the_newest_successful_ones_and_every_run_since():
    runs = [
        {"run_id": "r1", "status": "SUCCEEDED", "started_at": 1.0},
        {"run_id": "r2", "status": "SUCCEEDED", "started_at": 2.0},
        {"run_id": "r3", "status": "FAILED", "started_at": 3.0},
        {"run_id": "r4", "status": "SUCCEEDED", "started_at": 4.0},
        {"run_id": "r5", "status": "FAILED", "started_at": 5.0},
    ]
    assert choose_kept_runs(runs, 2) == ["r5", "r4", "r3", "r2"]
    assert choose_kept_runs(runs, 1) == ["r5", "r4"]
    assert choose_kept_runs(runs, 4) == ["r5", "r4", "r3", "r2", "r1"]


def test_resolver_picks_are_the_next_runs_baselines(tmp_path):
    root, serving = tmp_path / "root", tmp_path / "serving"
    runs = [run_pipeline(full_pipeline(root, serving, span, span)) for span in (1, 2, 3)]
    store = MetadataStore(f"sqlite:///{root}/metadata.sqlite")
    picks = resolver_picks(store, ["daily"], store.artifacts_under(f"{root}/"))
    store.close()
    models = [run.node("train").outputs["model"].uri for run in runs]
    stats = [run.node("statistics").outputs["statistics"].uri for run in runs]
    schemas = [run.node("schema").outputs["schema"].uri for run in runs]
    # The newest two blessed models (a re-evaluation of the newest compares with the other),
    # the accepted statistics of every span (a backfill compares with the span before it) and
    # the newest schema; nothing older.
    assert set(picks) == {models[2], models[1], *stats, schemas[2]}
    assert "latest blessed model" in picks[models[1]]
    assert "accepted statistics" in picks[stats[2]]
    assert "accepted statistics of span 1 " in picks[stats[0]]


def test_with_a_shared_store_gc_touches_only_its_own_root(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/shared.sqlite"
    serving = tmp_path / "serving"
    roots = {name: tmp_path / name for name in ("a", "b")}
    for quality in (1, 2, 3):
        for name, root in roots.items():
            pipeline = dataclasses.replace(
                full_pipeline(root, serving / name, quality, quality), metadata_url=url
            )
            run_pipeline(pipeline)
    other = tree(roots["b"])

    code = main(["gc", "--root", str(roots["a"]), "--metadata-url", url, "--keep-runs", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert tree(roots["b"]) == other
    assert str(roots["b"]) not in out
    assert f"{roots['a']}/train/model/" in out  # superseded models of root a went


GC_IMPORTS = """
import sys
from seqline.pipeline.cli import main
assert main(["gc", "--root", sys.argv[1], "--keep-runs", "1"]) == 0
heavy = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "apache_beam", "keras",
                                                      "tensorflow_transform")]
assert not heavy, heavy
"""


def test_gc_imports_no_tensorflow(tmp_path):
    root = tmp_path / "root"
    for quality in (1, 2):
        run_pipeline(full_pipeline(root, tmp_path / "serving", quality, quality))
    done = subprocess.run(
        [sys.executable, "-c", GC_IMPORTS, str(root)], capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "reclaimed" in done.stdout


def test_gc_needs_a_root_and_an_existing_store(tmp_path, capsys):
    assert main(["gc", "--metadata-url", f"sqlite:///{tmp_path}/m.sqlite"]) == 2
    assert "--config FILE or --root DIR" in capsys.readouterr().err
    assert main(["gc", "--root", str(tmp_path / "typo")]) == 2
    assert "no metadata store at" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()  # nothing created


def test_a_backfill_still_finds_the_statistics_of_the_span_before_it(tmp_path, capsys):
    """PreviousStatistics compares a backfill of span S with the latest accepted span before S,
    however old: gc keeps the newest accepted statistics of every span, not only the newest."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    runs = {span: run_pipeline(full_pipeline(root, serving, span, span)) for span in (1, 2, 4, 5)}
    span_2 = runs[2].node("statistics").outputs["statistics"].uri

    code, out = gc(root, capsys, "--keep-runs", "1")
    assert code == 0, out
    assert os.path.exists(os.path.join(span_2, "artifact.json"))
    assert "also keeping the accepted statistics of 2 older span(s) of statistics" in out
    assert not os.path.exists(runs[2].node("train").outputs["model"].uri)  # the rest went

    backfill = run_pipeline(full_pipeline(root, serving, 3, 5))  # span 3 came late
    assert backfill.node("validate").outputs["anomalies"].properties["compared_with_span"] == 2


def test_an_artifact_folder_that_is_a_symbolic_link_is_left_alone(tmp_path, capsys):
    """A folder moved to another disk and linked back: gc neither deletes through the link
    (its artifact.json went from the target before, and shutil.rmtree then refused the link
    in silence while gc reported it deleted) nor counts it as reclaimed."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    first = run_pipeline(full_pipeline(root, serving, 1, 1))
    for quality in (2, 3):
        run_pipeline(full_pipeline(root, serving, quality, quality))
    old_model = first.node("train").outputs["model"].uri
    elsewhere = tmp_path / "other-disk" / "model"
    elsewhere.parent.mkdir()
    os.rename(old_model, elsewhere)
    os.symlink(elsewhere, old_model)
    inside = sorted(p.name for p in elsewhere.iterdir())

    for args in (["--dry-run"], []):
        code, out = gc(root, capsys, "--keep-runs", "1", *args)
        assert code == 0, out
        assert f"a symbolic link, left alone: {old_model} -> {elsewhere}" in out
        assert f"    {old_model} " not in out  # not listed as deleted
        assert sorted(p.name for p in elsewhere.iterdir()) == inside
        assert os.path.islink(old_model)


def test_a_dry_run_judges_a_crashed_run_as_the_real_gc_does(tmp_path, capsys):
    """A run left RUNNING by a process that is gone: gc marks it CRASHED before planning
    (sweep_stale), so its outputs go; the dry run kept them as a live run's and listed less."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    run_pipeline(full_pipeline(root, serving, 1, 1))
    crashed = run_pipeline(full_pipeline(root, serving, 2, 2))
    run_pipeline(full_pipeline(root, serving, 3, 3))
    run_pipeline(full_pipeline(root, serving, 4, 4))  # its model and the one before stay
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    store = MetadataStore(f"sqlite:///{root}/metadata.sqlite")
    with store._begin() as conn:
        from seqline.pipeline.metadata import RUNS

        conn.execute(
            RUNS.update()
            .where(RUNS.c.run_id == crashed.run_id)
            .values(status="RUNNING", finished_at=None, pid=int(gone.stdout), proc_start=None)
        )
    store.close()
    crashed_model = crashed.node("train").outputs["model"].uri

    code, dry = gc(root, capsys, "--keep-runs", "1", "--dry-run")
    assert code == 0, dry
    code, real = gc(root, capsys, "--keep-runs", "1")
    assert code == 0, real
    assert not os.path.exists(crashed_model)
    listed = {line.split()[0] for line in dry.splitlines() if line.startswith("    /")}
    deleted = {line.split()[0] for line in real.splitlines() if line.startswith("    /")}
    assert crashed_model in deleted and listed == deleted


@contextlib.contextmanager
def undeletable(folder: Path):
    """`folder` (or file) cannot be changed, nor its entries removed, while the block runs:
    read-only for a user, the immutable attribute for root (which ignores permissions); skips
    the test where neither can be set."""
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o500 if folder.is_dir() else 0o400)
        try:
            yield
        finally:
            folder.chmod(mode)
        return
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make a folder undeletable here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_a_folder_gc_cannot_remove_is_reported_not_counted_and_tried_again(tmp_path, capsys):
    """A file gc may not remove (another user's in a shared root): shutil.rmtree's errors were
    ignored, and gc reported the folder deleted and its size reclaimed, exit 0."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    first = run_pipeline(full_pipeline(root, serving, 1, 1))
    for quality in (2, 3):
        run_pipeline(full_pipeline(root, serving, quality, quality))
    stuck = Path(first.node("train").outputs["model"].uri)
    other_user = stuck / "theirs"
    other_user.mkdir()
    (other_user / "weights.bin").write_bytes(b"x" * 5000)

    with undeletable(other_user):
        code, out = gc(root, capsys, "--keep-runs", "1")
        assert code == 1, out
        assert "could not delete 1 folder(s); the next gc tries again:" in out
        assert f"  - {stuck}: {other_user / 'weights.bin'}: " in out
        assert f"    {stuck} " not in out  # not among the deleted, nor in the total
        deleted = [line for line in out.splitlines() if line.startswith("    /")]
        assert deleted and all(os.path.lexists(line.split()[0]) is False for line in deleted)
        assert (other_user / "weights.bin").exists()

    code, out = gc(root, capsys, "--keep-runs", "1")
    assert code == 0, out
    assert f"    {stuck} " in out and not stuck.exists()


def test_gc_on_a_root_it_may_not_write_says_so_and_deletes_nothing(tmp_path, capsys):
    """The root lock could not be opened (a root of another user): an OSError traceback."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    for quality in (1, 2):
        run_pipeline(full_pipeline(root, serving, quality, quality))
    lock = root / "_locks" / ".root.lock"
    before = tree(root)
    with undeletable(lock):
        code, out = gc(root, capsys, "--keep-runs", "1")
    assert code == 2, out
    assert f"cannot take the root lock {lock}" in out
    assert "expected a user that can write the pipeline root" in out
    assert tree(root) == before


def train_with_run(ctx: ExecutionContext) -> dict:
    """toy train, plus a second output beside the model, as seqline's train writes a ModelRun."""
    toy.train(ctx)
    with open(os.path.join(ctx.outputs["model_run"].uri, "history.json"), "w") as f:
        f.write(str(ctx.config.quality))
    return {}


TRAIN_WITH_RUN = Component(
    name="train",
    inputs={},
    outputs={"model": ArtifactType.MODEL, "model_run": ArtifactType.MODEL_RUN},
    config_type=toy.TrainConfig,
    executor=train_with_run,
)


def two_output_pipeline(root: Path, serving: Path, span: int, quality: int) -> Pipeline:
    """full_pipeline whose train publishes a model and a model_run."""
    pipeline = full_pipeline(root, serving, span, quality)
    nodes = [
        dataclasses.replace(n, component=TRAIN_WITH_RUN) if n.node_id == "train" else n
        for n in pipeline.nodes
    ]
    return dataclasses.replace(pipeline, nodes=nodes)


def test_gc_keeps_every_output_of_an_execution_it_keeps_one_of(tmp_path, capsys):
    """A model kept as the next run's baseline lost the model_run its training published beside
    it: the next run of that config trained again and republished into the kept, blessed
    model's folder instead of being CACHED."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    first = run_pipeline(two_output_pipeline(root, serving, 1, 1))
    run_pipeline(two_output_pipeline(root, serving, 1, 2))  # evaluate's baseline: first's model
    model = first.node("train").outputs["model"].uri
    model_run = first.node("train").outputs["model_run"].uri

    code, out = gc(root, capsys, "--keep-runs", "1")
    assert code == 0, out
    assert os.path.exists(os.path.join(model, "artifact.json"))
    assert os.path.exists(os.path.join(model_run, "artifact.json"))
    assert f"also keeping {model_run}: published by the same execution as {model}" in out

    again = run_pipeline(two_output_pipeline(root, serving, 1, 1))  # back to quality 1
    assert again.node("train").status == "CACHED"
    assert again.node("train").fingerprint == first.node("train").fingerprint


def lock_files(root: Path) -> set[str]:
    return {p.name for p in (root / "_locks").iterdir()}


def test_gc_removes_the_lock_files_of_fingerprints_it_deleted(tmp_path, capsys):
    """`_locks/{node}-{fingerprint}.lock` was never removed: one more per executed fingerprint,
    about 9 per nightly run, forever."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    runs = [run_pipeline(full_pipeline(root, serving, q, q)) for q in (1, 2, 3, 4)]
    # A node id holding '-': the lock name's last '-' ends it (fingerprints are hex).
    dashed = [
        run_pipeline(
            Pipeline("daily", str(root), [Node(toy.STATISTICS, toy.SpanConfig(span), id="a-b")])
        )
        for span in (7, 8)
    ]
    before = lock_files(root)
    old_train = f"train-{runs[0].node('train').fingerprint}.lock"
    old_dashed = f"a-b-{dashed[0].node('a-b').fingerprint}.lock"
    assert {old_train, old_dashed, ".root.lock"} <= before

    code, out = gc(root, capsys, "--keep-runs", "1")
    assert code == 0, out
    after = lock_files(root)
    assert ".root.lock" in after
    assert old_train not in after and old_dashed not in after
    assert f"a-b-{dashed[1].node('a-b').fingerprint}.lock" in after
    # What is left is the locks of fingerprints that still have a folder, and nothing else.
    for name in after - {".root.lock"}:
        node, _, fingerprint = name.removesuffix(".lock").rpartition("-")
        assert list(root.glob(f"{node}/*/{fingerprint}")), name
    kept = {
        f"{node}-{path.name}.lock"
        for node in ("statistics", "schema", "validate", "train", "evaluate", "push", "a-b")
        for path in root.glob(f"{node}/*/*")
    }
    assert after == (kept & before) | {".root.lock"}
    assert f"removed {len(before) - len(after)} lock file(s)" in out

    again = run_pipeline(full_pipeline(root, serving, 4, 4))  # still takes its locks fine
    assert statuses(again) == {"CACHED"}


def test_fully_cached_reruns_do_not_use_up_the_kept_runs(tmp_path, capsys):
    """Two all-CACHED reruns of the newest span counted as 2 of the 3 kept runs, so gc kept
    only one day's work and deleted the day before's."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    days = {
        span: run_pipeline(full_pipeline(root, serving, span, span), run_id=f"d{span}")
        for span in (1, 2, 3)
    }
    for again in ("d3b", "d3c"):
        rerun = run_pipeline(full_pipeline(root, serving, 3, 3), run_id=again)
        assert statuses(rerun) == {"CACHED"}

    code, out = gc(root, capsys, "--keep-runs", "2")
    assert code == 0, out
    assert "keeping 4 run(s) of pipeline 'daily': d3c, d3b, d3, d2" in out
    for node in days[2].nodes:  # the older of the 2 runs that did the work stays whole
        for artifact in node.outputs.values():
            assert os.path.exists(os.path.join(artifact.uri, "artifact.json")), artifact.uri
    assert not os.path.exists(days[1].node("validate").outputs["anomalies"].uri)


def test_show_marks_the_failed_folder_gc_deleted(tmp_path, capsys):
    """gc deleted `_failed/RUN/` without recording it: `seqline show` of the failed run still
    said its outputs and error were kept there."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    run_pipeline(full_pipeline(root, serving, 1, 1))
    failing = full_pipeline(root, serving, 2, 2)
    failing = dataclasses.replace(
        failing,
        nodes=[
            dataclasses.replace(n, config=toy.ValidateConfig(reject_spans=(2,)))
            if n.node_id == "validate"
            else n
            for n in failing.nodes
        ],
    )
    with pytest.raises(Exception, match="span 2 is anomalous"):
        run_pipeline(failing, run_id="f2")
    failed = root / "_failed" / "f2"
    assert failed.is_dir()
    for span in (3, 4):
        run_pipeline(full_pipeline(root, serving, span, span))
    capsys.readouterr()
    assert main(["show", "f2", "--root", str(root)]) == 0
    before = [x for x in capsys.readouterr().out.splitlines() if f"{failed}" in x]
    assert before and not any("deleted" in line for line in before)

    code, out = gc(root, capsys, "--keep-runs", "1")
    assert code == 0, out
    assert not failed.exists()
    assert main(["show", "f2", "--root", str(root)]) == 0
    after = [x for x in capsys.readouterr().out.splitlines() if f"{failed}" in x]
    assert len(after) == len(before)
    assert all(line.endswith(" by seqline gc)") and "  (deleted " in line for line in after)


def test_a_dry_run_says_when_the_real_gc_would_refuse(tmp_path, capsys):
    """A dry run while a run held the root printed "nothing to delete", exit 0, and no word
    of the run the real gc would refuse for."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    for quality in (1, 2):
        run_pipeline(full_pipeline(root, serving, quality, quality))
    code, out = gc(root, capsys, "--keep-runs", "1", "--dry-run")
    assert code == 0 and "note:" not in out, out

    store = MetadataStore(f"sqlite:///{root}/metadata.sqlite")
    store.start_run("r-live", "daily")  # RUNNING in this (live) process
    with root_in_use(str(root)):
        code, out = gc(root, capsys, "--keep-runs", "1", "--dry-run")
    store.finish_run("r-live", "FAILED")
    store.close()
    assert code == 0, out
    [note] = [line for line in out.splitlines() if line.startswith("note:")]
    assert "the real gc would refuse now (exit 2)" in note and "run r-live" in note


def test_a_second_gc_is_told_a_gc_is_cleaning_the_root(tmp_path, capsys):
    """It was told "another run ... (a remote root runs one pipeline run at a time)" and to
    `seqline unlock ROOT --metadata-url ...`, for a local root and a live gc."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    for quality in (1, 2):
        run_pipeline(full_pipeline(root, serving, quality, quality))
    before = tree(root)
    store = MetadataStore(f"sqlite:///{root}/metadata.sqlite")
    store.acquire_root(str(root), f"gc-20261208-015037-{os.getpid()}")  # a live gc: this process
    try:
        code, out = gc(root, capsys, "--keep-runs", "1")
        assert code == 2, out
        assert f"seqline gc (pid {os.getpid()}, host " in out
        assert f"is cleaning {root}; run it again when it ends" in out
        assert "unlock" not in out and "another run" not in out
        assert tree(root) == before
        code, out = gc(root, capsys, "--keep-runs", "1", "--dry-run")
        assert code == 0 and "note: the real gc would refuse now (exit 2)" in out
        assert f"seqline gc (pid {os.getpid()}" in out
    finally:
        store.release_root(str(root))
        store.close()


def ingest_fails(ctx: ExecutionContext) -> dict:
    from seqline.pipeline.errors import DataError

    raise DataError("bad labels")


INGEST_FAILS = Component(
    name="ingest",
    inputs={},
    outputs={"examples": ArtifactType.EXAMPLES},
    config_type=GcDuringRunConfig,
    executor=ingest_fails,
)


def test_gc_lists_every_kept_run_with_its_status_and_the_spans_it_keeps(tmp_path, capsys):
    """A kept run that recorded no artifact (its first node failed) was left out of "keeping
    N run(s)", and the older spans' statistics were only counted."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    for span in (2, 9, 10, 11, 12):
        run_pipeline(full_pipeline(root, serving, span, span), run_id=f"d{span}")
    with pytest.raises(Exception, match="bad labels"):
        run_pipeline(
            Pipeline("daily", str(root), [Node(INGEST_FAILS, GcDuringRunConfig())]), run_id="f"
        )
    assert (root / "_failed" / "f").is_dir()
    run_pipeline(full_pipeline(root, serving, 13, 13), run_id="d13")

    code, out = gc(root, capsys, "--keep-runs", "2")
    assert code == 0, out
    assert "keeping 3 run(s) of pipeline 'daily': d13, f (FAILED), d12" in out
    assert (
        "also keeping the accepted statistics of 3 older span(s) of statistics (spans 2, 9, 10)"
        in out
    )
    assert (root / "_failed" / "f").is_dir()


def test_a_root_given_through_a_link_or_copied_names_the_roots_the_store_records(tmp_path, capsys):
    """Both said "no runs recorded in this root" while the store held every run."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    for quality in (1, 2):
        run_pipeline(full_pipeline(root, serving, quality, quality))
    link = tmp_path / "link"
    link.symlink_to(root)
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)

    code, out = gc(link, capsys, "--keep-runs", "1", "--dry-run")
    assert code == 0, out
    assert "no runs recorded in this root" in out
    assert f"the metadata store records runs under {root}: the same folder as {link}" in out
    assert f"run gc with --root {root}" in out

    code, out = gc(copy, capsys, "--keep-runs", "1")
    assert code == 0, out
    assert f"the metadata store records runs under {root}: another folder" in out
    assert str(copy) + ":" not in out


def test_kept_spans_are_listed_in_order_and_shortened():
    from seqline.pipeline.retention_report import _span_list

    assert _span_list(["10", "9", "2"]) == "2, 9, 10"
    days = [f"2026-01-{day:02d}" for day in range(12, 0, -1)]
    assert (
        _span_list(days)
        == "2026-01-01, 2026-01-02, 2026-01-03, ..., 2026-01-10, 2026-01-11, 2026-01-12"
    )


@dataclass(frozen=True)
class IngestSpanConfig:
    span: int | str = 1


def ingest_span(ctx: ExecutionContext) -> dict:
    """An ingest of one span: Examples with the `span`/`spans` properties ingest_text sets."""
    from seqline.pipeline.spans import span_properties
    from tests.pipeline.toy_components import complete_examples

    out = ctx.outputs["examples"]
    complete_examples(out)
    out.properties.update(span_properties((ctx.config.span,)))
    return {}


INGEST_SPAN = Component(
    name="ingest",
    inputs={},
    outputs={"examples": ArtifactType.EXAMPLES},
    config_type=IngestSpanConfig,
    executor=ingest_span,
)


def nightly(root: Path, span: int | str) -> Pipeline:
    return Pipeline("nightly", str(root), [Node(INGEST_SPAN, IngestSpanConfig(span))])


@pytest.mark.parametrize(
    ("nights", "backfills"),
    [
        ((8, 9, 10), (3, 4, 5)),
        (("2026-01-08", "2026-01-09", "2026-01-10"), ("2026-01-03", "2026-01-04", "2026-01-05")),
    ],
)
def test_backfills_do_not_push_tonights_run_out_of_the_kept_runs(
    tmp_path, capsys, nights, backfills
):
    """After tonight's run (span 10) and three backfills (spans 3, 4, 5), gc kept only the
    backfills and deleted tonight's ingest output: a retry of span 10 ingested again (CACHED
    without gc)."""
    root = tmp_path / "root"
    done = [run_pipeline(nightly(root, span), run_id=f"d{span}") for span in nights]
    for span in backfills:
        assert statuses(run_pipeline(nightly(root, span), run_id=f"bf{span}")) == {"COMPLETE"}

    code, out = gc(root, capsys)
    assert code == 0, out
    for run in reversed(done):  # tonight's first
        assert os.path.exists(
            os.path.join(run.node("ingest").outputs["examples"].uri, "artifact.json")
        )
    retry = run_pipeline(nightly(root, nights[-1]), run_id="retry")
    assert statuses(retry) == {"CACHED"}
    # tonight's run and the two before it count; the backfills are kept as runs since.
    order = [f"bf{span} (backfill)" for span in reversed(backfills)]
    order += [f"d{span}" for span in reversed(nights)]
    assert f"keeping 6 run(s) of pipeline 'nightly': {', '.join(order)}" in out


def test_a_backfill_is_a_run_of_spans_older_than_one_an_earlier_run_processed():
    from seqline.pipeline.retention import backfill_runs

    runs = [{"run_id": f"r{i}", "started_at": float(i)} for i in range(7)]
    spans = {
        "r0": [9],
        "r1": [10],
        "r2": [3],  # older than 10: a backfill
        "r3": [8, 9, 10],  # a window ending at the newest span: not one
        "r4": [],  # no spans (a source without a span pattern): not one
        "r6": ["2026-01-01"],  # another kind of span is never older
    }
    assert backfill_runs(runs, spans) == {"r2"}
    dated = {"r0": ["2026-01-10"], "r1": ["2026-01-09"], "r2": ["2026-01-11"]}
    assert backfill_runs(runs, dated) == {"r1"}
    assert backfill_runs(runs, {}) == set()


def test_a_dry_run_counts_the_lock_files_the_real_gc_removes(tmp_path, capsys):
    """The real gc printed `removed N lock file(s) ...`; the dry run of the same plan said
    nothing of them, though it is to say what would go."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    for quality in (1, 2, 3):
        run_pipeline(full_pipeline(root, serving, quality, quality))
    before = lock_files(root)

    code, dry = gc(root, capsys, "--keep-runs", "1", "--dry-run")
    assert code == 0, dry
    assert lock_files(root) == before
    code, real = gc(root, capsys, "--keep-runs", "1")
    assert code == 0, real
    removed = len(before - lock_files(root))
    assert removed > 0 and f"removed {removed} lock file(s) of {root}/_locks/" in real
    assert (
        f"would remove {removed} lock file(s) of {root}/_locks/ whose fingerprint no longer has "
        "a folder in the root (dry run: nothing removed)" in dry
    )


def test_a_second_gc_through_a_symbolic_link_is_told_a_gc_is_cleaning_the_root(tmp_path, capsys):
    """Through a symlinked spelling of the root, a second gc (and its dry run) blamed a
    `seqline run --node` task: the first gc's lease was looked up under the other spelling."""
    from seqline.pipeline.retention import collect

    root, serving = tmp_path / "root", tmp_path / "serving"
    for quality in (1, 2, 3):
        run_pipeline(full_pipeline(root, serving, quality, quality))
    link = tmp_path / "link"
    link.symlink_to(root)
    seen: list[tuple[int, str]] = []

    def while_deleting(_doomed) -> None:  # the first gc holds the root here
        if not seen:
            seen.append(gc(link, capsys, "--keep-runs", "1"))
            seen.append(gc(link, capsys, "--keep-runs", "1", "--dry-run"))

    store = MetadataStore(f"sqlite:///{root}/metadata.sqlite")
    try:
        plan = collect(store, str(root), 1, deleted=while_deleting)
    finally:
        store.close()
    assert plan.doomed and len(seen) == 2
    (code, out), (dry_code, dry) = seen
    assert code == 2, out
    assert f"seqline gc (pid {os.getpid()}, host " in out
    assert f"is cleaning {link}; run it again when it ends" in out
    assert "seqline run --node" not in out and "a run is using" not in out
    assert dry_code == 0, dry
    note = "note: the real gc would refuse now (exit 2), deleting nothing: seqline gc (pid "
    assert f"{note}{os.getpid()}" in dry


def test_unknown_folders_are_listed_with_their_sizes_and_a_total(tmp_path, capsys):
    """Folders gc left alone were listed without sizes, and nothing said how much they hold."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    for quality in (1, 2):
        run_pipeline(full_pipeline(root, serving, quality, quality))
    handmade = root / "train" / "model" / "handmade"
    stranger = root / "notes" / "deep"
    for folder, size in ((handmade, 1500), (stranger, 2500)):
        folder.mkdir(parents=True)
        (folder / "data.bin").write_bytes(b"x" * size)

    code, out = gc(root, capsys, "--keep-runs", "1")
    assert code == 0, out
    assert f"unknown, left alone: {handmade}  1.5 kB" in out
    assert f"unknown, left alone: {stranger.parent}  2.5 kB" in out
    assert "left alone: 2 unknown folder(s), 4.0 kB" in out
