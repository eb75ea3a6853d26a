"""push publishes no new version when the blessed model is the same program and weights as the
newest serving version under another export (a touched source, a seqline upgrade: another
model fingerprint, other saved_model.pb bytes, equal regularized hashes in fingerprint.pb)."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

import pytest

from seqline.components.push import publish
from seqline.components.push.component import COMPONENT, PushConfig
from seqline.pipeline.artifact import Artifact, ArtifactType
from seqline.pipeline.artifacts import PushedModel
from seqline.pipeline.cli import main
from seqline.pipeline.metadata import MetadataStore
from seqline.pipeline.report import _describe
from seqline.serving.deploy.config_file import read_configs
from seqline.serving.deploy.rollback import rollback
from tests.components.context import make_context
from tests.components.push.push_inputs import blessing_artifact, infra_blessing_artifact
from tests.pipeline.metadata_records import record_execution

PASSING = ["accuracy = 0.9, required >= 0.7: PASS (majority baseline 0.5)"]


def _export(directory: Path, weight: float, vocab: Path, program: str = "w * x") -> Path:
    """Exports a tiny tf.Module (one variable, one asset, a serving signature computing
    `program`: "w * x", "w * x + 1" or "w + x")."""
    import tensorflow as tf

    class Times(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(weight)
            self.vocab = tf.saved_model.Asset(str(vocab))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            if program == "w + x":
                return {"y": self.w + x}
            if program == "w * x + 1":
                return {"y": self.w * x + 1.0}
            return {"y": self.w * x}

    module = Times()
    tf.saved_model.save(module, str(directory), signatures={"serving_default": module.serve})
    return directory


@pytest.fixture(scope="session")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ "a" and "b": the same model exported twice (another function-name counter, so other
    saved_model.pb bytes); "other_weights": w = 4 instead of 3; "other_constant" and
    "other_op": the same variable and asset, another serving program."""
    root = tmp_path_factory.mktemp("exports")
    vocab = root / "tokens"
    vocab.write_text("the\nmovie\ngood\n")
    return {
        "a": _export(root / "a", 3.0, vocab),
        "b": _export(root / "b", 3.0, vocab),
        "other_weights": _export(root / "c", 4.0, vocab),
        "other_constant": _export(root / "d", 3.0, vocab, "w * x + 1"),
        "other_op": _export(root / "e", 3.0, vocab, "w + x"),
    }


def test_the_fixture_is_two_exports_of_the_same_model(exports: dict[str, Path]) -> None:
    """What the feature relies on, checked with TensorFlow's own parser: other bytes, equal
    regularized hashes; and program_hashes reads the same hashes without TensorFlow."""
    from tensorflow.core.protobuf import fingerprint_pb2

    def fingerprint(directory: Path) -> fingerprint_pb2.FingerprintDef:
        parsed = fingerprint_pb2.FingerprintDef()
        parsed.ParseFromString((directory / "fingerprint.pb").read_bytes())
        return parsed

    a, b = fingerprint(exports["a"]), fingerprint(exports["b"])
    assert (exports["a"] / "saved_model.pb").read_bytes() != (
        exports["b"] / "saved_model.pb"
    ).read_bytes()
    assert a.saved_model_checksum != b.saved_model_checksum
    hashes = (a.graph_def_program_hash, a.signature_def_hash, a.saved_object_graph_hash)
    assert hashes == (b.graph_def_program_hash, b.signature_def_hash, b.saved_object_graph_hash)
    assert publish.program_hashes(str(exports["a"])) == hashes
    assert publish.program_hashes(str(exports["b"])) == hashes
    assert (exports["a"] / "assets" / "tokens").is_file()


def _push(tmp_path: Path, source: Path, fingerprint: str, config: PushConfig) -> PushedModel:
    """Runs the push component on `source` as the model `fingerprint`, blessed by both."""
    tag = uuid.uuid4().hex[:6]
    model_dir = tmp_path / f"model-{tag}"
    shutil.copytree(source, model_dir / "saved_model")
    model = Artifact(type_name=ArtifactType.MODEL, uri=str(model_dir), fingerprint=fingerprint)
    blessing = blessing_artifact(tmp_path / f"b-{tag}", True, PASSING, fingerprint)
    infra = infra_blessing_artifact(tmp_path / f"i-{tag}", model_fingerprint=fingerprint)
    out = tmp_path / f"pushed-{tag}"
    out.mkdir()
    pushed = PushedModel(type_name=ArtifactType.PUSHED_MODEL, uri=str(out), fingerprint="p")
    ctx = make_context(
        config=config,
        inputs={"model": model, "blessing": blessing, "infra_blessing": infra},
        outputs={"pushed_model": pushed},
        run_id=f"run-{fingerprint}",
    )
    COMPONENT.executor(ctx)
    return pushed


