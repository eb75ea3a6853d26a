"""`seqline lineage MODEL VERSION`: which data, transform and run produced a served version."""

from __future__ import annotations

import json

import pytest

from seqline.pipeline.artifacts import PushedModel
from seqline.pipeline.cli import main
from seqline.pipeline.metadata import MetadataStore
from tests.pipeline.metadata_records import record_execution


@pytest.fixture
def store(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path}/metadata.sqlite")
    for run_id, version in (("run-1", 1), ("run-2", 2)):
        store.start_run(run_id, "reviews")
        examples = ("Examples", f"/root/ingest/{run_id}", {"counts": {"train": 80, "eval": 20}})
        data = record_execution(store, run_id, "ingest_text", {}, {"examples": examples})
        transform_graph = ("TransformGraph", f"/root/tg/{run_id}", {"vocab_size": 1000 + version})
        graph = record_execution(
            store, run_id, "transform", {"examples": data["examples"]},
            {"transform_graph": transform_graph},
        )  # fmt: skip
        model = record_execution(
            store, run_id, "train", {"transform_graph": graph["transform_graph"]},
            {"model": ("Model", f"/root/model/{run_id}", {"epochs_run": 3})},
        )  # fmt: skip
        pushed = {
            "pushed": True,
            "version": version,
            "destination": f"/srv/models/sentiment/{version}",
        }
        record_execution(
            store, run_id, "push", {"model": model["model"]},
            {"pushed_model": ("PushedModel", f"/root/push/{run_id}", pushed)},
        )  # fmt: skip
        store.finish_run(run_id, "SUCCEEDED")
    yield store
    store.close()


def test_lineage_names_the_data_transform_and_run_behind_a_served_version(store, capsys):
    code = main(["lineage", "sentiment", "2", "--metadata-url", store.url])
    assert code == 0
    text = capsys.readouterr().out
    assert "model 'sentiment' version 2 at /srv/models/sentiment/2" in text
    assert "pushed by run run-2" in text
    assert "push <- model: Model /root/model/run-2" in text
    assert "train <- transform_graph: TransformGraph /root/tg/run-2" in text
    assert "vocab_size=1002" in text
    assert "transform <- examples: Examples /root/ingest/run-2" in text
    assert "run-1" not in text  # version 2 owes nothing to the first run


def test_unknown_version_lists_the_recorded_pushes(store, capsys):
    assert main(["lineage", "sentiment", "9", "--metadata-url", store.url]) == 2
    err = capsys.readouterr().err
    assert "no push of model 'sentiment' version 9" in err
    assert "/srv/models/sentiment/1" in err and "/srv/models/sentiment/2" in err
    # A serving root filter that does not match finds nothing either.
    assert main(["lineage", "sentiment", "2", "--serving-root", "/elsewhere",
                 "--metadata-url", store.url]) == 2  # fmt: skip


def _unrecorded_version(serving, version: int, marker: dict) -> None:
    """A version a push published (with its marker) and was killed before recording."""
    directory = serving / "sentiment" / str(version)
    (directory / "assets.extra").mkdir(parents=True)
    (directory / "saved_model.pb").write_bytes(b"graph")
    (directory / PushedModel.MARKER_FILE).write_text(json.dumps(marker))


