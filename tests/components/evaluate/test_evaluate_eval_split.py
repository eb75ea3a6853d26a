"""An eval_split the Examples do not have: evaluate says which node asked, which config key to
set, and which node wrote the Examples (a probe's custom ingest dropped the test split and got
"split: expected one of the Examples splits ...; set the config's split name")."""

from __future__ import annotations

import pytest

from seqline.components.evaluate.series_component import COMPONENT as EVALUATE_SERIES
from seqline.components.evaluate.text_component import COMPONENT as EVALUATE_TEXT
from seqline.pipeline.artifact import ArtifactType
from seqline.pipeline.errors import DataError
from seqline.pipeline.harness import input_artifact, run_component


@pytest.mark.parametrize(
    ("component", "examples_type", "task", "thresholds"),
    [
        (EVALUATE_TEXT, ArtifactType.EXAMPLES, "binary", {"accuracy": {"lower": 0.5}}),
        (EVALUATE_SERIES, ArtifactType.SERIES_WINDOWS, "forecast", {"mase": {"upper": 0.8}}),
    ],
)
def test_a_missing_eval_split_names_the_node_the_key_and_the_producer(
    tmp_path, component, examples_type, task, thresholds
):
    (tmp_path / "examples").mkdir()
    (tmp_path / "model").mkdir()
    examples = input_artifact(examples_type, tmp_path / "examples", splits=["train", "eval"])
    examples.producer["node_id"] = "custom"
    model = input_artifact(ArtifactType.MODEL, tmp_path / "model", task=task, labels=["a", "b"])
    with pytest.raises(DataError) as err:
        run_component(
            component,
            {"eval_split": "test", "thresholds": thresholds},
            {"examples": examples, "model": model},
            root=tmp_path / "root",
            node_id="evaluate",
        )
    assert str(err.value).startswith(
        "node 'evaluate': expected one of the "
        f"{examples_type} splits ['train', 'eval'] written by node 'custom' at "
        f"{tmp_path / 'examples'}, got 'test'; set components.evaluate.eval_split to one of "
        "them, or have node 'custom' write a 'test' split"
    )
