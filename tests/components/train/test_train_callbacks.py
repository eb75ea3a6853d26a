"""components/train/callbacks.py: progress inside long epochs (steps, steps/s, ETA), paced."""

from __future__ import annotations

import re
from pathlib import Path

from seqline.components.train.callbacks import StepProgress, WorkPaths, make_callbacks
from seqline.components.train.config import TrainTextConfig


class FakeClock:
    """A clock the test advances by hand (no sleeping)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_step_progress_is_paced_and_gives_steps_rate_and_eta() -> None:
    clock = FakeClock()
    pacing = StepProgress(epochs=3, interval_s=10.0, clock=clock)
    pacing.start_epoch(1)
    lines = []
    for done in range(1, 13):  # one step every 4 s: 0.25 steps/s
        clock.now += 4.0
        lines.append(pacing.step(done, 12))
    shown = [(i + 1, line) for i, line in enumerate(lines) if line is not None]
    assert [step for step, _ in shown] == [3, 6, 9, 12]  # at most one line per 10 s
    assert shown[0][1] == "epoch 2/3: step 3/12, 0.2 steps/s, ETA 0:36"
    assert shown[-1][1].endswith("step 12/12, 0.2 steps/s, ETA 0:00")


def test_step_progress_without_a_known_epoch_length_has_no_eta() -> None:
    clock = FakeClock()
    pacing = StepProgress(epochs=1, interval_s=1.0, clock=clock)
    pacing.start_epoch(0)
    clock.now += 2.0
    assert pacing.step(50, None) == "epoch 1/1: step 50, 25.0 steps/s"
    assert pacing.step(51, None) is None  # no time has passed


def test_a_tiny_model_reports_step_counts_through_the_progress_callback(tmp_path: Path) -> None:
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    messages: list[str] = []
    config = TrainTextConfig(epochs=2)
    callbacks, _recorder = make_callbacks(
        keras,
        config,
        WorkPaths(str(tmp_path / "work")),
        str(tmp_path / "history.csv"),
        None,
        messages.append,
        write_summaries=False,
        step_progress=StepProgress(config.epochs, interval_s=0.0),  # every step, for the test
    )
    x = np.ones((16, 3), dtype="float32")
    model.fit(x, x[:, :1], batch_size=4, epochs=2, validation_data=(x, x[:, :1]),
              callbacks=callbacks, verbose=0)  # fmt: skip
    steps = [m for m in messages if "step" in m]
    found = [
        re.match(r"epoch (\d)/2: step (\d)/4, [\d.]+ steps/s(, ETA \d+:\d\d)?$", m) for m in steps
    ]
    assert all(found), steps
    assert [(int(m[1]), int(m[2])) for m in found] == [(e, s) for e in (1, 2) for s in range(1, 5)]
    assert [m for m in messages if "step" not in m][0].startswith("epoch 1/2: loss=")


def test_an_epoch_with_a_nan_loss_is_never_kept_as_the_best(tmp_path: Path) -> None:
    """Keras counts the first epoch as an improvement whatever its value: a model that
    diverged in epoch 1 was kept as best.weights.h5 and exported."""
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e30), loss="mse")
    paths = WorkPaths(str(tmp_path / "work"))
    callbacks, _ = make_callbacks(
        keras, TrainTextConfig(epochs=2), paths, str(tmp_path / "h.csv"), None, print,
        write_summaries=False,
    )  # fmt: skip
    x = np.full((16, 3), 1e3, dtype="float32")
    model.fit(x, x[:, :1], batch_size=4, epochs=2, validation_data=(x, x[:, :1]),
              callbacks=callbacks, verbose=0)  # fmt: skip
    assert not np.isfinite(model.get_weights()[0]).all()  # it did diverge
    assert not Path(paths.best_weights).exists()