def _config(tmp_path: Path) -> PushConfig:
    return PushConfig(serving_root=str(tmp_path / "serving"), model_name="sentiment")


def _versions(tmp_path: Path) -> list[int]:
    return publish.integer_versions(str(tmp_path / "serving" / "sentiment"))


def test_the_same_model_re_exported_publishes_no_new_version(
    tmp_path: Path, exports: dict[str, Path]
) -> None:
    config = _config(tmp_path)
    first = _push(tmp_path, exports["a"], "fp-1", config)
    assert first.version == 1 and not first.properties["adopted"]
    again = _push(tmp_path, exports["b"], "fp-2", config)
    assert _versions(tmp_path) == [1]
    assert again.pushed and again.version == 1
    assert again.properties["adopted"] is True and again.properties["unchanged"] is True
    assert json.loads((Path(again.uri) / "push.json").read_text())["unchanged"] is True
    # The version still names the model (and run) that published it.
    marker = publish.read_marker(str(tmp_path / "serving" / "sentiment" / "1"))
    assert marker is not None and marker["model_fingerprint"] == "fp-1"
    assert "unchanged: same program and weights" in _describe(again)[0]
    # models.config serves it, as after any push.
    (entry,) = read_configs(str(tmp_path / "serving" / "models.config"))
    assert entry.policy.kind == "latest"


def test_the_log_line_names_the_version_and_the_run_that_published_it(
    tmp_path: Path, exports: dict[str, Path]
) -> None:
    from seqline.components.push.deploy import deploy

    config = _config(tmp_path)
    _push(tmp_path, exports["a"], "fp-1", config)
    said: list[str] = []
    outcome = deploy(
        str(exports["b"]), config, progress=said.append, marker={"model_fingerprint": "fp-2"}
    )
    assert outcome.version == 1 and outcome.unchanged and outcome.adopted
    assert (
        "unchanged: same program and weights as serving version 1 (published by run run-fp-1); "
        "no new version"
    ) in said


def test_other_weights_are_a_new_version(tmp_path: Path, exports: dict[str, Path]) -> None:
    config = _config(tmp_path)
    _push(tmp_path, exports["a"], "fp-1", config)
    pushed = _push(tmp_path, exports["other_weights"], "fp-2", config)
    assert pushed.version == 2 and not pushed.properties.get("adopted")
    assert _versions(tmp_path) == [1, 2]


@pytest.mark.parametrize("variant", ["other_constant", "other_op"])
def test_the_same_weights_in_another_serving_program_are_a_new_version(
    tmp_path: Path, exports: dict[str, Path], variant: str
) -> None:
    """TF's graph_def_program_hash clears the function library before hashing, and in a TF2
    SavedModel the serving function (a TFT graph inside it too) lives there: another constant
    or op leaves all three fingerprint.pb hashes and variables/ and assets/ equal. It is another
    model all the same and must be served as a new version."""
    assert publish.program_hashes(str(exports[variant])) == publish.program_hashes(
        str(exports["a"])
    )
    assert publish.content_digest(
        str(exports[variant]), publish.NOT_MODEL_BYTES
    ) == publish.content_digest(str(exports["a"]), publish.NOT_MODEL_BYTES)
    config = _config(tmp_path)
    _push(tmp_path, exports["a"], "fp-1", config)
    pushed = _push(tmp_path, exports[variant], "fp-2", config)
    assert pushed.version == 2 and not pushed.properties["adopted"]
    assert _versions(tmp_path) == [1, 2]


def test_the_same_weights_with_another_vocabulary_are_a_new_version(
    tmp_path: Path, exports: dict[str, Path]
) -> None:
    config = _config(tmp_path)
    _push(tmp_path, exports["a"], "fp-1", config)
    other_vocab = tmp_path / "other-vocab"
    shutil.copytree(exports["b"], other_vocab)
    (other_vocab / "assets" / "tokens").write_text("the\nmovie\nbad\n")
    assert publish.program_hashes(str(other_vocab)) == publish.program_hashes(str(exports["a"]))
    pushed = _push(tmp_path, other_vocab, "fp-2", config)
    assert pushed.version == 2 and not pushed.properties["adopted"]
    assert _versions(tmp_path) == [1, 2]


def test_another_top_level_file_is_a_new_version(tmp_path: Path, exports: dict[str, Path]) -> None:
    """A file beside variables/ and assets/ (tf_keras writes keras_metadata.pb there, the
    model's layer configs) is part of the model: one that differs is a new version."""
    config = _config(tmp_path)
    with_metadata = tmp_path / "with-metadata"
    shutil.copytree(exports["a"], with_metadata)
    (with_metadata / "keras_metadata.pb").write_bytes(b"layers: 1")
    _push(tmp_path, with_metadata, "fp-1", config)
    other_metadata = tmp_path / "other-metadata"
    shutil.copytree(exports["b"], other_metadata)
    (other_metadata / "keras_metadata.pb").write_bytes(b"layers: 2")
    pushed = _push(tmp_path, other_metadata, "fp-2", config)
    assert pushed.version == 2 and not pushed.properties["adopted"]
    assert _versions(tmp_path) == [1, 2]


