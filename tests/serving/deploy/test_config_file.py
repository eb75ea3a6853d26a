"""models.config on disk (serving/deploy/config_file.py): a file:// path is the local path."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqline.serving.deploy.config_file import locked, read_configs, update_configs, with_model
from seqline.serving.model_config import ModelConfig


def test_a_file_url_is_written_read_and_locked_at_the_local_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    url = f"file://{tmp_path}/serving/models.config"
    entry = ModelConfig(name="m", base_path=f"{tmp_path}/serving/m")
    update_configs(url, lambda cs: with_model(cs, entry))
    assert read_configs(str(tmp_path / "serving" / "models.config")) == [entry]
    assert read_configs(url) == [entry]
    assert (tmp_path / "serving" / "models.config.lock").exists()
    assert list(cwd.iterdir()) == []  # no ./file:/... tree in the working directory


def test_locked_without_create_folder_creates_nothing_for_a_missing_folder(
    tmp_path: Path,
) -> None:
    path = tmp_path / "typo" / "models.config"
    with pytest.raises(FileNotFoundError), locked(str(path), create_folder=False):
        pass
    assert not (tmp_path / "typo").exists()
