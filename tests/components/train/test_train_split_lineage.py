"""train finds the Examples its transformed examples were made from (UpstreamExamples, over a
real metadata store) to record their split definition in the Model's split_lineage; both
ingest components record one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqline.components.ingest_series.component import split_definition
from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.train.series_component import COMPONENT as TRAIN_SERIES
from seqline.components.train.split_lineage import UpstreamExamples
from seqline.components.train.text_component import COMPONENT as TRAIN_TEXT
from seqline.pipeline.artifact import Artifact, ArtifactType, write_descriptor
from seqline.pipeline.artifacts import Examples
from seqline.pipeline.metadata import MetadataStore
from seqline.pipeline.resolvers import ResolverQuery
from tests.pipeline.metadata_records import record_execution

SPLIT = {"ingest": "ingest_text", "split_by": "hash", "ratios": {"train": 1.0}, "key": "k"}


@pytest.fixture
def store(tmp_path: Path):
    store = MetadataStore(f"sqlite:///{tmp_path}/metadata.sqlite")
    yield store
    store.close()


def _pipeline(store: MetadataStore, root: Path, examples_type: str) -> Artifact:
    """ingest -> schema -> transform, as the runner records them; returns the transformed
    examples train is wired to."""
    store.start_run("run-1", "p")
    examples = Artifact(
        examples_type, str(root / "ingest"), "ingest-fp", properties={"split_definition": SPLIT}
    )
    (root / "ingest").mkdir()
    write_descriptor(examples, examples.uri)
    ingest = record_execution(
        store, "run-1", "ingest", {},
        {"examples": (examples_type, examples.uri, examples.properties)},
    )  # fmt: skip
    schema = record_execution(
        store, "run-1", "schema", {}, {"schema": ("Schema", str(root / "s"), {})}
    )
    transformed = str(root / "transformed")
    record_execution(
        store, "run-1", "transform", {"examples": ingest["examples"], "schema": schema["schema"]},
        {"transformed_examples": (ArtifactType.TRANSFORMED_EXAMPLES, transformed, {})},
    )  # fmt: skip
    return Artifact(ArtifactType.TRANSFORMED_EXAMPLES, transformed, "transform-fp")


def _resolve(store: MetadataStore, root: Path, transformed: Artifact, resolver: UpstreamExamples):
    query = ResolverQuery(
        store, "p", str(root), "train", None, {"transformed_examples": transformed}
    )
    return resolver.resolve(query)


def test_train_resolves_the_examples_upstream_of_its_transformed_examples(
    store: MetadataStore, tmp_path: Path
) -> None:
    transformed = _pipeline(store, tmp_path, ArtifactType.EXAMPLES)
    found = _resolve(store, tmp_path, transformed, UpstreamExamples())
    assert isinstance(found, Examples)
    assert found.uri == str(tmp_path / "ingest") and found.split_definition == SPLIT
    # The same answer every time (a resolver must be stable for the cache).
    assert _resolve(store, tmp_path, transformed, UpstreamExamples()).uri == found.uri
    # The folder gone: the store still has the properties.
    (tmp_path / "ingest" / "artifact.json").unlink()
    again = _resolve(store, tmp_path, transformed, UpstreamExamples())
    assert again is not None and again.properties["split_definition"] == SPLIT
    # Another type upstream (train_series looks for SeriesWindows) or an unknown input: none.
    series = UpstreamExamples(type_name=ArtifactType.SERIES_WINDOWS)
    assert _resolve(store, tmp_path, transformed, series) is None
    unknown = Artifact(ArtifactType.TRANSFORMED_EXAMPLES, "/elsewhere", "x")
    assert _resolve(store, tmp_path, unknown, UpstreamExamples()) is None


def test_series_windows_are_resolved_for_train_series(store: MetadataStore, tmp_path: Path):
    transformed = _pipeline(store, tmp_path, ArtifactType.SERIES_WINDOWS)
    found = _resolve(store, tmp_path, transformed, TRAIN_SERIES.resolved["examples"])
    assert found is not None and found.type_name == ArtifactType.SERIES_WINDOWS


def test_both_train_components_resolve_their_examples() -> None:
    assert set(TRAIN_TEXT.resolved) == {"warm_start_model", "examples"}
    assert TRAIN_TEXT.resolved["examples"].type_name == ArtifactType.EXAMPLES
    assert set(TRAIN_SERIES.resolved) == {"examples"}
    assert "examples" not in TRAIN_TEXT.inputs  # resolved, never wired


def test_ingest_series_records_its_split_definition() -> None:
    base = {"source": "d.csv", "frequency": "1h"}
    fraction = IngestSeriesConfig(**base)  # type: ignore[arg-type]
    assert split_definition(fraction) == {
        "ingest": "ingest_series",
        "split_by": "fraction",
        "splits": ["train", "eval", "test"],
        "fractions": [0.7, 0.15, 0.15],
    }
    time_a = IngestSeriesConfig(
        **base,
        split_by="time",
        split_cuts=("2000-08-01", "2000-08-15"),  # type: ignore[arg-type]
    )
    time_b = IngestSeriesConfig(
        **base,  # type: ignore[arg-type]
        split_by="time",
        split_cuts=("2000-08-01T00:00:00", "2000-08-15T00:00:00Z"),
    )
    # Two spellings of the same instants are one definition; it is plain JSON.
    assert split_definition(time_a) == split_definition(time_b)
    assert split_definition(time_a)["cuts_us"] == [965088000000000, 966297600000000]
    assert json.loads(json.dumps(split_definition(time_a))) == split_definition(time_a)
