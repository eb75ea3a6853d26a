from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from seqline.pipeline.cli import main
from seqline.pipeline.config_file import load_pipeline
from seqline.pipeline.errors import SeqlineError
from seqline.pipeline.runner import run_pipeline
from tests.pipeline.test_runner import make_pipeline

REPO = Path(__file__).resolve().parents[2]


def test_runs_and_show_read_the_metadata_store(tmp_path, capsys):
    root = tmp_path / "root"
    first = run_pipeline(make_pipeline(root))
    run_pipeline(make_pipeline(root))

    assert main(["runs", "--root", str(root)]) == 0
    listing = capsys.readouterr().out
    assert first.run_id in listing
    assert "cached 2" in listing and "complete 2" in listing

    assert main(["show", first.run_id[:-2], "--root", str(root)]) == 0
    details = capsys.readouterr().out
    assert "write_numbers (write_numbers)  COMPLETE" in details
    assert "out model" in details and "Model" in details
    assert "in  examples" in details


def test_unknown_run_and_missing_store_location_are_clear_errors(tmp_path, capsys):
    root = tmp_path / "root"
    run_pipeline(make_pipeline(root))
    assert main(["show", "nope", "--root", str(root)]) == 2
    assert "expected exactly one run id starting with it" in capsys.readouterr().err
    assert main(["runs"]) == 2
    assert "--config FILE, --root DIR or --metadata-url URL" in capsys.readouterr().err


