"""Benchmark: per-point cost of streaming forecasts, the "step" signature (state in, state out)
against the rolling window (the whole last L points sent to "forecast" for every new point).

    python bench/streaming.py [--lookbacks 60,336] [--units 50,50,50,50] [--layer lstm]
        [--points 300] [--workdir DIR]

For each lookback L: a generated hourly series (2,000 points, or 12 (L + 2)) goes through the real
ingest_series and transform_series components (the scaler the signatures apply), a forecaster of
the given architecture is built (default: the loans example's 4 x LSTM(50); untrained, since the
cost does not depend on the weights) and exported with series_export + series_step, and the
SavedModel is loaded as a server would load it. Then, on the same stream of --points points:

    window  forecast(history [1, L, F]) per point: the encoder re-runs over L steps
    step    step(value [1, F], state [1, D]) per point: one step of each layer

Prints median and p90 milliseconds per point, the window/step ratio, and how far the step
forecast is from the window forecast of the same last L points: at exactly L points from
step_start (where they should agree to float rounding), and over the --points points past L
(the largest and the mean absolute difference, and the largest relative to the stream's level),
where the state remembers more than the window and the two drift apart. The model is untrained
(random weights from a fixed seed): the drift depends on the weights, so these figures show
the size of the effect, not what a trained model does; measure yours on its own stream.
In-process signature calls: the compute a server does per request, without RPC overhead (which
is the same for both). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _transform_graph(workdir: Path, lookback: int) -> Any:
    from seqline.components.ingest_series.component import COMPONENT as INGEST
    from seqline.components.ingest_series.config import IngestSeriesConfig
    from seqline.components.ingest_series.synthetic import write_synthetic_series
    from seqline.components.transform.series_component import COMPONENT as TRANSFORM
    from seqline.pipeline.harness import run_component

    # Eval and test get 10% each and need at least one window of L + 1 points.
    points = max(2000, 12 * (lookback + 2))
    source = write_synthetic_series(workdir / "series.csv", points, seed=7, season_length=24)
    config = IngestSeriesConfig(
        source=source,
        frequency="1h",
        timestamp_format="iso",
        lookback=lookback,
        horizon=1,
        stride=4,
        splits=("train", "eval", "test"),
        split_fractions=(0.8, 0.1, 0.1),
    )
    root = str(workdir / "root")
    ingested = run_component(INGEST, config, root=root, pipeline_name="bench-streaming")
    transformed = run_component(
        TRANSFORM, None, {"examples": ingested.outputs["examples"]}, root=root,
        pipeline_name="bench-streaming",
    )  # fmt: skip
    return transformed.outputs["transform_graph"]


def _export(workdir: Path, graph: Any, layer: str, units: tuple[int, ...]) -> str:
    import keras

    from seqline.components.train.config import ForecasterConfig
    from seqline.components.train.forecasters import build_forecaster
    from seqline.components.train.series_export import ForecasterExport, export_forecaster
    from seqline.components.train.series_step import attach_step_signatures

    scaling = graph.series()
    windows = scaling.windows
    config = ForecasterConfig(layer=layer, units=units, output="last")  # type: ignore[arg-type]
    keras.utils.set_random_seed(0)
    columns = len(windows.targets) + len(windows.covariates)
    model = build_forecaster(config, windows.lookback, columns, windows.horizon)
    module = ForecasterExport(
        model, graph.uri, windows.targets, windows.covariates, windows.lookback,
        windows.horizon, config.output, scaling.log1p, scaling.per_series,
    )  # fmt: skip
    attach_step_signatures(
        module, config, windows.targets, windows.covariates, windows.lookback,
        windows.horizon, scaling.log1p,
    )  # fmt: skip
    path = str(workdir / "saved_model")
    export_forecaster(module, path)
    return path


def _per_point_ms(call: Any, count: int) -> list[float]:
    times = []
    for i in range(count):
        start = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - start) * 1000)
    return times


def bench_lookback(workdir: Path, lookback: int, args: argparse.Namespace) -> dict[str, float]:
    import tensorflow as tf

    graph = _transform_graph(workdir, lookback)
    loaded = tf.saved_model.load(_export(workdir, graph, args.layer, args.units))
    forecast, step = loaded.signatures["forecast"], loaded.signatures["step"]
    total = lookback + args.points
    t = np.arange(total, dtype=np.float32)
    stream = (10 + np.sin(2 * np.pi * t / 24) + 0.01 * t)[:, None]  # [N, 1]

    state = loaded.signatures["step_start"](series_id=tf.constant([b""]))["state"]
    for i in range(lookback):  # the first window, point by point
        out = step(value=tf.constant(stream[i : i + 1]), state=state)
        state = out["state"]
    window_out = forecast(history=tf.constant(stream[None, :lookback]))["forecast"].numpy()
    difference = float(np.max(np.abs(out["forecast"].numpy() - window_out)))

    # Warm both functions before timing.
    forecast(history=tf.constant(stream[None, :lookback]))
    step(value=tf.constant(stream[:1]), state=state)

    # Point L + i: the window of the last L points, and the stream's state after that point.
    window_forecasts: list[np.ndarray] = []
    step_forecasts: list[np.ndarray] = []

    def window_call(i: int) -> None:
        history = tf.constant(stream[None, i + 1 : i + 1 + lookback])
        window_forecasts.append(forecast(history=history)["forecast"].numpy())

    holder = {"state": state}

    def step_call(i: int) -> None:
        out = step(
            value=tf.constant(stream[lookback + i : lookback + i + 1]), state=holder["state"]
        )
        holder["state"] = out["state"]
        step_forecasts.append(out["forecast"].numpy())

    window_ms = _per_point_ms(window_call, args.points)
    step_ms = _per_point_ms(step_call, args.points)
    drift = np.abs(np.stack(step_forecasts) - np.stack(window_forecasts))
    level = float(np.mean(np.abs(stream)))
    return {
        "window_median_ms": float(np.median(window_ms)),
        "window_p90_ms": float(np.percentile(window_ms, 90)),
        "step_median_ms": float(np.median(step_ms)),
        "step_p90_ms": float(np.percentile(step_ms, 90)),
        "max_abs_difference": difference,
        "drift_max": float(drift.max()),
        "drift_mean": float(drift.mean()),
        "drift_max_relative": float(drift.max()) / level,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookbacks", default="60,336")
    parser.add_argument("--units", default="50,50,50,50")
    parser.add_argument("--layer", default="lstm", choices=("lstm", "gru", "simple_rnn"))
    parser.add_argument("--points", type=int, default=300)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    args.units = tuple(int(u) for u in args.units.split(","))
    base = Path(args.workdir or tempfile.mkdtemp(prefix="bench-streaming-"))
    print(
        f"encoder {args.layer} {list(args.units)}, untrained (random weights), {args.points} "
        "points past L per measure, in-process"
    )
    print(
        f"{'L':>5} {'window ms/pt':>13} {'(p90)':>7} {'step ms/pt':>11} {'(p90)':>7} "
        f"{'window/step':>12} {'|step-window| at L':>19} {'past L: max':>12} {'mean':>9} "
        f"{'max/level':>10}"
    )
    for lookback in (int(x) for x in args.lookbacks.split(",")):
        workdir = base / f"L{lookback}"
        workdir.mkdir(parents=True, exist_ok=True)
        r = bench_lookback(workdir, lookback, args)
        print(
            f"{lookback:>5} {r['window_median_ms']:>13.3f} {r['window_p90_ms']:>7.3f} "
            f"{r['step_median_ms']:>11.3f} {r['step_p90_ms']:>7.3f} "
            f"{r['window_median_ms'] / r['step_median_ms']:>11.1f}x "
            f"{r['max_abs_difference']:>19.2e} {r['drift_max']:>12.2e} {r['drift_mean']:>9.2e} "
            f"{r['drift_max_relative']:>10.2e}",
            flush=True,
        )


if __name__ == "__main__":
    main()
