"""ingest_text -> statistics -> transform_text give the same outputs on a distributed Beam
runner as on FnApiRunner.

Runs the three real components (Beam; TFT analyzers in transform) on a tiny generated CSV
corpus with a few bad records, once on FnApiRunner (the default) and once per distributed
runner: DirectRunner in multi_processing mode with 2 worker processes, and PortableRunner
against Beam's job service with an EXTERNAL worker pool. Then compares:
- ingest: the executor summary (input, accepted, rejected, accepted per split), both
  artifacts' properties (counts per split, rejected by reason, skipped), and the rejected
  records themselves (as a set: the JSONL shards and their order may differ);
- statistics: the parsed DatasetFeatureStatisticsList, compared field by field through its
  text form (not the file bytes: equal protos need not serialise to equal bytes), and its
  artifact properties. Exact equality, floats included, is expected here: every float in the
  statistics of a text and a label feature is an average or histogram bound of integers
  (lengths, token counts), whose sums do not depend on the order workers combine them in, and
  the sketches are exact at this size (docs/beam-runners.md);
- transform: byte-equal vocabulary files, and the transformed tf.Examples as sorted sets.
Shard count and record order may differ between runners; the contents may not.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from seqline.components.ingest_text.synthetic import write_synthetic_reviews
from seqline.pipeline.artifact import Artifact, ArtifactType
from tests.components.context import make_context

pytestmark = pytest.mark.slow  # the reference chain plus one chain per runner test

LABELS = ("neg", "pos")
GOOD_REVIEWS = 60
MULTI_PROCESSING = (
    "--runner=DirectRunner",
    "--direct_running_mode=multi_processing",
    "--direct_num_workers=2",
)
# One bad record per reason ingest can meet in a CSV, so rejects go through every runner.
BAD_CSV_ROWS = (
    b"only one field\n"  # wrong_column_count
    b'"  ",neg\n'  # empty_text
    b"no label here,\n"  # missing_label
    b"a fine text,positive\n"  # unknown_label
    b"caf\xe9 au lait,neg\n"  # undecodable_bytes
)
EXPECTED_REASONS = {
    "empty_text",
    "missing_label",
    "undecodable_bytes",
    "unknown_label",
    "wrong_column_count",
}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSV folder: GOOD_REVIEWS generated reviews, then the bad rows above."""
    folder = tmp_path_factory.mktemp("raw")
    path = write_synthetic_reviews(folder / "reviews.csv", GOOD_REVIEWS, seed=3)
    with open(path, "ab") as f:
        f.write(BAD_CSV_ROWS)
    return folder


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> bool:
    """True once localhost:port accepts connections; False if proc exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with socket.socket() as sock:
            if sock.connect_ex(("localhost", port)) == 0:
                return True
        time.sleep(0.2)  # polling a port that is not open yet, not racing a result
    return False


@pytest.fixture(scope="module")
def portable_args() -> Iterator[tuple[str, ...]]:
    """Starts Beam's Python job service and an EXTERNAL SDK worker pool; yields pipeline args.

    The worker pool starts SDK harness processes with `python` from PATH, so the venv's bin/
    goes first on PATH (without it the job hangs waiting for a worker that never registers).
    Both servers get their own process group, killed at teardown.
    """
    job_port, pool_port = _free_port(), _free_port()
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    commands = [
        (
            "job service",
            job_port,
            [
                sys.executable,
                "-m",
                "apache_beam.runners.portability.local_job_service_main",
                "--port",
                str(job_port),
            ],
        ),
        (
            "worker pool",
            pool_port,
            [
                sys.executable,
                "-m",
                "apache_beam.runners.worker.worker_pool_main",
                "--service_port",
                str(pool_port),
            ],
        ),
    ]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name, port, cmd in commands:
            proc = subprocess.Popen(
                cmd,
                env=env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            procs.append(proc)
            if not _wait_for_port(port, proc):
                pytest.skip(f"Beam {name} did not start on port {port}: {' '.join(cmd)}")
        yield (
            "--runner=PortableRunner",
            f"--job_endpoint=localhost:{job_port}",
            "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{pool_port}",
        )
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass(frozen=True)
class ChainOutputs:
    """What one ingest -> statistics -> transform run produced (all comparable with ==)."""

    ingest_summary: dict[str, Any]
    examples_properties: dict[str, Any]
    rejected_properties: dict[str, Any]
    rejected_records: list[str]  # each rejected record's JSON line, sorted
    statistics: str  # the DatasetFeatureStatisticsList in text format (readable diffs)
    statistics_properties: dict[str, Any]
    vocabularies: dict[str, bytes]  # asset path under transform_graph -> file bytes
    transformed: dict[str, list[bytes]]  # split -> sorted deterministic tf.Example bytes


def _artifact(kind: ArtifactType, root: Path, name: str) -> Artifact:
    artifact = Artifact(kind, str(root / name), f"fp-{name}")
    os.makedirs(artifact.uri)
    return artifact


def _run(component: Any, root: Path, name: str, beam_args: tuple[str, ...], **fields: Any) -> Any:
    """Runs `component`'s executor like the runner does (fresh scratch dir); its summary."""
    scratch = root / f"{name}-tmp"
    scratch.mkdir()
    ctx = make_context(temp_dir=str(scratch), beam_args=beam_args, **fields)
    return component.executor(ctx)


