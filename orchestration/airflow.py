"""An Airflow 3 DAG from a seqline config: one task per node, the pipeline's edges.

    from seqline.orchestration.airflow import build_dag
    dag = build_dag("/opt/pipelines/nightly.yaml", dag_id="reviews_nightly", mode="python")

- Each task runs one node as part of one seqline run, `{dag_id}-{airflow run id}` (so
  `seqline show` groups a DAG run's nodes), with `seqline.pipeline.node_run.run_node`:
  in the worker's process (`mode="python"`, a PythonOperator), or as a command
  (`mode="bash"`, a BashOperator running `seqline run CONFIG --node N --run-id ID`). For a
  KubernetesPodOperator or any other operator, `node_argv` gives the same command as a list.
- The logical date (`{{ ds }}`, YYYY-MM-DD) is passed as the run parameter named by
  `orchestration.date_param` (default `span`) when the config references it.
- Retries, retry delay and timeout per node come from the config's `orchestration:` block
  (orchestration/settings.py). A user's mistake (a config error, a missing upstream output,
  rejected data over the limit) fails the task at once, without retries: retrying cannot fix
  it. Other failures (a crashed worker, an out-of-memory kill, a component that raised) are
  retried, and so is data that has not landed yet (DataNotReady: the run's span folder is
  missing or still empty).
- `max_active_runs=1`: scheduled spans run in order (resolvers compare a span with the
  previous one), and a remote root is never written by two runs at once.

Needs seqline[airflow] (apache-airflow 3.3, `airflow.sdk`).
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from seqline.orchestration.commands import (
    PipelineGraph,
    node_command,
    pipeline_graph,
    shell_command,
)
from seqline.pipeline.config_file import param_texts

log = logging.getLogger(__name__)

Mode = Literal["python", "bash"]
# Airflow run ids look like "scheduled__2026-01-01T00:00:00+00:00"; seqline's go into paths.
DEFAULT_START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
RUN_ID_TEMPLATE = '{{ dag.dag_id }}-{{ run_id | replace(":", "") | replace("+", "_") }}'


# The longest run id Airflow 3 makes itself, as seqline_run_id rewrites it:
# `asset_materialization__{date}T{time}.{micros}_0000_{8 random}` is 62 characters; ids a
# person types for a manual run can be longer, and are checked when the task runs.
LONGEST_AIRFLOW_RUN_ID = 70


def check_dag_id_length(dag_id: str) -> str:
    """Returns `dag_id` when `{dag_id}-{Airflow's longest own run id}` is a valid seqline run id
    length (execution.RUN_ID_MAX_LENGTH), else raises ConfigError when the DAG file is parsed,
    instead of every task failing at run time."""
    from seqline.pipeline.errors import ConfigError
    from seqline.pipeline.execution import RUN_ID_MAX_LENGTH

    most = RUN_ID_MAX_LENGTH - 1 - LONGEST_AIRFLOW_RUN_ID
    if len(dag_id) > most:
        raise ConfigError(
            f"dag_id: expected at most {most} characters, got {len(dag_id)} ({dag_id[:40]!r}...): "
            f"each task's seqline run id is '{{dag_id}}-{{Airflow run id}}', at most "
            f"{RUN_ID_MAX_LENGTH} characters; pass a shorter dag_id to build_dag"
        )
    return dag_id


def seqline_run_id(dag_id: str, airflow_run_id: str) -> str:
    """The seqline run id of one DAG run (the same as RUN_ID_TEMPLATE renders)."""
    return f"{dag_id}-{airflow_run_id.replace(':', '').replace('+', '_')}"


def run_node_task(
    config: str, node_id: str, params: Mapping[str, str], date_param: str | None, **context: Any
) -> dict[str, Any]:
    """A PythonOperator's callable: runs one node in this process. Returns (as XCom) the
    node's status, fingerprint and summary. SeqlineErrors a retry cannot fix fail the task
    without retries (AirflowFailException); a component failure and data that has not landed
    yet (DataNotReady) are raised as they are, so Airflow retries them."""
    from airflow.sdk.exceptions import AirflowFailException

    from seqline.pipeline.config_file import load_pipeline
    from seqline.pipeline.errors import ComponentFailed, DataNotReady, SeqlineError
    from seqline.pipeline.node_run import run_node
    from seqline.serving.garbage_collection import collect_less_often

    values = dict(params)
    if date_param:
        values[date_param] = context["ds"]
    run_id = seqline_run_id(context["dag"].dag_id, context["run_id"])
    collect_less_often()  # the task's process runs a node, as `seqline run` does
    try:
        pipeline = load_pipeline(config, params=values)
        result = run_node(pipeline, node_id, run_id, progress=_log_progress(), config_hint=config)
    except ComponentFailed:
        raise  # the component raised: a retry may help (a lost worker, a flaky store)
    except DataNotReady:
        raise  # the span has not landed or is still being written: a later try may find it
    except SeqlineError as exc:
        raise AirflowFailException(str(exc)) from exc
    log.info("%s %s (fingerprint %s)", node_id, result.status, result.fingerprint)
    return {
        "status": result.status,
        "fingerprint": result.fingerprint,
        "run_id": run_id,
        "summary": {k: v for k, v in result.summary.items() if _plain(v)},
    }


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def _log_progress() -> Any:
    """A runner Progress that writes into the task log."""
    from seqline.pipeline.runner import Progress

    class LogProgress(Progress):
        def node_started(self, index: int, total: int, node: Any, cached: bool) -> None:
            log.info("%s (%s)", node.node_id, "cached" if cached else "running")

        def node_message(self, node: Any, message: str) -> None:
            log.info("%s: %s", node.node_id, message)

        def node_finished(self, index: int, total: int, result: Any) -> None:
            log.info("%s %s after %.1fs", result.node_id, result.status, result.seconds)

    return LogProgress()


def node_argv(
    config: str,
    graph: PipelineGraph,
    node_id: str,
    params: Mapping[str, Any],
    seqline: Sequence[str] = ("seqline",),
) -> list[str]:
    """The templated command of one node's task (for a BashOperator, or a
    KubernetesPodOperator's `cmds` + `arguments`). `params` as for build_dag."""
    return node_command(
        config, node_id, RUN_ID_TEMPLATE, graph.run_params(param_texts(params), "{{ ds }}"), seqline
    )


