"""kill -9 in the middle of training, run again: training resumes at the right epoch."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from seqline.components.train.config import (
    EarlyStoppingConfig,
    ModelConfig,
    TrainTextConfig,
    to_json,
)

from .conftest import VENV_PYTHON, Killed, TextArtifacts, child_env, train_context

pytestmark = pytest.mark.slow

CHILD = Path(__file__).with_name("train_child.py")
CONFIG = TrainTextConfig(
    model=ModelConfig(units=8, embedding_dim=8),
    epochs=4,
    batch_size=8,
    learning_rate=0.01,
    early_stopping=EarlyStoppingConfig(patience=10),
)


def test_killed_training_resumes_at_the_next_epoch(
    text_artifacts: TextArtifacts, tmp_path: Path
) -> None:
    from seqline.components.train.history import read_history
    from seqline.components.train.tensorboard_logs import read_scalars
    from seqline.components.train.text_component import COMPONENT

    killed = subprocess.run(
        [
            VENV_PYTHON,
            str(CHILD),
            "--transform-graph",
            text_artifacts.transform_graph.uri,
            "--transformed-examples",
            text_artifacts.transformed_examples.uri,
            "--root",
            str(tmp_path),
            "--config-json",
            to_json(CONFIG),
            "--kill-after-epoch",
            "1",
        ],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    work = tmp_path / "_work" / "train" / "trainfp"
    assert (work / "backup").is_dir() and (work / "best.weights.h5").is_file()
    assert read_history(str(work / "history.csv"))["epoch"] == [0.0, 1.0]

    # Same fingerprint, fresh temporary outputs: what the runner does on the next run.
    ctx = train_context(CONFIG, text_artifacts, tmp_path)
    summary = COMPONENT.executor(ctx)

    assert summary["resumed_from_epoch"] == 2
    assert ctx.outputs["model_run"].properties["resumed_from_epoch"] == 2
    assert ctx.outputs["model"].properties["epochs_run"] == 4
    run = Path(ctx.outputs["model_run"].uri)
    history = read_history(str(run / "history.csv"))
    assert history["epoch"] == [0.0, 1.0, 2.0, 3.0]
    # Restored weights, not a fresh start: a new model's first-epoch loss is ~0.69 here, and
    # the first resumed epoch continues from the trained weights.
    assert history["loss"][2] < 0.6 * history["loss"][0]
    assert sorted(read_scalars(str(run / "tensorboard" / "train"))["epoch_loss"]) == [0, 1, 2, 3]
    assert (Path(ctx.outputs["model"].uri) / "saved_model" / "saved_model.pb").is_file()
    assert not work.exists()
    json.dumps(summary)


def test_killed_after_fit_returned_builds_the_model_from_its_checkpoint(
    text_artifacts: TextArtifacts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keras deletes backup/ as fit returns: a kill while the best weights are kept, the model
    exported or published must not train again from epoch 1 (fit.json marks fit finished)."""
    import dataclasses

    from seqline.components.train import training
    from seqline.components.train.text_component import COMPONENT

    config = dataclasses.replace(CONFIG, epochs=1, batch_size=16)
    work = tmp_path / "_work" / "train" / "trainfp"

    def killed(*_args: object) -> None:
        raise Killed("fit returned, the model not kept yet")

    with monkeypatch.context() as patch:
        patch.setattr(training, "_best_keras3_model", killed)
        with pytest.raises(Killed):
            COMPONENT.executor(train_context(config, text_artifacts, tmp_path))
    assert not (work / "backup").exists()  # the window: fit deleted its backup
    history = (work / "history.csv").read_text()
    checkpoint = (work / "best.weights.h5").read_bytes()

    lines: list[str] = []
    ctx = dataclasses.replace(
        train_context(config, text_artifacts, tmp_path), progress=lines.append
    )
    summary = COMPONENT.executor(ctx)
    assert not any(line.startswith("epoch") for line in lines)
    assert any(line.startswith("fit finished in an earlier attempt") for line in lines)
    run = Path(ctx.outputs["model_run"].uri)
    assert (run / "history.csv").read_text() == history  # no rows appended by a second fit
    assert (run / "checkpoints" / "best.weights.h5").read_bytes() == checkpoint
    assert summary["epochs_run"] == 1 and summary["resumed_from_epoch"] == 1
    assert ctx.outputs["model"].properties["best_epoch"] == 0
