"""One push, end to end: publish the version, update models.config, confirm with the server
(or take the version back), apply retention. Called by the push component for blessed models.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from seqline.components.push.publish import (
    apply_retention,
    delete_version,
    publish_version,
    read_marker,
)
from seqline.pipeline.errors import ConfigError, DataError
from seqline.serving.deploy.rollback import pinned_versions
from seqline.storage import filesystem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeployOutcome:
    """What a push did.

    Attributes:
        version, destination: the published version and its directory.
        config_file: the models.config written (None if disabled).
        server_confirmed: True when the configured server reported the version AVAILABLE.
        deleted_versions: versions removed by retention.
        adopted: True when no copy was made: the newest version already held this model (an
            earlier push was killed after publishing it, before it was recorded), or, with
            `unchanged`, the same program and weights.
        unchanged: True when the newest version was adopted because it is the same program
            and weights under another model fingerprint (publish.same_model_version): no new
            version was published.
    """

    version: int
    destination: str
    config_file: str | None
    server_confirmed: bool
    deleted_versions: list[int]
    adopted: bool = False
    unchanged: bool = False


def check_destination(config, remote: bool = True) -> None:  # noqa: ANN001 — a PushConfig
    """Raises ConfigError when a push to `config` would fail after publishing its version:
    a local `{serving_root}/{model_name}` that is a file, or an existing models.config that
    does not parse (the version would stay published while the push fails). Run by push's
    pre-run check and again just before publishing.

    `remote`: also read a models.config on a remote filesystem (default True). The pre-run
    check passes False: it runs on every run, fully cached ones too, which must work offline
    and without importing TensorFlow; the check just before publishing reads it."""
    from seqline.serving.deploy.config_file import read_configs
    from seqline.serving.errors import ServerConfigError

    model_dir = filesystem.absolute(filesystem.join(config.serving_root, config.model_name))
    local = not filesystem.is_remote(model_dir)
    if local and os.path.lexists(model_dir) and not os.path.isdir(model_dir):
        raise ConfigError(
            f"push: expected {model_dir} (serving_root/model_name) to be the model's "
            "directory of versions, found a file there; move or delete that file, or pick "
            "another model_name"
        )
    if config.config_file and (remote or not filesystem.is_remote(config.config_file)):
        try:
            read_configs(config.config_file)
        except ServerConfigError as exc:
            raise ConfigError(
                f"push: the existing model server config cannot be updated: {exc}; fix or "
                f"delete {config.config_file} (push writes a new one), or set "
                "model_config_file to another path"
            ) from None


def deploy(
    source: str,
    config,  # noqa: ANN001
    progress: Callable[[str], None] = lambda _m: None,
    marker: Mapping[str, Any] | None = None,
) -> DeployOutcome:
    """Pushes the SavedModel at `source` as described by a PushConfig (`config`).

    `marker` (provenance, with "model_fingerprint") is written into the version (see
    publish.publish_version); with it, a newest version that already holds the same model is
    adopted instead of copied again (so is one that holds the same program and weights under
    another export: publish.same_model_version), and the rest (models.config, server,
    retention) runs for it as for a new version: a rollback pin is lifted as by any push.

    Raises:
        DataError: the configured server could not load the version (its message is
            included); models.config has been restored, and a version this push published was
            deleted again, while an adopted one was kept (it may already be serving).
    """
    from seqline.serving.deploy.config_file import update_configs, with_model
    from seqline.serving.model_config import ModelConfig, VersionPolicy

    model_dir = filesystem.absolute(filesystem.join(config.serving_root, config.model_name))
    check_destination(config)  # again: the pre-run check may be hours old
    published = publish_version(source, model_dir, marker)
    if published.unchanged:
        served = read_marker(published.destination) or {}
        by = f"run {served['run_id']}" if served.get("run_id") else "a push without a marker"
        progress(
            f"unchanged: same program and weights as serving version {published.version} "
            f"(published by {by}); no new version"
        )
    elif published.adopted:
        progress(
            f"adopted version {published.version} at {published.destination}: it already holds "
            "this model (an earlier push published it; its record or its cached output is "
            "missing)"
        )
    else:
        progress(f"published version {published.version} at {published.destination}")

    config_file = config.config_file
    previous: ModelConfig | None = None
    current: list[ModelConfig] = []
    protect: set[int] = {published.version}
    if config_file:

        def set_entry(configs: list[ModelConfig]) -> list[ModelConfig]:
            nonlocal previous
            previous = next((c for c in configs if c.name == config.model_name), None)
            # A new push serves the newest version again: a rollback pin (a "specific" policy)
            # is lifted; an operator's "latest N" or "all" stays. Labels stay too (e.g.
            # "stable" still names the version it named).
            labels = dict(previous.labels) if previous else {}
            keep_policy = previous is not None and previous.policy.kind != "specific"
            entry = ModelConfig(
                name=config.model_name,
                base_path=model_dir,
                policy=previous.policy if keep_policy and previous else VersionPolicy(),
                labels=labels,
            )
            return with_model(configs, entry)

        _before, current = update_configs(config_file, set_entry)
        progress(f"updated {config_file}")

    confirmed = False
    if config.server:
        confirmed = _confirm_with_server(
            config, current, published.version, model_dir, previous, adopted=published.adopted
        )
        progress(f"server {config.server}: version {published.version} AVAILABLE")

    # The versions the previous entry pinned (a rollback) or labelled stay for this push: a
    # server polling models.config may still serve them until it reads the new entry (deleting
    # the pinned version at once answered 404 until then). A later push may delete them.
    if previous is not None:
        protect |= pinned_versions(previous)
    deleted = _apply_retention(model_dir, config, protect)
    if deleted:
        progress(f"retention: deleted versions {deleted}")
    return DeployOutcome(
        version=published.version,
        destination=published.destination,
        config_file=config_file,
        server_confirmed=confirmed,
        deleted_versions=deleted,
        adopted=published.adopted,
        unchanged=published.unchanged,
    )


def _apply_retention(model_dir: str, config, protect: set[int]) -> list[int]:  # noqa: ANN001
    """Retention, deciding under models.config's lock: what the file pins or labels now
    (re-read there) is kept too, so a rollback that pinned a version after this push read the
    file (rollback holds the same lock) never sees its version deleted."""
    from seqline.serving.deploy.config_file import locked, read_configs

    if not config.config_file:
        return apply_retention(model_dir, config.keep_versions, protect)
    with locked(config.config_file):
        for entry in read_configs(config.config_file):
            if entry.name == config.model_name:
                protect = protect | pinned_versions(entry)
        return apply_retention(model_dir, config.keep_versions, protect)


def _confirm_with_server(  # noqa: ANN001
    config, configs, version: int, model_dir: str, previous, adopted: bool = False
) -> bool:
    """Reloads the server and waits for AVAILABLE. On failure, models.config is restored and a
    version this push published is taken back (deleted); an `adopted` version is never
    deleted: an earlier push published it and a server may be serving it already (a timeout
    or an unreachable server says nothing against the version itself)."""
    from seqline.serving.deploy.config_file import update_configs, with_model
    from seqline.serving.deploy.reload import reload_and_wait, reload_config
    from seqline.serving.errors import ServingError
    from seqline.serving.model_config import ModelConfig, VersionPolicy

    if not configs:  # no models.config maintained: tell the server about this model alone
        configs = [ModelConfig(name=config.model_name, base_path=model_dir, policy=VersionPolicy())]
    try:
        reload_and_wait(
            config.server, configs, config.model_name, version, config.server_timeout_seconds
        )
    except ServingError as exc:
        log.error("server %s did not load version %d: %s", config.server, version, exc)
        if adopted:
            kept = (
                "the version was KEPT (adopted: an earlier push published it, and a server may "
                "already be serving it; delete it by hand only if it must not serve);"
            )
        else:
            delete_version(model_dir, version)
            kept = "the version was deleted again, so the previous version keeps serving;"
        restore = "models.config left unchanged"
        if config.config_file:
            if previous is not None:
                _, restored = update_configs(
                    config.config_file, lambda cs: with_model(cs, previous)
                )
                restore = "models.config restored"
            else:
                _, restored = update_configs(
                    config.config_file,
                    lambda cs: [c for c in cs if c.name != config.model_name],
                )
                restore = "its models.config entry removed"
            # Best effort: give the server back the config it had (never an empty one, which
            # would unload every model).
            if restored:
                try:
                    reload_config(config.server, restored, timeout=config.server_timeout_seconds)
                except ServingError as again:
                    log.warning("could not restore the server's config: %s", again)
        raise DataError(
            f"push: server {config.server} did not serve '{config.model_name}' version "
            f"{version}: {exc}; {kept} {restore}. Fix the model (see infra_validate) or the "
            "server and re-run"
        ) from exc
    return True
