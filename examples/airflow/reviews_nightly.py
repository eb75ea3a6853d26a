"""Airflow 3 DAGs for the nightly reviews pipeline (examples/airflow/nightly.yaml).

Copy this file and the YAML into your DAGs folder. Two ways to run the same nodes; keep one:

- `reviews_nightly`: each task runs its node inside the Airflow worker's process (the worker
  needs seqline installed);
- `reviews_nightly_bash`: each task runs `seqline run nightly.yaml --node NODE --run-id ID
  --param span={{ ds }}` as a command (swap in a KubernetesPodOperator with
  `seqline.orchestration.airflow.node_argv` to run it in a container).

Try it offline: `airflow db migrate && airflow dags test reviews_nightly 2026-01-01`.
"""

from __future__ import annotations

from pathlib import Path

from seqline.orchestration.airflow import build_dag

CONFIG = Path(__file__).with_name("nightly.yaml")

reviews_nightly = build_dag(CONFIG, dag_id="reviews_nightly", mode="python")
reviews_nightly_bash = build_dag(CONFIG, dag_id="reviews_nightly_bash", mode="bash")
