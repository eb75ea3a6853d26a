"""Run ids name folders under the pipeline root (`_failed/{run}/`, `_tmp/{run}-...`), so they
must be plain names: `--run-id ..` made a failing node's clean-up delete the node's published
outputs (`{root}/_failed/../{node}` is `{root}/{node}`), and `../../x` folders outside the root.
A whole run under an id the store already has is refused in words, not an IntegrityError."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from seqline.pipeline import execution, runner
from seqline.pipeline.errors import ComponentFailed, ConfigError, SeqlineError
from seqline.pipeline.execution import NodeExecution, execute, keep_failed_outputs
from seqline.pipeline.metadata import MetadataStore, default_metadata_url
from seqline.pipeline.node_run import run_node
from seqline.pipeline.runner import run_pipeline
from tests.pipeline import toy_components as toy
from tests.pipeline.test_runner import make_pipeline


@pytest.mark.parametrize(
    "run_id",
    [
        "20261207-171002-43c56c",  # seqline's own
        "nightly-2026-01-01",
        "nightly-scheduled__2026-12-07T000000_0000",  # orchestration/airflow.seqline_run_id
        "reviews.v2-manual__2026-12-07T000000.123456_0000",
        "scheduled__2026-12-07T00:00:00+00:00",  # an Airflow run id as Airflow spells it
        "3f2b8c4e-1d2a-4b7e-9c3f-5a6b7c8d9e0f",  # KFP's {{$.pipeline_job_uuid}}
        "..hidden~1",
        # Airflow 3's longest kind (no logical date: a random suffix) under a 60-character
        # dag id, as orchestration/airflow.seqline_run_id rewrites it.
        "d" * 60 + "-asset_triggered__2026-12-07T101112.123456_0000_AbCdEfGh",
        "v" * 128,  # Vertex AI's longest pipeline job id
        "d" * 130 + "-asset_triggered__2026-12-07T101112.123456_0000_AbCdEfGh",
        "r" * execution.RUN_ID_MAX_LENGTH,
    ],
)
def test_ids_orchestrators_pass_are_accepted(run_id):
    assert execution.check_run_id(run_id) == run_id


@pytest.mark.parametrize("run_id", [".", "..", "../../victim", "a/b", "a\\b", "", "a b", "/abs"])
def test_ids_that_are_not_one_plain_name_are_refused(run_id):
    with pytest.raises(ConfigError, match=r"--run-id: expected a plain name .* got"):
        execution.check_run_id(run_id)


@pytest.mark.parametrize("length", [execution.RUN_ID_MAX_LENGTH + 1, 300])
def test_ids_too_long_for_the_folder_names_they_go_into_are_refused(length):
    with pytest.raises(ConfigError) as err:
        execution.check_run_id("r" * length)
    message = str(err.value)
    limit = execution.RUN_ID_MAX_LENGTH
    assert f"--run-id: expected at most {limit} characters, got {length} " in message
    assert "255 bytes" in message and "Choose a shorter id" in message


def test_a_whole_run_under_an_over_long_id_is_refused_before_anything_is_written(tmp_path):
    # It failed mid-run, with the store's run started: "File name too long" for `_tmp/{run}-...`.
    root = tmp_path / "root"
    with pytest.raises(
        ConfigError, match=f"--run-id: expected at most {execution.RUN_ID_MAX_LENGTH}"
    ):
        run_pipeline(make_pipeline(root), run_id="r" * 300)
    assert not root.exists()
    with pytest.raises(
        ConfigError, match=f"--run-id: expected at most {execution.RUN_ID_MAX_LENGTH}"
    ):
        run_node(make_pipeline(root), "write_numbers", "r" * 300)
    assert not root.exists()


@pytest.mark.parametrize("node_length", [1, 33, 64])
def test_the_longest_id_fits_every_folder_it_names_beside_a_longest_hostname(
    tmp_path, monkeypatch, node_length
):
    """A run id of RUN_ID_MAX_LENGTH and a node id of up to 64 (dag.NODE_ID_MAX_LENGTH) fit
    `_failed/{run}/{node}` and the scratch folder `_tmp/{run}-{node}-{owner}` with a 64-byte
    hostname (Linux's longest) and the longest pid and PID namespace an owner tag holds: the
    scratch name's `{run}-{node}` part is shortened (scratch_base) when it would not fit."""
    from seqline.pipeline import locking

    monkeypatch.setattr(locking, "_host", lambda: "h" * 64)
    monkeypatch.setattr(locking.os, "getpid", lambda: 4194304)  # Linux's pid_max
    monkeypatch.setattr(locking, "_pid_namespace", lambda: "4" * 10)
    seen = []
    real_makedirs = execution.filesystem.makedirs

    def makedirs(path, *args, **kwargs):
        seen.append(path)
        return real_makedirs(path, *args, **kwargs)

    monkeypatch.setattr(execution.filesystem, "makedirs", makedirs)
    run_id = "r" * execution.RUN_ID_MAX_LENGTH
    root = tmp_path / "root"
    run = dataclasses.replace(_execution(root, run_id), node_id="n" * node_length)
    outputs, _ = execute(run)
    assert (Path(outputs["examples"].uri) / "artifact.json").exists()
    scratch = [Path(p).name for p in seen if Path(p).parent.name == "_tmp"]
    assert len(scratch) == 1 and len(scratch[0].encode()) <= 255
    failing = dataclasses.replace(
        run,
        component=toy.SUM_NUMBERS,
        config=toy.SumConfig(fail=True),
        inputs={"examples": outputs["examples"]},
        node_id="m" * node_length,
    )
    with pytest.raises(RuntimeError, match="deliberate failure"):
        execute(failing)
    kept = root / "_failed" / run_id / ("m" * node_length)
    assert (kept / "model" / "partial.txt").read_text() == "half"
    assert (kept / "error.txt").exists()


def test_scratch_names_stay_distinct_per_run_and_node_when_shortened():
    long_run = "r" * execution.RUN_ID_MAX_LENGTH
    names = {
        execution.scratch_base(run, node)
        for run in (long_run, long_run[:-1] + "s")
        for node in ("train", "evaluate")
    }
    assert len(names) == 4
    assert all(len(n.encode()) <= execution.SCRATCH_BASE_MAX_BYTES for n in names)
    assert execution.scratch_base("nightly", "train") == "nightly-train"  # short: unchanged


def _victim(path: Path) -> Path:
    path.mkdir(parents=True)
    keep = path / "keep.txt"
    keep.write_text("precious")
    return keep


def test_a_whole_run_under_a_path_like_id_is_refused_before_anything_is_written(tmp_path):
    root = tmp_path / "a" / "root"
    # `{root}/_failed/../../victim/sum_numbers`: where the failing node's outputs went.
    keep = _victim(tmp_path / "a" / "victim" / "sum_numbers")
    with pytest.raises(ConfigError, match="--run-id"):
        run_pipeline(make_pipeline(root, fail=True), run_id="../../victim")
    assert keep.read_text() == "precious"
    assert not root.exists()  # no store, no outputs


def test_a_node_run_under_dot_dot_is_refused_and_keeps_the_node_published_outputs(tmp_path):
    root = tmp_path / "root"
    run_pipeline(make_pipeline(root), run_id="r1")
    published = sorted(p.relative_to(root) for p in (root / "sum_numbers").rglob("*"))
    assert published
    with pytest.raises(ConfigError, match="--run-id"):
        # `{root}/_failed/../sum_numbers` is `{root}/sum_numbers`, which the failure emptied.
        run_node(make_pipeline(root, fail=True), "sum_numbers", "..")
    assert sorted(p.relative_to(root) for p in (root / "sum_numbers").rglob("*")) == published
    store = MetadataStore(default_metadata_url(str(root)))
    assert [run["run_id"] for run in store.runs()] == ["r1"]


def _execution(root: Path, run_id: str) -> NodeExecution:
    return NodeExecution(
        component=toy.WRITE_NUMBERS,
        config=toy.WriteNumbersConfig(),
        node_id="write_numbers",
        inputs={},
        resolved={},
        fingerprint="f" * 16,
        pipeline_name="toy",
        pipeline_root=str(root),
        run_id=run_id,
        beam_args=(),
        progress=lambda _message: None,
    )


def test_failed_outputs_never_go_outside_the_failed_folder(tmp_path):
    """The backstop for an id that reached execution unchecked (another caller)."""
    root = tmp_path / "root"
    keep = _victim(root / "write_numbers")
    with pytest.raises(ValueError, match="outside .*_failed/"):
        keep_failed_outputs(_execution(root, ".."), {}, "boom")
    assert keep.read_text() == "precious"
    with pytest.raises(ValueError, match="outside .*_failed/"):
        execute(_execution(root, "../x"))  # before writing anything
    assert sorted(p.name for p in root.iterdir()) == ["write_numbers"]
    assert keep_failed_outputs(_execution(root, "r1"), {}, "boom").endswith(
        "/_failed/r1/write_numbers"
    )


def test_a_whole_run_under_an_existing_id_says_so_and_how_to_go_on(tmp_path):
    root = tmp_path / "root"
    run_pipeline(make_pipeline(root), run_id="r1")
    with pytest.raises(SeqlineError) as err:
        run_pipeline(make_pipeline(root), run_id="r1")
    message = str(err.value)
    assert "run id 'r1' already exists (pipeline 'toy', started " in message
    assert "SUCCEEDED" in message and "Omit --run-id" in message
    assert "--node NODE --run-id r1" in message
    store = MetadataStore(default_metadata_url(str(root)))
    assert [(run["run_id"], run["status"]) for run in store.runs()] == [("r1", "SUCCEEDED")]
    # Nodes of an orchestrated run still join the run their first task created.
    with pytest.raises(ComponentFailed):
        run_node(make_pipeline(root, scale=2, fail=True), "sum_numbers", "r1")


def test_a_node_dispatched_as_the_run_is_interrupted_records_no_running_execution(
    tmp_path, monkeypatch
):
    """SIGTERM just as a node thread was about to record its execution: the run's end marked
    what was RUNNING as FAILED, then the node recorded itself RUNNING under the FAILED run."""
    root = tmp_path / "root"
    reached, go = threading.Event(), threading.Event()
    real_lock = runner.node_lock

    def node_lock_after_the_interrupt(*args, **kwargs):
        reached.set()  # the node thread is past its cache look-up, about to execute
        assert go.wait(timeout=60)
        return real_lock(*args, **kwargs)

    threads: list[threading.Thread] = []

    def interrupted_schedule(nodes, run_one, limit, skipped):
        thread = threading.Thread(target=run_one, args=(nodes[0],), daemon=True)
        threads.append(thread)
        thread.start()
        assert reached.wait(timeout=60)
        raise KeyboardInterrupt("SIGTERM")

    monkeypatch.setattr(runner, "node_lock", node_lock_after_the_interrupt)
    monkeypatch.setattr(runner, "schedule", interrupted_schedule)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(make_pipeline(root), run_id="r1", max_parallel=2)
    go.set()  # the node goes on after its run ended
    threads[0].join(timeout=60)
    assert not threads[0].is_alive()
    store = MetadataStore(default_metadata_url(str(root)))
    assert store.run("r1")["status"] == "FAILED"
    assert [(e.node_id, e.status) for e in store.executions("r1")] == []


def _has_tensorflow_io() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorflow_io") is not None


@pytest.mark.skipif(_has_tensorflow_io(), reason="tensorflow-io registers s3://")
def test_a_root_whose_scheme_tensorflow_cannot_open_is_refused_before_the_run(tmp_path):
    # s3:// without tensorflow-io failed with TensorFlow's UnimplementedError traceback on the
    # root's first access; both ways in say which schemes work and what adds s3.
    pipeline = dataclasses.replace(
        make_pipeline(tmp_path / "root"),
        root="s3://bucket/pipelines/toy",
        metadata_url=f"sqlite:///{tmp_path}/m.sqlite",
    )
    with pytest.raises(ConfigError, match=r"root: .*s3://.*tensorflow-io"):
        run_pipeline(pipeline)
    with pytest.raises(ConfigError, match=r"root: .*tensorflow-io"):
        run_node(pipeline, "write_numbers", "r1")
    assert not (tmp_path / "m.sqlite").exists()  # refused before the store was opened
