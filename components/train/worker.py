"""One process of a multi-worker training: `python -m seqline.components.train.worker`.

With TF_CONFIG naming several tasks, every task runs the same training in lockstep under
MultiWorkerMirroredStrategy, which must be created before TensorFlow's runtime starts in the
process. So:

- the pipeline runner's train executor (the chief's side, or whichever task the runner host is)
  starts this module as a child process (run_in_fresh_process) and waits for it;
- every other task runs this module on its own host with its own TF_CONFIG and the same
  arguments:

    TF_CONFIG='{"cluster": {"worker": ["h1:2222", "h2:2222"]}, "task": {"type": "worker",
                "index": 1}}' \\
    python -m seqline.components.train.worker --component train_text \\
        --transform-graph URI --transformed-examples URI \\
        --pipeline-root ROOT --fingerprint FP --config-json '{"epochs": 3, ...}'

Input properties are read from the published artifacts' artifact.json. The chief (task "chief",
or worker 0 when the cluster has no chief) writes the outputs: to --model-dir / --model-run-dir
when given, else to temporary directories it reports. Non-chief workers write nothing that
lasts. --pipeline-root, --node-id and --fingerprint must match the chief's: the BackupAndRestore
state in `{pipeline_root}/_work/{node_id}/{fingerprint}` is shared by all workers.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from seqline.pipeline.artifact import Artifact, ArtifactType, new_artifact, read_artifact
from seqline.pipeline.artifacts import Model, ModelRun, TransformedExamples, TransformGraph
from seqline.pipeline.component import ExecutionContext, retype
from seqline.pipeline.errors import SeqlineError

if TYPE_CHECKING:
    from seqline.components.train.config import TrainingConfig

PROGRESS_PREFIX = "seqline-progress: "


def _text() -> tuple[type[TrainingConfig], Any]:
    from seqline.components.train.config import TrainTextConfig
    from seqline.components.train.text_component import execute

    return TrainTextConfig, execute


def _series() -> tuple[type[TrainingConfig], Any]:
    from seqline.components.train.config import TrainSeriesConfig
    from seqline.components.train.series_component import execute

    return TrainSeriesConfig, execute


# --component -> (config type, the component's in-process `execute`), imported on demand.
COMPONENTS = {"train_text": _text, "train_series": _series}


def _input(uri: str, expected_type: str) -> Artifact:
    artifact = read_artifact(uri)
    if artifact is None:
        raise SeqlineError(
            f"expected a published artifact (with artifact.json) at {uri}, found none; pass "
            "the URI of the upstream component's output"
        )
    if artifact.type_name != expected_type:
        raise SeqlineError(f"{uri}: expected a {expected_type}, got a {artifact.type_name}")
    artifact.uri = uri  # the artifact may have been copied elsewhere: trust the given URI
    return artifact


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m seqline.components.train.worker",
        description="Run one task of a multi-worker train (TF_CONFIG names the cluster).",
    )
    parser.add_argument(
        "--component",
        required=True,
        choices=sorted(COMPONENTS),
        help="which train component's training this process runs",
    )
    parser.add_argument("--transform-graph", required=True, help="TransformGraph artifact URI")
    parser.add_argument(
        "--transformed-examples", required=True, help="TransformedExamples artifact URI"
    )
    parser.add_argument("--pipeline-root", required=True, help="the chief's pipeline root")
    parser.add_argument("--fingerprint", required=True, help="the train execution fingerprint")
    parser.add_argument("--node-id", default="train", help="the train node id (default train)")
    parser.add_argument("--config-json", default="{}", help="the component's config as JSON")
    parser.add_argument("--model-dir", help="chief only: where the Model output goes")
    parser.add_argument("--model-run-dir", help="chief only: where the ModelRun output goes")
    parser.add_argument(
        "--result-json", help="write the result here (default: print it as the last line)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the train executor body for this task and reports the result as JSON:
    {"summary", "model_dir", "model_run_dir", "model_properties", "model_run_properties"}
    (directories are null on non-chief workers)."""
    from seqline.components.train.config import from_json

    args = parse_args(argv)
    config_type, execute = COMPONENTS[args.component]()
    try:
        config = from_json(args.config_json, config_type)
        graph = retype(_input(args.transform_graph, ArtifactType.TRANSFORM_GRAPH), TransformGraph)
        examples = retype(
            _input(args.transformed_examples, ArtifactType.TRANSFORMED_EXAMPLES),
            TransformedExamples,
        )
    except SeqlineError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    model_dir: str | None = args.model_dir or tempfile.mkdtemp(prefix="seqline-model-")
    run_dir: str | None = args.model_run_dir or tempfile.mkdtemp(prefix="seqline-model-run-")
    model = new_artifact(ArtifactType.MODEL, str(model_dir), args.fingerprint)
    model_run = new_artifact(ArtifactType.MODEL_RUN, str(run_dir), args.fingerprint)
    assert isinstance(model, Model) and isinstance(model_run, ModelRun)
    ctx = ExecutionContext(
        config=config,
        inputs={"transform_graph": graph, "transformed_examples": examples},
        outputs={"model": model, "model_run": model_run},
        pipeline_name="",
        run_id="",
        node_id=args.node_id,
        pipeline_root=args.pipeline_root,
        beam_args=(),
        temp_dir=tempfile.mkdtemp(prefix="seqline-train-tmp-"),
        progress=lambda msg: print(f"{PROGRESS_PREFIX}{msg}", file=sys.stderr, flush=True),
        resolved={},
    )

    def remove_own_output_dirs() -> None:
        for directory, given in ((model_dir, args.model_dir), (run_dir, args.model_run_dir)):
            if not given and directory:
                shutil.rmtree(directory, ignore_errors=True)

    try:
        summary = execute(ctx, config, graph, examples, model, model_run)
    except BaseException:
        remove_own_output_dirs()
        raise
    finally:
        shutil.rmtree(ctx.temp_dir, ignore_errors=True)
    if summary.get("chief") is False:
        remove_own_output_dirs()  # nothing a non-chief writes outlives the run
        model_dir = run_dir = None
    result = {
        "summary": summary,
        "model_dir": model_dir,
        "model_run_dir": run_dir,
        "model_properties": model.properties,
        "model_run_properties": model_run.properties,
    }
    if args.result_json:
        with open(args.result_json, "w", encoding="utf-8") as f:
            json.dump(result, f)
    else:
        print(json.dumps(result), flush=True)
    return 0


