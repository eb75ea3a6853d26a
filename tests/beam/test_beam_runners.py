"""transform_text gives the same outputs on a distributed Beam runner as on FnApiRunner.

Runs the real transform component (TFT analyzers, Beam) on a tiny generated corpus twice:
FnApiRunner (the default) and DirectRunner in multi_processing mode with 2 worker processes,
then compares byte-for-byte vocabulary files and the transformed tf.Examples as sorted sets
(shard order and record order may differ between runners; the contents may not).
"""

from __future__ import annotations

import glob
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seqline.pipeline.artifact import Artifact, ArtifactType
from tests.components.context import make_context
from tests.components.train.conftest import LABELS, make_corpus, write_raw_examples

pytestmark = pytest.mark.slow  # each test runs the transform twice (about a minute on 2 cores)

MULTI_PROCESSING = (
    "--runner=DirectRunner",
    "--direct_running_mode=multi_processing",
    "--direct_num_workers=2",
)


@pytest.fixture(scope="module")
def raw_examples(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    """A raw Examples artifact: 40 train and 16 eval generated reviews."""
    uri = tmp_path_factory.mktemp("raw") / "examples"
    splits = {"train": make_corpus(40, seed=3), "eval": make_corpus(16, seed=4)}
    for split, rows in splits.items():
        write_raw_examples(uri, split, rows)
    return Artifact(
        ArtifactType.EXAMPLES,
        str(uri),
        "examplesfp",
        properties={
            "splits": list(splits),
            "counts": {s: len(r) for s, r in splits.items()},
            "labels": LABELS,
            "rejected": 0,
            "input": sum(len(r) for r in splits.values()),
        },
    )


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


def _transform(examples: Artifact, root: Path, beam_args: tuple[str, ...]) -> tuple[Path, Path]:
    """Runs transform_text under `beam_args`; returns (transform_graph dir, transformed dir)."""
    from seqline.components.transform.config import TransformTextConfig
    from seqline.components.transform.text_component import COMPONENT as TRANSFORM

    graph = Artifact(ArtifactType.TRANSFORM_GRAPH, str(root / "transform_graph"), "tgfp")
    transformed = Artifact(
        ArtifactType.TRANSFORMED_EXAMPLES, str(root / "transformed_examples"), "tefp"
    )
    for artifact in (graph, transformed):
        os.makedirs(artifact.uri)
    ctx = make_context(
        config=TransformTextConfig(vocab_size=30, max_tokens=10),
        inputs={"examples": examples},
        outputs={"transform_graph": graph, "transformed_examples": transformed},
        temp_dir=str(root / "tmp"),
        beam_args=beam_args,
    )
    os.makedirs(ctx.temp_dir)
    TRANSFORM.executor(ctx)
    return Path(graph.uri), Path(transformed.uri)


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
def reference(
    raw_examples: Artifact, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The FnApiRunner run every other runner is compared with."""
    root = tmp_path_factory.mktemp("fnapi")
    return _transform(raw_examples, root, ("--runner=FnApiRunner",))


def _assert_same_outputs(
    raw_examples: Artifact, reference: tuple[Path, Path], distributed: tuple[Path, Path]
) -> None:

    ref_vocab, dist_vocab = _vocabularies(reference[0]), _vocabularies(distributed[0])
    assert ref_vocab, f"no vocabulary assets under {reference[0]}"
    assert dist_vocab == ref_vocab
    for split, count in raw_examples.properties["counts"].items():
        ref_rows, dist_rows = _examples(reference[1], split), _examples(distributed[1], split)
        assert len(ref_rows) == count
        assert dist_rows == ref_rows


def test_multi_processing_matches_fn_api_runner(
    raw_examples: Artifact, reference: tuple[Path, Path], tmp_path: Path
) -> None:
    distributed = _transform(raw_examples, tmp_path / "mp", MULTI_PROCESSING)
    _assert_same_outputs(raw_examples, reference, distributed)


def test_portable_runner_matches_fn_api_runner(
    raw_examples: Artifact,
    reference: tuple[Path, Path],
    portable_args: tuple[str, ...],
    tmp_path: Path,
) -> None:
    distributed = _transform(raw_examples, tmp_path / "portable", portable_args)
    _assert_same_outputs(raw_examples, reference, distributed)
