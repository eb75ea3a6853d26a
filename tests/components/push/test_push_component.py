"""The push component on hand-built Model and Blessing artifacts, plus the object-store path."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from seqline.components.push import publish
from seqline.components.push.component import COMPONENT, PushConfig, check
from seqline.pipeline.artifact import Artifact, ArtifactType
from seqline.pipeline.config_parsing import build_dataclass
from seqline.pipeline.errors import ConfigError, DataError
from tests.components.context import make_context
from tests.components.push.push_inputs import (
    blessing_artifact,
    infra_blessing_artifact,
    tree_bytes,
    write_fake_saved_model,
)

PASSING = ["accuracy = 0.9, required >= 0.7: PASS (majority baseline 0.5)"]
FAILING = ["accuracy = 0.6, required >= 0.7: FAIL (majority baseline 0.5)"]


def _push(
    tmp_path: Path,
    model: Artifact,
    blessing: Artifact,
    config: PushConfig,
    infra: Artifact | None = None,
) -> tuple:
    out = tmp_path / f"pushed-{uuid.uuid4().hex[:6]}"
    out.mkdir()
    pushed = Artifact(type_name=ArtifactType.PUSHED_MODEL, uri=str(out), fingerprint="p")
    if infra is None:
        infra = infra_blessing_artifact(tmp_path / f"infra-{uuid.uuid4().hex[:6]}")
    ctx = make_context(
        config=config,
        inputs={"model": model, "blessing": blessing, "infra_blessing": infra},
        outputs={"pushed_model": pushed},
    )
    summary = COMPONENT.executor(ctx)
    json.dumps(summary)
    return dict(summary), pushed


def _push_model(tmp_path: Path, model: Artifact, config: PushConfig, fingerprint: str) -> tuple:
    """Pushes `model`'s files as the model with `fingerprint`, blessed and infra-blessed."""
    tag = uuid.uuid4().hex[:6]
    as_model = Artifact(type_name=ArtifactType.MODEL, uri=model.uri, fingerprint=fingerprint)
    blessing = blessing_artifact(tmp_path / f"b-{tag}", True, PASSING, fingerprint)
    infra = infra_blessing_artifact(tmp_path / f"i-{tag}", model_fingerprint=fingerprint)
    return _push(tmp_path, as_model, blessing, config, infra)


def test_blessed_model_lands_where_tf_serving_loads_it(
    tmp_path: Path, real_model: Artifact
) -> None:
    import tensorflow as tf

    config = PushConfig(serving_root=str(tmp_path / "serving"), model_name="sentiment")
    blessing = blessing_artifact(tmp_path / "blessing", True, PASSING)
    summary, pushed = _push(tmp_path, real_model, blessing, config)

    destination = tmp_path / "serving" / "sentiment" / "1"
    assert summary == {"pushed": True, "version": 1, "destination": str(destination)}
    assert (destination / "saved_model.pb").is_file()
    assert (destination / "variables" / "variables.index").is_file()
    shipped = tree_bytes(destination)
    marker = json.loads(shipped.pop(publish.MARKER_FILE))  # push's provenance, inside the version
    assert shipped == tree_bytes(Path(real_model.uri) / "saved_model")
    assert marker["model_fingerprint"] == real_model.fingerprint
    assert marker["model_uri"] == real_model.uri
    # Loadable from the integer directory alone, as TF Serving does.
    loaded = tf.saved_model.load(str(destination))
    y = loaded.signatures["serving_default"](x=tf.constant([1.0, 2.0]))["y"]
    assert y.numpy().tolist() == [3.0, 6.0]

    record = json.loads((Path(pushed.uri) / "push.json").read_text())
    assert record == pushed.properties
    assert record["pushed"] is True and record["version"] == 1
    assert PASSING[0] in record["reason"]

    # Another blessed model (other weights; the same files under another fingerprint would be
    # the same model, see test_push_unchanged_model.py) becomes version 2.
    for shard in (Path(real_model.uri) / "saved_model" / "variables").glob("variables.data-*"):
        shard.write_bytes(shard.read_bytes()[::-1])
    summary, _ = _push_model(tmp_path, real_model, config, "model-fp-2")
    assert summary["version"] == 2


