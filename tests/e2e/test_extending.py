"""An out-of-tree component (examples/extending/pii_scrub) in the real text pipeline: wired by
import path from YAML, found on PYTHONPATH, cached, and in the fingerprint with its own code."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import runpy
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from seqline.pipeline.cli import main as cli_main
from seqline.pipeline.metadata import MetadataStore, default_metadata_url

REPO = Path(__file__).resolve().parents[2]
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

pytestmark = pytest.mark.slow

CONFIG = """
name: scrubbed
kind: text
root: out/pipeline
components:
  ingest_text: {source: data/reviews.csv, labels: [neg, pos]}
  pii_scrub:
    component: pii_scrub.component:COMPONENT
    inputs: {examples: ingest_text.examples}
    replaces: {examples: ingest_text.examples}
    config: {max_pii_fraction: 0.5, max_reject_ratio: 0.05}
  transform: {vocab_size: 300, max_tokens: 32}
  train: {model: {embedding_dim: 8, layer: gru, units: 8}, epochs: 1, batch_size: 64}
  evaluate: {beat_baseline: [accuracy]}
  push: {serving_root: out/serving, model_name: reviews}
"""

FINGERPRINTS = """
import json, sys
from seqline.pipeline.config_file import load_pipeline
from seqline.pipeline.runner import compute_fingerprints
print(json.dumps(compute_fingerprints(load_pipeline(sys.argv[1]))))
"""


def _data(path: Path) -> None:
    """The example's own data script (examples/extending/prepare.py, the command its
    pipeline.yaml documents), smaller: 300 reviews, 30 with an address and a phone number,
    3 that are nothing but an address."""
    prepare = runpy.run_path(str(REPO / "examples" / "extending" / "prepare.py"))
    prepare["write_reviews_with_pii"](path, 300, seed=5)


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@contextlib.contextmanager
def _importable_from(folder: Path) -> Iterator[None]:
    """`folder` first on sys.path, with no other pii_scrub imported meanwhile (the repo's copy
    may be, by tests/examples/test_pii_scrub.py); afterwards sys.path and the pii_scrub modules
    are as before."""

    def ours() -> dict[str, object]:
        return {n: m for n, m in sys.modules.items() if n.split(".")[0] == "pii_scrub"}

    before = ours()
    for name in before:
        del sys.modules[name]
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        for name in ours():
            del sys.modules[name]
        sys.modules.update(before)


def test_pii_scrub_between_ingest_and_statistics(tmp_path, monkeypatch, capsys):
    outside = tmp_path / "outside"
    shutil.copytree(REPO / "examples" / "extending" / "pii_scrub", outside / "pii_scrub")
    _data(tmp_path / "data" / "reviews.csv")
    (tmp_path / "pipeline.yaml").write_text(CONFIG)
    env = {**os.environ, "PYTHONPATH": str(outside), "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = [sys.executable, "-m", "seqline.pipeline.cli", "run", "pipeline.yaml"]
    # The first run is `seqline run` in this process (TensorFlow, Beam and TFT are imported
    # here anyway); finding the component on PYTHONPATH is the cached rerun's, a fresh process
    # given only PYTHONPATH, which must import it to fingerprint the pipeline.
    monkeypatch.chdir(tmp_path)
    with _importable_from(outside):
        assert cli_main(["run", "pipeline.yaml"]) == 0
    capsys.readouterr()

    root = tmp_path / "out" / "pipeline"
    store = MetadataStore(default_metadata_url(str(root)))
    run_id = store.runs()[0]["run_id"]
    executions = {e.node_id: e for e in store.executions(run_id)}
    outputs = {n: dict(store.artifacts_of(e.id, "output")) for n, e in executions.items()}
    scrubbed = outputs["pii_scrub"]["examples"]
    for node in ("statistics", "transform", "evaluate", "infra_validate"):
        inputs = dict(store.artifacts_of(executions[node].id, "input"))
        assert inputs["examples"].uri == scrubbed.uri, node

    # Record accounting: what ingest accepted = what scrub kept + what it rejected.
    ingested = outputs["ingest_text"]["examples"].properties
    rejected = outputs["pii_scrub"]["rejected"]
    assert rejected.properties == {"count": 3, "by_reason": {"mostly_pii": 3}}
    assert sum(scrubbed.properties["counts"].values()) + 3 == sum(ingested["counts"].values())
    assert scrubbed.properties["rejected"] == ingested["rejected"] + 3
    # masked matches in every record read, the 3 rejected ones included
    assert scrubbed.properties["scrubbed"] == {"email": 33, "phone": 30}
    lines = [
        json.loads(line)
        for path in glob.glob(f"{rejected.uri}/*.jsonl")
        for line in Path(path).read_text().splitlines()
    ]
    assert sorted(r["record"] for r in lines) == ["[EMAIL]"] * 3  # masked, never the address

    import tensorflow as tf

    texts = [
        tf.train.Example.FromString(record.numpy()).features.feature["text"].bytes_list.value[0]
        for path in glob.glob(f"{scrubbed.uri}/*/data-*-of-*.tfrecord.gz")
        for record in tf.data.TFRecordDataset(path, compression_type="GZIP")
    ]
    assert len(texts) == sum(scrubbed.properties["counts"].values())
    assert not any(EMAIL.search(t.decode()) for t in texts)
    assert sum(b"[EMAIL]" in t for t in texts) == 30

    _run(run, tmp_path, env)
    second = store.runs()[0]
    assert second["executions"] == {"CACHED": len(executions)}

    # Editing a module of the component's package changes its fingerprint and everything
    # downstream of it, and nothing upstream.
    fingerprints = [sys.executable, "-c", FINGERPRINTS, "pipeline.yaml"]
    before = json.loads(_run(fingerprints, tmp_path, env).stdout)
    scrubbing = outside / "pii_scrub" / "scrubbing.py"
    scrubbing.write_text(scrubbing.read_text().replace("{6,}", "{7,}"))
    after = json.loads(_run(fingerprints, tmp_path, env).stdout)
    changed = {node for node in before if before[node] != after[node]}
    assert changed == set(before) - {"ingest_text"}
