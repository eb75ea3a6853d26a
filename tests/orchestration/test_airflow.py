"""The example Airflow DAG, run for real: `airflow db migrate` on SQLite, then `dag.test()`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("airflow.sdk", reason="needs seqline[airflow] (apache-airflow 3.3)")

from seqline.components.ingest_text.synthetic import write_synthetic_reviews  # noqa: E402
from seqline.pipeline.metadata import MetadataStore, default_metadata_url  # noqa: E402

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-01-01"

# Runs one DAG once with dag.test() (tasks in this process, no scheduler) and prints the final
# state of every task, as JSON, on the last line.
DRIVER = """
import importlib.util, json, sys, datetime
spec = importlib.util.spec_from_file_location("dag_file", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
dag = getattr(module, sys.argv[2])
day = datetime.datetime.fromisoformat(sys.argv[3]).replace(tzinfo=datetime.timezone.utc)
run = dag.test(logical_date=day)
print(json.dumps({"run_id": run.run_id,
                  "states": {ti.task_id: str(ti.state) for ti in run.get_task_instances()}}))
"""

BROKEN_DAG = """
from pathlib import Path
from seqline.orchestration.airflow import build_dag
broken = build_dag(Path(__file__).with_name("broken.yaml"), dag_id="reviews_broken")
"""


def _env(home: Path, dags: Path) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),  # `seqline` for bash tasks
        "PYTHONPATH": str(REPO),  # the failing custom node lives in tests/
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def _dag_test(env: dict[str, str], dag_file: Path, dag_id: str) -> dict:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(dag_file), dag_id, DAY],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    print(f"{dag_id}: dag.test() took {time.perf_counter() - started:.1f}s")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _statuses(root: Path, run_id: str) -> dict[str, str]:
    store = MetadataStore(default_metadata_url(str(root)))
    try:
        return {e.node_id: e.status for e in store.executions(run_id)}
    finally:
        store.close()


def test_example_dag_runs_caches_and_stops_downstream_of_a_failure(tmp_path):
    examples = tmp_path / "examples"
    dags = examples / "airflow"
    shutil.copytree(REPO / "examples" / "airflow", dags)
    config = yaml.safe_load((dags / "nightly.yaml").read_text())
    # Tiny data and model: what is tested is the orchestration, not the accuracy.
    config["parameters"] = {"epochs": 1, "vocab_size": 300}
    config["components"]["train"]["model"] = {"embedding_dim": 8, "layer": "gru", "units": 8}
    config["components"]["evaluate"]["thresholds"] = {"accuracy": {"lower": 0.0}}
    (dags / "nightly.yaml").write_text(yaml.safe_dump(config))
    write_synthetic_reviews(tmp_path / "demo-output" / "nightly" / "data" / f"{DAY}.csv", n=300)
    env = _env(tmp_path / "airflow-home", dags)
    migrate = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    root = tmp_path / "demo-output" / "nightly" / "pipeline"
    nodes = {
        "ingest_text", "statistics", "schema", "validate", "transform", "train", "evaluate",
        "infra_validate", "push",
    }  # fmt: skip

    # 1. Every node runs in the worker's process, as one seqline run named after the DAG run.
    first = _dag_test(env, dags / "reviews_nightly.py", "reviews_nightly")
    assert first["states"] == dict.fromkeys(nodes, "success")
    seqline_run = "reviews_nightly-" + first["run_id"].replace(":", "").replace("+", "_")
    assert _statuses(root, seqline_run) == dict.fromkeys(nodes, "COMPLETE")
    assert (tmp_path / "demo-output" / "nightly" / "serving" / "reviews" / "1").is_dir()

    # 2. The same day again, each node as a `seqline run --node` command: all cached.
    second = _dag_test(env, dags / "reviews_nightly.py", "reviews_nightly_bash")
    assert second["states"] == dict.fromkeys(nodes, "success")
    bash_run = "reviews_nightly_bash-" + second["run_id"].replace(":", "").replace("+", "_")
    assert _statuses(root, bash_run) == dict.fromkeys(nodes, "CACHED")
    assert not (tmp_path / "demo-output" / "nightly" / "serving" / "reviews" / "2").exists()

    # 3. A custom node after ingest that fails: its task fails, everything after it is
    # upstream_failed, and ingest (cached) still succeeds.
    config["components"]["break_examples"] = {
        "component": "tests.orchestration.failing_node:COMPONENT",
        "inputs": {"examples": "ingest_text.examples"},
        "replaces": {"scrubbed": "ingest_text.examples"},
    }
    config["orchestration"]["nodes"]["break_examples"] = {"retries": 0}
    (dags / "broken.yaml").write_text(yaml.safe_dump(config))
    (dags / "broken_dag.py").write_text(BROKEN_DAG)
    third = _dag_test(env, dags / "broken_dag.py", "reviews_broken")
    assert third["states"] == {
        "ingest_text": "success",
        "break_examples": "failed",
        **{node: "upstream_failed" for node in nodes - {"ingest_text"}},
    }
