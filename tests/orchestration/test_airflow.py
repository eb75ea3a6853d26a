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

# Runs DAGs one after the other with dag.test() (tasks in this process, no scheduler: a
# python-mode task imports TensorFlow once for all runs) and prints, as JSON on the last line,
# each run's Airflow run id and the final state of every task.
DRIVER = """
import datetime, importlib.util, json, sys
day = datetime.datetime.fromisoformat(sys.argv[1]).replace(tzinfo=datetime.timezone.utc)
results = []
for path, dag_id in (arg.split("::") for arg in sys.argv[2:]):
    spec = importlib.util.spec_from_file_location(dag_id, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run = getattr(module, dag_id).test(logical_date=day)
    results.append({"run_id": run.run_id,
                    "states": {ti.task_id: str(ti.state) for ti in run.get_task_instances()}})
print(json.dumps(results))
"""

# The test's own DAGs, built with the public API: the nightly config again, and a copy with a
# failing custom node run as commands (mode="bash").
MORE_DAGS = """
from pathlib import Path
from seqline.orchestration.airflow import build_dag
here = Path(__file__).parent
reviews_again = build_dag(here / "nightly.yaml", dag_id="reviews_again")
reviews_broken = build_dag(here / "broken.yaml", dag_id="reviews_broken", mode="bash")
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


def _dag_tests(env: dict[str, str], *dags: tuple[Path, str]) -> list[dict]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, DAY, *(f"{path}::{dag_id}" for path, dag_id in dags)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    print(f"dag.test() of {len(dags)} DAGs took {time.perf_counter() - started:.1f}s")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _seqline_run(dag_id: str, airflow_run_id: str) -> str:
    return f"{dag_id}-" + airflow_run_id.replace(":", "").replace("+", "_")


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

    broken = dict(config)
    broken["components"] = {
        **config["components"],
        "break_examples": {
            "component": "tests.orchestration.failing_node:COMPONENT",
            "inputs": {"examples": "ingest_text.examples"},
            "replaces": {"scrubbed": "ingest_text.examples"},
        },
    }
    # No retries for it: the defaults retry after 5 minutes.
    broken["orchestration"] = {
        **config["orchestration"],
        "nodes": {"break_examples": {"retries": 0}},
    }
    (dags / "broken.yaml").write_text(yaml.safe_dump(broken))
    (dags / "more_dags.py").write_text(MORE_DAGS)

    first, again, failing = _dag_tests(
        env,
        (dags / "reviews_nightly.py", "reviews_nightly"),
        (dags / "more_dags.py", "reviews_again"),
        (dags / "more_dags.py", "reviews_broken"),
    )
    serving = tmp_path / "demo-output" / "nightly" / "serving" / "reviews"

    # 1. Every node runs in the worker's process, as one seqline run named after the DAG run.
    assert first["states"] == dict.fromkeys(nodes, "success")
    assert _statuses(root, _seqline_run("reviews_nightly", first["run_id"])) == dict.fromkeys(
        nodes, "COMPLETE"
    )
    assert (serving / "1" / "saved_model.pb").is_file()

    # 2. The same day again: every task succeeds and every node is CACHED; nothing re-pushed.
    assert again["states"] == dict.fromkeys(nodes, "success")
    assert _statuses(root, _seqline_run("reviews_again", again["run_id"])) == dict.fromkeys(
        nodes, "CACHED"
    )
    assert not (serving / "2").exists()

    # 3. As `seqline run --node` commands, with a custom node after ingest that fails: ingest
    # (cached) succeeds, the failing node's task fails, and every task after it ends
    # upstream_failed without running.
    assert failing["states"] == {
        "ingest_text": "success",
        "break_examples": "failed",
        **{node: "upstream_failed" for node in nodes - {"ingest_text"}},
    }
    assert _statuses(root, _seqline_run("reviews_broken", failing["run_id"])) == {
        "ingest_text": "CACHED",
        "break_examples": "FAILED",
    }
