"""Benchmark: memory of the Beam stages (ingest -> statistics -> transform) as text data grows.

    python bench/beam_memory.py [--sizes 100000 1000000] [--workdir DIR] [--keep]

Setup (not timed): N generated reviews (components/ingest_text/synthetic.py, ~100 words each)
as CSV shards of 100,000 rows, each shard with its own seed, under `{workdir}/{N}/data/`. A
`kind: text` pipeline config reads them (vocabulary 10,000, 128 tokens).

Each stage then runs as its own process, exactly as an orchestrator runs it:
`seqline run CONFIG --node NODE --run-id bench-N` for ingest_text, statistics, schema, validate
and transform (FnApiRunner in memory, the default runner). For each stage it prints the wall
time and two peak-memory figures:
  - tree peak: the largest sum of RSS over the stage's process and all its descendants,
    sampled from /proc every 0.2 s (Beam SDK workers or helper processes count);
  - maxrss: the stage process's own peak RSS from the kernel (wait4's ru_maxrss), which a
    sampler cannot miss.
Flat memory means both figures stay about the same from 100k to 1M documents while the wall
time grows with N: every stage streams records, and analyzers keep bounded state (issue 10,
item 5). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SHARD = 100_000
STAGES = ("ingest_text", "statistics", "schema", "validate", "transform")
PAGE = os.sysconf("SC_PAGE_SIZE")

CONFIG = """name: bench-memory
kind: text
root: {root}
components:
  ingest_text:
    source: {data}/*.csv
    format: csv
    labels: [neg, pos]
  transform:
    vocab_size: 10000
    max_tokens: 128
  train:
    model: {{embedding_dim: 32, layer: gru, units: 32}}
    epochs: 1
  evaluate:
    thresholds:
      accuracy: {{lower: 0.5}}
  push:
    serving_root: {serving}
    model_name: bench
"""


def write_data(folder: Path, n: int) -> None:
    """`n` generated reviews in CSV shards of SHARD rows (setup, not timed)."""
    from seqline.components.ingest_text.synthetic import write_synthetic_reviews

    folder.mkdir(parents=True, exist_ok=True)
    for shard, start in enumerate(range(0, n, SHARD)):
        write_synthetic_reviews(folder / f"reviews-{shard:03d}.csv", min(SHARD, n - start), shard)


def tree_rss_bytes(root_pid: int) -> int:
    """Sum of RSS over `root_pid` and its descendants, from /proc (0 once it is gone)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(name)
        parents[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * PAGE  # field 24 of stat: resident pages
    total = 0
    for pid, pages in rss.items():
        p = pid
        while p and p != root_pid:
            p = parents.get(p, 0)
        if p == root_pid:
            total += pages
    return total


def run_stage(config: Path, node: str, run_id: str) -> dict[str, Any]:
    """Runs one node in a fresh `seqline` process; returns its wall, tree peak and maxrss."""
    seqline = Path(sys.executable).with_name("seqline")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(seqline), "run", str(config), "--node", node, "--run-id", run_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], tree_rss_bytes(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert proc.stdout is not None
    output = proc.stdout.read()  # drain, so a chatty stage never blocks on a full pipe
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{node} failed (exit {proc.returncode}):\n{output[-4000:]}")
    last = output.strip().splitlines()[-1] if output.strip() else ""
    return {
        "wall": wall,
        "tree_peak_mb": peak[0] / 2**20,
        "maxrss_mb": usage.ru_maxrss / 1024,
        "line": last,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the generated data and roots")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="seqline-beam-memory-"))
    results: dict[int, dict[str, dict[str, Any]]] = {}
    try:
        for n in args.sizes:
            base = workdir / str(n)
            t0 = time.perf_counter()
            write_data(base / "data", n)
            seconds = time.perf_counter() - t0
            print(f"\n{n:,} documents: data written in {seconds:.0f} s", flush=True)
            config = base / "pipeline.yaml"
            config.write_text(
                CONFIG.format(root=base / "root", data=base / "data", serving=base / "serving")
            )
            results[n] = {}
            for node in STAGES:
                figures = run_stage(config, node, f"bench-{n}")
                results[n][node] = figures
                print(
                    f"  {node:<12} {figures['wall']:7.1f} s  tree peak "
                    f"{figures['tree_peak_mb']:7.0f} MB  maxrss {figures['maxrss_mb']:7.0f} MB"
                    f"   {figures['line']}",
                    flush=True,
                )
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\nstage          " + "".join(f"{n:>26,}" for n in results))
    for node in STAGES:
        cells = "".join(
            f"{results[n][node]['wall']:9.1f} s {results[n][node]['tree_peak_mb']:7.0f} MB    "
            for n in results
            if node in results[n]
        )
        print(f"{node:<14} {cells}")
    print(json.dumps({str(n): r for n, r in results.items()}, default=str))


if __name__ == "__main__":
    main()
