"""The intent example (examples/intent/): its loader turns chatterbot-corpus's topic files into
labelled short texts (deduplicated, ambiguous texts and tiny topics dropped), the real corpus
gives >= 17 classes, and the text pipeline runs on a small subset of it."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

from seqline.pipeline.config_file import read_config, settings_from_mapping

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "intent"


def _prepare():
    spec = importlib.util.spec_from_file_location("intent_prepare", EXAMPLE / "prepare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_topic(folder: Path, topic: str, conversations: list[list[str]]) -> None:
    import yaml

    text = yaml.safe_dump({"categories": [topic], "conversations": conversations})
    (folder / f"{topic}.yml").write_text(text, encoding="utf-8")


def test_loader_deduplicates_and_drops_ambiguous_texts_and_small_topics(tmp_path):
    prepare = _prepare()
    _write_topic(
        tmp_path,
        "money",
        [["What is a loan?", "Money you  borrow."], ["what is a LOAN?", "A debt."]],
    )
    _write_topic(tmp_path, "food", [["Do you eat?", "Money you borrow."], ["Pizza", "Pasta"]])
    _write_topic(tmp_path, "tiny", [["Hi"]])
    rows = prepare.load_intents(tmp_path, min_texts=2)
    # Whitespace is normalised and case-insensitive duplicates kept once; "Money you borrow."
    # is under two topics, so it is dropped; "tiny" has 1 text (< 2), so it is dropped.
    assert rows == [
        ("Do you eat?", "food"),
        ("Pasta", "food"),
        ("Pizza", "food"),
        ("A debt.", "money"),
        ("What is a loan?", "money"),
    ]


def test_the_real_corpus_has_at_least_17_classes():
    pytest.importorskip("chatterbot_corpus", reason="pip install 'seqline[intent]'")
    rows = _prepare().load_intents()
    labels = sorted({label for _, label in rows})
    assert len(labels) >= 17 and len(rows) > 1500
    config = read_config(EXAMPLE / "pipeline.yaml")
    assert config["components"]["ingest_text"]["labels"] == labels
    assert len({text.lower() for text, _ in rows}) == len(rows)


@pytest.mark.slow
def test_the_pipeline_trains_and_blesses_on_test_with_a_subset(tmp_path):
    """Every third text per class, 3 epochs: the example's whole pipeline, small enough for CI."""
    pytest.importorskip("chatterbot_corpus", reason="pip install 'seqline[intent]'")
    from seqline.pipeline.config_file import build_pipeline
    from seqline.pipeline.runner import run_pipeline

    prepare = _prepare()
    rows = prepare.load_intents()
    prepare.write_csv(tmp_path / "data" / "intents.csv", rows[::3])
    data = read_config(EXAMPLE / "pipeline.yaml")
    data["root"] = str(tmp_path / "root")
    components = data["components"]
    components["train"]["epochs"] = 3
    components["push"]["serving_root"] = str(tmp_path / "serving")
    pipeline = build_pipeline(settings_from_mapping(data, base_dir=str(tmp_path)))

    result = run_pipeline(pipeline)
    assert result.status == "SUCCEEDED", [(n.node_id, n.status, n.error) for n in result.nodes]
    examples = result.node("ingest_text").outputs["examples"]
    counts = examples.properties["counts"]
    assert sum(counts.values()) == len(rows[::3]) and counts["test"] > 0
    evaluate = result.node("evaluate")
    metrics_file = Path(evaluate.outputs["blessing"].path("metrics.json"))
    import json

    metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
    assert metrics["eval_split"] == "test"
    assert 0.0 <= metrics["model"]["accuracy"] <= 1.0
    # The served model predicts one of the 20 topics for a raw message.
    import tensorflow as tf

    model = result.node("train").outputs["model"]
    serve = tf.saved_model.load(model.path("saved_model")).signatures["predict_text"]
    out = serve(text=tf.constant(["Do you like pizza?"]))
    assert out["probabilities"].shape == (1, len(components["ingest_text"]["labels"]))
    with open(tmp_path / "data" / "intents.csv", encoding="utf-8") as f:
        assert next(csv.reader(f)) == ["text", "label"]
