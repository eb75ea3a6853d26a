"""A published artifact whose artifact.json was cut (a full disk, a bad copy) is a damaged
artifact: its node runs again, with a warning naming the file; elsewhere the error names it and
says what to do. It was a JSONDecodeError traceback in every later run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqline.pipeline.artifact import DamagedArtifact, read_artifact
from seqline.pipeline.errors import SeqlineError
from seqline.pipeline.node_run import run_node
from seqline.pipeline.runner import run_pipeline
from tests.pipeline.test_runner import calls, make_pipeline


def _truncate(descriptor: Path, size: int = 40) -> None:
    descriptor.write_bytes(descriptor.read_bytes()[:size])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"type": "Examples", "uri"', "not valid JSON"),
        ("", "empty"),
        ("[1, 2]", "a JSON list, not an object"),
        ('{"type": "Examples"}', "no uri, fingerprint"),
    ],
)
def test_read_artifact_names_a_damaged_descriptor_and_what_to_do(tmp_path, text, problem):
    (tmp_path / "artifact.json").write_text(text)
    with pytest.raises(DamagedArtifact) as err:
        read_artifact(str(tmp_path))
    message = str(err.value)
    assert isinstance(err.value, SeqlineError)
    assert f"artifact descriptor {tmp_path / 'artifact.json'} is damaged ({problem}" in message
    assert f"Remove the folder {tmp_path}" in message and "runs again" in message


def test_a_truncated_descriptor_runs_its_node_again_with_one_warning(tmp_path, caplog):
    root, log = tmp_path / "root", tmp_path / "calls.txt"
    first = run_pipeline(make_pipeline(root, str(log)))
    examples = Path(first.node("write_numbers").outputs["examples"].uri)
    _truncate(examples / "artifact.json")

    with caplog.at_level("WARNING"):
        second = run_pipeline(make_pipeline(root, str(log)))
    # Same fingerprint, republished in place; sum_numbers' inputs are unchanged, so it is cached.
    assert [n.status for n in second.nodes] == ["COMPLETE", "CACHED"]
    assert calls(log) == ["write_numbers", "sum_numbers", "write_numbers"]
    assert json.loads((examples / "artifact.json").read_text())["properties"] == {
        "count": 5,
        "splits": ["train"],
    }
    warnings = [
        r.getMessage() for r in caplog.records if "running the node again" in r.getMessage()
    ]
    assert len(warnings) == 1, warnings
    assert str(examples / "artifact.json") in warnings[0] and "is damaged" in warnings[0]
    third = run_pipeline(make_pipeline(root, str(log)))
    assert [n.status for n in third.nodes] == ["CACHED", "CACHED"]


def test_a_damaged_output_is_warned_about_once(tmp_path, caplog):
    """The runner looks at the cache before and after taking the node's lock; the warning
    was logged at both."""
    root = tmp_path / "root"
    first = run_pipeline(make_pipeline(root))
    (Path(first.node("sum_numbers").outputs["model"].uri) / "total.json").unlink()
    with caplog.at_level("WARNING"):
        run_pipeline(make_pipeline(root))
    warnings = [r for r in caplog.records if "running the node again" in r.getMessage()]
    assert len(warnings) == 1 and "missing: total.json" in warnings[0].getMessage()


def test_a_damaged_artifact_read_from_the_metadata_store_is_a_clear_error(tmp_path):
    """An orchestrated node reads its upstream's outputs recorded under the run id."""
    root = tmp_path / "root"
    pipeline = make_pipeline(root)
    run_node(pipeline, "write_numbers", "nightly-1")
    examples = root / "write_numbers" / "examples"
    (published,) = [p for p in examples.iterdir() if not p.name.startswith(".")]
    _truncate(published / "artifact.json")
    with pytest.raises(DamagedArtifact, match=r"artifact descriptor .*artifact\.json is damaged"):
        run_node(pipeline, "sum_numbers", "nightly-1")
