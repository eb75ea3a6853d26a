"""`seqline kfp compile`: the PipelineSpec reloads in kfp with the pipeline's graph."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("kfp", reason="needs seqline[kfp] (kfp 2.17)")

from google.protobuf import json_format  # noqa: E402
from kfp import components  # noqa: E402

from seqline.orchestration.commands import pipeline_graph  # noqa: E402
from seqline.pipeline.cli import main  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "kfp" / "pipeline.yaml"


def _compile(tmp_path, *extra):
    out = tmp_path / "reviews.kfp.yaml"
    args = ["kfp", "compile", str(EXAMPLE), "--image", "registry.example/seqline:0.1.0"]
    assert main([*args, "-o", str(out), *extra]) == 0
    return components.load_component_from_file(str(out)).pipeline_spec


def test_compiled_spec_has_one_container_task_per_node_wired_as_the_pipeline(tmp_path):
    spec = _compile(
        tmp_path,
        "--container-config", "/pipelines/pipeline.yaml",
        "--pipeline-root", "gs://bucket/kfp",
        "--param", "span=2026-01-01",
    )  # fmt: skip
    graph = pipeline_graph(EXAMPLE)
    tasks = spec.root.dag.tasks
    assert {name.replace("-", "_") for name in tasks} == {t.node_id for t in graph.tasks}
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    for node in graph.tasks:
        task = tasks[node.node_id.replace("_", "-")]
        assert {d.replace("-", "_") for d in task.dependent_tasks} == set(node.upstream)
        assert not task.caching_options.enable_cache  # seqline's cache decides
        container = executors[task.component_ref.name.replace("comp-", "exec-")]["container"]
        assert container["image"] == "registry.example/seqline:0.1.0"
        args = container["args"]
        assert args[:4] == ["run", "/pipelines/pipeline.yaml", "--node", node.node_id]
        assert args[4:6] == ["--run-id", "{{$.inputs.parameters['seqline_run_id']}}"]
        run_id = task.inputs.parameters["seqline_run_id"]
        assert run_id.runtime_value.constant.string_value == "{{$.pipeline_job_uuid}}"
        params = [args[i + 1] for i, a in enumerate(args) if a == "--param"]
        assert [p.split('"')[3] for p in params] == ["epochs=", "span="]
    assert tasks["train"].dependent_tasks == ["transform"]
    assert sorted(tasks["push"].dependent_tasks) == ["evaluate", "infra-validate", "train"]

    # Resources, retries and timeouts per node, from the config's orchestration block.
    train = executors["exec-train"]["container"]
    assert train["command"] == ["timeout", "14400", "seqline"]
    assert train["resources"]["resourceCpuRequest"] == "4"
    assert train["resources"]["resourceMemoryRequest"] == "16Gi"
    assert train["resources"]["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert train["resources"]["accelerator"]["resourceCount"] == "1"
    statistics = executors["exec-statistics"]["container"]
    assert statistics["command"] == ["seqline"]  # no timeout configured
    assert statistics["resources"]["resourceCpuRequest"] == "1"  # the defaults
    assert "accelerator" not in statistics["resources"]
    assert tasks["train"].retry_policy.max_retry_count == 1
    assert tasks["train"].retry_policy.backoff_duration.seconds == 60
    assert not tasks["push"].HasField("retry_policy")

    # The config's parameters are pipeline parameters with their defaults.
    inputs = spec.root.input_definitions.parameters
    assert inputs["epochs"].default_value.string_value == "8"
    assert inputs["span"].default_value.string_value == "2026-01-01"
    assert spec.default_pipeline_root == "gs://bucket/kfp"


def test_span_without_a_default_is_a_required_pipeline_parameter(tmp_path):
    spec = _compile(tmp_path)
    inputs = spec.root.input_definitions.parameters
    assert not inputs["span"].is_optional and inputs["epochs"].is_optional


def test_compile_refuses_what_pods_cannot_share(tmp_path, capsys):
    args = ["kfp", "compile", str(EXAMPLE), "--image", "img:1", "-o", str(tmp_path / "x.yaml")]
    assert main([*args, "--pipeline-root", "/tmp/kfp"]) == 2
    assert "expected gs://, s3:// or minio://" in capsys.readouterr().err
    no_store = tmp_path / "p.yaml"
    no_store.write_text(
        "\n".join(
            line for line in EXAMPLE.read_text().splitlines() if not line.startswith("metadata_url")
        )
    )
    assert main(["kfp", "compile", str(no_store), "--image", "img:1", "-o", "x.yaml"]) == 2
    assert "set `metadata_url`" in capsys.readouterr().err
    assert main([*args, "--param", "epoch=3"]) == 2
    assert "unknown parameter(s) ['epoch']" in capsys.readouterr().err
    assert not (tmp_path / "x.yaml").exists()


def _compile_with(tmp_path, parameters: str, source: str, output="spec.kfp.yaml"):
    """Compiles the example with its ingest source and `parameters:` block replaced."""
    text = (
        EXAMPLE.read_text()
        .replace("  epochs: 8\n", parameters)
        .replace("reviews/${span}/*.csv", source)
    )
    text = text.replace("epochs: ${epochs}", "epochs: 2")
    config = tmp_path / "p.yaml"
    config.write_text(text)
    out = tmp_path / output
    code = main(["kfp", "compile", str(config), "--image", "img:1", "-o", str(out)])
    return code, out


def test_parameter_names_seqline_accepts_compile(tmp_path):
    """${run_id} clashed with the run id's own input, ${class} is a Python keyword; both
    raised a raw ValueError."""
    code, out = _compile_with(
        tmp_path, "  run_id: r7\n  class: pos\n  a.b-c: x\n", "${run_id}/${class}-${a.b-c}.csv"
    )
    assert code == 0
    spec = components.load_component_from_file(str(out)).pipeline_spec
    inputs = spec.root.input_definitions.parameters
    assert set(inputs) == {"run_id", "class_", "a_b_c"}
    assert inputs["class_"].default_value.string_value == "pos"
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    args = executors["exec-ingest-text"]["container"]["args"]
    assert args[5] == "{{$.inputs.parameters['seqline_run_id']}}"
    params = [args[i + 1] for i, a in enumerate(args) if a == "--param"]
    # seqline gets each parameter under its own name, whatever KFP calls it.
    assert [p.split('"')[3] for p in params] == ["a.b-c=", "class=", "run_id="]
    assert "parameters['class_']" in params[1] and "parameters['run_id']" in params[2]


@pytest.mark.parametrize(
    ("parameters", "source", "message"),
    [
        ("  a.b: x\n  a_b: y\n", "${a.b}-${a_b}.csv", r"\$\{a.b\} and \$\{a_b\} would both"),
        ("  x-y: x\n  x_y: y\n", "${x-y}-${x_y}.csv", r"\$\{x-y\} and \$\{x_y\} would both"),
        ("  seqline_run_id: x\n", "${seqline_run_id}.csv", "carries seqline's run id"),
    ],
)
def test_parameters_that_would_share_a_kfp_name_are_config_errors(
    tmp_path, capsys, parameters, source, message
):
    code, out = _compile_with(tmp_path, parameters, source)
    assert code == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "rename" in err and not out.exists()


def test_compile_creates_the_output_folder_and_refuses_a_folder_as_output(tmp_path, capsys):
    code, out = _compile_with(tmp_path, "", "${span}/*.csv", output="specs/nightly/p.yaml")
    assert code == 0 and out.is_file()
    code, _ = _compile_with(tmp_path, "", "${span}/*.csv", output="specs")
    assert code == 2
    assert "got a folder; give a file path such as" in capsys.readouterr().err


def test_compile_pipeline_takes_python_params_of_scalar_types(tmp_path):
    """compile_pipeline(params={"epochs": 3}) failed with an AttributeError inside PyYAML."""
    from seqline.orchestration.kfp import compile_pipeline

    out = compile_pipeline(EXAMPLE, image="img:1", output=tmp_path / "p.yaml", params={"epochs": 3})
    spec = components.load_component_from_file(out).pipeline_spec
    assert spec.root.input_definitions.parameters["epochs"].default_value.string_value == "3"
    with pytest.raises(TypeError, match=r"params\['epochs'\]"):
        compile_pipeline(
            EXAMPLE, image="img:1", output=tmp_path / "q.yaml", params={"epochs": None}
        )