def test_a_version_whose_push_was_not_recorded_is_traced_by_its_marker(store, tmp_path, capsys):
    serving = tmp_path / "serving"
    marker = {
        "model_fingerprint": "train-fp",
        "model_uri": "/root/model/run-2",
        "pipeline_name": "reviews",
        "run_id": "run-3",
        "node_id": "push",
        "seqline_version": "0.1.0",
        "published_at": "2026-12-07T11:00:00Z",
    }
    _unrecorded_version(serving, 3, marker)
    args = ["lineage", "sentiment", "3", "--serving-root", str(serving)]
    assert main([*args, "--metadata-url", store.url]) == 0
    text = capsys.readouterr().out
    assert f"model 'sentiment' version 3 at {serving / 'sentiment' / '3'}" in text
    assert "push NOT recorded" in text
    assert "run run-3 of pipeline 'reviews' (push, 2026-12-07T11:00:00Z)" in text
    assert "model /root/model/run-2 (fingerprint train-fp)" in text
    # The model itself is recorded: its own lineage follows.
    assert "produced by run run-2 (train)" in text
    assert "train <- transform_graph: TransformGraph /root/tg/run-2" in text
    assert "transform <- examples: Examples /root/ingest/run-2" in text

    # A model the store never saw is still named, from the marker alone.
    _unrecorded_version(serving, 4, {**marker, "model_fingerprint": "gone", "model_uri": "/x"})
    assert main(["lineage", "sentiment", "4", "--serving-root", str(serving),
                 "--metadata-url", store.url]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "model /x (fingerprint gone)" in text and "not recorded" in text

    # Without a record and without a marker (published by hand), the version stays unknown.
    (serving / "sentiment" / "5").mkdir()
    assert main(["lineage", "sentiment", "5", "--serving-root", str(serving),
                 "--metadata-url", store.url]) == 2  # fmt: skip
    assert "no push of model 'sentiment' version 5" in capsys.readouterr().err


def test_without_serving_root_the_roots_of_recorded_pushes_are_searched(store, tmp_path, capsys):
    serving = tmp_path / "serving"
    store.start_run("run-9", "reviews")
    model = record_execution(
        store, "run-9", "train", {}, {"model": ("Model", "/root/model/run-9", {})}
    )
    pushed = {"pushed": True, "version": 1, "destination": f"{serving}/sentiment/1"}
    record_execution(
        store, "run-9", "push", {"model": model["model"]},
        {"pushed_model": ("PushedModel", "/root/push/run-9", pushed)},
    )  # fmt: skip
    marker = {"model_fingerprint": "train-fp", "model_uri": "/root/model/run-9", "run_id": "r10"}
    _unrecorded_version(serving, 5, marker)
    assert main(["lineage", "sentiment", "5", "--metadata-url", store.url]) == 0
    text = capsys.readouterr().out
    assert "push NOT recorded" in text and "run r10" in text
    assert "model /root/model/run-9 (fingerprint train-fp)" in text


def test_an_unrecorded_version_that_is_not_the_newest_is_not_called_adoptable(
    store, tmp_path, capsys
):
    """A copied or mirrored serving root: version 3 has a marker and no record, but version 4
    is newer, so no rerun would adopt 3; lineage says no push at this path is recorded."""
    mirror = tmp_path / "mirror"
    marker = {"model_fingerprint": "train-fp", "model_uri": "/root/model/run-2",
              "pipeline_name": "reviews", "run_id": "run-3", "node_id": "push",
              "model_name": "sentiment", "published_at": "2026-12-07T11:00:00Z"}  # fmt: skip
    _unrecorded_version(mirror, 3, marker)
    _unrecorded_version(mirror, 4, {**marker, "run_id": "run-4"})
    assert main(["lineage", "sentiment", "3", "--serving-root", str(mirror),
                 "--metadata-url", store.url]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "no push at this path is recorded" in text
    assert "run run-3 of pipeline 'reviews'" in text
    assert "model /root/model/run-2 (fingerprint train-fp)" in text
    assert "rerunning that pipeline adopts" not in text
    # The newest one is what a killed push leaves: a rerun adopts it.
    assert main(["lineage", "sentiment", "4", "--serving-root", str(mirror),
                 "--metadata-url", store.url]) == 0  # fmt: skip
    assert "rerunning that pipeline adopts this version" in capsys.readouterr().out


def test_a_recorded_push_whose_marker_disagrees_with_the_record_warns(tmp_path, capsys):
    serving = tmp_path / "serving"
    store = MetadataStore(f"sqlite:///{tmp_path}/metadata.sqlite")
    store.start_run("run-1", "reviews")
    model = record_execution(
        store, "run-1", "train", {}, {"model": ("Model", "/root/model/run-1", {})}
    )
    for version, adopted in ((1, False), (2, False), (3, True)):
        pushed = {"pushed": True, "version": version, "adopted": adopted,
                  "destination": f"{serving}/sentiment/{version}"}  # fmt: skip
        record_execution(
            store, "run-1", "push", {"model": model["model"]},
            {"pushed_model": ("PushedModel", f"/root/push/{version}", pushed)},
        )  # fmt: skip
    matching = {"model_fingerprint": "train-fp", "model_uri": "/root/model/run-1"}
    _unrecorded_version(serving, 1, {**matching, "run_id": "run-1"})
    _unrecorded_version(serving, 2, {"model_fingerprint": "other-fp", "run_id": "run-7"})
    _unrecorded_version(serving, 3, {**matching, "run_id": "run-0"})

    def lineage(version: int) -> str:
        assert main(["lineage", "sentiment", str(version), "--metadata-url", store.url]) == 0
        return capsys.readouterr().out

    assert "WARNING" not in lineage(1)
    text = lineage(2)
    assert "WARNING: the version's provenance marker names model fingerprint other-fp" in text
    assert "but the recorded push pushed train-fp" in text
    assert "marker says run run-7 published it, but the record says run run-1" in text
    # An adopted version was published by another (killed) run: said, not warned about.
    text = lineage(3)
    assert "WARNING" not in text and "adopted: run run-0 published these files" in text
    store.close()