def _chain(source: Path, root: Path, beam_args: tuple[str, ...]) -> ChainOutputs:
    """Runs ingest_text, statistics and transform_text under `beam_args`, each reading the
    previous one's output artifact, and reads back everything they wrote."""
    from google.protobuf import text_format

    from seqline.components.ingest_text.component import COMPONENT as INGEST
    from seqline.components.ingest_text.config import IngestTextConfig
    from seqline.components.statistics.component import COMPONENT as STATISTICS
    from seqline.components.statistics.config import StatisticsConfig
    from seqline.components.statistics.statistics_files import read_statistics
    from seqline.components.transform.config import TransformTextConfig
    from seqline.components.transform.text_component import COMPONENT as TRANSFORM

    examples = _artifact(ArtifactType.EXAMPLES, root, "examples")
    rejected = _artifact(ArtifactType.REJECTED, root, "rejected")
    summary = _run(
        INGEST,
        root,
        "ingest",
        beam_args,
        config=IngestTextConfig(source=str(source), labels=LABELS, max_reject_ratio=0.1),
        inputs={},
        outputs={"examples": examples, "rejected": rejected},
    )
    statistics = _artifact(ArtifactType.STATISTICS, root, "statistics")
    _run(
        STATISTICS,
        root,
        "statistics",
        beam_args,
        config=StatisticsConfig(),
        inputs={"examples": examples},
        outputs={"statistics": statistics},
    )
    graph = _artifact(ArtifactType.TRANSFORM_GRAPH, root, "transform_graph")
    transformed = _artifact(ArtifactType.TRANSFORMED_EXAMPLES, root, "transformed_examples")
    _run(
        TRANSFORM,
        root,
        "transform",
        beam_args,
        config=TransformTextConfig(vocab_size=30, max_tokens=10),
        inputs={"examples": examples},
        outputs={"transform_graph": graph, "transformed_examples": transformed},
    )
    return ChainOutputs(
        ingest_summary=dict(summary),
        examples_properties=dict(examples.properties),
        rejected_properties=dict(rejected.properties),
        rejected_records=_rejected_records(Path(rejected.uri)),
        statistics=text_format.MessageToString(read_statistics(statistics.uri)),
        statistics_properties=dict(statistics.properties),
        vocabularies=_vocabularies(Path(graph.uri)),
        transformed={
            split: _examples(Path(transformed.uri), split)
            for split in examples.properties["splits"]
        },
    )


def _rejected_records(rejected_dir: Path) -> list[str]:
    """Every rejected record (one JSON object a line in rejected-*.jsonl), canonical, sorted."""
    rows = []
    for path in rejected_dir.glob("rejected-*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.dumps(json.loads(line), sort_keys=True))
    return sorted(rows)


def _vocabularies(graph_dir: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every asset file (the TFT vocabularies) under graph_dir."""
    files = [p for p in graph_dir.rglob("*") if p.is_file() and "assets" in p.parts]
    return {str(p.relative_to(graph_dir)): p.read_bytes() for p in files}


def _examples(transformed_dir: Path, split: str) -> list[bytes]:
    """The split's transformed tf.Examples, each re-serialised deterministically, sorted."""
    import tensorflow as tf

    files = sorted(glob.glob(f"{transformed_dir}/{split}/*.tfrecord*"))
    assert files, f"no transformed shards for {split!r} in {transformed_dir}"
    rows = []
    for raw in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        rows.append(tf.train.Example.FromString(raw).SerializeToString(deterministic=True))
    return sorted(rows)


@pytest.fixture(scope="module")
def reference(source: Path, tmp_path_factory: pytest.TempPathFactory) -> ChainOutputs:
    """The FnApiRunner chain every other runner is compared with, checked to be a real one:
    every bad record rejected with its reason, every accepted record transformed."""
    ref = _chain(source, tmp_path_factory.mktemp("fnapi"), ("--runner=FnApiRunner",))
    n_bad = len(BAD_CSV_ROWS.splitlines())
    assert ref.ingest_summary["input"] == GOOD_REVIEWS + n_bad
    assert ref.ingest_summary["rejected"] == n_bad
    assert set(ref.rejected_properties["by_reason"]) == EXPECTED_REASONS
    assert len(ref.rejected_records) == ref.ingest_summary["rejected"]
    counts = ref.examples_properties["counts"]
    assert sum(counts.values()) == ref.ingest_summary["accepted"] == GOOD_REVIEWS
    assert ref.statistics_properties["counts"] == counts
    assert ref.statistics.count("features {") == 2 * len(counts)  # text and label, per split
    assert ref.vocabularies, "no vocabulary assets in the transform graph"
    assert {s: len(rows) for s, rows in ref.transformed.items()} == counts
    return ref


def _assert_same_outputs(reference: ChainOutputs, distributed: ChainOutputs) -> None:
    assert distributed.ingest_summary == reference.ingest_summary
    assert distributed.examples_properties == reference.examples_properties
    assert distributed.rejected_properties == reference.rejected_properties
    assert distributed.rejected_records == reference.rejected_records
    assert distributed.statistics == reference.statistics
    assert distributed.statistics_properties == reference.statistics_properties
    assert distributed.vocabularies == reference.vocabularies
    assert distributed.transformed == reference.transformed


def test_multi_processing_matches_fn_api_runner(
    source: Path, reference: ChainOutputs, tmp_path: Path
) -> None:
    _assert_same_outputs(reference, _chain(source, tmp_path, MULTI_PROCESSING))


def test_portable_runner_matches_fn_api_runner(
    source: Path, reference: ChainOutputs, portable_args: tuple[str, ...], tmp_path: Path
) -> None:
    _assert_same_outputs(reference, _chain(source, tmp_path, portable_args))
