"""push's pre-run check refuses what would fail only after a version was published: a file
where the model's directory goes, an existing models.config that does not parse, a serving
root whose URL scheme this TensorFlow cannot open; a file:// serving root is the local path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seqline.components.push.component import PushConfig, check
from seqline.components.push.deploy import deploy
from seqline.pipeline.errors import ConfigError
from seqline.serving.deploy.config_file import read_configs
from tests.components.push.push_inputs import write_fake_saved_model


def test_a_file_where_the_model_directory_goes_is_refused_before_the_run(
    tmp_path: Path,
) -> None:
    (tmp_path / "serving").mkdir()
    (tmp_path / "serving" / "reviews").write_text("not a folder")
    config = PushConfig(serving_root=str(tmp_path / "serving"), model_name="reviews")
    with pytest.raises(ConfigError, match="found a file there; move or delete that file"):
        check(config)


def test_an_unparseable_models_config_is_refused_before_anything_is_published(
    tmp_path: Path,
) -> None:
    serving = tmp_path / "serving"
    serving.mkdir()
    (serving / "models.config").write_text("this is { not a ModelServerConfig")
    config = PushConfig(serving_root=str(serving), model_name="reviews")
    with pytest.raises(ConfigError, match=r"models\.config.*fix or delete"):
        check(config)
    source = write_fake_saved_model(tmp_path / "src")
    with pytest.raises(ConfigError, match="cannot be updated"):
        deploy(str(source), config)
    assert not (serving / "reviews").exists()  # no version was published


def test_a_serving_root_scheme_tensorflow_cannot_open_is_a_config_error() -> None:
    import tensorflow as tf

    if "s3" in tf.io.gfile.get_registered_schemes():
        pytest.skip("s3:// is registered here (tensorflow-io is installed)")
    with pytest.raises(ConfigError, match=r"serving_root: .*pip install tensorflow-io"):
        check(PushConfig(serving_root="s3://bucket/serving", model_name="reviews"))


def test_a_file_url_serving_root_writes_models_config_there_not_under_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    source = write_fake_saved_model(tmp_path / "src")
    config = PushConfig(serving_root=f"file://{tmp_path}/serving", model_name="m")
    check(config)
    outcome = deploy(str(source), config)
    assert outcome.destination == f"{tmp_path}/serving/m/1"
    [entry] = read_configs(str(tmp_path / "serving" / "models.config"))
    assert entry.base_path == f"{tmp_path}/serving/m"
    assert os.listdir(cwd) == []


# Run on every run, fully cached ones too: a gs:// serving root read its models.config over the
# network (a raw FailedPreconditionError offline) and imported TensorFlow for the scheme check.
CACHED_RUN_CHECKS = """
import importlib.util, sys
from seqline.components.push.component import PushConfig, check
from seqline.storage.filesystem import UnsupportedSchemeError, check_scheme
check(PushConfig(serving_root="gs://seqline-no-such-bucket-for-tests/serving", model_name="m"))
if importlib.util.find_spec("tensorflow_io") is None:
    try:
        check_scheme("s3://bucket/root")
    except UnsupportedSchemeError as exc:
        assert "pip install tensorflow-io" in str(exc), exc
    else:
        raise AssertionError("s3:// without tensorflow-io was accepted")
print(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
"""


def test_the_pre_run_check_of_a_remote_serving_root_needs_no_network_or_tensorflow() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", CACHED_RUN_CHECKS], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"
