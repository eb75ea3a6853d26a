"""push: copy a model that evaluate and infra_validate both blessed into
`{serving_root}/{model_name}/{version}/` for TF Serving, and tell the server.

Versions are integers increasing by one per push; the copy is atomic (see publish.py). What is
shipped is infra_validate's copy of the SavedModel, which carries the warmup records
(assets.extra/tf_serving_warmup_requests) the server replays before serving it. Then:

1. models.config (`{serving_root}/models.config`, a ModelServerConfig text proto) gets or
   updates the model's entry (a rollback pin is lifted by a new push and the latest version
   served; an operator's `latest N` or `all` policy and the labels stay);
2. if `server` is set: HandleReloadConfigRequest, then GetModelStatus until the new version is
   AVAILABLE; if it fails to load, the new version is deleted again, models.config restored, and
   the push fails with the server's message (the previous version keeps serving);
3. retention deletes all but the newest `keep_versions` versions, deciding under models.config's
   lock (which rollback holds too): never a version the file pins or labels, nor, for this
   push, one the entry pinned before it (a polling server may serve it until it re-reads).

Every version push publishes carries a provenance marker, `assets.extra/seqline_push.json`
(model fingerprint and uri, pipeline, run, node, seqline version, time), written into the copy
before it becomes the version, so `seqline lineage` can name the model even when the push was
killed before it was recorded. Rerunning such a push adopts that version instead of publishing
the same model again: the newest version is adopted (record property `adopted: true`) when its
marker names the same model fingerprint and content digest (`content_sha256` of the files
pushed, added by publish_version), its saved_model.pb is there, and it is above the deleted
high-water mark; if the server then fails on it, it is kept (it may be serving) and the push
fails with models.config restored; a model pushed again after another model's version takes
a new version (see publish.py).

The newest version is adopted the same way (record properties `adopted: true, unchanged: true`)
when the model is unchanged: another model fingerprint (a touched source, a seqline upgrade
that changed code fingerprints) but the same program and weights, i.e. equal regularized hashes
in both fingerprint.pb files (graph_def_program_hash, signature_def_hash,
saved_object_graph_hash), byte-identical files besides saved_model.pb, fingerprint.pb and
assets.extra/ (variables/, assets/), and the same saved_model.pb up to what differs between two
exports (function-name counters, the exporting host's device config): TF's
graph_def_program_hash leaves out the serving functions. No new version is
published ("unchanged: same program and weights as serving version N (published by run R); no
new version"); models.config, the server and retention then run as for any adoption. Without
fingerprint.pb on either side, or with any difference, or when the equal version is not the
newest (e.g. the version a rollback went back to), a new version is published.

Version numbers are 1-18 digits (they fit int64 everywhere); a push past 999999999999999999
fails with a clear error instead of publishing a version no server here would see.

A model that is not blessed by both is recorded as not pushed, with the reasons: a value, not
an exception.

YAML:
    push:
      serving_root: /srv/models
      model_name: sentiment
      keep_versions: 5
      server: 127.0.0.1:8500      # optional
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from seqline.pipeline.artifact import Artifact
from seqline.pipeline.artifacts import Blessing, InfraBlessing, Model, PushedModel, Verdict
from seqline.pipeline.component import ExecutionContext, Out, component
from seqline.pipeline.errors import ConfigError, DataError
from seqline.storage import filesystem

PUSH_FILE = PushedModel.PUSH_FILE
MODEL_CONFIG_FILE = "models.config"
_MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class PushConfig:
    """Where blessed models go and who is told.

    Attributes:
        serving_root: the directory TF Serving's model_base_path points above: a local path
            (or file:// URL) or a gs:// URL; s3:// and hdfs:// need the `tensorflow-io`
            package installed (else the run is refused before it starts); required.
        model_name: the model's name under serving_root, i.e. the TF Serving model name and
            the `{serving_root}/{model_name}` base path; letters, digits, '_', '.', '-' only.
            Default "model".
        keep_versions: versions kept after a push (the newest ones; versions pinned or
            labelled in models.config are kept too). Default 5; 0 keeps every version.
        model_config_file: the ModelServerConfig file to write or update; default None =
            `{serving_root}/models.config`; "" = do not write one.
        server: gRPC "host:port" of a running model server to reload and wait for; default
            None = do not contact a server (a polling server still finds the new version).
        server_timeout_seconds: how long the new version may take to become AVAILABLE. 120.
    """

    serving_root: str
    model_name: str = "model"
    keep_versions: int = 5
    model_config_file: str | None = None
    server: str | None = None
    server_timeout_seconds: float = 120.0

    def __post_init__(self) -> None:
        if not self.serving_root:
            raise ConfigError(
                "serving_root: expected the directory TF Serving loads models from, got ''; "
                "set e.g. `serving_root: /srv/models`"
            )
        name = self.model_name
        if (
            not isinstance(name, str)
            or not _MODEL_NAME_RE.match(name)
            or ".." in name
            or name.startswith(".")
        ):
            raise ConfigError(
                f"model_name: expected a plain name of letters, digits, '_', '.', '-' not "
                f"starting with '.' (no path separators, no '..'; the model server's rule), got "
                f"{name!r}; it becomes a directory under serving_root, so pick e.g. 'sentiment'"
            )
        if name.startswith(MODEL_CONFIG_FILE):
            raise ConfigError(
                f"model_name: {name!r} would collide with {MODEL_CONFIG_FILE} (or its lock and "
                "temporary files) in serving_root; pick another name"
            )
        if self.keep_versions < 0:
            raise ConfigError(
                f"keep_versions: expected an integer >= 0 (0 keeps all), got {self.keep_versions}"
            )
        if self.server is not None and not re.match(r"^\[?[^\s/]+\]?:[0-9]{1,5}$", self.server):
            raise ConfigError(
                f"server: expected a gRPC address host:port such as 127.0.0.1:8500, got "
                f"{self.server!r}"
            )
        if not self.server_timeout_seconds > 0:
            raise ConfigError(
                f"server_timeout_seconds: expected seconds > 0, got {self.server_timeout_seconds}"
            )

    @property
    def config_file(self) -> str | None:
        """The models.config path to maintain, or None."""
        if self.model_config_file == "":
            return None
        return self.model_config_file or filesystem.join(self.serving_root, MODEL_CONFIG_FILE)


def check(config: PushConfig) -> None:
    """Pre-run check, so a push that cannot succeed fails before training: serving_root and
    model_config_file have a scheme this TensorFlow can open; serving_root and
    `{serving_root}/{model_name}`, if they exist, are directories; an existing local
    models.config parses (push edits it after publishing the version; a remote one is checked
    just before publishing)."""
    paths = {"serving_root": config.serving_root, "model_config_file": config.config_file}
    for field, path in paths.items():
        if path:
            try:
                filesystem.check_scheme(path)
            except filesystem.UnsupportedSchemeError as exc:
                raise ConfigError(f"{field}: {exc}") from None
    root = filesystem.local_path(config.serving_root)
    if not filesystem.is_remote(root) and os.path.exists(root) and not os.path.isdir(root):
        raise ConfigError(
            f"serving_root: expected a directory, got the file {root}; point serving_root at a "
            "directory (it is created if missing)"
        )
    from seqline.components.push.deploy import check_destination

    # A remote models.config is read just before publishing, not here: this check runs on
    # fully cached runs too, which must not need the network or TensorFlow.
    check_destination(config, remote=False)


def read_verdict(verdict: Verdict, model: Model, producer: str) -> tuple[bool, list[str]]:
    """(blessed, reasons) of a Blessing or InfraBlessing, which must have judged `model`.

    Raises:
        DataError: the verdict has no boolean `blessed` property (a damaged artifact).
        ConfigError: the verdict was issued for a different model than `model`.
    """
    judged = verdict.model_fingerprint
    if judged is not None and judged != model.fingerprint:
        raise ConfigError(
            f"push: the {verdict.type_name} at {verdict.uri} judged model {judged}, but the "
            f"model input is {model.fingerprint} ({model.uri}); wire push's 'model' and "
            f"{producer}'s 'model' to the same train output"
        )
    return verdict.blessed, verdict.reasons


def _source_saved_model(model: Model, infra: InfraBlessing) -> str:
    """infra_validate's copy (it has the warmup records), else the Model's own export."""
    for candidate in (infra.saved_model_dir, model.saved_model_dir):
        if filesystem.exists(filesystem.join(candidate, "saved_model.pb")):
            return candidate
    raise DataError(
        f"expected a SavedModel (saved_model.pb) at {infra.path('saved_model')} or "
        f"{model.path('saved_model')}, found none; re-run train and infra_validate"
    )


def _seqline_version() -> str:
    try:
        return importlib.metadata.version("seqline")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def provenance_marker(
    ctx: ExecutionContext, config: PushConfig, model: Model, source: str
) -> dict[str, Any]:
    """The marker push writes into the version it publishes (publish.MARKER_FILE): which
    model, from where, by which pipeline run and node; a few hundred bytes of JSON."""
    now = time.time()
    return {
        "model_fingerprint": model.fingerprint,
        "model_uri": model.uri,
        "source": source,
        "model_name": config.model_name,
        "pipeline_name": ctx.pipeline_name,
        "run_id": ctx.run_id,
        "node_id": ctx.node_id,
        "seqline_version": _seqline_version(),
        "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
    }


def run(
    ctx: ExecutionContext,
    config: PushConfig,
    model: Model,
    blessing: Blessing,
    infra_blessing: InfraBlessing,
    pushed_model: Out[PushedModel],
) -> dict[str, Any]:
    """Pushes the model if both verdicts allow it; records the outcome; returns {"pushed",
    "version", "destination"}."""
    infra = infra_blessing
    blessed, reasons = read_verdict(blessing, model, "evaluate")
    infra_blessed, infra_reasons = read_verdict(infra, model, "infra_validate")

    if blessed and infra_blessed:
        from seqline.components.push.deploy import deploy

        source = _source_saved_model(model, infra)
        ctx.progress(f"pushing {source} to {config.serving_root}/{config.model_name}")
        marker = provenance_marker(ctx, config, model, source)
        outcome = deploy(source, config, progress=ctx.progress, marker=marker)
        record = {
            "pushed": True,
            "version": outcome.version,
            "destination": outcome.destination,
            "model_name": config.model_name,
            "reason": "; ".join(
                ["blessed: " + "; ".join(reasons), "infra-blessed: " + "; ".join(infra_reasons)]
            ),
            "model_config_file": outcome.config_file,
            "server_confirmed": outcome.server_confirmed,
            "deleted_versions": outcome.deleted_versions,
            "adopted": outcome.adopted,
            "unchanged": outcome.unchanged,
        }
    else:
        why = []
        if not blessed:
            why.append("not blessed: " + "; ".join(reasons) if reasons else "not blessed")
        if not infra_blessed:
            why.append(
                "not infra-blessed: " + "; ".join(infra_reasons)
                if infra_reasons
                else "not infra-blessed"
            )
        record = {
            "pushed": False,
            "version": None,
            "destination": None,
            "model_name": config.model_name,
            "reason": " | ".join(why),
        }
    filesystem.write_text(pushed_model.path(PUSH_FILE), json.dumps(record, indent=2))
    pushed_model.properties.update(record)
    return {k: record[k] for k in ("pushed", "version", "destination")}


def effects_gone(outputs: Mapping[str, Artifact]) -> list[str]:
    """A cached push whose served version was deleted since (by hand, a cleanup job) is
    stale: the run would report a version no server can load. Lists it so the runner pushes
    again (as a new version)."""
    pushed = outputs.get("pushed_model")
    if not isinstance(pushed, PushedModel) or not pushed.pushed or not pushed.destination:
        return []
    if filesystem.exists(filesystem.join(pushed.destination, "saved_model.pb")):
        return []
    return [f"pushed version {pushed.version}: no saved_model.pb at {pushed.destination}"]


COMPONENT = component(run, name="push", check=check, effects_gone=effects_gone)
