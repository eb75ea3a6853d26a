"""`seqline lineage MODEL VERSION`: which data, transform and run produced a served version."""

from __future__ import annotations

import pytest

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
