"""evaluate against the last blessed model (from a real metadata store), change thresholds,
slices, the HTML report, and what push does with the outcome."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from seqline.components.evaluate.config import EvaluateTextConfig
from seqline.components.evaluate.text_component import COMPONENT
from seqline.components.push.component import COMPONENT as PUSH
from seqline.components.push.component import PushConfig
from seqline.pipeline.artifact import Artifact, ArtifactType, write_descriptor
from seqline.pipeline.errors import ConfigError
from seqline.pipeline.metadata import MetadataStore
from seqline.pipeline.resolvers import LatestBlessedModel, ResolverQuery
from tests.components.context import make_context
from tests.components.evaluate.keyword_model import (
    BINARY_KEYWORDS,
    BINARY_LABELS,
    keyword_probabilities,
    make_corpus,
    make_model_artifact,
    write_examples,
)
from tests.components.evaluate.reference_metrics import ref_metrics
from tests.components.push.push_inputs import infra_blessing_artifact

TOL = 1e-6
PIPELINE = "reviews"
NAME = "sentiment"


def _model(root: Path, keywords: tuple[str, str], fingerprint: str) -> Artifact:
    model = make_model_artifact(str(root / fingerprint), BINARY_LABELS, keywords, fingerprint)
    write_descriptor(model, model.uri)  # published, as the runner leaves it
    return model


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Artifact]:
    """good: the right keywords; same: an identical model trained elsewhere; degraded: keywords
    swapped, i.e. the labels it learned were shuffled."""
    root = tmp_path_factory.mktemp("models")
    return {
        "good": _model(root, BINARY_KEYWORDS, "good"),
        "same": _model(root, BINARY_KEYWORDS, "same"),
        "degraded": _model(root, BINARY_KEYWORDS[::-1], "degraded"),
    }


@pytest.fixture(scope="module")
def rows() -> dict[str, list[tuple[str, str]]]:
    return {
        "train": make_corpus(100, BINARY_LABELS, BINARY_KEYWORDS, [0.5, 0.5], seed=11),
        "test": make_corpus(160, BINARY_LABELS, BINARY_KEYWORDS, [0.5, 0.5], seed=12),
    }


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory, rows) -> Artifact:
    return write_examples(str(tmp_path_factory.mktemp("examples")), rows)


def _record_blessing(
    store: MetadataStore, model: Artifact, blessed: bool, pipeline: str = PIPELINE
) -> None:
    """What a past run of evaluate leaves in the metadata store."""
    run_id = uuid.uuid4().hex
    store.start_run(run_id, pipeline)
    execution = store.start_execution(run_id, "evaluate", "evaluate", run_id[:16], {})
    store.record_output(
        execution,
        "blessing",
        uri=f"/past/{run_id}",
        type_name=ArtifactType.BLESSING,
        fingerprint=run_id[:16],
        node_id="evaluate",
        properties={
            "blessed": blessed,
            "model_name": NAME,
            "model_uri": model.uri,
            "model_fingerprint": model.fingerprint,
        },
        created_at=time.time(),
    )
    store.finish_execution(execution, "COMPLETE")
    store.finish_run(run_id, "SUCCEEDED")
    time.sleep(0.01)  # created_at orders blessings; keep them strictly increasing


def _evaluate(
    tmp_path: Path, examples: Artifact, model: Artifact, config: EvaluateTextConfig, store=None
) -> tuple[dict, Artifact]:
    out = tmp_path / f"blessing-{uuid.uuid4().hex[:6]}"
    out.mkdir()
    blessing = Artifact(type_name=ArtifactType.BLESSING, uri=str(out), fingerprint="b")
    inputs = {"examples": examples, "model": model}
    baseline = None
    if store is not None:  # what the runner resolves for `baseline_model`
        query = ResolverQuery(store, PIPELINE, str(tmp_path), "evaluate", config, inputs)
        baseline = LatestBlessedModel().resolve(query)
    ctx = make_context(
        config=config,
        inputs=inputs,
        outputs={"blessing": blessing},
        pipeline_name=PIPELINE,
        resolved={"baseline_model": baseline},
    )
    summary = dict(COMPONENT.executor(ctx))
    json.dumps(summary)
    return summary, blessing


def _reference(rows, keywords, subset=None) -> dict[str, float]:
    rows = [rows[i] for i in subset] if subset is not None else rows
    probabilities = keyword_probabilities([t for t, _ in rows], keywords)
    labels = [BINARY_LABELS.index(label) for _, label in rows]
    predicted = [int(np.argmax(p)) for p in probabilities]
    return ref_metrics(labels, probabilities.tolist(), predicted, binary=True)


@pytest.fixture
def store(tmp_path: Path) -> MetadataStore:
    store = MetadataStore(f"sqlite:///{tmp_path}/metadata.sqlite")
    yield store
    store.close()


def _config(**kwargs) -> EvaluateTextConfig:
    return EvaluateTextConfig(model_name=NAME, batch_size=64, **kwargs)


def test_first_model_is_blessed_on_value_thresholds_alone(
    tmp_path, examples, models, store
) -> None:
    config = _config(
        thresholds={"accuracy": {"lower": 0.6}}, change_thresholds={"accuracy": {"absolute": 0}}
    )
    summary, blessing = _evaluate(tmp_path, examples, models["good"], config, store)
    assert summary["blessed"] is True
    reasons = blessing.properties["reasons"]
    assert reasons[-1] == (
        "accuracy (overall) change vs baseline model: SKIPPED (no blessed baseline model yet: "
        "first run)"
    )
    metrics = json.loads((Path(blessing.uri) / "metrics.json").read_text())
    assert metrics["baseline_model"]["uri"] is None
    assert blessing.properties["model_name"] == NAME
    assert blessing.properties["model_uri"] == models["good"].uri


def test_change_thresholds_alone_are_rejected_before_the_run() -> None:
    with pytest.raises(ConfigError, match="change_thresholds alone are skipped on the first run"):
        EvaluateTextConfig(change_thresholds={"accuracy": {"absolute": 0}})


def test_degraded_candidate_is_not_blessed_against_the_last_blessed_model_and_not_pushed(
    tmp_path, examples, models, rows, store
) -> None:
    _record_blessing(store, models["good"], blessed=True)
    # Newer, but not ours or not blessed: never a baseline.
    _record_blessing(store, models["same"], blessed=False)
    _record_blessing(store, models["degraded"], blessed=True, pipeline="another-pipeline")

    config = _config(
        thresholds={"loss": {"upper": 100.0}},  # passes: only the change rule can stop it
        change_thresholds={"accuracy": {"absolute": -0.01}, "auc": {"relative": -0.05}},
    )
    summary, blessing = _evaluate(tmp_path, examples, models["degraded"], config, store)
    assert summary["blessed"] is False

    good = _reference(rows["test"], BINARY_KEYWORDS)
    degraded = _reference(rows["test"], BINARY_KEYWORDS[::-1])
    metrics = json.loads((Path(blessing.uri) / "metrics.json").read_text())
    assert metrics["baseline_model"]["uri"] == models["good"].uri
    for name, value in good.items():  # the baseline model was scored in the same pass
        assert metrics["baseline_model"]["metrics"][name] == pytest.approx(value, abs=TOL)
    for name, value in degraded.items():
        assert metrics["model"][name] == pytest.approx(value, abs=TOL)
    accuracy_line = next(r for r in blessing.properties["reasons"] if r.startswith("accuracy"))
    delta = degraded["accuracy"] - good["accuracy"]
    assert accuracy_line == (
        f"accuracy (overall) = {degraded['accuracy']:.6g}, change vs baseline model "
        f"{good['accuracy']:.6g} = {delta:+.6g}, required change >= -0.01: FAIL"
    )
    assert any(r.startswith("auc (overall)") and "relative" in r and "FAIL" in r
               for r in blessing.properties["reasons"])  # fmt: skip

    pushed = _push(tmp_path, models["degraded"], blessing)
    assert pushed.properties["pushed"] is False
    assert "change vs baseline model" in pushed.properties["reason"]
    assert not (tmp_path / "serving" / NAME).exists()


def test_better_candidate_is_blessed_and_pushed(tmp_path, examples, models, store) -> None:
    _record_blessing(store, models["degraded"], blessed=True)
    config = _config(
        thresholds={"accuracy": {"lower": 0.5}},
        change_thresholds={"accuracy": {"absolute": 0.0}, "loss": {"absolute": 0.0}},
    )
    summary, blessing = _evaluate(tmp_path, examples, models["good"], config, store)
    assert summary["blessed"] is True
    assert summary["baseline_model_accuracy"] < summary["accuracy"]
    change_lines = [r for r in blessing.properties["reasons"] if "change vs baseline" in r]
    assert len(change_lines) == 2 and all(line.endswith("PASS") for line in change_lines)

    pushed = _push(tmp_path, models["good"], blessing)
    assert pushed.properties["pushed"] is True and pushed.properties["version"] == 1
    assert (tmp_path / "serving" / NAME / "1" / "saved_model.pb").is_file()


def test_equal_models_pass_a_not_worse_than_change_threshold(
    tmp_path, examples, models, store
) -> None:
    _record_blessing(store, models["good"], blessed=True)
    config = _config(
        thresholds={"accuracy": {"lower": 0.5}},
        change_thresholds={m: {"absolute": 0.0} for m in ("accuracy", "auc", "loss", "f1")},
    )
    summary, blessing = _evaluate(tmp_path, examples, models["same"], config, store)
    assert summary["blessed"] is True
    metrics = json.loads((Path(blessing.uri) / "metrics.json").read_text())
    assert metrics["baseline_model"]["metrics"] == metrics["model"]  # same predictions
    assert sum("= +0, required change" in r for r in blessing.properties["reasons"]) == 4


def _push(tmp_path: Path, model: Artifact, blessing: Artifact) -> Artifact:
    out = tmp_path / f"pushed-{uuid.uuid4().hex[:6]}"
    out.mkdir()
    pushed = Artifact(type_name=ArtifactType.PUSHED_MODEL, uri=str(out), fingerprint="p")
    infra = infra_blessing_artifact(
        tmp_path / f"infra-{uuid.uuid4().hex[:6]}", model_fingerprint=model.fingerprint
    )
    ctx = make_context(
        config=PushConfig(serving_root=str(tmp_path / "serving"), model_name=NAME),
        inputs={"model": model, "blessing": blessing, "infra_blessing": infra},
        outputs={"pushed_model": pushed},
    )
    PUSH.executor(ctx)
    return pushed


def _sliced_examples(directory: Path, rows: list[tuple[str, str]]) -> tuple[Artifact, list[str]]:
    """Eval examples with a categorical "source" feature (web / app / rare)."""
    import tensorflow as tf

    sources = ["rare" if i < 3 else ("web" if i % 2 else "app") for i in range(len(rows))]
    (directory / "test").mkdir(parents=True)
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(
        str(directory / "test" / "data-00000-of-00001.tfrecord.gz"), options
    ) as writer:
        for (text, label), source in zip(rows, sources, strict=True):
            feature = {
                key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
                for key, value in (("text", text), ("label", label), ("source", source))
            }
            writer.write(
                tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
            )
    artifact = Artifact(
        ArtifactType.EXAMPLES,
        str(directory),
        "sliced",
        properties={"splits": ["test"], "counts": {"test": len(rows)}},
    )
    return artifact, sources


def test_slices_have_reference_metrics_their_own_thresholds_and_a_report(
    tmp_path, models, rows
) -> None:
    eval_rows = rows["test"]
    examples, sources = _sliced_examples(tmp_path / "sliced", eval_rows)
    config = _config(
        thresholds={"accuracy": {"lower": 0.5}},
        slicing={"features": ["source"], "length_buckets": [6, 9], "min_examples": 5},
        slice_thresholds={
            "source=*": {"thresholds": {"accuracy": {"lower": 0.5}}},
            "length=[9,inf)": {"thresholds": {"accuracy": {"lower": 0.999}}},
            # No eval example comes from "mobile": the rule is recorded as skipped, with why
            # (it used to vanish, so the blessing read as if that slice had been judged).
            "source=mobile": {"thresholds": {"recall": {"lower": 0.9}}},
        },
    )
    summary, blessing = _evaluate(tmp_path, examples, models["good"], config)
    assert (
        "recall (source=mobile) threshold: SKIPPED (no eval example falls in slice source=mobile"
        in "\n".join(blessing.properties["reasons"])
    )
    metrics = json.loads((Path(blessing.uri) / "metrics.json").read_text())
    slices = metrics["slices"]
    lengths = [len(text.split()) for text, _ in eval_rows]
    members = {
        "source=web": [i for i, s in enumerate(sources) if s == "web"],
        "source=app": [i for i, s in enumerate(sources) if s == "app"],
        "length=[0,6)": [i for i, n in enumerate(lengths) if n < 6],
        "length=[6,9)": [i for i, n in enumerate(lengths) if 6 <= n < 9],
        "length=[9,inf)": [i for i, n in enumerate(lengths) if n >= 9],
    }
    assert set(slices) == {"overall", "source=rare", *members}
    for key, subset in members.items():
        assert slices[key]["count"] == len(subset), key
        for name, value in _reference(eval_rows, BINARY_KEYWORDS, subset).items():
            assert slices[key]["model"][name] == pytest.approx(value, abs=TOL, nan_ok=True), key

    reasons = blessing.properties["reasons"]
    long_line = next(r for r in reasons if r.startswith("accuracy (length=[9,inf))"))
    assert ">= 0.999: FAIL" in long_line  # a slice threshold blocks the blessing
    assert summary["blessed"] is False
    assert "accuracy (source=rare) threshold: SKIPPED (slice has 3 eval examples, fewer than " \
           "min_examples 5)" in reasons  # fmt: skip
    assert any(r.startswith("accuracy (source=web) = ") and "PASS" in r for r in reasons)

    page = (Path(blessing.uri) / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 4  # confusion matrix, ROC, PR, calibration
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
    assert "http://" not in page and "https://" not in page  # opens offline, no server
    assert "length=[9,inf)" in page and "NOT BLESSED" in page


def test_the_baseline_note_gives_the_resolvers_reason_and_first_run_only_without_one() -> None:
    from seqline.components.evaluate.evaluation import FIRST_RUN_NOTE, baseline_model_info

    why = "the only blessed model is this candidate itself (evaluated again)"
    assert baseline_model_info(None, NAME, why).note == why
    assert baseline_model_info(None, NAME).note == FIRST_RUN_NOTE
