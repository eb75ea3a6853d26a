"""What train leaves behind and says: the resume state of a killed training whose config then
changed is removed when a training of the node starts (never one another run is using), and
the dtype policy decision (mixed_precision on CPU) is shown and recorded on the Model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from seqline.components.train.config import EarlyStoppingConfig, ModelConfig, TrainTextConfig
from seqline.components.train.shell import remove_stale_work_dirs
from seqline.pipeline.artifact import Artifact, ArtifactType
from seqline.pipeline.artifacts import Model
from seqline.pipeline.locking import node_lock
from tests.components.context import make_context

from .conftest import TextArtifacts, train_context


def _work(root: Path, *fingerprints: str) -> Path:
    parent = root / "_work" / "train"
    for fingerprint in fingerprints:
        (parent / fingerprint / "backup").mkdir(parents=True)
        (parent / fingerprint / "best.weights.h5").write_bytes(b"weights")
    return parent


def _ctx(root: str, fingerprint: str = "newfp"):
    model = Artifact(ArtifactType.MODEL, f"{root}/train/model/.tmp-{fingerprint}-x", fingerprint)
    ctx = make_context(config=None, inputs={}, outputs={}, node_id="train", pipeline_root=root)
    return ctx, model


def test_a_new_fingerprint_removes_the_work_dirs_of_killed_older_configs(tmp_path: Path) -> None:
    parent = _work(tmp_path, "oldfp", "newfp")
    (parent / "note.txt").write_text("not a work dir")
    ctx, model = _ctx(str(tmp_path))
    assert remove_stale_work_dirs(ctx, model) == ["oldfp"]
    assert sorted(p.name for p in parent.iterdir()) == ["newfp", "note.txt"]  # its own kept
    assert (parent / "newfp" / "best.weights.h5").exists()


def test_a_work_dir_another_run_is_training_in_is_left_alone(tmp_path: Path) -> None:
    parent = _work(tmp_path, "busyfp", "deadfp")
    ctx, model = _ctx(str(tmp_path))
    # The runner holds this lock while it executes train with fingerprint busyfp (a flock of
    # another open file excludes this one, even in the same process).
    with node_lock(str(tmp_path), "train", "busyfp", "other-run"):
        assert remove_stale_work_dirs(ctx, model) == ["deadfp"]
        assert (parent / "busyfp" / "backup").is_dir()
    # Once that run has finished (or died: the kernel drops its lock), it goes too.
    assert remove_stale_work_dirs(ctx, model) == ["busyfp"]


def test_nothing_is_removed_without_a_local_root(tmp_path: Path) -> None:
    for root in ("", "gs://bucket/root"):
        ctx, model = _ctx(root)
        assert remove_stale_work_dirs(ctx, model) == []
    ctx, model = _ctx(str(tmp_path))  # no _work yet
    assert remove_stale_work_dirs(ctx, model) == []


@pytest.mark.slow  # one short training
def test_train_says_and_records_its_precision_and_removes_stale_work_dirs(
    text_artifacts: TextArtifacts, tmp_path: Path
) -> None:
    """mixed_precision: true on CPU trains in float32; docs/models.md promised the log says
    why, but it was a logger.info seen neither in the run output nor on the Model."""
    from seqline.components.train.text_component import COMPONENT

    config = TrainTextConfig(
        model=ModelConfig(units=8, embedding_dim=8, mixed_precision=True),
        epochs=1,
        batch_size=8,
        early_stopping=EarlyStoppingConfig(patience=5),
    )
    _work(tmp_path, "killedfp")  # a training killed before its config changed
    messages: list[str] = []
    ctx = replace(train_context(config, text_artifacts, tmp_path), progress=messages.append)
    COMPONENT.executor(ctx)
    model = ctx.outputs["model"]
    assert isinstance(model, Model)
    reason = "model.mixed_precision is true but there is no GPU: float16 is slower on CPU"
    assert any(m.startswith("precision: float32 (" + reason) for m in messages), messages
    assert model.precision is not None and model.precision["policy"] == "float32"
    assert model.precision["reason"].startswith(reason)
    assert any("removed the resume state of 1 earlier training" in m for m in messages)
    assert not (tmp_path / "_work" / "train" / "killedfp").exists()
