"""models.config on disk: read, update one model's entry, write atomically.

The file is a ModelServerConfig text proto (tensorflow_model_server's --model_config_file);
push writes it and rollback edits it, and a server started with
``--model_config_file=.../models.config --model_config_file_poll_wait_seconds=N`` (or sent a
HandleReloadConfigRequest) picks the change up.

Writers of a local file serialise on an flock of ``{path}.lock`` (released by the kernel when a
process dies, so a killed writer never blocks the next one) and replace the file by rename, so
a polling server reads the old or the new file, never half of one. A ``file:///...`` path is a
local path (seqline.storage.filesystem.local_path). On gs:// (or s3:// with tensorflow-io) the
file is written in one object PUT (atomic there) without a lock; run one writer at a time.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator

from seqline.serving.model_config import ModelConfig, model_config_text, parse_model_config_text
from seqline.storage.filesystem import is_remote, local_path

CONFIG_FILE_NAME = "models.config"


def read_configs(path: str) -> list[ModelConfig]:
    """The models in the config file at ``path``; [] if the file does not exist.

    Raises:
        ServerConfigError: the file exists but is not a valid ModelServerConfig.
    """
    if is_remote(path):
        import tensorflow as tf

        if not tf.io.gfile.exists(path):
            return []
        with tf.io.gfile.GFile(path, "r") as f:
            text = f.read()
    else:
        local = local_path(path)
        if not os.path.exists(local):
            return []
        with open(local, encoding="utf-8") as f:
            text = f.read()
    return parse_model_config_text(text, source=path)


def config_exists(path: str) -> bool:
    """True if the config file at ``path`` (local, file:// or remote) exists."""
    if is_remote(path):
        import tensorflow as tf

        return bool(tf.io.gfile.exists(path))
    return os.path.isfile(local_path(path))


def write_configs(path: str, configs: list[ModelConfig]) -> None:
    """Replaces the file at ``path`` with ``configs`` (temp file + rename locally)."""
    text = model_config_text(configs)
    if is_remote(path):
        import tensorflow as tf

        with tf.io.gfile.GFile(path, "w") as f:
            f.write(text)
        return
    path = local_path(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temp = f"{path}.tmp-{uuid.uuid4().hex}"
    try:
        with open(temp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)


@contextlib.contextmanager
def locked(path: str, *, create_folder: bool = True) -> Iterator[None]:
    """Exclusive lock for a read-modify-write of the local config file at ``path`` (on
    ``{path}.lock``; none for a remote path).

    ``create_folder`` (default True, for a writer such as push) creates the file's folder
    first; a caller that only edits an existing file (rollback) passes False, so a mistyped
    path creates nothing (the lock file's open fails on a missing folder instead).
    """
    if is_remote(path):
        yield
        return
    import fcntl

    path = local_path(path)
    if create_folder:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def update_configs(
    path: str, change: Callable[[list[ModelConfig]], list[ModelConfig]]
) -> tuple[list[ModelConfig], list[ModelConfig]]:
    """Applies ``change`` to the file's models under the lock and writes the result.

    Returns:
        (before, after) model lists.
    """
    with locked(path):
        before = read_configs(path)
        after = change(list(before))
        if after != before:
            write_configs(path, after)
        return before, after


def with_model(configs: list[ModelConfig], config: ModelConfig) -> list[ModelConfig]:
    """``configs`` with the entry named ``config.name`` replaced (in place) or appended."""
    out = [config if c.name == config.name else c for c in configs]
    if all(c.name != config.name for c in configs):
        out.append(config)
    return out


def find_model(configs: list[ModelConfig], name: str, source: str) -> ModelConfig:
    """The entry named ``name``; ServerConfigError naming the models that do exist."""
    from seqline.serving.errors import ServerConfigError

    for config in configs:
        if config.name == name:
            return config
    raise ServerConfigError(
        f"{source}: expected an entry for model '{name}', found models "
        f"{[c.name for c in configs]}; push the model first or check the name"
    )
