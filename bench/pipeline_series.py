"""Benchmark: ingest_series (parse, group, regularise, window, write), statistics (the series
pipeline's node: window_end / series_id) and, when the series transform is present,
transform, at 10k, 100k and 1M points; with --quality, forecast quality
against the naive baselines on the real series of the examples.

    python bench/pipeline_series.py [--sizes 10000,100000,1000000] [--series 1]
        [--lookback 48] [--horizon 1] [--stride 1] [--no-transform] [--workdir DIR]
    python bench/pipeline_series.py --quality [--configs a.yaml,b.yaml] [--workdir DIR]

--quality needs pmdarima (pip install 'seqline[series]'; without it, prints "skipped" and
exits 0). For each example config (default: examples/series/univariate.yaml, sunspots, and
multivariate.yaml, taylor; examples/series/day_ahead.yaml is taylor 48 steps ahead against
weekly seasonal naive, issue 11's target) it writes the CSV the config reads
(examples/series/prepare.py) and a copy of the config into a temp dir, with `root` and push's
`serving_root` pointing there too, runs the whole pipeline through the Python API, and prints
the evaluate node's metrics on the test split (the last in time, never seen by train):
candidate MAE / RMSE / MASE, seasonal naive MAE / MASE, persistence MAE, candidate MASE /
seasonal naive MASE (< 1: better than seasonal naive), candidate MAE / seasonal naive MAE (at
evaluate's `season`), blessed or not, and wall time.

Each size runs in a fresh Python process (so its peak RSS is its own): the CSV is generated
first (not timed), then the component executors run on hand-built artifacts exactly as the
runner would call them. Prints per-step seconds (ingest, statistics, transform), points and
windows per second, the peak RSS after imports (the baseline: TensorFlow + Beam) and at the
end, and the ratios between sizes:
with windows generated lazily, the peak should grow far slower than the data (the grouped
series costs ~8 * (2 + k) bytes a point; windows are never held). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RUN_ONCE = r"""
import json, os, resource, sys, time

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

workdir, source, n_series, lookback, horizon, stride, with_transform = sys.argv[1:8]
t0 = time.perf_counter()
import apache_beam  # noqa: F401 — imported up front so the baseline RSS includes it
import tensorflow  # noqa: F401
from seqline.components.ingest_series.component import COMPONENT as INGEST
from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.pipeline.harness import run_component

from seqline.components.series_pipeline import KIND as SERIES_KIND
from seqline.components.statistics.component import COMPONENT as STATISTICS

transform = None
if with_transform == "1":
    from seqline.components.transform.series_component import COMPONENT as transform
imports = time.perf_counter() - t0
baseline = peak_mb()

config = IngestSeriesConfig(
    source=source, frequency="1h", timestamp_format="iso",
    series_id_column="series" if int(n_series) > 1 else None,
    lookback=int(lookback), horizon=int(horizon), stride=int(stride),
    splits=("train", "eval", "test"), split_fractions=(0.8, 0.1, 0.1),
)
root = os.path.join(workdir, "root")
t1 = time.perf_counter()
ingested = run_component(INGEST, config, root=root, pipeline_name="bench-series")
summary = ingested.summary
ingest_seconds = time.perf_counter() - t1
ingest_peak = peak_mb()

# The series pipeline's statistics node, with its defaults (components/series_pipeline.py).
t_stats = time.perf_counter()
run_component(STATISTICS, SERIES_KIND.defaults["statistics"],
              {"examples": ingested.outputs["examples"]}, root=root, pipeline_name="bench-series")
statistics_seconds = time.perf_counter() - t_stats

transform_seconds = None
if transform is not None:
    t2 = time.perf_counter()
    run_component(transform, None, {"examples": ingested.outputs["examples"]}, root=root,
                  pipeline_name="bench-series")
    transform_seconds = time.perf_counter() - t2

