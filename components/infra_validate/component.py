"""infra_validate: does the candidate load in a real model server and answer correctly?

Copies the candidate SavedModel into `{uri}/saved_model/`, writes warmup records built from eval
examples into it (assets.extra/tf_serving_warmup_requests: TF Serving replays them on load),
serves exactly that copy from a child `seqline serve` process on 127.0.0.1 (random free port),
waits for AVAILABLE within a budget, sends canary requests from the eval split to both
signatures over gRPC, checks outputs (present, documented shapes and dtypes, finite, equal to
in-process predictions) and the p99 latency of single-example requests. push ships this copy.

Output InfraBlessing: `{uri}/infra_blessing.json` {"reasons", "details"}, `{uri}/server.log`,
`{uri}/saved_model/`; properties blessed (the verdict, stored once), reasons,
model_fingerprint, p99_ms, warmup_records. A model that fails is a recorded result, not a
pipeline failure. The contract checked (classifier or forecaster signatures) is the Model
artifact's: served_contract.

Start-up cost: the child is launched first, on an empty base path in a local temporary
directory of its own (also when the pipeline root is remote), so that its interpreter,
TensorFlow and gRPC imports (most of its ~4-7 s start) overlap the in-process predictions and
the copy; the candidate is then published into that base path as version 1 by renaming a
finished copy. The guarantees are those of a server started after the copy: the model is
loaded in a separate, fresh process, only from the files of its version directory (never from
this process's objects), a crash or hang on load takes down the child and is a recorded
failure (a child that exits while loading is reported at once), and every check goes through
real gRPC Predict and GetModelStatus requests. load_timeout_seconds now counts from the launch.

Earlier still, in a pipeline run: the runner prestarts this node (Component.prestart,
pipeline/prestart.py) when train calls ExecutionContext.finishing() before it exports, so
the child's ~2 s of start-up runs on the core the exporting train leaves idle. It is the same
fresh child on an empty base path in a directory of its own, handed over as
ExecutionContext.prestarted and closed when this node ends (or by the runner when the node is
cached or skipped); a spare that died is replaced by a fresh launch. load_timeout_seconds
still counts from the child's launch.
"""

from __future__ import annotations

import json
from typing import Any

from seqline.components.infra_validate.config import InfraValidateConfig
from seqline.pipeline.artifacts import Examples, InfraBlessing, Model
from seqline.pipeline.component import ExecutionContext, Out, component
from seqline.pipeline.errors import DataError
from seqline.storage import filesystem

__all__ = ["COMPONENT", "InfraValidateConfig", "run"]


def served_contract(model: Model) -> tuple[dict[str, str], list[str], int | None]:
    """(signature -> input name, labels, forecast steps) the served model must answer to: a
    classifier's two signatures and labels, or a forecaster's serving_default and steps."""
    from seqline.components.infra_validate.validation import (  # noqa: PLC0415
        FORECAST_SIGNATURES,
        SIGNATURES,
    )

    if model.is_forecaster:
        return dict(FORECAST_SIGNATURES), [], model.forecast_output().steps
    return dict(SIGNATURES), model.labels, None


def run(
    ctx: ExecutionContext,
    config: InfraValidateConfig,
    model: Model,
    examples: Examples,
    infra_blessing: Out[InfraBlessing],
) -> dict[str, Any]:
    """Validates the model in a served setting; writes the InfraBlessing; returns
    {"blessed", "p99_ms", "canary_requests", "problems"}."""
    # The SpareServer the runner started while train exported, if any; every server this
    # node holds is closed (stopped, its directory removed) once its log is kept.
    servers = [ctx.prestarted] if ctx.prestarted is not None else []
    try:
        return _validate(ctx, config, model, examples, infra_blessing, servers)
    finally:
        for server in servers:
            server.close()


def _validate(
    ctx: ExecutionContext,
    config: InfraValidateConfig,
    model: Model,
    examples: Examples,
    out: InfraBlessing,
    servers: list[Any],
) -> dict[str, Any]:
    from seqline.components.infra_validate.validation import (  # noqa: PLC0415
        InfraResult,
        read_canaries,
        start_server,
        validate_in_server,
        write_warmup,
    )

    signatures, labels, steps = served_contract(model)
    source = model.saved_model_dir
    if not model.has_saved_model():
        raise DataError(
            f"expected a SavedModel at {source} (saved_model.pb), found none; the Model "
            "artifact is incomplete, re-run train"
        )
    files = examples.split_files(config.eval_split)
    serialized, texts = read_canaries(files, config.canary_examples)
    if not serialized:
        raise DataError(f"expected eval examples for canary requests in {files}, got none")

    copy = out.saved_model_dir
    filesystem.copytree(source, copy)
    warmup_records = 0
    result: InfraResult | None = None
    if config.warmup:
        try:
            warmup_records = write_warmup(
                copy, serialized, texts, config.canary_batch_size, signatures
            )
        except ValueError as exc:  # InvalidWarmupRequests: the signatures break the contract
            result = InfraResult(False, [f"cannot write warmup requests: {exc}"])
    if result is None:
        if servers and servers[0].alive:
            ctx.progress("using the model server child started while train exported")
        else:  # no warm-up, or the spare died: a fresh child, the same guarantees
            ctx.progress("starting the model server in a child process")
            servers.append(start_server(config))
        result = validate_in_server(
            copy, labels, serialized, texts, config, servers[-1], forecast_steps=steps
        )
        log_path = result.details.pop("server_log", None)
        if log_path and filesystem.exists(log_path):
            filesystem.write_text(out.path("server.log"), filesystem.read_text(log_path))
    result.details["warmup_records"] = warmup_records

    document = {"reasons": result.reasons, "details": result.details}
    filesystem.write_text(out.path(InfraBlessing.DETAILS_FILE), json.dumps(document, indent=2))
    out.record(result.blessed, result.reasons, model)
    out.properties.update(
        {"p99_ms": result.details.get("p99_ms"), "warmup_records": warmup_records}
    )
    return {
        "blessed": result.blessed,
        "p99_ms": result.details.get("p99_ms"),
        "canary_requests": result.details.get("canary_requests", 0),
        "problems": 0 if result.blessed else len(result.reasons),
    }


def prestart(config: InfraValidateConfig) -> Any:
    """Component.prestart: launch the child server while train exports (see the docstring)."""
    from seqline.components.infra_validate.validation import start_server  # noqa: PLC0415

    return start_server(config)


COMPONENT = component(run, name="infra_validate", prestart=prestart)