def test_a_cached_push_whose_version_was_deleted_is_stale(
    tmp_path: Path, fake_model: Artifact
) -> None:
    """The runner asks effects_gone before reusing a cached push (tests/pipeline/test_runner)."""
    from seqline.components.push.component import effects_gone
    from seqline.pipeline.artifacts import PushedModel
    from seqline.pipeline.component import retype

    config = PushConfig(serving_root=str(tmp_path / "serving"), model_name="sentiment")
    blessing = blessing_artifact(tmp_path / "blessing", True, PASSING)
    _, pushed = _push(tmp_path, fake_model, blessing, config)
    outputs = {"pushed_model": retype(pushed, PushedModel)}
    assert effects_gone(outputs) == []
    (tmp_path / "serving" / "sentiment" / "1" / "saved_model.pb").unlink()
    assert effects_gone(outputs) == [
        f"pushed version 1: no saved_model.pb at {tmp_path / 'serving' / 'sentiment' / '1'}"
    ]
    _, refused = _push(
        tmp_path, fake_model, blessing_artifact(tmp_path / "no", False, FAILING), config
    )
    assert effects_gone({"pushed_model": retype(refused, PushedModel)}) == []  # nothing served


def test_a_push_killed_after_publishing_is_adopted_when_the_pipeline_reruns(
    tmp_path: Path, fake_model: Artifact, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 between the rename that publishes the version and the record: the push was not
    recorded, so the rerun pushes again; it must adopt the version, not publish a duplicate."""
    from seqline.components.push import deploy as deploy_module
    from seqline.serving.deploy.config_file import read_configs

    serving = tmp_path / "serving"
    model_dir = serving / "sentiment"
    config = PushConfig(serving_root=str(serving), model_name="sentiment")
    blessing = blessing_artifact(tmp_path / "blessing", True, PASSING)
    real_publish = deploy_module.publish_version

    def publish_then_die(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        real_publish(*args, **kwargs)
        raise KeyboardInterrupt("killed after the rename, before anything was recorded")

    monkeypatch.setattr(deploy_module, "publish_version", publish_then_die)
    with pytest.raises(KeyboardInterrupt):
        _push(tmp_path, fake_model, blessing, config)
    monkeypatch.setattr(deploy_module, "publish_version", real_publish)
    assert publish.integer_versions(str(model_dir)) == [1]
    assert not (serving / "models.config").exists()
    # The marker went in with the version: it names the model that version holds.
    marker = json.loads((model_dir / "1" / publish.MARKER_FILE).read_text())
    assert marker["model_fingerprint"] == fake_model.fingerprint
    assert marker["model_uri"] == fake_model.uri and marker["run_id"] == "test-run"

    summary, pushed = _push(tmp_path, fake_model, blessing, config)
    assert summary == {"pushed": True, "version": 1, "destination": str(model_dir / "1")}
    assert pushed.properties["adopted"] is True
    assert json.loads((Path(pushed.uri) / "push.json").read_text())["adopted"] is True
    assert publish.integer_versions(str(model_dir)) == [1]  # no duplicate
    # The rest of the push ran for the adopted version: models.config serves the model.
    (entry,) = read_configs(str(serving / "models.config"))
    assert (entry.name, entry.base_path) == ("sentiment", str(model_dir))

    # Another model after that is published as version 2.
    summary, pushed = _push_model(tmp_path, fake_model, config, "model-fp-2")
    assert (summary["version"], pushed.properties["adopted"]) == (2, False)


def test_only_the_newest_version_is_adopted(tmp_path: Path, fake_model: Artifact) -> None:
    """Re-pushing model a after model b is deliberate (serve a again): a new version, not a's
    old one; pushing a again while it is the newest version adopts that version."""
    config = PushConfig(serving_root=str(tmp_path / "serving"), model_name="sentiment")
    records = [_push_model(tmp_path, fake_model, config, fp)[1].properties for fp in "abaa"]
    assert [(r["version"], r["adopted"]) for r in records] == [
        (1, False),
        (2, False),
        (3, False),
        (3, True),
    ]
    assert publish.integer_versions(str(tmp_path / "serving" / "sentiment")) == [1, 2, 3]


def test_a_newest_version_without_its_graph_is_not_adopted(
    tmp_path: Path, fake_model: Artifact
) -> None:
    config = PushConfig(serving_root=str(tmp_path / "serving"), model_name="sentiment")
    _push_model(tmp_path, fake_model, config, "a")
    (tmp_path / "serving" / "sentiment" / "1" / "saved_model.pb").unlink()  # no longer servable
    records = [_push_model(tmp_path, fake_model, config, "a")[1].properties for _ in range(2)]
    assert [(r["version"], r["adopted"]) for r in records] == [(2, False), (2, True)]


def test_not_blessed_model_is_not_pushed_and_reason_is_recorded(
    tmp_path: Path, fake_model: Artifact
) -> None:
    config = PushConfig(serving_root=str(tmp_path / "serving"), model_name="sentiment")
    blessing = blessing_artifact(tmp_path / "blessing", False, FAILING)
    summary, pushed = _push(tmp_path, fake_model, blessing, config)

    assert summary == {"pushed": False, "version": None, "destination": None}
    assert pushed.properties["pushed"] is False
    assert pushed.properties["reason"] == "not blessed: " + FAILING[0]
    assert json.loads((Path(pushed.uri) / "push.json").read_text()) == pushed.properties
    assert not (tmp_path / "serving").exists()  # nothing copied, nothing created


@pytest.mark.parametrize(
    "name", ["../escape", "a/b", "..", ".", "", "/abs", "a\\b", "x..y", "name with space", "é"]
)
def test_model_name_that_could_escape_serving_root_is_rejected(name: str) -> None:
    with pytest.raises(ConfigError, match="model_name"):
        PushConfig(serving_root="/srv/models", model_name=name)


@pytest.mark.parametrize("name", ["sentiment", "imdb-v2.lstm", "A_1"])
def test_plain_model_names_are_accepted(name: str) -> None:
    assert PushConfig(serving_root="/srv/models", model_name=name).model_name == name


def test_yaml_config_requires_serving_root() -> None:
    with pytest.raises(ConfigError, match=r"push\.serving_root: required field is missing"):
        build_dataclass(PushConfig, {"model_name": "m"}, "push")


def test_serving_root_that_is_a_file_fails_the_pre_run_check(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="expected a directory"):
        check(PushConfig(serving_root=str(tmp_path / "file")))
    check(PushConfig(serving_root=str(tmp_path / "not-yet-created")))


def test_blessing_for_another_model_is_refused(tmp_path: Path, fake_model: Artifact) -> None:
    blessing = blessing_artifact(tmp_path / "b", True, PASSING, model_fingerprint="other-model")
    config = PushConfig(serving_root=str(tmp_path / "serving"))
    with pytest.raises(ConfigError, match="judged model other-model"):
        _push(tmp_path, fake_model, blessing, config)
    assert not (tmp_path / "serving").exists()


def test_a_blessing_without_a_verdict_is_refused(tmp_path: Path, fake_model: Artifact) -> None:
    blessing = blessing_artifact(tmp_path / "b", True, PASSING)
    del blessing.properties["blessed"]  # a damaged descriptor: the one place the verdict lives
    with pytest.raises(DataError, match="expected a boolean 'blessed' property, got None"):
        _push(tmp_path, fake_model, blessing, PushConfig(serving_root=str(tmp_path / "s")))
    assert not (tmp_path / "s").exists()


def test_object_store_push_moves_graph_last_and_cleans_interrupted_moves(tmp_path: Path) -> None:
    """The gs:// / s3:// code path, run against TensorFlow's in-memory ram:// filesystem."""
    import tensorflow as tf

    gfile = tf.io.gfile
    source = write_fake_saved_model(tmp_path / "src")
    model_dir = f"ram://serving-{uuid.uuid4().hex}/sentiment"

    first = publish.publish_version(str(source), model_dir)
    assert (first.version, first.destination) == (1, f"{model_dir}/1")
    for rel, data in tree_bytes(source).items():
        with gfile.GFile(f"{model_dir}/1/{rel}", "rb") as f:
            assert f.read() == data

    # Simulate a push killed half-way through moving version 2: a temporary sibling still
    # holding saved_model.pb, and a version directory with some variables but no graph.
    temp = f"{model_dir}/.tmp-2-{uuid.uuid4().hex}"
    gfile.makedirs(f"{temp}/variables")
    gfile.copy(str(source / "saved_model.pb"), f"{temp}/saved_model.pb")
    gfile.makedirs(f"{model_dir}/2/variables")
    gfile.copy(str(source / "variables" / "variables.index"), f"{model_dir}/2/variables/x")

    second = publish.publish_version(str(source), model_dir)
    assert second.version == 2  # the torn version 2 was removed, then pushed again whole
    names = {name.rstrip("/") for name in gfile.listdir(model_dir)}
    assert names == {"1", "2"}
    with gfile.GFile(f"{model_dir}/2/saved_model.pb", "rb") as f:
        assert f.read() == (source / "saved_model.pb").read_bytes()
    assert not gfile.exists(f"{model_dir}/2/variables/x")
    assert os.path.exists(source / "saved_model.pb")  # the source is copied, never moved


def test_model_on_an_object_store_is_published_atomically_to_a_local_root(
    tmp_path: Path,
) -> None:
    import tensorflow as tf

    source = write_fake_saved_model(tmp_path / "src")
    remote_source = f"ram://models-{uuid.uuid4().hex}/saved_model"
    for rel in tree_bytes(source):
        tf.io.gfile.makedirs(f"{remote_source}/{rel}".rsplit("/", 1)[0])
        tf.io.gfile.copy(str(source / rel), f"{remote_source}/{rel}")

    result = publish.publish_version(remote_source, str(tmp_path / "serving" / "m"))
    assert result.version == 1
    assert tree_bytes(Path(result.destination)) == tree_bytes(source)
    assert sorted(os.listdir(tmp_path / "serving" / "m")) == [".seqline-push.lock", "1"]


def test_object_store_push_writes_the_marker_and_adopts_the_newest_version(
    tmp_path: Path,
) -> None:
    import shutil

    import tensorflow as tf

    source = write_fake_saved_model(tmp_path / "src")
    # TensorFlow's ram:// filesystem (a stand-in for gs://) matches children by name prefix, so
    # next to assets.extra/ it lists assets/ as holding ".extra" and fails deleting the tree;
    # real object stores list by delimiter. The marker's path is what this test is about.
    shutil.rmtree(source / "assets")
    model_dir = f"ram://serving-{uuid.uuid4().hex}/sentiment"
    first = publish.publish_version(str(source), model_dir, {"model_fingerprint": "a"})
    with tf.io.gfile.GFile(f"{model_dir}/1/{publish.MARKER_FILE}") as f:
        assert json.loads(f.read())["model_fingerprint"] == "a"
    again = publish.publish_version(str(source), model_dir, {"model_fingerprint": "a"})
    other = publish.publish_version(str(source), model_dir, {"model_fingerprint": "b"})
    assert [(p.version, p.adopted) for p in (first, again, other)] == [
        (1, False),
        (1, True),
        (2, False),
    ]
    assert sorted(name.rstrip("/") for name in tf.io.gfile.listdir(model_dir)) == ["1", "2"]