def test_a_newest_version_without_fingerprint_pb_is_not_compared(
    tmp_path: Path, exports: dict[str, Path]
) -> None:
    config = _config(tmp_path)
    _push(tmp_path, exports["a"], "fp-1", config)
    (tmp_path / "serving" / "sentiment" / "1" / "fingerprint.pb").unlink()
    pushed = _push(tmp_path, exports["b"], "fp-2", config)
    assert pushed.version == 2 and not pushed.properties["adopted"]


def test_a_model_equal_to_an_older_version_is_published_as_new(
    tmp_path: Path, exports: dict[str, Path]
) -> None:
    """Versions 1 (model A) and 2 (other weights), rolled back to 1: pushing A again under
    another fingerprint is a new version 3, and the rollback pin is lifted as by any push."""
    config = _config(tmp_path)
    _push(tmp_path, exports["a"], "fp-1", config)
    _push(tmp_path, exports["other_weights"], "fp-2", config)
    config_file = str(tmp_path / "serving" / "models.config")
    rollback(config_file, "sentiment", 1)
    (pinned,) = read_configs(config_file)
    assert pinned.policy.kind == "specific" and pinned.policy.versions == (1,)
    pushed = _push(tmp_path, exports["b"], "fp-3", config)
    assert pushed.version == 3 and not pushed.properties["adopted"]
    assert _versions(tmp_path) == [1, 2, 3]
    (entry,) = read_configs(config_file)
    assert entry.policy.kind == "latest"


def test_lineage_says_an_unchanged_push_adopted_another_runs_version(tmp_path, capsys) -> None:
    """The version's marker names run-1's model; run-2 pushed another model fingerprint and
    recorded version 1 as unchanged: lineage says so instead of warning that the files are not
    what the record says."""
    serving = tmp_path / "serving"
    store = MetadataStore(f"sqlite:///{tmp_path}/metadata.sqlite")
    destination = f"{serving}/sentiment/1"
    for run_id, unchanged in (("run-1", False), ("run-2", True)):
        store.start_run(run_id, "reviews")
        # Each run trained (re-exported) the model under its own fingerprint.
        train = store.start_execution(run_id, "train", "train", f"train-{run_id}", {})
        model = {
            "model": store.record_output(
                train,
                "model",
                uri=f"/root/model/{run_id}",
                type_name="Model",
                fingerprint=f"model-{run_id}",
                node_id="train",
                properties={},
                created_at=time.time(),
            )  # fmt: skip
        }
        store.finish_execution(train, "COMPLETE")
        pushed = {"pushed": True, "version": 1, "destination": destination,
                  "adopted": unchanged, "unchanged": unchanged}  # fmt: skip
        record_execution(
            store, run_id, "push", {"model": model["model"]},
            {"pushed_model": ("PushedModel", f"/root/push/{run_id}", pushed)},
        )  # fmt: skip
        store.finish_run(run_id, "SUCCEEDED")
    version = serving / "sentiment" / "1"
    (version / "assets.extra").mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"graph")
    marker = {"model_fingerprint": "model-run-1",
              "model_uri": "/root/model/run-1", "run_id": "run-1"}  # fmt: skip
    (version / PushedModel.MARKER_FILE).write_text(json.dumps(marker))
    assert main(["lineage", "sentiment", "1", "--metadata-url", store.url]) == 0
    text = capsys.readouterr().out
    assert "WARNING" not in text
    assert "unchanged: the model pushed" in text
    assert "the model pushed (model-run-2) is the same program and weights" in text
    assert "published by run run-1 (its push is recorded too) from model model-run-1" in text
    assert "no new version was published" in text
    store.close()


def test_a_newest_version_that_cannot_be_read_is_not_compared_and_a_new_version_is_published(
    tmp_path: Path, exports: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """Comparing only saves a duplicate version: a file of the newest version removed by hand
    midway (here a dangling link where a file was) made the comparison raise and the push
    fail."""
    config = _config(tmp_path)
    _push(tmp_path, exports["a"], "fp-1", config)
    version_dir = tmp_path / "serving" / "sentiment" / "1"
    (version_dir / "extra.txt").symlink_to(tmp_path / "gone")
    again = _push(tmp_path, exports["b"], "fp-2", config)
    assert again.pushed and again.version == 2 and not again.properties["adopted"]
    assert _versions(tmp_path) == [1, 2]
    assert "could not compare the model with the newest version" in caplog.text
