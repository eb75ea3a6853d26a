"""The demo: generate a labelled review corpus, run the whole text pipeline, query the result.

    python examples/demo.py [--reviews 3000]

1. Writes a deterministic synthetic corpus to demo-output/data/reviews.csv (unchanged bytes on
   a re-run, so the ingest fingerprint stays the same).
2. Runs examples/demo/pipeline.yaml: ingest_text -> transform -> train -> evaluate -> push,
   printing progress per component and a summary table. A second run executes no component.
3. Prints where the model was pushed and a prediction made by loading the pushed SavedModel
   (with TensorFlow alone) and calling its `predict_text` signature.
4. Series: writes two generated hourly series (trend + season + noise, one covariate) to
   demo-output/data/series.csv, runs examples/demo/series.yaml (ingest_series -> ... -> push,
   the forecaster judged against naive baselines) and prints a 12-step forecast of the pushed
   model, recursive beyond its 3-step horizon (seqline.serving.client.forecasting).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "demo" / "pipeline.yaml"
SERIES_CONFIG = HERE / "demo" / "series.yaml"
OUTPUT = HERE.parent / "demo-output"
SAMPLES = (
    "An absolutely wonderful film, the acting was brilliant and I loved every minute.",
    "Dull, boring and far too long. A terrible waste of time.",
)


def predict_with_pushed_model(version_dir: str, texts: tuple[str, ...]) -> list[str]:
    """Loads the pushed SavedModel with TensorFlow only and formats its predictions."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    model = tf.saved_model.load(version_dir)
    outputs = model.signatures["predict_text"](text=tf.constant(list(texts)))
    probabilities = outputs["probabilities"].numpy()
    classes = [c.decode() for c in outputs["classes"].numpy()]
    return [
        f"{label:>4} (p={probs.max():.3f})  {text}"
        for text, label, probs in zip(texts, classes, probabilities, strict=True)
    ]


def _write_if_changed(path: Path, write: Callable[[Path], object]) -> None:
    """Writes via write(tmp path), keeping the old file (and its mtime, so ingest stays cached)
    when the bytes are the same."""
    fresh = path.with_name(path.name + ".new")
    write(fresh)
    if path.exists() and path.read_bytes() == fresh.read_bytes():
        fresh.unlink()
    else:
        fresh.replace(path)


def _run_until_pushed(config: Path, what: str) -> dict[str, Any] | int:
    """Runs the pipeline in `config` with progress and a summary table; returns the push
    node's properties when `what` was pushed, else the exit code (2 error, 1 not pushed)."""
    from seqline.pipeline.config_file import load_pipeline
    from seqline.pipeline.errors import SeqlineError
    from seqline.pipeline.report import PrintProgress, run_summary
    from seqline.pipeline.runner import run_pipeline

    try:
        pipeline = load_pipeline(config)
        print(f"pipeline '{pipeline.name}' ({config.relative_to(HERE.parent)}) -> {pipeline.root}")
        result = run_pipeline(pipeline, progress=PrintProgress())
    except SeqlineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print()
    print(run_summary(result))
    pushed = result.node("push").outputs["pushed_model"].properties
    print()
    if not pushed.get("pushed"):
        print(f"{what} not pushed: {pushed.get('reason')}")
        return 1
    print(f"{what} pushed as version {pushed['version']} to {pushed['destination']}")
    return pushed


def run_series_demo() -> int:
    """The series part: generate, run the series pipeline, forecast with the pushed model."""
    from seqline.components.ingest_series.synthetic import write_synthetic_series

    _write_if_changed(
        OUTPUT / "data" / "series.csv",
        lambda p: write_synthetic_series(
            p, n_points=300, seed=2026, n_series=2, covariates=1, season_length=12
        ),
    )
    pushed = _run_until_pushed(SERIES_CONFIG, "forecaster")
    if isinstance(pushed, int):
        return pushed
    print("12-step forecast of series s0 from the pushed SavedModel (recursive beyond 3 steps):")
    for line in forecast_with_pushed_model(pushed["destination"], OUTPUT / "data" / "series.csv"):
        print(f"  {line}")
    return 0


def forecast_with_pushed_model(version_dir: str, csv_path: Path, steps: int = 12) -> list[str]:
    """Loads the pushed forecaster with TensorFlow only; forecasts series s0 `steps` ahead,
    holding its covariate at the last observed value."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    from seqline.serving.client.forecasting import SavedModelForecaster, recursive_forecast

    rows = [line.split(",") for line in csv_path.read_text().splitlines()[1:]]
    history = np.array([[float(r[2]), float(r[3])] for r in rows if r[1] == "s0"], np.float32)
    forecaster = SavedModelForecaster(version_dir)
    forecast = recursive_forecast(
        forecaster, history, steps, series_id=["s0"], hold_covariates=True
    )[0]
    last = ", ".join(f"{v:.2f}" for v in history[-4:, 0])
    return [f"last values: {last}", "forecast:    " + ", ".join(f"{v:.2f}" for v in forecast)]


def main(argv: list[str] | None = None) -> int:
    from seqline.serving.quiet_logs import quiet_tensorflow_logs

    quiet_tensorflow_logs()  # no CUDA/oneDNN start-up noise; SEQLINE_LOG_LEVEL=debug shows it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=3000, help="corpus size (default 3000)")
    parser.add_argument(
        "--part",
        choices=("all", "text", "series"),
        default="all",
        help="which pipelines to run (default all: text, then series)",
    )
    args = parser.parse_args(argv)
    if args.part == "series":
        return run_series_demo()

    from seqline.components.ingest_text.synthetic import write_synthetic_reviews

    _write_if_changed(
        OUTPUT / "data" / "reviews.csv",
        lambda p: write_synthetic_reviews(p, n=args.reviews, seed=2026),
    )
    pushed = _run_until_pushed(CONFIG, "model")
    if isinstance(pushed, int):
        return pushed
    print(
        f"history: seqline runs --config {CONFIG}   details: seqline show latest --config {CONFIG}"
    )
    print("prediction from the pushed SavedModel:")
    for line in predict_with_pushed_model(pushed["destination"], SAMPLES):
        print(f"  {line}")
    if args.part == "text":
        return 0
    print()
    return run_series_demo()


if __name__ == "__main__":
    sys.exit(main())
