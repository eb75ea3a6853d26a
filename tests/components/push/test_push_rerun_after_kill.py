"""A push killed after publishing its version but before the run recorded it, in a real run:
the rerun adopts the version (no duplicate) and records it; lineage names the model from the
version's provenance marker while no push is recorded."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from seqline.components.push import deploy as deploy_module
from seqline.components.push import publish
from seqline.components.push.component import COMPONENT as PUSH
from seqline.components.push.component import PushConfig
from seqline.pipeline.artifact import ArtifactType
from seqline.pipeline.component import Component, ExecutionContext
from seqline.pipeline.dag import Node, OutputRef, Pipeline
from seqline.pipeline.dag import Node as DagNode
from seqline.pipeline.errors import ComponentFailed
from seqline.pipeline.metadata import MetadataStore, default_metadata_url
from seqline.pipeline.report import model_lineage, run_details
from seqline.pipeline.runner import Progress, run_pipeline
from tests.components.push.push_inputs import write_fake_saved_model


@dataclass(frozen=True)
class TrainConfig:
    quality: int = 1


def _train(ctx: ExecutionContext) -> dict:
    write_fake_saved_model(Path(ctx.outputs["model"].uri) / "saved_model")
    return {}


def _bless(ctx: ExecutionContext) -> dict:
    model = ctx.inputs["model"]
    verdict = {"blessed": True, "reasons": ["ok"], "model_fingerprint": model.fingerprint}
    ctx.outputs["blessing"].properties.update(verdict)
    ctx.outputs["infra_blessing"].properties.update(verdict)
    return {}


TRAIN = Component(
    name="train",
    inputs={},
    outputs={"model": ArtifactType.MODEL},
    config_type=TrainConfig,
    executor=_train,
)
BLESS = Component(
    name="bless",
    inputs={"model": ArtifactType.MODEL},
    outputs={"blessing": ArtifactType.BLESSING, "infra_blessing": ArtifactType.INFRA_BLESSING},
    config_type=TrainConfig,
    executor=_bless,
)


def _pipeline(
    root: Path, serving: Path, quality: int = 1, keep_versions: int = 5, bless_quality: int = 1
) -> Pipeline:
    model = OutputRef("train", "model")
    return Pipeline(
        "reviews",
        str(root),
        [
            Node(TRAIN, TrainConfig(quality)),
            Node(BLESS, TrainConfig(bless_quality), {"model": model}),
            Node(
                PUSH,
                PushConfig(
                    serving_root=str(serving), model_name="sentiment", keep_versions=keep_versions
                ),
                {
                    "model": model,
                    "blessing": OutputRef("bless", "blessing"),
                    "infra_blessing": OutputRef("bless", "infra_blessing"),
                },
            ),
        ],
    )


def test_a_push_killed_before_its_record_is_adopted_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, serving = tmp_path / "root", tmp_path / "serving"
    model_dir = serving / "sentiment"
    real_publish = deploy_module.publish_version

    def publish_then_die(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        real_publish(*args, **kwargs)
        raise RuntimeError("simulated kill -9 after the rename, before the record")

    monkeypatch.setattr(deploy_module, "publish_version", publish_then_die)
    with pytest.raises(ComponentFailed):
        run_pipeline(_pipeline(root, serving))
    monkeypatch.setattr(deploy_module, "publish_version", real_publish)
    assert publish.integer_versions(str(model_dir)) == [1]  # complete and servable...
    assert (model_dir / "1" / "saved_model.pb").is_file()

    store = MetadataStore(default_metadata_url(str(root)))
    try:
        (killed_run,) = [r["run_id"] for r in store.runs()]
        assert not store.find_artifacts("PushedModel")  # ...but not recorded
        text = model_lineage(store, "sentiment", 1, str(serving))
        model_fp = store.find_artifacts("Model")[0].fingerprint
        assert "push NOT recorded" in text
        assert f"run {killed_run} of pipeline 'reviews' (push," in text
        assert f"(fingerprint {model_fp})" in text

        rerun = run_pipeline(_pipeline(root, serving))
        assert [n.status for n in rerun.nodes] == ["CACHED", "CACHED", "COMPLETE"]
        pushed = rerun.node("push").outputs["pushed_model"].properties
        assert (pushed["version"], pushed["adopted"]) == (1, True)
        assert publish.integer_versions(str(model_dir)) == [1]  # no duplicate version 2
        # Recorded now: lineage finds the push that records version 1.
        text = model_lineage(store, "sentiment", 1)
        assert f"pushed by run {rerun.run_id}" in text
        assert f"adopted: run {killed_run} published these files and was stopped before" in text

        # A different model is a new version.
        changed = run_pipeline(_pipeline(root, serving, quality=2))
        pushed = changed.node("push").outputs["pushed_model"].properties
        assert (pushed["version"], pushed["adopted"]) == (2, False)
        assert sorted(os.listdir(model_dir)) == [".seqline-push.lock", "1", "2"]
    finally:
        store.close()


class _Messages(Progress):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def node_message(self, node: DagNode, message: str) -> None:
        self.lines.append(message)


def test_a_recorded_push_whose_cached_output_was_deleted_is_not_called_unrecorded(
    tmp_path: Path,
) -> None:
    """After push's cache folder was deleted by hand, the rerun adopted the version (right) but
    said "an earlier push published it but was not recorded", and lineage said that run "was
    stopped before recording them": that push was recorded."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    first = run_pipeline(_pipeline(root, serving))
    cached = Path(first.node("push").outputs["pushed_model"].uri)
    assert cached.is_dir()
    for path in sorted(cached.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    cached.rmdir()

    messages = _Messages()
    rerun = run_pipeline(_pipeline(root, serving), progress=messages)
    assert rerun.node("push").outputs["pushed_model"].properties["adopted"] is True
    (adopted,) = [line for line in messages.lines if line.startswith("adopted version 1")]
    assert "not recorded" not in adopted
    assert "its record or its cached output is missing" in adopted

    store = MetadataStore(default_metadata_url(str(root)))
    try:
        text = model_lineage(store, "sentiment", 1)
    finally:
        store.close()
    assert f"pushed by run {rerun.run_id}" in text
    assert "stopped before recording" not in text
    assert f"adopted: run {first.run_id} published these files and its push is recorded" in text


def test_a_version_adopted_by_a_push_with_other_inputs_is_not_called_unrecorded(
    tmp_path: Path,
) -> None:
    """The second run changed only bless's config: same model, so push (a new fingerprint, as
    its blessing input changed) adopted the version the first run published and recorded.
    Lineage said the first run "was stopped before recording them", while listing that
    recorded push right below."""
    root, serving = tmp_path / "root", tmp_path / "serving"
    first = run_pipeline(_pipeline(root, serving))
    second = run_pipeline(_pipeline(root, serving, bless_quality=2))
    pushed = second.node("push").outputs["pushed_model"]
    assert second.node("push").status == "COMPLETE"
    assert (pushed.properties["version"], pushed.properties["adopted"]) == (1, True)

    store = MetadataStore(default_metadata_url(str(root)))
    try:
        text = model_lineage(store, "sentiment", 1)
        shown = run_details(store, second.run_id)
    finally:
        store.close()
    # `show` does not call the publishing push unrecorded either.
    assert "unrecorded" not in shown
    assert "pushed as version 1 to " in shown and "(adopted: the version was already there" in shown
    assert f"pushed by run {second.run_id}" in text and f"pushed by run {first.run_id}" in text
    assert "stopped before recording" not in text
    assert (
        f"adopted: run {first.run_id} published these files and its push is recorded too; "
        "this push (its inputs or config differ, the model is the same) found them"
    ) in text


def test_lineage_of_a_version_retention_deleted_says_it_is_gone(tmp_path: Path) -> None:
    """`seqline lineage MODEL 1` after keep_versions deleted version 1 printed its path and
    tree with no word that the directory is gone, and an unknown version's error listed
    deleted versions among the recorded pushes as if they could be rolled back to."""
    from seqline.pipeline.errors import MetadataError

    root, serving = tmp_path / "root", tmp_path / "serving"
    run_pipeline(_pipeline(root, serving, keep_versions=1))
    run_pipeline(_pipeline(root, serving, quality=2, keep_versions=1))
    model_dir = serving / "sentiment"
    assert publish.integer_versions(str(model_dir)) == [2]

    store = MetadataStore(default_metadata_url(str(root)))
    try:
        gone = model_lineage(store, "sentiment", 1).splitlines()[0]
        kept = model_lineage(store, "sentiment", 2).splitlines()[0]
        with pytest.raises(MetadataError) as err:
            model_lineage(store, "sentiment", 7)
    finally:
        store.close()
    assert gone == (
        f"model 'sentiment' version 1 at {model_dir / '1'} (deleted since: retention or by hand)"
    )
    assert kept == f"model 'sentiment' version 2 at {model_dir / '2'}"
    message = str(err.value)
    assert f"{model_dir / '1'} (deleted since: retention or by hand)" in message
    assert f"{model_dir / '2'}'" in message or f"{model_dir / '2'}," in message
    assert f"{model_dir / '2'} (deleted" not in message
