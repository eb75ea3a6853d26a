"""push beyond the copy: both blessings, models.config, retention, the server handshake, and
kill -9 during retention and config updates."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from seqline.components.push import publish
from seqline.components.push.component import COMPONENT, PushConfig
from seqline.components.push.deploy import deploy
from seqline.components.push.publish import integer_versions
from seqline.pipeline.artifact import Artifact, ArtifactType
from seqline.pipeline.errors import ConfigError, DataError
from seqline.serving.deploy.config_file import read_configs, write_configs
from seqline.serving.model_config import ModelConfig, VersionPolicy
from tests.components.context import make_context
from tests.components.push.push_inputs import (
    blessing_artifact,
    infra_blessing_artifact,
    model_artifact,
    tree_bytes,
    write_fake_saved_model,
    write_times_model,
)

PASSING = ["accuracy (overall) = 0.9, required >= 0.7: PASS"]
INTEGER = re.compile(r"^[0-9]+$")


def _push(tmp_path: Path, model: Artifact, config: PushConfig, infra: Artifact) -> Artifact:
    out = tmp_path / f"pushed-{uuid.uuid4().hex[:6]}"
    out.mkdir()
    pushed = Artifact(type_name=ArtifactType.PUSHED_MODEL, uri=str(out), fingerprint="p")
    blessing = blessing_artifact(
        tmp_path / f"b-{uuid.uuid4().hex[:6]}", True, PASSING, model.fingerprint
    )
    ctx = make_context(
        config=config,
        inputs={"model": model, "blessing": blessing, "infra_blessing": infra},
        outputs={"pushed_model": pushed},
    )
    COMPONENT.executor(ctx)
    return pushed


@pytest.fixture(scope="module")
def times_models(tmp_path_factory: pytest.TempPathFactory) -> dict[float, Path]:
    root = tmp_path_factory.mktemp("times")
    return {w: write_times_model(root / f"w{w}", w) for w in (3.0, 5.0)}


def test_not_infra_blessed_model_is_not_pushed_and_says_why(
    tmp_path: Path, fake_model: Artifact
) -> None:
    infra = infra_blessing_artifact(tmp_path / "infra", False, ["p99 latency 900 ms > 250 ms"])
    pushed = _push(tmp_path, fake_model, PushConfig(serving_root=str(tmp_path / "s")), infra)
    assert pushed.properties["pushed"] is False
    assert pushed.properties["reason"] == "not infra-blessed: p99 latency 900 ms > 250 ms"
    assert not (tmp_path / "s").exists()


def test_ships_the_infra_copy_writes_models_config_and_keeps_the_last_k(tmp_path: Path) -> None:
    source = write_fake_saved_model(tmp_path / "model" / "saved_model")
    validated = tmp_path / "validated"
    write_fake_saved_model(validated)
    (validated / "assets.extra").mkdir()
    (validated / "assets.extra" / "tf_serving_warmup_requests").write_bytes(b"warmup")
    serving = tmp_path / "serving"
    # Another model already in models.config must survive our updates untouched.
    other = ModelConfig(name="other", base_path=str(serving / "other"), labels={"stable": 7})
    write_configs(str(serving / "models.config"), [other])

    config = PushConfig(serving_root=str(serving), model_name="m", keep_versions=2)
    records = []
    for i in range(4):  # four models (the same model again would adopt its version)
        model = model_artifact(tmp_path / "model", fingerprint=f"model-fp-{i}")
        infra = infra_blessing_artifact(
            tmp_path / f"infra-{i}", model_fingerprint=model.fingerprint, saved_model=validated
        )
        records.append(_push(tmp_path, model, config, infra).properties)

    assert [r["version"] for r in records] == [1, 2, 3, 4]
    assert [r["adopted"] for r in records] == [False] * 4
    assert records[2]["deleted_versions"] == [1] and records[3]["deleted_versions"] == [2]
    assert integer_versions(str(serving / "m")) == [3, 4]
    # What was shipped is infra_validate's copy (with the warmup records), not the raw export.
    shipped = tree_bytes(serving / "m" / "4")
    # The warmup file and push's provenance marker sit side by side in assets.extra.
    marker = json.loads(shipped.pop(publish.MARKER_FILE))
    assert marker["model_fingerprint"] == "model-fp-3" and marker["run_id"]
    assert shipped == tree_bytes(validated)
    assert shipped != tree_bytes(source)
    configs = read_configs(str(serving / "models.config"))
    assert configs == [
        other,
        ModelConfig(name="m", base_path=str(serving / "m"), policy=VersionPolicy()),
    ]
    assert records[3]["model_config_file"] == str(serving / "models.config")


def test_retention_keeps_versions_a_label_or_pin_still_needs(tmp_path: Path) -> None:
    source = write_fake_saved_model(tmp_path / "src")
    serving = tmp_path / "serving"
    config = PushConfig(serving_root=str(serving), model_name="m", keep_versions=1)
    deploy(str(source), config)
    # An operator labels version 1 "stable"; retention must keep it from now on.
    entry = ModelConfig(name="m", base_path=str(serving / "m"), labels={"stable": 1})
    write_configs(str(serving / "models.config"), [entry])
    outcomes = [deploy(str(source), config) for _ in range(2)]
    assert [o.version for o in outcomes] == [2, 3]
    assert integer_versions(str(serving / "m")) == [1, 3]
    (saved,) = read_configs(str(serving / "models.config"))
    assert saved.labels == {"stable": 1} and saved.policy == VersionPolicy()


def test_a_push_after_a_rollback_keeps_the_rolled_back_version_for_one_more_push(
    tmp_path: Path,
) -> None:
    """The served (pinned) version was deleted by the next push's retention, so a server still
    polling the old models.config answered 404 until it re-read the file."""
    from seqline.serving.deploy.rollback import rollback

    source = write_fake_saved_model(tmp_path / "src")
    serving = tmp_path / "serving"
    config = PushConfig(serving_root=str(serving), model_name="m", keep_versions=2)
    for _ in range(3):
        deploy(str(source), config)
    assert integer_versions(str(serving / "m")) == [2, 3]
    assert rollback(str(serving / "models.config"), "m").to_version == 2
    assert deploy(str(source), config).deleted_versions == []  # 2 was pinned until now
    assert integer_versions(str(serving / "m")) == [2, 3, 4]
    (entry,) = read_configs(str(serving / "models.config"))
    assert entry.policy == VersionPolicy()  # the pin is lifted...
    assert deploy(str(source), config).deleted_versions == [2, 3]  # ...and 2 goes next time
    assert integer_versions(str(serving / "m")) == [4, 5]


def test_an_adopted_version_lifts_a_rollback_pin_as_a_new_version_does(tmp_path: Path) -> None:
    """A rerun of an unrecorded push of b, after an operator rolled back to a: b's version is
    adopted and served again, exactly as if the push had published it now."""
    from seqline.serving.deploy.rollback import rollback

    source = write_fake_saved_model(tmp_path / "src")
    serving = tmp_path / "serving"
    config = PushConfig(serving_root=str(serving), model_name="m", keep_versions=0)
    deploy(str(source), config, marker={"model_fingerprint": "a"})
    deploy(str(source), config, marker={"model_fingerprint": "b"})
    assert rollback(str(serving / "models.config"), "m").to_version == 1
    outcome = deploy(str(source), config, marker={"model_fingerprint": "b"})
    assert (outcome.version, outcome.adopted) == (2, True)
    assert integer_versions(str(serving / "m")) == [1, 2]
    (entry,) = read_configs(str(serving / "models.config"))
    assert entry.policy == VersionPolicy()  # the pin is lifted: the newest version serves


def test_retention_sees_a_rollback_made_while_the_push_ran(tmp_path: Path) -> None:
    """A rollback pinning the oldest version between the push's config update and its
    retention: retention re-reads the pins under the file's lock (rollback takes it too)."""
    from seqline.serving.deploy.rollback import rollback

    source = write_fake_saved_model(tmp_path / "src")
    serving = tmp_path / "serving"
    config = PushConfig(serving_root=str(serving), model_name="m", keep_versions=1)
    deploy(str(source), config)
    deploy(str(source), PushConfig(serving_root=str(serving), model_name="m", keep_versions=0))
    config_file = str(serving / "models.config")

    def roll_back_once_the_config_is_written(message: str) -> None:
        if message.startswith("updated "):
            assert rollback(config_file, "m", 1).to_version == 1

    outcome = deploy(str(source), config, progress=roll_back_once_the_config_is_written)
    assert outcome.version == 3 and outcome.deleted_versions == [2]
    assert integer_versions(str(serving / "m")) == [1, 3]  # the pinned version is still there
    (entry,) = read_configs(config_file)
    assert entry.policy == VersionPolicy(kind="specific", versions=(1,))


