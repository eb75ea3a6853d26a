"""`seqline rollback` with a serving root or config file that does not exist: a clear error
naming the path it read, and nothing created there."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from seqline.serving.deploy.rollback import rollback, run_rollback
from seqline.serving.errors import ServerConfigError


def test_a_mistyped_serving_root_creates_nothing_and_names_the_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "servign"
    args = argparse.Namespace(
        model="reviews",
        to=None,
        serving_root=str(typo),
        model_config_file=None,
        server=None,
        timeout=1.0,
    )
    assert run_rollback(args) == 2
    err = capsys.readouterr().err
    assert f"{typo}/models.config" in err
    assert "no such file" in err and "--serving-root" in err
    assert not typo.exists()


def test_a_missing_config_file_is_refused_before_the_lock(tmp_path: Path) -> None:
    (tmp_path / "serving").mkdir()
    config_file = tmp_path / "serving" / "models.config"
    with pytest.raises(ServerConfigError, match="found no such file"):
        rollback(str(config_file), "reviews")
    assert list((tmp_path / "serving").iterdir()) == []  # no lock file either