def build_dag(
    config: str | os.PathLike[str],
    *,
    dag_id: str | None = None,
    mode: Mode = "python",
    params: Mapping[str, Any] | None = None,
    worker_config: str | None = None,
    seqline: Sequence[str] = ("seqline",),
    schedule: str | None = None,
    start_date: datetime.datetime | None = None,
    tags: Sequence[str] = ("seqline",),
) -> DAG:
    """The DAG of `config` (a pipeline YAML readable where the DAG file is parsed).

    Args:
        dag_id: default: the pipeline's name.
        mode: "python" runs each node in the task's process; "bash" runs `seqline run --node`.
        params: values of the config's other ${NAME} parameters, fixed for every run: str,
            int, float or bool (taken as the text `--param` would give; TypeError naming
            the key for other types).
        worker_config: the config's path on the workers (default: `config`).
        seqline: the command that starts seqline on the workers (mode="bash"), e.g.
            ("/opt/venv/bin/seqline",) or ("python", "-m", "seqline.pipeline.cli").
        schedule, start_date: default: `orchestration.schedule` / `start_date` of the
            config; no schedule means runs are triggered by hand.
    Raises ConfigError (naming the field) for anything wrong in the config.
    """
    if mode not in ("python", "bash"):
        raise ValueError(f"mode: expected 'python' or 'bash', got {mode!r}")
    params = param_texts(params)
    graph = pipeline_graph(config, params)
    settings = graph.orchestration
    where = str(worker_config or os.path.abspath(config))
    date_param = settings.date_param if settings.date_param in graph.parameters else None
    dag = DAG(
        dag_id=check_dag_id_length(dag_id or graph.name),
        schedule=schedule if schedule is not None else settings.schedule,
        start_date=start_date or settings.start() or DEFAULT_START,
        catchup=False,
        max_active_runs=1,
        tags=list(tags),
        doc_md=f"seqline pipeline `{graph.name}` from `{where}` (root `{graph.root}`).",
    )
    tasks: dict[str, Any] = {}
    with dag:
        for task in graph.tasks:
            node = task.settings
            common: dict[str, Any] = {
                "task_id": task.node_id,
                "retries": node.retries,
                "retry_delay": datetime.timedelta(seconds=node.retry_delay_seconds or 0),
                "execution_timeout": (
                    datetime.timedelta(seconds=node.timeout_seconds)
                    if node.timeout_seconds
                    else None
                ),
            }
            if mode == "python":
                tasks[task.node_id] = PythonOperator(
                    python_callable=run_node_task,
                    op_kwargs={
                        "config": where,
                        "node_id": task.node_id,
                        "params": graph.run_params(params),
                        "date_param": date_param,
                    },
                    **common,
                )
            else:
                argv = node_argv(where, graph, task.node_id, params, seqline)
                tasks[task.node_id] = BashOperator(bash_command=shell_command(argv), **common)
        for task in graph.tasks:
            for upstream in task.upstream:
                tasks[upstream] >> tasks[task.node_id]
    return dag