def test_an_operators_version_policy_survives_a_push(tmp_path: Path) -> None:
    source = write_fake_saved_model(tmp_path / "src")
    serving = tmp_path / "serving"
    config = PushConfig(serving_root=str(serving), model_name="m", keep_versions=3)
    deploy(str(source), config)
    two = ModelConfig(name="m", base_path=str(serving / "m"), policy=VersionPolicy("latest", 2))
    write_configs(str(serving / "models.config"), [two])
    deploy(str(source), config)
    (entry,) = read_configs(str(serving / "models.config"))
    assert entry.policy == VersionPolicy("latest", 2)  # was reset to latest 1


def test_version_numbers_stop_at_18_digits_with_a_clear_error(tmp_path: Path) -> None:
    source = write_fake_saved_model(tmp_path / "src")
    serving = tmp_path / "serving"
    shutil.copytree(source, serving / "m" / "999999999999999999")
    config = PushConfig(serving_root=str(serving), model_name="m")
    with pytest.raises(DataError, match="over the largest version number 999999999999999999"):
        deploy(str(source), config)
    assert sorted(os.listdir(serving / "m")) == [".seqline-push.lock", "999999999999999999"]


@pytest.mark.parametrize("name", [".hidden", "models.config", "models.config.lock"])
def test_model_names_the_server_or_the_config_file_would_refuse(name: str) -> None:
    with pytest.raises(ConfigError, match="model_name"):
        PushConfig(serving_root="/srv/models", model_name=name)