def run_in_fresh_process(
    ctx: ExecutionContext,
    component: str,
    graph: TransformGraph,
    examples: TransformedExamples,
) -> dict[str, Any]:
    """Runs this task's share of a multi-worker training in a child process that writes
    straight into ctx's output directories; copies the output properties back.

    The child inherits the environment (TF_CONFIG included). Its progress lines are forwarded
    to ctx.progress; on failure the end of its stderr is in the error.
    """
    from seqline.components.train.config import to_json

    model = ctx.outputs["model"]
    model_run = ctx.outputs["model_run"]
    scratch = tempfile.mkdtemp(prefix="seqline-train-chief-", dir=ctx.temp_dir)
    result_path = os.path.join(scratch, "result.json")
    command = [
        sys.executable,
        "-m",
        "seqline.components.train.worker",
        "--component",
        component,
        "--transform-graph",
        graph.uri,
        "--transformed-examples",
        examples.uri,
        "--pipeline-root",
        ctx.pipeline_root,
        "--fingerprint",
        model.fingerprint or model.uri.rstrip("/").rsplit("/", 1)[-1],
        "--node-id",
        ctx.node_id,
        "--config-json",
        to_json(ctx.config),
        "--model-dir",
        model.uri,
        "--model-run-dir",
        model_run.uri,
        "--result-json",
        result_path,
    ]
    ctx.progress("multi-worker training: starting this task's training process")
    tail: collections.deque[str] = collections.deque(maxlen=40)
    try:
        with subprocess.Popen(
            command, stderr=subprocess.PIPE, text=True, errors="replace"
        ) as child:
            assert child.stderr is not None
            for line in child.stderr:
                if line.startswith(PROGRESS_PREFIX):
                    ctx.progress(line[len(PROGRESS_PREFIX) :].rstrip())
                else:
                    tail.append(line)
        if child.returncode != 0:
            raise RuntimeError(
                f"the multi-worker training process exited with {child.returncode}; "
                f"end of its stderr:\n{''.join(tail)}"
            )
        with open(result_path, encoding="utf-8") as f:
            result = json.load(f)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    model.properties.update(result["model_properties"])
    model_run.properties.update(result["model_run_properties"])
    return dict(result["summary"])


if __name__ == "__main__":
    sys.exit(main())
