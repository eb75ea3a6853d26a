"""Trying the candidate in a real model server, and every way that can fail, as a result.

validate_in_server() never raises for a bad model: load errors, wrong outputs, NaN, mismatches
with in-process predictions, slow answers and a server that does not come up all end in an
InfraResult with blessed=False and one reason per problem. Imported only while infra_validate
executes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqline.components.infra_validate.checks import (
    forecast_output_problems,
    mismatch_problems,
    output_problems,
    p99_ms,
)
from seqline.components.infra_validate.config import InfraValidateConfig
from seqline.components.infra_validate.server_process import (
    ServerProcess,
    ServerStartFailed,
    SpareServer,
    launch_spare_server,
    wait_for_address,
)
from seqline.storage import filesystem

SERVED_NAME = "candidate"
# The two signatures of the seqline Model contract and their input names.
SIGNATURES = {"serving_default": "examples", "predict_text": "text"}
# A forecaster's (series pipeline): serialized windows. Its "forecast" signature takes arrays
# built from the same windows, which serving_default already exercises end to end.
FORECAST_SIGNATURES = {"serving_default": "examples"}


@dataclass
class InfraResult:
    """The verdict. `details` holds figures for infra_blessing.json (p99_ms, requests...)."""

    blessed: bool
    reasons: list[str]
    details: dict[str, Any] = field(default_factory=dict)


def read_canaries(files: Sequence[str], limit: int) -> tuple[list[bytes], list[str]]:
    """The first `limit` eval examples: (serialized tf.Example, their text)."""
    import tensorflow as tf

    from seqline.schemas.text import TEXT_KEY

    serialized = [
        record.numpy()
        for record in tf.data.TFRecordDataset(list(files), compression_type="GZIP").take(limit)
    ]
    spec = {TEXT_KEY: tf.io.FixedLenFeature([], tf.string, default_value=b"")}
    texts = []
    if serialized:
        parsed = tf.io.parse_example(tf.constant(serialized), spec)[TEXT_KEY].numpy()
        texts = [t.decode("utf-8", errors="replace") for t in parsed]
    return serialized, texts


def _batches(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _inputs(signature: str, serialized: list[bytes], texts: list[str], part: slice) -> dict:
    if signature == "serving_default":
        return {"examples": np.array(serialized[part], dtype=object)}
    return {"text": np.array([t.encode("utf-8") for t in texts[part]], dtype=object)}


def write_warmup(
    saved_model_dir: str,
    serialized: list[bytes],
    texts: list[str],
    batch: int,
    signatures: Mapping[str, str] = SIGNATURES,
) -> int:
    """Writes assets.extra/tf_serving_warmup_requests: per signature a request of 1 example and
    one of `batch` examples. Returns the number of records."""
    from seqline.serving.deploy.warmup import write_warmup_requests

    items = []
    for signature in signatures:
        for size in sorted({1, min(batch, len(serialized))}):
            items.append((signature, _inputs(signature, serialized, texts, slice(0, size))))
    write_warmup_requests(saved_model_dir, items)
    return len(items)


def local_predictions(
    saved_model_dir: str,
    serialized: list[bytes],
    texts: list[str],
    batch: int,
    signatures: Mapping[str, str] = SIGNATURES,
) -> dict[tuple[str, int], dict[str, np.ndarray]]:
    """(signature, batch index) -> outputs of the SavedModel loaded in this process."""
    import tensorflow as tf

    loaded = tf.saved_model.load(saved_model_dir)
    out = {}
    for signature in signatures:
        function = loaded.signatures[signature]
        for index, part in enumerate(_batches(len(serialized), batch)):
            inputs = _inputs(signature, serialized, texts, part)
            result = function(**{k: tf.constant(v.tolist()) for k, v in inputs.items()})
            out[(signature, index)] = {k: v.numpy() for k, v in result.items()}
    return out


def validate_in_server(
    saved_model_dir: str,
    labels: Sequence[str],
    serialized: list[bytes],
    texts: list[str],
    config: InfraValidateConfig,
    spare: SpareServer,
    forecast_steps: int | None = None,
) -> InfraResult:
    """Serves `saved_model_dir` from a child server and checks it (see module docstring).

    Args:
        saved_model_dir: the exact SavedModel push will ship (warmup records included).
        labels: the model's label names (k = len(labels)).
        serialized, texts: canary examples and their texts.
        config: budgets and sizes.
        spare: the child, launched on an empty local base path (launch_spare_server: by the
            caller, or by the runner while train exported); it is stopped here, and the caller
            closes it (removing its directory) once its log is kept.
        forecast_steps: for a forecaster (Model task "forecast"): its S; then serving_default
            is checked against the forecast contract instead of the classifier's.
    """
    details: dict[str, Any] = {"canary_examples": len(serialized)}
    batch = config.canary_batch_size
    # The child was started first, on an empty base path: its interpreter and TensorFlow
    # import (most of its start-up) overlap the in-process predictions and the copy below. It
    # still loads the candidate only from the version directory published into that base path.
    # The load budget counts from its launch, whenever that was, so a verdict never depends on
    # whether the server was warm.
    base, server, started = spare.base_path, spare.server, spare.launched
    details["server_log"] = server.log_path
    with server:
        try:
            local = local_predictions(
                saved_model_dir, serialized, texts, batch, _signatures(forecast_steps)
            )
        except Exception as exc:  # any load/call failure of the candidate is a verdict
            return InfraResult(False, [f"SavedModel cannot run in-process: {_brief(exc)}"], details)
        # Published whole: the server skips ".tmp-*" directories, so it never sees a partial copy.
        staging = filesystem.join(base, ".tmp-1")
        filesystem.copytree(saved_model_dir, staging)
        filesystem.rename(staging, filesystem.join(base, "1"))
        remaining = config.load_timeout_seconds - (time.monotonic() - started)
        try:
            wait_for_address(server, max(remaining, 1.0))
        except ServerStartFailed as exc:
            return InfraResult(False, [f"server did not start: {exc}"], details)
        return _check_served(
            server, local, labels, serialized, texts, config, details, started, forecast_steps
        )


# How often the child scans its base path for the published version (its default is 1 s).
POLL_S = 0.1
SERVER_FLAGS = (f"--file_system_poll_wait_seconds={POLL_S}",)


def start_server(config: InfraValidateConfig) -> SpareServer:
    """The child server on a fresh, empty local base path (infra_validate's Component.prestart,
    run while train exports, and its cold start when there was no warm-up)."""
    return launch_spare_server(SERVED_NAME, extra_flags=SERVER_FLAGS)


def _signatures(forecast_steps: int | None) -> Mapping[str, str]:
    return SIGNATURES if forecast_steps is None else FORECAST_SIGNATURES


def _check_served(
    server: Any,
    local: dict,
    labels: Sequence[str],
    serialized: list[bytes],
    texts: list[str],
    config: InfraValidateConfig,
    details: dict[str, Any],
    started: float,
    forecast_steps: int | None = None,
) -> InfraResult:
    from seqline.serving.client.client import PredictionClient
    from seqline.serving.errors import ServingError

    reasons: list[str] = []
    remaining = max(config.load_timeout_seconds - (time.monotonic() - started), 1.0)
    with PredictionClient(server.target, SERVED_NAME, timeout=30.0, retries=0) as client:
        try:
            _wait_available(client, server, remaining)
        except ServingError as exc:
            tail = server.log_tail(5)
            return InfraResult(
                False,
                [
                    f"model not AVAILABLE within {config.load_timeout_seconds:g} s: {exc}"
                    + (f"; server log: {tail}" if tail else "")
                ],  # fmt: skip
                details,
            )
        details["load_seconds"] = round(time.monotonic() - started, 3)
        requests = 0
        signatures = _signatures(forecast_steps)
        for signature in signatures:
            for index, part in enumerate(_batches(len(serialized), config.canary_batch_size)):
                where = f"{signature} canary batch {index}"
                try:
                    served = client.predict(
                        _inputs(signature, serialized, texts, part), signature_name=signature
                    )
                except ServingError as exc:
                    reasons.append(f"{where}: request failed: {exc}")
                    continue
                requests += 1
                size = part.stop - part.start
                problems = (
                    output_problems(served, size, labels, where)
                    if forecast_steps is None
                    else forecast_output_problems(served, size, forecast_steps, where)
                )
                problems += mismatch_problems(
                    served, local[(signature, index)], config.tolerance, where
                )
                reasons.extend(problems)
        details["canary_requests"] = requests
        latencies = []
        one = _inputs("serving_default", serialized, texts, slice(0, 1))
        for _ in range(config.latency_requests):
            t0 = time.perf_counter()
            try:
                client.predict(one)
            except ServingError as exc:
                reasons.append(f"latency request failed: {exc}")
                break
            latencies.append(time.perf_counter() - t0)
    if latencies:
        p99 = p99_ms(latencies)
        details["p99_ms"] = round(p99, 3)
        details["latency_requests"] = len(latencies)
        if p99 > config.p99_latency_ms:
            reasons.append(
                f"p99 latency {p99:.1f} ms over {len(latencies)} single-example requests "
                f"exceeds the budget {config.p99_latency_ms:g} ms"
            )
    if reasons:
        return InfraResult(False, _dedupe(reasons), details)
    checked = list(_signatures(forecast_steps))
    summary = (
        f"served by a model server: {requests} canary requests on {checked} match "
        f"in-process predictions (tolerance {config.tolerance:g}); outputs finite with the "
        f"documented shapes and dtypes; p99 {details.get('p99_ms', float('nan')):.1f} ms <= "
        f"{config.p99_latency_ms:g} ms"
    )
    return InfraResult(True, [summary], details)


def _wait_available(client: Any, server: ServerProcess, timeout: float) -> None:
    """Waits until version 1 is AVAILABLE, in short slices so that a child that died while
    loading (a model that crashes TensorFlow) is reported at once instead of after `timeout`.

    Raises:
        ServingError: the load failed, the child exited, or `timeout` passed.
    """
    from seqline.serving.client.retry import RequestFailed
    from seqline.serving.errors import Code

    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            client.wait_until_available(1, timeout=max(min(remaining, 1.0), 0.05))
            return
        except RequestFailed as exc:
            if exc.code != Code.DEADLINE_EXCEEDED or remaining <= 1.0:
                raise
            code = server.process.poll()
            if code is not None:
                raise RequestFailed(
                    Code.UNAVAILABLE,
                    f"the model server exited with code {code} while loading the model",
                    method="wait_until_available",
                ) from exc


def _dedupe(reasons: list[str], limit: int = 20) -> list[str]:
    seen: list[str] = []
    for reason in reasons:
        if reason not in seen:
            seen.append(reason)
    return seen[:limit] + ([f"... and {len(seen) - limit} more"] if len(seen) > limit else [])


def _brief(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:500]}"