def test_an_empty_run_id_or_prefix_is_refused_not_matched_against_every_run(tmp_path, capsys):
    root = tmp_path / "root"
    run_pipeline(make_pipeline(root), run_id="r1")
    # As a prefix, '' matched every run: with one run recorded, `show ''` showed it.
    assert main(["show", "", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "run '': expected a run id, a unique prefix of one, or 'latest', got an empty" in err
    assert "`seqline runs`" in err
    # A blank one was refused too, but called "an empty string".
    assert main(["show", " ", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "run ' ': expected a run id" in err
    assert "got a blank string (only whitespace)" in err


def test_a_whole_run_id_wins_over_longer_ids_and_underscores_match_only_underscores(
    tmp_path, capsys
):
    root = tmp_path / "root"
    for run_id in ("r1", "r10", "n-1", "n_2", "R1x"):
        run_pipeline(make_pipeline(root), run_id=run_id)
    capsys.readouterr()
    # `r1` also starts `r10`: the run named r1 could not be shown at all.
    assert main(["show", "r1", "--root", str(root)]) == 0
    assert capsys.readouterr().out.startswith("run r1 ")
    # `_` was a LIKE wildcard: `n_` matched n-1 and n_2.
    assert main(["show", "n_", "--root", str(root)]) == 0
    assert capsys.readouterr().out.startswith("run n_2 ")
    assert main(["show", "r", "--root", str(root)]) == 2
    assert "found 2" in capsys.readouterr().err
    # SQLite's LIKE ignores ASCII case: `R1` matched r1, r10 and R1x, and `r1x` showed R1x.
    assert main(["show", "R1", "--root", str(root)]) == 0
    assert capsys.readouterr().out.startswith("run R1x ")
    assert main(["show", "r1x", "--root", str(root)]) == 2
    assert "found 0" in capsys.readouterr().err


def test_an_empty_run_id_for_one_node_is_refused_not_replaced_by_a_new_run(tmp_path, capsys):
    # An orchestrator's template that rendered empty: each node silently got its own new run.
    root = tmp_path / "root"
    config = tmp_path / "p.yaml"
    config.write_text(TEXT_YAML % root)
    for argv in (["--node", "ingest_text", "--run-id", ""], ["--run-id", ""]):
        assert main(["run", str(config), *argv]) == 2
        captured = capsys.readouterr()
        assert "--run-id: expected a plain name" in captured.err
        assert "got an empty string" in captured.err
        assert "node 'ingest_text' run" not in captured.out
    assert not root.exists()


def test_run_reports_config_errors_with_field_path(tmp_path, capsys):
    config = tmp_path / "p.yaml"
    config.write_text("name: x\nkind: text\nroot: r\ncomponents:\n  trian: {}\n")
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "unknown node(s) ['trian']" in err
    config.write_text("name: x\nkind: nope\nroot: r\n")
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "kind: expected one of [" in err and "'text'" in err and "got 'nope'" in err


SPAN_YAML = """
name: spans
kind: text
root: out
components:
  ingest_text:
    source: days/{YYYY}-{MM}-{DD}/*.csv
    spans: {span: "${span}"}
    labels: [neg, pos]
  evaluate: {beat_baseline: [accuracy]}
  push: {serving_root: serving}
"""


def test_data_not_landed_yet_exits_75_with_the_same_message(tmp_path, capsys):
    config = tmp_path / "p.yaml"
    config.write_text(SPAN_YAML)
    (tmp_path / "days" / "2026-01-01").mkdir(parents=True)  # the export has not written yet
    args = ["run", str(config), "--param", "span=2026-01-01"]
    assert main([*args, "--node", "ingest_text", "--run-id", "r1"]) == 75
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "span '2026-01-01' exists but" in err
    assert "matches no csv file" in err
    assert main([*args[:2], "--param", "span=2026-01-02"]) == 75  # a whole run: not there
    assert "span '2026-01-02' of source" in capsys.readouterr().err
    # A mistake a retry cannot fix keeps status 2.
    assert main([*args[:2], "--param", "span=someday"]) == 2
    assert "is not a date" in capsys.readouterr().err


def test_new_component_writes_a_skeleton_whose_test_passes(tmp_path, capsys):
    assert main(["new-component", "keep_splits", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "component: keep_splits.component:COMPONENT" in out
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "tests")],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    # Never overwrites, and the name must be importable.
    assert main(["new-component", "keep_splits", "--dir", str(tmp_path)]) == 2
    assert "would overwrite" in capsys.readouterr().err
    assert main(["new-component", "Keep-Splits", "--dir", str(tmp_path)]) == 2
    assert "expected a lowercase Python identifier" in capsys.readouterr().err


def test_new_component_hint_wires_a_node_that_keeps_every_split(tmp_path, capsys, monkeypatch):
    """The printed YAML replaces ingest's examples for every node after it, so it must keep
    the test split evaluate reads; it suggested splits: [train, eval], which failed evaluate
    after training."""
    assert main(["new-component", "keep_splits", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    hint = out[out.index("  keep_splits:") :]
    entry = yaml.safe_load(hint)["keep_splits"]
    assert entry["config"] == {"splits": []}
    config = tmp_path / "p.yaml"
    config.write_text(
        "name: x\nkind: text\nroot: out\ncomponents:\n"
        "  ingest_text: {source: data.csv, labels: [neg, pos]}\n"
        + hint
        + "\n  evaluate: {beat_baseline: [accuracy]}\n  push: {serving_root: serving}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    pipeline = load_pipeline(config)
    assert pipeline.node("keep_splits").config.splits == ()  # every split, test included
    assert pipeline.node("evaluate").inputs["examples"].node_id == "keep_splits"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("json", "'json' is a module of Python's standard library"),
        ("csv", "'csv' is a module of Python's standard library"),
        ("logging", "'logging' is a module of Python's standard library"),
        ("statistics", "'statistics' is a module of Python's standard library"),
        ("yaml", "a module 'yaml' is already importable"),
        ("transform", "'transform' is the id of a built-in pipeline node"),
        ("ingest_text", "'ingest_text' is the id of a built-in pipeline node"),
        ("tests", "the folder the skeleton writes its tests into"),
    ],
)
def test_new_component_refuses_names_that_shadow_modules_or_nodes(tmp_path, capsys, name, message):
    assert main(["new-component", name, "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and f"got {name!r}" in err and "Choose a name of your own" in err
    assert not any(tmp_path.iterdir())  # nothing written


NO_HEAVY_IMPORTS = """
import sys
from seqline.pipeline.cli import main
from seqline.pipeline.runner import run_pipeline
from tests.pipeline.test_runner import make_pipeline
root = sys.argv[1]
run_pipeline(make_pipeline(root))
for argv in (["runs", "--root", root], ["show", "latest", "--root", root]):
    assert main(argv) == 0
cached = run_pipeline(make_pipeline(root))
assert {n.status for n in cached.nodes} == {"CACHED"}
heavy = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "apache_beam", "keras",
                                                      "tensorflow_transform")]
assert not heavy, heavy
"""


def test_runs_show_and_a_cached_run_import_no_tensorflow(tmp_path):
    subprocess.run(
        [sys.executable, "-c", NO_HEAVY_IMPORTS, str(tmp_path / "root")],
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from seqline.pipeline.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print([m for m in sys.modules if m.startswith('tensorflow')])",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.stdout.strip().endswith("[]"), done.stdout[-500:]


def test_ctrl_c_during_a_run_says_how_to_resume_instead_of_a_traceback(
    tmp_path, capsys, monkeypatch
):
    import seqline.pipeline.config_file as config_file
    import seqline.pipeline.runner as runner

    config = tmp_path / "p.yaml"
    config.write_text("name: x\nkind: text\nroot: r\ncomponents: {}\n")
    monkeypatch.setattr(config_file, "load_pipeline", lambda *a, **k: make_pipeline(tmp_path))

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_pipeline", interrupted)
    assert main(["run", str(config)]) == 130  # 128 + SIGINT, as a shell reports it
    err = capsys.readouterr().err
    assert "interrupted: nothing half-written was published" in err
    assert "run the same command again" in err and "Traceback" not in err
    # An upgrade or a config edit between the kill and the rerun changes train's fingerprint.
    assert "(it starts over if seqline or train's config or inputs changed in between)" in err


TEXT_YAML = """name: x
kind: text
root: %s
components:
  ingest_text: {source: data.csv, labels: [neg, pos]}
  evaluate: {beat_baseline: [accuracy]}
  push: {serving_root: serving}
"""


def test_run_root_is_relative_to_the_working_directory(tmp_path, monkeypatch, capsys):
    """`run --root DIR` took DIR from the config's folder while `runs --root DIR` takes it
    from the working directory, so `runs` looked in another place."""
    import seqline.pipeline.runner as runner

    (tmp_path / "configs").mkdir()
    (tmp_path / "work").mkdir()
    config = tmp_path / "configs" / "p.yaml"
    config.write_text(TEXT_YAML % "out")
    roots = []

    def record(pipeline, **_kwargs):
        roots.append(pipeline.root)
        raise SeqlineError("stop here")

    monkeypatch.setattr(runner, "run_pipeline", record)
    monkeypatch.chdir(tmp_path / "work")
    assert main(["run", str(config), "--root", "myroot"]) == 2
    assert roots == [str(tmp_path / "work" / "myroot")]
    assert main(["run", str(config), "--root", "gs://bucket/runs"]) == 2  # a URL as it is
    assert main(["run", str(config)]) == 2  # the config's own root: its folder's
    assert roots[1:] == ["gs://bucket/runs", str(tmp_path / "configs" / "out")]


def test_runs_and_show_config_read_only_the_store_location(tmp_path, capsys):
    """They demanded run parameters they cannot take (--param is not theirs) and failed on any
    mistake in the config, though only root and metadata_url name the store."""
    root = tmp_path / "root"
    first = run_pipeline(make_pipeline(root))
    config = tmp_path / "p.yaml"
    config.write_text(TEXT_YAML % "root" + "  train:\n    epochs: ${E}\n  trian: {}\n")
    assert main(["runs", "--config", str(config)]) == 0
    assert first.run_id in capsys.readouterr().out
    assert main(["show", "latest", "--config", str(config)]) == 0
    assert first.run_id in capsys.readouterr().out


def test_runs_says_which_filter_left_nothing(tmp_path, capsys):
    """`--pipeline nope` and `--limit 0` printed "no runs recorded yet" while runs existed."""
    root = tmp_path / "root"
    run_pipeline(make_pipeline(root))
    assert main(["runs", "--root", str(root), "--pipeline", "nope"]) == 0
    out = capsys.readouterr().out
    assert "no runs of pipeline 'nope'; runs recorded here are of ['toy']" in out
    with pytest.raises(SystemExit) as e:
        main(["runs", "--root", str(root), "--limit", "0"])
    assert e.value.code == 2
    assert "--limit: expected a whole number >= 1, got '0'" in capsys.readouterr().err


class _FullDisk(io.TextIOBase):
    """stdout on a full disk (`> /dev/full`)."""

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")


def test_output_that_cannot_be_written_exits_120_without_a_traceback(tmp_path, capsys, monkeypatch):
    """docs/cli.md promises 120; an OSError traceback ended it with 1."""
    root = tmp_path / "root"
    run_pipeline(make_pipeline(root))
    monkeypatch.setattr(sys, "stdout", _FullDisk())
    assert main(["runs", "--root", str(root)]) == 120
    assert "error: cannot write the output: No space left on device" in capsys.readouterr().err


def test_new_component_dir_that_is_a_file_is_refused_before_writing(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    assert main(["new-component", "x_step", "--dir", str(afile)]) == 2
    err = capsys.readouterr().err
    assert f"new-component --dir: expected a folder (or a path to create one), but '{afile}'" in err
    assert "Traceback" not in err and afile.read_text() == ""


def test_ctrl_c_outside_a_run_does_not_talk_about_cached_nodes(tmp_path, capsys, monkeypatch):
    import seqline.pipeline.cli as cli

    def interrupted(_args):
        raise cli.Terminated("SIGTERM")

    monkeypatch.setattr(cli, "_open_store", interrupted)
    assert main(["runs", "--root", str(tmp_path)]) == 143
    err = capsys.readouterr().err
    assert err.strip() == "terminated (SIGTERM)"


def test_a_flag_after_the_command_gets_that_commands_usage(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", str(tmp_path / "p.yaml"), "-v"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: seqline run ") and "seqline run: error: unrecognized" in err
    assert "-v/--verbose goes before the command" in err


def test_runs_says_when_a_running_runs_process_is_gone(tmp_path, capsys):
    """A run killed with -9 stayed RUNNING in `seqline runs` and `show`, with no hint that its
    process is gone, until the next run started and marked it CRASHED."""
    import time

    from seqline.pipeline import metadata
    from seqline.pipeline.locking import ProcessOwner

    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    me = ProcessOwner.this_process()
    store = metadata.MetadataStore("sqlite:///" + str(tmp_path / "metadata.sqlite"))
    with store._engine.begin() as conn:
        for run_id, pid, start in (("killed", exited.pid, None), ("alive", me.pid, me.start)):
            conn.execute(
                metadata.RUNS.insert().values(
                    run_id=run_id,
                    pipeline_name="toy",
                    status="RUNNING",
                    started_at=time.time(),
                    host=me.host,
                    pid=pid,
                    pidns=me.pidns,
                    proc_start=start,
                )
            )
    store.close()

    assert main(["runs", "--root", str(tmp_path)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert "RUNNING (process gone: next run marks it CRASHED)" in rows["killed"]
    assert "process gone" not in rows["alive"] and "RUNNING" in rows["alive"]
    assert main(["show", "killed", "--root", str(tmp_path)]) == 0
    assert "RUNNING (process gone: next run marks it CRASHED)" in capsys.readouterr().out
