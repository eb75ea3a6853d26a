"""Terminal output (`seqline show`, `runs`, `lineage`, `run`'s progress and summary, errors)
prints values that come from data (labels in a blessing's reasons, error texts, summaries)
with their control characters escaped: an ANSI/OSC sequence or a newline in a label cannot act
on the terminal or forge a line. The stored values stay exact. Evaluate's figures name the
split they are on."""

from __future__ import annotations

import io
import json

from seqline.pipeline.artifact import new_artifact
from seqline.pipeline.cli import main
from seqline.pipeline.errors import SeqlineError
from seqline.pipeline.metadata import MetadataStore, default_metadata_url
from seqline.pipeline.report import PrintProgress, run_summary
from seqline.pipeline.runner import NodeResult, RunResult
from tests.pipeline.metadata_records import record_execution

TITLE = "\x1b]0;pwned\x07"  # OSC "set window title"
FORGED = "x) = 0\n      - accuracy (overall) = 0.99, required >= 0.9: PASS"
RAW = ("\x1b", "\x07", "\r", "\u202e", "\x9b")


def _assert_inert(text: str) -> None:
    assert not any(c in text for c in RAW), repr(text)


def test_printable_escapes_controls_and_bidi_and_keeps_the_rest() -> None:
    from seqline.pipeline.report import printable

    assert printable(f"a{TITLE}b") == "a\\x1b]0;pwned\\x07b"
    assert printable("line1\nline2\r\t") == "line1\\nline2\\r\\t"
    assert printable("\x7f\x9b\u202ecod.exe\u2066") == "\\x7f\\x9b\\u202ecod.exe\\u2066"
    kept = "مرحبا بالعالم <b>$5</b> é 日本 \\x1b"
    assert printable(kept) == kept
    assert printable(printable(FORGED)) == printable(FORGED)


def _show_store(tmp_path, blessing_properties, metrics_doc=None):
    store = MetadataStore(default_metadata_url(str(tmp_path)))
    store.start_run("r3", "hostile")
    uri = tmp_path / "evaluate" / "blessing" / "fp"
    if metrics_doc is not None:
        uri.mkdir(parents=True)
        (uri / "metrics.json").write_text(json.dumps(metrics_doc))
    record_execution(
        store, "r3", "evaluate", {}, {"blessing": ("Blessing", str(uri), blessing_properties)}
    )
    return store