def test_push_to_a_running_server_waits_for_available_and_takes_back_a_model_it_cannot_load(
    tmp_path: Path, times_models: dict[float, Path]
) -> None:
    from seqline.serving.client.client import PredictionClient
    from seqline.serving.server.server import ServerOptions, start_server

    serving = tmp_path / "serving"
    config_file = serving / "models.config"
    deploy(str(times_models[3.0]), PushConfig(serving_root=str(serving), model_name="m"))
    handle = start_server(
        ServerOptions(port=0, model_config_file=str(config_file), file_system_poll_wait_seconds=0.2)
    )
    try:
        handle.wait_until_ready(60)
        live = PushConfig(
            serving_root=str(serving),
            model_name="m",
            server=handle.grpc_target,
            server_timeout_seconds=60,
        )
        # With push's provenance marker in assets.extra (next to where warmup records go).
        outcome = deploy(str(times_models[5.0]), live, marker={"model_fingerprint": "w5"})
        assert outcome.version == 2 and outcome.server_confirmed
        with PredictionClient(handle.grpc_target, "m") as client:
            y = client.predict({"x": np.array([1.0, 2.0], np.float32)})["y"]
            assert y.tolist() == [5.0, 10.0]  # version 2 answers

            # A SavedModel whose graph parses but whose variables are garbage: the server
            # tries it and reports the load error (END with a message).
            broken = tmp_path / "broken"
            shutil.copytree(times_models[5.0], broken)
            for shard in (broken / "variables").glob("variables.data-*"):
                shard.write_bytes(b"\0" * 7)
            before = read_configs(str(config_file))
            with pytest.raises(DataError, match=r"version 3.*failed to load") as info:
                deploy(str(broken), live)
            assert "deleted again" in str(info.value)
            assert integer_versions(str(serving / "m")) == [1, 2]
            assert read_configs(str(config_file)) == before
            y = client.predict({"x": np.array([1.0], np.float32)})["y"]
            assert y.tolist() == [5.0]  # the previous version kept serving

            # The next good push succeeds; the refused number 3 is not reused.
            w3 = {"model_fingerprint": "w3"}
            assert deploy(str(times_models[3.0]), live, marker=w3).version == 4
            assert client.predict({"x": np.array([1.0], np.float32)})["y"].tolist() == [3.0]
            # A rerun of that push (as after a kill before its record) adopts version 4 and
            # still waits for the server to report it AVAILABLE.
            again = deploy(str(times_models[3.0]), live, marker=w3)
            assert (again.version, again.adopted, again.server_confirmed) == (4, True, True)
            assert integer_versions(str(serving / "m")) == [1, 2, 4]
    finally:
        handle.stop()


