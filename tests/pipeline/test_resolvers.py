"""Resolved inputs: found before fingerprinting, part of the fingerprint and of the lineage."""

from __future__ import annotations

import pytest

from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.errors import DataError
from seqline.pipeline.metadata import MetadataStore
from seqline.pipeline.runner import run_pipeline
from tests.pipeline import toy_resolved as toy


def model_pipeline(root, serving, quality, log="", model_name=""):
    model = {"model": OutputRef("train", "model")}
    return Pipeline(
        "abtest",
        str(root),
        [
            Node(toy.TRAIN, toy.TrainConfig(quality=quality, calls_log=log)),
            Node(toy.EVALUATE, toy.EvaluateConfig(model_name, calls_log=log), model),
            Node(
                toy.PUSH,
                toy.PushConfig(serving_dir=str(serving)),
                {**model, "blessing": OutputRef("evaluate", "blessing")},
            ),
        ],
    )


def statuses(result):
    return {n.node_id: n.status for n in result.nodes}


def test_a_b_a_reevaluates_against_the_newest_blessed_model(tmp_path):
    root, serving, log = tmp_path / "root", tmp_path / "serving", tmp_path / "calls"
    first = run_pipeline(model_pipeline(root, serving, 1, str(log)))
    blessing = first.node("evaluate").outputs["blessing"]
    assert blessing.properties["baseline_model_uri"] is None
    assert first.node("push").outputs["pushed_model"].properties["version"] == 1

    second = run_pipeline(model_pipeline(root, serving, 2, str(log)))
    assert second.node("evaluate").outputs["blessing"].properties["baseline_version"] == 1
    assert second.node("push").outputs["pushed_model"].properties["version"] == 2

    third = run_pipeline(model_pipeline(root, serving, 1, str(log)))
    assert statuses(third) == {"train": "CACHED", "evaluate": "COMPLETE", "push": "COMPLETE"}
    blessing = third.node("evaluate").outputs["blessing"].properties
    assert blessing["baseline_model_uri"] == second.node("train").outputs["model"].uri
    assert blessing["baseline_version"] == 2
    assert third.node("push").outputs["pushed_model"].properties["version"] == 3

    # Nothing changed since: the baseline resolves to the same model, so all is cached.
    fourth = run_pipeline(model_pipeline(root, serving, 1, str(log)))
    assert set(statuses(fourth).values()) == {"CACHED"}
    assert log.read_text().split().count("evaluate") == 3

    # The resolved baseline is an input of the third evaluate execution (lineage).
    store = MetadataStore(third.metadata_url)
    evaluate = [e for e in store.executions(third.run_id) if e.node_id == "evaluate"][0]
    inputs = {name: a.uri for name, a in store.artifacts_of(evaluate.id, "input")}
    assert inputs == {
        "model": first.node("train").outputs["model"].uri,
        "baseline_model": second.node("train").outputs["model"].uri,
    }


def test_the_executor_is_told_why_no_baseline_model_was_resolved(tmp_path):
    root, serving = tmp_path / "root", tmp_path / "serving"
    first = run_pipeline(model_pipeline(root, serving, 1))
    note = first.node("evaluate").outputs["blessing"].properties["baseline_note"]
    assert note == "no blessed baseline model yet: first run"
    # The same model evaluated again (evaluate's config changed): it is the only blessed model,
    # which is not a first run.
    again = run_pipeline(model_pipeline(root, serving, 1, model_name="train"))
    assert statuses(again) == {"train": "CACHED", "evaluate": "COMPLETE", "push": "COMPLETE"}
    blessing = again.node("evaluate").outputs["blessing"].properties
    assert blessing["baseline_model_uri"] is None
    assert blessing["baseline_note"] == (
        "the only blessed model is this candidate itself (evaluated again): no other blessed "
        "model to compare with"
    )
    # A baseline was found: no note.
    second = run_pipeline(model_pipeline(root, serving, 2))
    assert second.node("evaluate").outputs["blessing"].properties["baseline_note"] is None


