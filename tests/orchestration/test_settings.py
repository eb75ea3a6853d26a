"""The orchestration block and the graph an orchestrator reads from a config."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqline.orchestration.commands import node_command, pipeline_graph, shell_command
from seqline.orchestration.settings import orchestration_settings
from seqline.pipeline.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
NIGHTLY = REPO / "examples" / "airflow" / "nightly.yaml"


def test_node_settings_fall_back_to_defaults_then_built_in_values():
    settings = orchestration_settings(
        {
            "defaults": {"retries": 1, "cpu": 2, "memory": "4Gi"},
            "nodes": {"train": {"retries": 0, "gpu": 1, "timeout_seconds": 60}},
        }
    )
    train, other = settings.for_node("train"), settings.for_node("transform")
    assert (train.retries, train.cpu, train.gpu, train.timeout_seconds) == (0, "2", 1, 60)
    assert (other.retries, other.cpu, other.gpu, other.timeout_seconds) == (1, "2", None, None)
    assert other.retry_delay_seconds == 300  # built in


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"defaults": {"memory": "4 GB"}}, "orchestration.defaults.memory: expected a Kubernetes"),
        ({"nodes": {"train": {"retries": -1}}}, "retries: expected >= 0, got -1"),
        ({"nodes": {"train": {"gpu_type": "nvidia.com/gpu"}}}, "gpu is not; set gpu: 1"),
        ({"start_date": "01/02/2026"}, "start_date: expected YYYY-MM-DD"),
        ({"retries": 1}, "unknown field(s) ['retries']"),
    ],
)
def test_bad_orchestration_blocks_name_the_field(block, message):
    with pytest.raises(ConfigError) as caught:
        orchestration_settings(block)
    assert message in str(caught.value)


def test_graph_of_the_nightly_example(tmp_path):
    graph = pipeline_graph(NIGHTLY)
    assert graph.parameters == ("epochs", "span", "vocab_size")
    assert graph.defaults == {"epochs": "4", "vocab_size": "5000"}
    ids = [t.node_id for t in graph.tasks]
    assert ids[0] == "ingest_text" and ids[-1] == "push"
    assert {t.node_id: t.upstream for t in graph.tasks}["train"] == ("transform",)
    by_id = {t.node_id: t.settings for t in graph.tasks}
    assert (by_id["train"].retries, by_id["train"].timeout_seconds) == (2, 7200)
    assert (by_id["push"].retries, by_id["ingest_text"].retries) == (0, 1)
    # Only the parameters the config references are passed, the date one from the run.
    assert graph.run_params({"epochs": "2"}, "2026-01-01") == {"epochs": "2", "span": "2026-01-01"}

    typo = tmp_path / "typo.yaml"
    typo.write_text(NIGHTLY.read_text().replace("    push: {retries: 0}", "    pushh: {}"))
    with pytest.raises(ConfigError, match=r"orchestration.nodes: unknown node\(s\) \['pushh'\]"):
        pipeline_graph(typo)
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['epoch'\]"):
        pipeline_graph(NIGHTLY, {"epoch": "2"})


def test_node_command_quotes_each_word():
    argv = node_command("/p/my config.yaml", "train", "r-1", {"span": "{{ ds }}"})
    assert argv == [
        "seqline", "run", "/p/my config.yaml", "--node", "train", "--run-id", "r-1",
        "--param", "span={{ ds }}",
    ]  # fmt: skip
    assert shell_command(argv).startswith("seqline run '/p/my config.yaml' --node train")


def test_airflow_dag_structure_follows_the_pipeline():
    pytest.importorskip("airflow.sdk", reason="needs seqline[airflow] (apache-airflow 3.3)")
    from seqline.orchestration.airflow import build_dag

    dag = build_dag(NIGHTLY, dag_id="nightly", mode="bash", params={"epochs": "2"})
    graph = pipeline_graph(NIGHTLY)
    assert set(dag.task_dict) == {t.node_id for t in graph.tasks}
    for task in graph.tasks:
        assert dag.task_dict[task.node_id].upstream_task_ids == set(task.upstream)
    train = dag.task_dict["train"]
    assert train.retries == 2 and train.execution_timeout.total_seconds() == 7200
    assert "--node train" in train.bash_command
    assert "--param 'span={{ ds }}'" in train.bash_command
    assert "--param epochs=2" in train.bash_command
    assert "vocab_size" not in train.bash_command  # its default comes from the config
    assert dag.max_active_runs == 1 and not dag.catchup


def test_orchestrators_take_python_params_of_scalar_types():
    """build_dag(params={"epochs": 2}) failed with an AttributeError inside PyYAML."""
    assert pipeline_graph(NIGHTLY, {"epochs": 2}).run_params({"epochs": 2}) == {"epochs": 2}
    with pytest.raises(TypeError, match=r"params\['epochs'\]: expected a str, int, float"):
        pipeline_graph(NIGHTLY, {"epochs": [2]})


def test_airflow_dag_takes_an_int_param():
    pytest.importorskip("airflow.sdk", reason="needs seqline[airflow] (apache-airflow 3.3)")
    from seqline.orchestration.airflow import build_dag

    bash = build_dag(NIGHTLY, dag_id="nightly", mode="bash", params={"epochs": 2})
    assert "--param epochs=2" in bash.task_dict["train"].bash_command
    python = build_dag(NIGHTLY, dag_id="nightly_py", params={"epochs": 2})
    assert python.task_dict["train"].op_kwargs["params"] == {"epochs": "2"}
    with pytest.raises(TypeError, match=r"params\['epochs'\]"):
        build_dag(NIGHTLY, dag_id="nightly_bad", params={"epochs": {"n": 2}})


def test_a_parameter_in_an_x_key_is_not_one_and_yaml_errors_name_the_file(tmp_path):
    """The graph read the YAML with its x- keys, which read_config drops, so a ${extra} in
    one was a parameter of the graph (and --param extra=... was taken); its YAML errors said
    <unicode string> instead of the file."""
    path = tmp_path / "nightly.yaml"
    path.write_text('x-unused: {note: "${extra}"}\n' + NIGHTLY.read_text())
    assert pipeline_graph(path).parameters == ("epochs", "span", "vocab_size")
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['extra'\]"):
        pipeline_graph(path, {"extra": "1"})
    path.write_text("name: x\ncomponents: [\n")
    with pytest.raises(ConfigError) as caught:
        pipeline_graph(path)
    assert f'in "{path}", line' in str(caught.value)
    assert "<unicode string>" not in str(caught.value)


def test_a_dag_id_too_long_for_its_run_ids_is_refused_when_the_dag_is_built():
    """Each task's run id is `{dag_id}-{Airflow run id}`: a dag id leaving no room for Airflow's
    longest own run ids made every task fail at run time."""
    pytest.importorskip("airflow.sdk", reason="needs seqline[airflow] (apache-airflow 3.3)")
    from seqline.orchestration.airflow import LONGEST_AIRFLOW_RUN_ID, build_dag, seqline_run_id
    from seqline.pipeline.errors import ConfigError
    from seqline.pipeline.execution import RUN_ID_MAX_LENGTH, check_run_id

    most = RUN_ID_MAX_LENGTH - 1 - LONGEST_AIRFLOW_RUN_ID
    longest_own = "asset_materialization__2026-12-07T10:11:12.123456+00:00_AbCdEfGh"
    assert len(seqline_run_id("", longest_own)) - 1 <= LONGEST_AIRFLOW_RUN_ID
    dag = build_dag(NIGHTLY, dag_id="d" * most, mode="bash")
    check_run_id(seqline_run_id(dag.dag_id, longest_own))
    with pytest.raises(ConfigError, match=f"dag_id: expected at most {most} characters"):
        build_dag(NIGHTLY, dag_id="d" * (most + 1), mode="bash")