print(json.dumps({
    "imports": imports, "baseline_rss_mb": baseline, "ingest_seconds": ingest_seconds,
    "ingest_peak_rss_mb": ingest_peak, "statistics_seconds": statistics_seconds,
    "transform_seconds": transform_seconds,
    "peak_rss_mb": peak_mb(), "summary": summary,
}))
"""


def run_size(workdir: Path, n_points: int, args: argparse.Namespace) -> dict:
    """Generates the data for one size, then runs RUN_ONCE in a fresh process."""
    from seqline.components.ingest_series.synthetic import write_synthetic_series

    size_dir = workdir / f"n{n_points}"
    shutil.rmtree(size_dir, ignore_errors=True)
    source = write_synthetic_series(
        size_dir / "data" / "series.csv",
        n_points // args.series,
        seed=7,
        n_series=args.series,
        season_length=24,
    )
    start = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            RUN_ONCE,
            str(size_dir),
            source,
            str(args.series),
            str(args.lookback),
            str(args.horizon),
            str(args.stride),
            "0" if args.no_transform else "1",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    if out.returncode != 0:
        sys.stderr.write(out.stderr[-4000:])
        raise SystemExit(f"run at {n_points} points failed with exit code {out.returncode}")
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    figures["process_wall"] = time.perf_counter() - start
    figures["points"] = n_points
    figures["csv_mb"] = os.path.getsize(source) / 2**20
    if not args.keep:
        shutil.rmtree(size_dir, ignore_errors=True)
    return figures


REPO = Path(__file__).resolve().parents[1]
QUALITY_CONFIGS = (
    REPO / "examples" / "series" / "univariate.yaml",
    REPO / "examples" / "series" / "multivariate.yaml",
)
SKIPPED_NO_PMDARIMA = "skipped: pmdarima not installed (pip install 'seqline[series]')"


def _prepare_module():
    """examples/series/prepare.py, imported from its path (examples is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "seqline_examples_series_prepare", REPO / "examples" / "series" / "prepare.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_dataset_csv(name: str, path: Path) -> None:
    """The CSV prepare.py writes for the pipeline called `name` (sunspots, taylor, victoria)."""
    prepare = _prepare_module()
    if name.startswith("taylor"):  # taylor and taylor_day_ahead read the same CSV
        prepare.write_taylor_with_covariates(path)
    elif name.startswith("victoria"):
        prepare.write_victoria_demand(path)
    else:
        from seqline.components.ingest_series.pmdarima_datasets import write_pmdarima_series

        write_pmdarima_series(name, path)


def run_quality(config_path: Path, workdir: Path) -> dict:
    """Runs one example pipeline in `workdir` and returns its test-split figures."""
    import yaml

    from seqline.pipeline.config_file import load_pipeline
    from seqline.pipeline.runner import run_pipeline

    data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    components = data["components"]
    source = components["ingest_series"]["source"]
    if os.path.isabs(source):
        raise SystemExit(f"{config_path}: expected a relative ingest_series.source, got {source}")
    # The copy lives in workdir, so every relative path in it (the source CSV, root,
    # serving_root) resolves there and nothing is written next to the example.
    _write_dataset_csv(data["name"], workdir / source)
    components["push"]["serving_root"] = "serving"
    copy = workdir / config_path.name
    copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    pipeline = load_pipeline(copy, overrides={"root": str(workdir / "root")})

    start = time.perf_counter()
    result = run_pipeline(pipeline)
    wall = time.perf_counter() - start
    blessing = result.node("evaluate").outputs["blessing"]
    metrics = json.loads(Path(blessing.path("metrics.json")).read_text(encoding="utf-8"))
    target = next(iter(metrics["targets"]))
    scores = metrics["targets"][target]
    candidate = scores["candidate"]["overall"]
    naive = scores["seasonal_naive"]["overall"]
    split = components.get("evaluate", {}).get("eval_split", "test")
    horizon_naive = _horizon_naive_mae(result, split, target, metrics["steps"])
    ratio = None
    if candidate["mase"] is not None and naive["mase"]:
        ratio = candidate["mase"] / naive["mase"]
    return {
        "name": data["name"],
        "config": str(config_path),
        "split": split,
        "target": target,
        "windows": metrics["windows"],
        "steps": metrics["steps"],
        "season": metrics["season"],
        "mae": candidate["mae"],
        "rmse": candidate["rmse"],
        "mase": candidate["mase"],
        "seasonal_naive_mae": naive["mae"],
        "seasonal_naive_mase": naive["mase"],
        "persistence_mae": scores["persistence"]["overall"]["mae"],
        "horizon_naive_mae": horizon_naive,
        "ratio": ratio,
        "mae_ratio": (
            candidate["mae"] / naive["mae"]
            if candidate["mae"] is not None and naive["mae"]
            else None
        ),
        "blessed": bool(blessing.properties.get("blessed")),
        "reasons": blessing.properties.get("reasons", []),
        "wall": wall,
        "train_seconds": result.node("train").seconds,
        "epochs": result.node("train").summary.get("epochs_run"),
        # Early stopping's figure on the eval split (scaled units): what to pick configs by,
        # since the test figures above must not choose between them.
        "best_val_loss": result.node("train").summary.get("best_val_loss"),
        # The same model's MAE on eval (scaled): comparable across training losses.
        "val_mae": result.node("train").summary.get("val_mae"),
    }


def _horizon_naive_mae(result: Any, split: str, target: str, steps: int) -> float | None:
    """MAE of the naive forecast one horizon back (lag H: for 48 half-hours ahead, the same
    half-hour yesterday) on the windows evaluate scored, or None when H > lookback. Evaluate
    scores one seasonal naive (its `season`); this is the other natural cycle beside it."""
    import numpy as np

    from seqline.components.evaluate.forecast import seasonal_naive_forecast
    from seqline.components.evaluate.forecast_evaluation import read_windows

    examples = result.node("ingest_series").outputs["examples"]
    facts = result.node("train").outputs["model"].forecast_output()
    if steps > facts.lookback:
        return None
    windows = read_windows(examples.split_files(split), facts)
    forecast = seasonal_naive_forecast(windows.history[target], steps, steps)
    return float(np.abs(forecast - windows.future[target][:, :steps]).mean())


def _figure(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def quality_main(args: argparse.Namespace) -> None:
    """--quality: figures for each config, or the skip message when pmdarima is missing."""
    from seqline.components.ingest_series.pmdarima_datasets import pmdarima_available

    if not pmdarima_available():
        print(SKIPPED_NO_PMDARIMA)
        return
    configs = (
        [Path(c).resolve() for c in args.configs.split(",") if c.strip()]
        if args.configs
        else list(QUALITY_CONFIGS)
    )
    own = args.workdir is None
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="seqline-bench-quality-"))
    try:
        for config_path in configs:
            run_dir = workdir / config_path.stem
            shutil.rmtree(run_dir, ignore_errors=True)
            run_dir.mkdir(parents=True)
            r = run_quality(config_path, run_dir)
            print(
                f"{r['name']} ({config_path.name}, target {r['target']}, "
                f"{r['windows']:,} {r['split']} windows x {r['steps']} steps, "
                f"season {r['season']}): "
                f"{'BLESSED' if r['blessed'] else 'NOT BLESSED'}, wall {r['wall']:.1f} s "
                f"(train {r['train_seconds']:.1f} s)"
            )
            print(
                f"  candidate      MAE {_figure(r['mae'])}  RMSE {_figure(r['rmse'])}  "
                f"MASE {_figure(r['mase'])}"
            )
            print(
                f"  seasonal naive MAE {_figure(r['seasonal_naive_mae'])}  "
                f"MASE {_figure(r['seasonal_naive_mase'])}"
            )
            print(f"  persistence    MAE {_figure(r['persistence_mae'])}")
            print(
                f"  train's best val_loss (eval split, scaled; pick configs by this): "
                f"{_figure(r['best_val_loss'], 4)} after {r['epochs']} epochs; its val_mae "
                f"{_figure(r['val_mae'], 4)} (compare this across losses)"
            )
            print(
                f"  naive lag {r['steps']} (one horizon back) MAE {_figure(r['horizon_naive_mae'])}"
            )
            print(f"  candidate MASE / seasonal naive MASE: {_figure(r['ratio'])}")
            print(
                f"  candidate MAE / seasonal naive (lag {r['season']}) MAE: "
                f"{_figure(r['mae_ratio'])}"
                + ("  (issue 11 target for day_ahead.yaml: <= 0.5)" if r["steps"] == 48 else "")
            )
            if not r["blessed"]:
                for reason in r["reasons"]:
                    print(f"    {reason}")
            sys.stdout.flush()
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quality",
        action="store_true",
        help="forecast quality vs naive baselines on the real series (needs pmdarima)",
    )
    parser.add_argument(
        "--configs", help="--quality: comma-separated pipeline YAMLs (default: the two examples)"
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--series", type=int, default=1, help="series the points are spread over")
    parser.add_argument("--lookback", type=int, default=48)
    parser.add_argument("--horizon", type=int, default=1)
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--no-transform", action="store_true", help="ingest + window only")
    parser.add_argument("--workdir", help="work here (default: a temp dir, removed)")
    parser.add_argument("--keep", action="store_true", help="keep each size's artifacts")
    args = parser.parse_args()
    if args.quality:
        quality_main(args)
        return

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    own = args.workdir is None
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="seqline-bench-series-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for n in sizes:
            r = run_size(workdir, n, args)
            results.append(r)
            windows = sum(r["summary"]["windows"].values())
            transform = (
                f"{r['transform_seconds']:.1f} s"
                if r["transform_seconds"] is not None
                else "not run (absent or --no-transform)"
            )
            print(
                f"{n:>9,} points ({args.series} series, CSV {r['csv_mb']:.1f} MB): ingest+window "
                f"{r['ingest_seconds']:.1f} s ({n / r['ingest_seconds']:,.0f} points/s, "
                f"{windows:,} windows, {windows / r['ingest_seconds']:,.0f} windows/s); "
                f"statistics {r['statistics_seconds']:.1f} s "
                f"({windows / r['statistics_seconds']:,.0f} windows/s); "
                f"transform {transform}; process {r['process_wall']:.1f} s (imports "
                f"{r['imports']:.1f} s)"
            )
            growth = r["ingest_peak_rss_mb"] - r["baseline_rss_mb"]
            print(
                f"{'':>9}  peak RSS: after imports {r['baseline_rss_mb']:.0f} MB, after ingest "
                f"{r['ingest_peak_rss_mb']:.0f} MB (+{growth:.0f} MB), end "
                f"{r['peak_rss_mb']:.0f} MB"
            )
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    if len(results) > 1:
        first = results[0]
        for r in results[1:]:
            ratio = r["points"] / first["points"]
            growth = r["ingest_peak_rss_mb"] - first["ingest_peak_rss_mb"]
            print(
                f"{r['points']:,} vs {first['points']:,} points (x{ratio:.0f}): ingest time "
                f"x{r['ingest_seconds'] / first['ingest_seconds']:.1f}, peak RSS "
                f"x{r['ingest_peak_rss_mb'] / first['ingest_peak_rss_mb']:.2f} "
                f"({growth:+.0f} MB)"
            )


if __name__ == "__main__":
    main()