# A child that deploys with keep_versions=1 and blocks at a chosen point so the test can
# kill -9 it there: after hiding the old version, midway through deleting its files, or after
# writing the new models.config to a temporary file but before renaming it into place.
_BLOCKING_DEPLOY = """
import os, sys
from seqline.storage import filesystem
from seqline.serving.deploy import config_file
from seqline.components.push.component import PushConfig
from seqline.components.push.deploy import deploy

source, serving, point = sys.argv[1], sys.argv[2], sys.argv[3]

def block():
    print("BLOCKED", flush=True)
    sys.stdin.readline()

real_rmtree, real_replace = filesystem.rmtree, config_file.os.replace

def rmtree(path):
    if ".deleting-" in path:
        if point == "mid-delete":
            for root, _dirs, files in os.walk(path):
                for name in files[:1]:
                    os.remove(os.path.join(root, name))
        if point in ("after-hide", "mid-delete"):
            block()
    real_rmtree(path)

class Os:
    def __getattr__(self, name):
        return getattr(os, name)
    def replace(self, src, dst):
        if point == "config":
            block()
        real_replace(src, dst)

filesystem.rmtree = rmtree
config_file.os = Os()
print(deploy(source, PushConfig(serving_root=serving, model_name="m", keep_versions=1)).version)
"""


@pytest.mark.parametrize("point", ["after-hide", "mid-delete", "config"])
def test_kill_9_during_retention_or_config_update_leaves_only_loadable_versions(
    tmp_path: Path, point: str
) -> None:
    source = write_fake_saved_model(tmp_path / "src")
    expected = tree_bytes(source)
    serving = tmp_path / "serving"
    pinned = None
    deploy(str(source), PushConfig(serving_root=str(serving), model_name="m", keep_versions=1))
    (unpinned,) = read_configs(str(serving / "models.config"))
    if point == "config":  # a rollback pin, so the child's push must rewrite the file
        pinned = ModelConfig(unpinned.name, unpinned.base_path, VersionPolicy("specific", 1, (1,)))
        write_configs(str(serving / "models.config"), [pinned])

    child = subprocess.Popen(
        [sys.executable, "-c", _BLOCKING_DEPLOY, str(source), str(serving), point],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "BLOCKED"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
        child.stdin.close()  # type: ignore[union-attr]
        child.stdout.close()  # type: ignore[union-attr]

    model_dir = serving / "m"
    versions = integer_versions(str(model_dir))
    assert versions, "some version must remain"
    for version in versions:  # a server would load each of them: all complete
        assert tree_bytes(model_dir / str(version)) == expected, f"version {version} torn"
    # models.config is the old or the new file, never half of one.
    (entry,) = read_configs(str(serving / "models.config"))
    assert entry in (pinned, unpinned)

    outcome = deploy(str(source), PushConfig(serving_root=str(serving), model_name="m",
                                             keep_versions=1))  # fmt: skip
    assert outcome.version == max(versions) + 1
    # A version the file still pinned survives this push (a polling server may serve it until
    # it reads the unpinned entry); the next push may delete it.
    kept = {1} if entry == pinned else set()
    assert integer_versions(str(model_dir)) == sorted(kept | {outcome.version})
    leftovers = [e for e in os.listdir(model_dir) if e.startswith((".deleting-", ".tmp-"))]
    assert leftovers == []
    assert outcome.deleted_versions == [v for v in versions if v not in kept]