def test_show_prints_a_hostile_label_in_reasons_as_one_inert_line(tmp_path, capsys) -> None:
    reasons = [
        f"accuracy (label={TITLE}RED) = 0.43, required >= 0: PASS",
        f"accuracy (label={FORGED}) = 0, required >= 0: FAIL",
        "accuracy (label=\u202eLIAF) = 0, required >= 0: FAIL",
    ]
    properties = {"blessed": False, "reasons": reasons, "metrics": {"accuracy": 0.5}}
    store = _show_store(tmp_path, properties)
    store.finish_run("r3", "FAILED", error=f"component failed: bad label {TITLE}\nsecond line")
    assert main(["show", "r3", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    _assert_inert(out)
    assert "label=\\x1b]0;pwned\\x07RED) = 0.43" in out
    (forged,) = [line for line in out.splitlines() if "label=x) = 0" in line]
    assert forged.endswith("\\n      - accuracy (overall) = 0.99, required >= 0.9: PASS) = 0, "
                           "required >= 0: FAIL")  # fmt: skip
    assert not any(line.lstrip().startswith("- accuracy (overall)") for line in out.splitlines())
    assert "label=\\u202eLIAF" in out
    # A multi-line error keeps its lines, each escaped.
    assert "error: component failed: bad label \\x1b]0;pwned\\x07\n  second line" in out
    # What is stored stays exact.
    (blessing,) = store.find_artifacts("Blessing")
    assert blessing.properties["reasons"] == reasons
    store.close()


def test_runs_and_lineage_escape_recorded_values(tmp_path, capsys) -> None:
    store = MetadataStore(default_metadata_url(str(tmp_path)))
    store.start_run("r1", f"p{TITLE}")
    model = record_execution(
        store, "r1", "train", {}, {"model": ("Model", "/m", {"task": f"multi{TITLE}\nclass"})}
    )
    pushed = {"pushed": True, "version": 1, "destination": "/srv/sentiment/1"}
    record_execution(
        store, "r1", "push", {"model": model["model"]},
        {"pushed_model": ("PushedModel", "/push", pushed)},
    )  # fmt: skip
    store.finish_run("r1", "SUCCEEDED")
    store.close()
    assert main(["runs", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    _assert_inert(out)
    assert "p\\x1b]0;pwned\\x07" in out
    assert main(["lineage", "sentiment", "1", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    _assert_inert(out)
    assert "task=multi\\x1b]0;pwned\\x07\\nclass" in out


def test_an_error_message_on_stderr_is_escaped_line_by_line(tmp_path, capsys, monkeypatch):
    def fail(args):
        raise SeqlineError(f"component 'statistics' failed: ValueError: {TITLE}\n$\\frac$ ^")

    monkeypatch.setattr("seqline.pipeline.cli._cmd_runs", fail)
    assert main(["runs", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    _assert_inert(err)
    assert (
        err == "error: component 'statistics' failed: ValueError: \\x1b]0;pwned\\x07\n$\\frac$ ^\n"
    )


def _blessing(tmp_path, properties, metrics_doc=None):
    uri = tmp_path / "blessing"
    if metrics_doc is not None:
        uri.mkdir(parents=True, exist_ok=True)
        (uri / "metrics.json").write_text(json.dumps(metrics_doc))
    return new_artifact("Blessing", str(uri), "fp", {}, properties)


def test_the_run_summary_and_progress_escape_and_name_evaluates_split(tmp_path) -> None:
    doc = {"eval_split": "holdout", "baseline": {"fitted_on": "train"}}
    blessing = _blessing(tmp_path, {"blessed": True, "reasons": []}, doc)
    nodes = [
        NodeResult("train", "train", "a" * 64, "COMPLETE", 1.0, {"val_accuracy": 0.0806}),
        NodeResult(
            "evaluate", "evaluate_text", "b" * 64, "COMPLETE", 1.0,
            {"accuracy": 0.1373, "majority": f"{TITLE}\nPASS"}, {"blessing": blessing},
        ),
    ]  # fmt: skip
    text = run_summary(RunResult("r2", "hostile", "SUCCEEDED", nodes, 2.0, "sqlite://"))
    _assert_inert(text)
    (evaluate,) = [line for line in text.splitlines() if line.startswith("evaluate")]
    assert "on 'holdout': accuracy=0.1373, majority=\\x1b]0;pwned\\x07\\nPASS" in evaluate
    (train,) = [line for line in text.splitlines() if line.startswith("train")]
    assert "on '" not in train and "val_accuracy=0.0806" in train

    stream = io.StringIO()
    PrintProgress(stream).node_message(nodes[1], f"scoring label {TITLE}\nPASS")
    assert stream.getvalue() == "      evaluate: scoring label \\x1b]0;pwned\\x07\\nPASS\n"


def test_show_names_the_split_of_evaluates_metrics_and_reasons(tmp_path, capsys) -> None:
    from seqline.pipeline.report import _describe

    properties = {
        "blessed": True,
        "reasons": ["accuracy (overall) = 0.137255, required >= 0: PASS"],
        "metrics": {"loss": 2.1966, "accuracy": 0.1373, "example_count": 51.0},
    }
    doc = {"eval_split": "test", "baseline": {"fitted_on": "train"}}
    store = _show_store(tmp_path, properties, doc)
    assert main(["show", "r3", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "metrics on 'test' (51 examples):" in out
    assert "example_count          51\n" in out  # a count, not 51.0000
    assert "accuracy               0.1373" in out
    assert "reasons (figures on 'test'; majority baseline fitted on 'train'):" in out
    store.close()
    # A recorded eval_split property is read first; without either the split is said unknown.
    recorded = _blessing(tmp_path / "a", {**properties, "eval_split": "holdout"}, doc)
    assert _describe(recorded)[0] == "metrics on 'holdout' (51 examples):"
    unknown = _describe(_blessing(tmp_path / "b", properties))
    assert unknown[0] == "metrics (split not recorded) (51 examples):"


def test_show_says_what_a_refit_linear_baseline_was_trained_on(tmp_path) -> None:
    from seqline.pipeline.report import _describe

    properties = {"blessed": False, "reasons": ["accuracy (overall) beat linear: FAIL"]}
    note = (
        "trained on 'train' + 'eval' (300 examples; refit for 8 passes after early stopping "
        "on 'eval'), the candidate's training data; scored on 'test'"
    )
    linear = {"trained_on": "train", "trained_on_note": note}
    doc = {"eval_split": "test", "linear_baseline": {**linear, "refit": {"split": "eval"}}}
    lines = _describe(_blessing(tmp_path / "a", properties, doc))
    assert lines[:2] == [f"linear baseline {note}", "reasons (figures on 'test'):"]
    # Trained on the train split alone (no refit): show says what it always said.
    plain = {"eval_split": "test", "linear_baseline": {**linear, "refit": None}}
    assert _describe(_blessing(tmp_path / "b", properties, plain))[0] == (
        "reasons (figures on 'test'):"
    )


def test_the_run_summary_names_the_split_of_trains_val_figures(tmp_path) -> None:
    model = new_artifact("Model", str(tmp_path / "model"), "fp", {}, {"validation_split": "dev"})
    old = new_artifact("Model", str(tmp_path / "old"), "fp", {}, {})  # trained before stop 28
    summary = {"epochs_run": 3, "best_val_loss": 0.6912, "val_accuracy": 0.4321}
    nodes = [
        NodeResult("train", "train_text", "a" * 64, "COMPLETE", 1.0, summary, {"model": model}),
        NodeResult("old_train", "train_text", "b" * 64, "COMPLETE", 1.0, summary, {"model": old}),
    ]  # fmt: skip
    text = run_summary(RunResult("r4", "p", "SUCCEEDED", nodes, 2.0, "sqlite://"))
    (train,) = [line for line in text.splitlines() if line.startswith("train")]
    # the figures the header names come first, so the cell's cut (70) never drops them
    assert "val_* on 'dev': best_val_loss=0.6912, val_accuracy=0.4321, " in train
    (unknown,) = [line for line in text.splitlines() if line.startswith("old_train")]
    assert " on '" not in unknown and "epochs_run=3" in unknown


def test_the_run_summary_says_a_refit_models_val_figures_are_its_first_fits(tmp_path) -> None:
    model = new_artifact("Model", str(tmp_path / "model"), "fp", {}, {"validation_split": "eval"})
    summary = {
        "epochs_run": 9,
        "best_val_loss": 0.6912,
        "val_accuracy": 0.4321,
        "strategy": "default x1",
        "refit": "7 epoch(s) on train+eval",
    }
    nodes = [
        NodeResult("train", "train_text", "a" * 64, "COMPLETE", 1.0, summary, {"model": model})
    ]
    text = run_summary(RunResult("r6", "p", "SUCCEEDED", nodes, 1.0, "sqlite://"))
    (train,) = [line for line in text.splitlines() if line.startswith("train")]
    # The exported model trained on 'eval' after these figures: that comes first, the
    # figures right after it, neither cut.
    header = "first fit's val_* on 'eval', then refit 7 epoch(s) on train+eval: "
    assert header + "best_val_loss=0.6912, val_accuracy=0.4321" in train
    assert train.count("refit") == 1


def test_show_names_the_split_of_trains_val_figures_and_evaluates_from_the_property(
    tmp_path, capsys
) -> None:
    store = MetadataStore(default_metadata_url(str(tmp_path)))
    store.start_run("r5", "p")
    execution = store.start_execution("r5", "train", "train_text", "train-fp", {})
    properties = {"validation_split": "eval", "best_val_loss": 0.6912}
    store.record_output(
        execution, "model", uri=str(tmp_path / "model"), type_name="Model",
        fingerprint="train-fp", node_id="train", properties=properties, created_at=0.0,
    )  # fmt: skip
    summary = {"epochs_run": 3, "best_val_loss": 0.6912, "val_accuracy": 0.4321}
    store.finish_execution(execution, "COMPLETE", summary)
    # evaluate's split comes from its Blessing's property: no metrics.json exists here.
    blessing = {"blessed": True, "reasons": [], "metrics": {"accuracy": 0.5}, "eval_split": "test"}
    uri = str(tmp_path / "evaluate" / "blessing" / "fp")
    execution = store.start_execution("r5", "evaluate", "evaluate_text", "evaluate-fp", {})
    store.record_output(
        execution, "blessing", uri=uri, type_name="Blessing", fingerprint="evaluate-fp",
        node_id="evaluate", properties=blessing, created_at=0.0,
    )  # fmt: skip
    store.finish_execution(execution, "COMPLETE", {"accuracy": 0.5})
    store.close()
    assert main(["show", "r5", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    expected = "summary: val_* on 'eval': best_val_loss=0.6912, val_accuracy=0.4321, epochs_run=3"
    assert expected in out
    assert "summary: on 'test': accuracy=0.5" in out
    assert "metrics on 'test':" in out


def test_show_says_a_refit_models_weights_are_not_the_ones_its_val_figures_measured(
    tmp_path,
) -> None:
    from seqline.pipeline.report import _describe

    refit = {"split": "eval", "epochs": 3, "examples": 22465}
    model = new_artifact(
        "Model", str(tmp_path / "m"), "fp", {}, {"train_split": "train", "refit": refit}
    )
    assert _describe(model) == [
        "refit: the exported weights trained on 'train' + 'eval' (22465 examples) for 3 "
        "epoch(s); best_val_loss and val_* are the first fit's, on 'eval'"
    ]
    plain = new_artifact("Model", str(tmp_path / "p"), "fp", {}, {"train_split": "train"})
    assert _describe(plain) == []
