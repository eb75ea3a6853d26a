"""Verdict artifacts: Blessing, InfraBlessing, PushedModel.

Whether a model is blessed is stored once: the `blessed` property of its Blessing (or
InfraBlessing) descriptor. The files beside it hold the evidence (metrics, checks, logs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from seqline.pipeline.artifacts.base import Artifact, str_list
from seqline.pipeline.errors import DataError
from seqline.storage import filesystem


@dataclass
class Verdict(Artifact):
    """A yes/no judgement of one model, with the reasons."""

    SUMMARY_FACTS: ClassVar[tuple[str, ...]] = ("blessed",)

    @property
    def blessed(self) -> bool:
        value = self.properties.get("blessed")
        if not isinstance(value, bool):
            raise DataError(
                f"{self.type_name} at {self.uri}: expected a boolean 'blessed' property, got "
                f"{value!r}; the artifact is damaged, re-run "
                f"{self.producer.get('component') or 'its producer'}"
            )
        return value

    @property
    def reasons(self) -> list[str]:
        return str_list(self.properties.get("reasons"))

    @property
    def model_fingerprint(self) -> str | None:
        """The fingerprint of the Model this verdict judged."""
        return self.properties.get("model_fingerprint")

    def record(self, blessed: bool, reasons: list[str], model: Artifact) -> None:
        """Sets the verdict on the model (the one place `blessed` is written)."""
        self.properties.update(
            {
                "blessed": bool(blessed),
                "reasons": list(reasons),
                "model_fingerprint": model.fingerprint,
            }
        )

    def describe(self) -> list[str]:
        return [f"- {reason}" for reason in self.reasons]


@dataclass
class Blessing(Verdict):
    """evaluate's verdict on a candidate model.

    File structure:
        {uri}/metrics.json    every metric, overall and per slice, of the candidate and its
                              baselines (with the split they were computed on)
        {uri}/checks.json     one entry per rule: name, passed, reason, values
        {uri}/report.html     plots and tables (classifiers; optional)
        {uri}/*.png           forecast plots (forecasters)

    Properties: blessed, reasons, metrics (the candidate's overall metrics), model_fingerprint,
    model_uri, model_name (which blessings count as baselines), baseline_model_uri (the last
    blessed model compared with, or None), baselines (forecasters: naive baselines' mae).
    """

    TYPE_NAME: ClassVar[str] = "Blessing"
    SUMMARY_FACTS: ClassVar[tuple[str, ...]] = ("blessed", "baseline_model_uri")
    METRICS_FILE: ClassVar[str] = "metrics.json"
    CHECKS_FILE: ClassVar[str] = "checks.json"
    REPORT_FILE: ClassVar[str] = "report.html"

    @property
    def metrics(self) -> dict[str, Any]:
        value = self.properties.get("metrics")
        return dict(value) if isinstance(value, dict) else {}

    @property
    def model_name(self) -> str:
        return str(self.properties.get("model_name") or "")

    @property
    def baseline_model_uri(self) -> str | None:
        return self.properties.get("baseline_model_uri")

    def describe(self, evidence: dict[str, Any] | None = None) -> list[str]:
        """The metrics and reasons under headers naming the split they are on (the
        `eval_split` property, else `evidence`'s: metrics.json of a blessing made before
        evaluate recorded it) and the split the majority baseline was fitted on (`evidence`'s
        baseline.fitted_on), what a refit linear baseline was trained on (its
        linear_baseline.trained_on_note, when linear_baseline.refit), counts as integers.
        `evidence`: metrics.json's content, or None when it is not read (a remote root)."""
        evidence = evidence or {}
        split = self.properties.get("eval_split") or evidence.get("eval_split")
        on = f"on '{split}'" if split else "(split not recorded)"
        lines = []
        for name, value in self.metrics.items():
            if isinstance(value, bool):
                lines.append(f"  {name:<22} {value}")
            elif isinstance(value, int) or (isinstance(value, float) and name.endswith("count")):
                lines.append(f"  {name:<22} {value:.0f}")  # a count, not a 4-decimal figure
            elif isinstance(value, float):
                lines.append(f"  {name:<22} {value:.4f}")
            elif isinstance(value, dict):
                inner = ", ".join(
                    f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items()
                )
                lines.append(f"  {name:<22} {inner}")
        if lines:
            count = self.metrics.get("example_count")
            examples = f" ({count:.0f} examples)" if isinstance(count, int | float) else ""
            lines.insert(0, f"metrics {on}{examples}:")
        linear = evidence.get("linear_baseline")
        if isinstance(linear, dict) and linear.get("refit") and linear.get("trained_on_note"):
            # Said only when refit: then the baseline was fitted on more than the train split.
            lines.append(f"linear baseline {linear['trained_on_note']}")
        reasons = super().describe()
        if reasons:
            baseline = evidence.get("baseline")
            fitted = baseline.get("fitted_on") if isinstance(baseline, dict) else None
            fitted_on = f"; majority baseline fitted on '{fitted}'" if fitted else ""
            lines.append(f"reasons (figures {on}{fitted_on}):")
        return lines + reasons


@dataclass
class InfraBlessing(Verdict):
    """infra_validate's verdict: the model loaded in a real server and answered correctly.

    File structure:
        {uri}/saved_model/            the copy push ships, with warmup records in
                                      assets.extra/tf_serving_warmup_requests
        {uri}/infra_blessing.json     {"reasons", "details"} (p99_ms, requests, ...)
        {uri}/server.log              the server's output

    Properties: blessed, reasons, model_fingerprint, p99_ms, warmup_records.
    """

    TYPE_NAME: ClassVar[str] = "InfraBlessing"
    SUMMARY_FACTS: ClassVar[tuple[str, ...]] = ("blessed", "p99_ms")
    DETAILS_FILE: ClassVar[str] = "infra_blessing.json"

    @property
    def saved_model_dir(self) -> str:
        return self.path("saved_model")


@dataclass
class PushedModel(Artifact):
    """Where (and whether) a model was pushed.

    File structure:
        {uri}/push.json   the properties below, for tools that read files

    Properties: pushed, version, destination (`{serving_root}/{model_name}/{version}`),
    model_name, reason, model_config_file, server_confirmed, deleted_versions, adopted (True
    when the version was not copied again: an earlier push of the same model published it and
    was killed before it was recorded).

    The version itself carries MARKER_FILE, push's provenance marker (JSON: model_fingerprint,
    model_uri, content_sha256 (digest of the files pushed), pipeline_name, run_id, node_id,
    seqline_version, published_at), so a version whose push was never recorded can still be
    traced (`seqline lineage`).
    """

    TYPE_NAME: ClassVar[str] = "PushedModel"
    SUMMARY_FACTS: ClassVar[tuple[str, ...]] = ("pushed", "version")
    PUSH_FILE: ClassVar[str] = "push.json"
    MARKER_FILE: ClassVar[str] = "assets.extra/seqline_push.json"

    @property
    def pushed(self) -> bool:
        return bool(self.properties.get("pushed"))

    @property
    def version(self) -> int | None:
        value = self.properties.get("version")
        return int(value) if value is not None else None

    @property
    def destination(self) -> str | None:
        return self.properties.get("destination")

    @classmethod
    def read_marker(cls, version_dir: str) -> dict[str, Any] | None:
        """The provenance marker (MARKER_FILE) of the version at `version_dir` (local path or
        gs:// / s3:// URL), or None when it has none or it is not a JSON object (a version
        published by hand or by an older seqline). push (adoption) and `seqline lineage` both
        read it here."""
        path = filesystem.join(version_dir, cls.MARKER_FILE)
        try:
            if not filesystem.exists(path):
                return None
            marker = json.loads(filesystem.read_text(path))
        except (OSError, ValueError):
            return None
        return marker if isinstance(marker, dict) else None

    def describe(self) -> list[str]:
        if self.pushed:
            adopted = (
                " (adopted: the version was already there, published by an earlier push of "
                "this model; `seqline lineage` says which run)"
                if self.properties.get("adopted")
                else ""
            )
            return [f"pushed as version {self.version} to {self.destination}{adopted}"]
        return [f"not pushed: {self.properties.get('reason')}"]