def test_why_no_blessed_model_counts_what_was_skipped(tmp_path):
    from seqline.pipeline.resolvers import LatestBlessedModel, ResolverQuery

    root, serving = tmp_path / "root", tmp_path / "serving"
    first = run_pipeline(model_pipeline(root, serving, 1))
    store = MetadataStore(first.metadata_url)
    model = first.node("train").outputs["model"]
    other = type(model)(model.type_name, model.uri, "other", dict(model.producer))
    other.properties.update({**model.properties, "labels": ["a", "b", "c"]})
    query = ResolverQuery(store, "abtest", str(root), "evaluate", toy.EvaluateConfig(),
                          {"model": other})  # fmt: skip
    resolver = LatestBlessedModel()
    assert resolver.resolve(query) is None
    assert resolver.why_none(query) == (
        "no usable blessed model: 1 blessing(s) skipped: labels differ from the candidate's (1)"
    )
    empty = ResolverQuery(store, "other-pipeline", str(root), "evaluate", toy.EvaluateConfig(),
                          {"model": other})  # fmt: skip
    assert resolver.why_none(empty) == "no blessed baseline model yet: first run"


def test_a_deleted_baseline_model_is_skipped(tmp_path):
    root, serving = tmp_path / "root", tmp_path / "serving"
    first = run_pipeline(model_pipeline(root, serving, 1))
    second = run_pipeline(model_pipeline(root, serving, 2))
    saved = first.node("train").outputs["model"].path("saved_model", "saved_model.pb")
    import os

    os.remove(saved)
    third = run_pipeline(model_pipeline(root, serving, 3))
    blessing = third.node("evaluate").outputs["blessing"].properties
    assert blessing["baseline_model_uri"] == second.node("train").outputs["model"].uri
    fourth = run_pipeline(model_pipeline(root, serving, 4))
    # the newest blessed (3) is used; 1 is gone
    assert fourth.node("evaluate").outputs["blessing"].properties["baseline_version"] == 3


def span_pipeline(root, span, reject=()):
    stats = {"statistics": OutputRef("statistics", "statistics")}
    return Pipeline(
        "spans",
        str(root),
        [
            Node(toy.STATISTICS, toy.SpanConfig(span=span)),
            Node(toy.SCHEMA, toy.SchemaConfig(), stats),
            Node(toy.VALIDATE, toy.ValidateConfig(reject_spans=tuple(reject)), stats),
        ],
    )


def test_previous_accepted_span_and_previous_schema_are_resolved_stably(tmp_path):
    root = tmp_path / "root"
    first = run_pipeline(span_pipeline(root, 1))
    assert first.node("validate").outputs["anomalies"].properties["compared_with_span"] is None
    assert first.node("schema").outputs["schema"].properties["from_span"] == 1
    # Same span again: the resolvers skip what this span produced, so nothing reruns.
    assert set(statuses(run_pipeline(span_pipeline(root, 1))).values()) == {"CACHED"}

    with pytest.raises(DataError, match="span 2 is anomalous"):
        run_pipeline(span_pipeline(root, 2, reject=[2]))
    third = run_pipeline(span_pipeline(root, 3))
    # span 2 failed validation, so span 3 is compared with the last accepted span, 1
    assert third.node("validate").outputs["anomalies"].properties["compared_with_span"] == 1
    # the first span's schema governs later spans
    assert third.node("schema").outputs["schema"].properties["from_span"] == 1
    assert set(statuses(run_pipeline(span_pipeline(root, 3))).values()) == {"CACHED"}


def test_a_previous_schema_damaged_since_it_was_published_is_skipped(tmp_path, caplog):
    """schema failed with advice about curated_schema (which the user never set) when the
    previous span's schema.pbtxt had been deleted."""
    import os

    root = tmp_path / "root"
    first = run_pipeline(span_pipeline(root, 1))
    os.remove(first.node("schema").outputs["schema"].path("schema.pbtxt"))
    with caplog.at_level("WARNING"):
        second = run_pipeline(span_pipeline(root, 2))
    assert second.node("schema").outputs["schema"].properties["from_span"] == 2
    assert "skipping the Schema at" in caplog.text and "missing: schema.pbtxt" in caplog.text


def test_a_drift_baseline_deleted_since_publishing_is_skipped_with_a_warning(tmp_path, caplog):
    """Statistics of the accepted span deleted by hand used to turn into "no baseline" (drift
    not checked) without a word."""
    import shutil

    root = tmp_path / "root"
    first = run_pipeline(span_pipeline(root, 1))
    gone = first.node("statistics").outputs["statistics"].uri
    shutil.rmtree(gone)
    with caplog.at_level("WARNING"):
        second = run_pipeline(span_pipeline(root, 2))
    assert second.node("validate").outputs["anomalies"].properties["compared_with_span"] is None
    assert f"at {gone} as a resolved input: it is gone" in caplog.text
