"""Tiny components (no TensorFlow) used to test the framework itself."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from seqline.pipeline.artifact import Artifact, ArtifactType
from seqline.pipeline.artifacts.examples import SHARD_SUFFIX, split_prefix
from seqline.pipeline.component import Component, ExecutionContext
from seqline.pipeline.errors import ConfigError


@dataclass(frozen=True)
class WriteNumbersConfig:
    count: int = 5
    source: str = ""  # optional file whose contents are part of the data identity
    calls_log: str = ""  # file to append one line per execution (counts real executions)

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ConfigError(f"count: expected >= 0, got {self.count}")


def complete_examples(out: Artifact, splits: tuple[str, ...] = ("train",)) -> None:
    """Lists `splits` on `out` and writes an empty shard in each: what the runner checks of an
    Examples output before publishing it (Artifact.missing). The toys' data is numbers.json."""
    out.properties["splits"] = list(splits)
    for split in splits:
        os.makedirs(os.path.join(out.uri, split), exist_ok=True)
        Path(f"{split_prefix(out.uri, split)}-00000-of-00001{SHARD_SUFFIX}").write_bytes(b"")


def complete_model(out: Artifact) -> None:
    """Writes an empty saved_model/saved_model.pb into `out`: what the runner checks of a Model
    output before publishing it (Artifact.missing). The toys' result is total.json."""
    os.makedirs(os.path.join(out.uri, "saved_model"), exist_ok=True)
    Path(out.uri, "saved_model", "saved_model.pb").write_bytes(b"")


def _log_call(path: str, name: str) -> None:
    if path:
        with open(path, "a") as f:
            f.write(name + "\n")


def write_numbers(ctx: ExecutionContext) -> dict:
    cfg = ctx.config
    _log_call(cfg.calls_log, "write_numbers")
    out = ctx.outputs["examples"]
    with open(os.path.join(out.uri, "numbers.json"), "w") as f:
        json.dump(list(range(cfg.count)), f)
    out.properties["count"] = cfg.count
    complete_examples(out)
    ctx.progress(f"wrote {cfg.count} numbers")
    return {"count": cfg.count}


def _source_id(cfg: WriteNumbersConfig) -> str:
    if not cfg.source:
        return ""
    stat = os.stat(cfg.source)
    return f"{cfg.source}:{stat.st_size}:{stat.st_mtime_ns}"


def _check(cfg: WriteNumbersConfig) -> None:
    if cfg.source and not os.path.exists(cfg.source):
        raise ConfigError(f"source: file {cfg.source!r} does not exist")


WRITE_NUMBERS = Component(
    name="write_numbers",
    inputs={},
    outputs={"examples": ArtifactType.EXAMPLES},
    config_type=WriteNumbersConfig,
    executor=write_numbers,
    source_fingerprint=_source_id,
    check=_check,
)


@dataclass(frozen=True)
class SumConfig:
    scale: int = 1
    calls_log: str = ""
    fail: bool = False
    # Test hook for crash tests: create this file, then wait (bounded) for `release_file`.
    started_file: str = ""
    release_file: str = ""


def sum_numbers(ctx: ExecutionContext) -> dict:
    cfg = ctx.config
    _log_call(cfg.calls_log, "sum_numbers")
    with open(os.path.join(ctx.inputs["examples"].uri, "numbers.json")) as f:
        numbers = json.load(f)
    out = ctx.outputs["model"]
    # Write part of the output first, so a kill in the middle leaves a half-written directory.
    with open(os.path.join(out.uri, "partial.txt"), "w") as f:
        f.write("half")
    if cfg.started_file:
        Path(cfg.started_file).write_text(str(os.getpid()))
        deadline = time.monotonic() + 60
        while not os.path.exists(cfg.release_file) and time.monotonic() < deadline:
            time.sleep(0.05)
    if cfg.fail:
        raise RuntimeError("deliberate failure")
    total = sum(numbers) * cfg.scale
    with open(os.path.join(out.uri, "total.json"), "w") as f:
        json.dump(total, f)
    out.properties["total"] = total
    complete_model(out)
    return {"total": total}


SUM_NUMBERS = Component(
    name="sum_numbers",
    inputs={"examples": ArtifactType.EXAMPLES},
    outputs={"model": ArtifactType.MODEL},
    config_type=SumConfig,
    executor=sum_numbers,
)
