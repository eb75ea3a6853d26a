"""`seqline rollback MODEL [--to VERSION]`: serve an earlier pushed version, without a gap.

Rollback is a TF Serving config operation, not a file move: the model's entry in models.config
gets the version policy ``specific { versions: N }``, which a server applies the way it applies
any config change (seqline's server and tensorflow_model_server both load N first and withdraw
the other versions only once N is AVAILABLE; requests in flight on them finish). No version
directory is moved or deleted, so version numbers are never reused and lineage stays true.
The next push un-pins (latest policy), and ``--to latest`` does it by hand.

A running server picks the change up through ``--server HOST:PORT`` (HandleReloadConfigRequest,
then GetModelStatus until N is AVAILABLE) or, without it, by polling its
``--model_config_file`` (``--model_config_file_poll_wait_seconds``).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, replace
from typing import Any

from seqline.serving.deploy.config_file import (
    CONFIG_FILE_NAME,
    config_exists,
    find_model,
    locked,
    read_configs,
    update_configs,
    with_model,
    write_configs,
)
from seqline.serving.errors import ServerConfigError, ServingError
from seqline.serving.model_config import ModelConfig, VersionPolicy
from seqline.serving.version_dirs import scan_versions

LATEST = "latest"


@dataclass(frozen=True)
class RollbackResult:
    """What a rollback did.

    Attributes:
        model: the model name.
        from_version: the version served before (per the config and the disk), or None.
        to_version: the version now configured (None for `--to latest`: the newest on disk).
        config_file: the models.config that was changed.
        confirmed: True when a server was asked and reported the version AVAILABLE.
    """

    model: str
    from_version: int | None
    to_version: int | None
    config_file: str
    confirmed: bool


def versions_on_disk(base_path: str) -> list[int]:
    """Sorted versions under ``base_path`` that a server would load (integer directories with
    a saved_model.pb)."""
    return scan_versions(base_path, complete_only=True)


def served_version(config: ModelConfig, on_disk: list[int]) -> int | None:
    """The version a server following ``config`` serves as "latest" (highest selected)."""
    selected = config.policy.select(on_disk)
    return max(selected) if selected else None


def pinned_versions(config: ModelConfig) -> set[int]:
    """Versions a config keeps alive beyond "latest": specific versions and labelled ones
    (retention must not delete these)."""
    pinned = set(config.labels.values())
    if config.policy.kind == "specific":
        pinned |= set(config.policy.versions)
    return pinned


def rollback(
    config_file: str,
    model_name: str,
    to: int | str | None = None,
    *,
    server: str | None = None,
    timeout: float = 120.0,
) -> RollbackResult:
    """Pins ``model_name`` to version ``to`` (default: the version before the served one;
    "latest": un-pin) in ``config_file``, and with ``server`` waits until it is AVAILABLE.

    Raises:
        ServerConfigError: no file at ``config_file`` (nothing is created then), unknown
            model, no earlier version, or ``to`` not on disk (the message lists the versions
            that are).
        ServingError: the server could not load it; the config file is restored first, so
            the server keeps serving what it served.
    """
    if not config_exists(config_file):
        # Before the lock: taking it would create the folder and a lock file at a typo's path.
        raise ServerConfigError(
            f"rollback {model_name}: expected the model server config {config_file} (written "
            "by push), found no such file; check --serving-root (push's serving_root) or "
            "--model_config_file"
        )
    # Checked and written under the file's lock, which push's retention also holds while it
    # decides what to delete: a version seen on disk here cannot vanish before it is pinned.
    with locked(config_file, create_folder=False):
        configs = read_configs(config_file)
        current = find_model(configs, model_name, config_file)
        on_disk = versions_on_disk(current.base_path)
        served = served_version(current, on_disk)
        if to == LATEST:
            target = None
            policy = VersionPolicy()
        else:
            target = _target_version(to, served, on_disk, model_name, current.base_path)
            policy = VersionPolicy(kind="specific", versions=(target,))
        updated = replace(current, policy=policy)
        after = with_model(configs, updated)
        if after != configs:
            write_configs(config_file, after)
    confirmed = False
    if server:
        from seqline.serving.deploy.reload import reload_and_wait

        wanted = target if target is not None else (on_disk[-1] if on_disk else None)
        try:
            if wanted is None:
                raise ServerConfigError(f"no version of '{model_name}' on disk to serve")
            reload_and_wait(server, after, model_name, wanted, timeout=timeout)
        except ServingError:
            update_configs(config_file, lambda cs: with_model(cs, current))
            raise
        confirmed = True
    return RollbackResult(model_name, served, target, config_file, confirmed)


def _target_version(
    to: int | str | None, served: int | None, on_disk: list[int], model: str, base: str
) -> int:
    if to is None:
        earlier = [v for v in on_disk if served is not None and v < served]
        if not earlier:
            raise ServerConfigError(
                f"rollback {model}: expected a version older than the served one ({served}) "
                f"under {base}, found versions {on_disk}; nothing to roll back to"
            )
        return earlier[-1]
    try:
        version = int(to)
    except (TypeError, ValueError):
        raise ServerConfigError(
            f"--to: expected a version number or '{LATEST}', got {to!r}"
        ) from None
    if version not in on_disk:
        raise ServerConfigError(
            f"rollback {model}: expected version {version} to exist under {base} (with "
            f"saved_model.pb), found versions {on_disk}; pick one of them"
        )
    return version


# -- command line --------------------------------------------------------------------------------


def add_rollback_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model name (its entry in models.config)")
    parser.add_argument(
        "--to",
        default=None,
        metavar="VERSION",
        help=f"version to serve (default: the one before the served version; '{LATEST}' "
        "un-pins and serves the newest)",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--serving-root", help=f"push's serving_root (uses its {CONFIG_FILE_NAME})")
    where.add_argument("--model_config_file", help="the ModelServerConfig file the server reads")
    parser.add_argument(
        "--server",
        metavar="HOST:PORT",
        help="gRPC address of a running server: reload it now and wait until the version "
        "is AVAILABLE (else the server picks the file up on its next config poll)",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for AVAILABLE (120)"
    )


def run_rollback(args: argparse.Namespace) -> int:
    """Handler of `seqline rollback`: 0 on success, 1 if the server refused, 2 usage errors."""
    config_file = args.model_config_file or os.path.join(args.serving_root, CONFIG_FILE_NAME)
    try:
        result = rollback(
            config_file, args.model, args.to, server=args.server, timeout=args.timeout
        )
    except ServerConfigError as exc:
        print(f"seqline rollback: error: {exc}", file=sys.stderr)
        return 2
    except ServingError as exc:
        print(f"seqline rollback: error: {exc} (config restored)", file=sys.stderr)
        return 1
    target = "latest" if result.to_version is None else f"version {result.to_version}"
    state = " (AVAILABLE on the server)" if result.confirmed else ""
    print(
        f"{result.model}: serving {target}{state}, was version {result.from_version}; "
        f"{result.config_file} updated"
    )
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rollback",
        help="serve an earlier pushed version of a model (no failed requests)",
        description="Pin a model to an earlier version in models.config; a running server "
        "loads it before withdrawing the newer one.",
    )
    add_rollback_arguments(parser)
    parser.set_defaults(func=run_rollback)
