"""Benchmark: where a Beam node's fixed set-up time goes, cold and then warm, in one process.

    python bench/beam_setup.py [--docs 200] [--rounds 2] [--workdir DIR] [--profile FILE]

On a tiny input (200 synthetic reviews by default, components/ingest_text/synthetic.py) it runs
ingest_text, statistics and transform_text through pipeline/harness.run_component (exactly as
the runner runs them, FnApiRunner in memory), `--rounds` times in the same process under
fresh pipeline roots: round 1 is cold (first imports, first TF/TFT tracing), later rounds are
warm. With so little data almost all of a node's wall time is set-up. Per node it prints:

- `import`: the node's first import of its heavy modules (timed separately before round 1;
  0 afterwards, modules are cached by Python).
- `construct`: from executor start to `Pipeline.run()` (building the graph: for
  transform_text, TFT's tracing of preprocessing_fn happens here).
- `run`: `Pipeline.run()` until it returns (FnApiRunner start: worker handler, gRPC control
  and data channels, the stages themselves, file writes).
- `after`: from `run()` returning to the executor's end (counters, metadata, properties).
- `total`: the whole node (run_component, fingerprinting and publish included).

`--compare` alternates the warm rounds between Beam's own PipelineOptions.view_as ("plain")
and seqline's cached views ("cached", pipeline/beam_view_cache.py), so both see the same
machine load, and prints the mean of each. `--profile FILE` writes a cProfile of the warm
rounds (pstats format). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

NODES = ("ingest_text", "statistics", "transform_text")


class PhaseClock:
    """Wraps apache_beam.Pipeline.run to split each node's time into construct / run / after."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}

    def install(self) -> None:
        import apache_beam as beam

        original = beam.Pipeline.run
        clock = self

        def timed_run(pipeline: Any, *args: Any, **kwargs: Any) -> Any:
            clock.marks.setdefault("run_start", time.perf_counter())
            result = original(pipeline, *args, **kwargs)
            clock.marks["run_end"] = time.perf_counter()
            return result

        beam.Pipeline.run = timed_run  # type: ignore[method-assign]


def write_csv(path: str, n: int) -> None:
    from seqline.components.ingest_text.synthetic import generate_reviews

    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(generate_reviews(n, seed=0))


def time_imports() -> dict[str, float]:
    """Seconds of each node's first heavy import, in pipeline order."""
    seconds = {}
    t0 = time.perf_counter()
    import apache_beam  # noqa: F401
    import tensorflow  # noqa: F401

    from seqline.components.ingest_text import component  # noqa: F401

    seconds["ingest_text"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    from seqline.components.statistics import component as _stats  # noqa: F401

    seconds["statistics"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    import tensorflow_transform  # noqa: F401
    import tensorflow_transform.beam  # noqa: F401

    from seqline.components.transform import beam_pipeline  # noqa: F401

    seconds["transform_text"] = time.perf_counter() - t0
    return seconds


def run_round(workdir: str, csv_path: str, clock: PhaseClock) -> dict[str, dict[str, float]]:
    from seqline.components.ingest_text.component import COMPONENT as INGEST
    from seqline.components.statistics.component import COMPONENT as STATISTICS
    from seqline.components.transform.text_component import COMPONENT as TRANSFORM
    from seqline.pipeline.harness import run_component

    root = tempfile.mkdtemp(prefix="root-", dir=workdir)
    phases: dict[str, dict[str, float]] = {}

    def timed(name: str, fn: Any) -> Any:
        clock.marks = {}
        t0 = time.perf_counter()
        result = fn()
        t1 = time.perf_counter()
        assert not result.cached, name
        start = clock.marks.get("run_start", t1)
        end = clock.marks.get("run_end", t1)
        phases[name] = {
            "construct": start - t0,
            "run": end - start,
            "after": t1 - end,
            "total": t1 - t0,
        }
        return result

    ingest = timed(
        "ingest_text",
        lambda: run_component(
            INGEST, {"source": csv_path, "format": "csv", "labels": ["neg", "pos"]}, root=root
        ),
    )
    examples = ingest.outputs["examples"]
    timed("statistics", lambda: run_component(STATISTICS, {}, {"examples": examples}, root=root))
    timed(
        "transform_text",
        lambda: run_component(
            TRANSFORM, {"max_tokens": 32, "vocab_size": 500}, {"examples": examples}, root=root
        ),
    )
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--profile", default=None, help="write a cProfile of the warm rounds")
    parser.add_argument(
        "--compare", action="store_true", help="alternate warm rounds: plain / cached view_as"
    )
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    workdir = args.workdir or tempfile.mkdtemp(prefix="beam-setup-")
    os.makedirs(workdir, exist_ok=True)
    t_start = time.perf_counter()
    imports = time_imports()
    csv_path = os.path.join(workdir, "reviews.csv")
    write_csv(csv_path, args.docs)
    clock = PhaseClock()
    clock.install()

    from apache_beam.options.pipeline_options import PipelineOptions

    from seqline.pipeline.beam_view_cache import CachedViewOptions

    cached_view_as = CachedViewOptions.view_as
    rounds = []
    labels = []
    profiler = None
    for i in range(args.rounds):
        if i == 1 and args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        plain = args.compare and i % 2 == 1
        CachedViewOptions.view_as = PipelineOptions.view_as if plain else cached_view_as  # type: ignore[method-assign]
        labels.append(
            "cold" if i == 0 else ("plain" if plain else "cached") if args.compare else f"warm{i}"
        )
        rounds.append(run_round(workdir, csv_path, clock))
    CachedViewOptions.view_as = cached_view_as  # type: ignore[method-assign]
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)

    print(f"{args.docs} docs; imports and {args.rounds} rounds in one process")
    print(
        f"{'node':<16}{'round':<7}{'import':>8}{'construct':>11}{'run':>8}{'after':>8}{'total':>8}"
    )
    sums: dict[str, float] = defaultdict(float)
    by_label: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for i, phases in enumerate(rounds):
        label = labels[i]
        for node in NODES:
            p = phases[node]
            imp = imports[node] if i == 0 else 0.0
            print(
                f"{node:<16}{label:<7}{imp:>8.2f}{p['construct']:>11.2f}{p['run']:>8.2f}"
                f"{p['after']:>8.2f}{p['total']:>8.2f}"
            )
            if i > 0:
                sums[node] += p["total"]
                by_label[label][node].append(p["total"])
    if args.compare:
        for label, nodes in sorted(by_label.items()):
            means = {n: sum(v) / len(v) for n, v in nodes.items()}
            print(
                f"mean total, {label} view_as ({len(nodes['ingest_text'])} rounds): "
                + ", ".join(f"{n} {m:.2f}" for n, m in means.items())
                + f"; sum {sum(means.values()):.2f}"
            )
    print(
        json.dumps(
            {
                "docs": args.docs,
                "imports": imports,
                "labels": labels,
                "rounds": rounds,
                "warm_mean_total": {n: s / max(1, args.rounds - 1) for n, s in sums.items()},
                "process_seconds": time.perf_counter() - t_start,
            }
        )
    )
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
