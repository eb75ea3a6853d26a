"""The linear baseline inside evaluate_text: it learns, it is trained on the training split
only, it blocks a candidate that does not beat it when beat_baseline names it, and everything
that changes it is in the node's fingerprint."""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from seqline.components.evaluate.config import EvaluateTextConfig, LinearBaselineConfig
from seqline.components.evaluate.evaluation import LinearBaselineInfo
from seqline.components.evaluate.linear_baseline import (
    FitReport,
    LinearRefit,
    fit_softmax_regression,
    idf_weights,
    log_loss,
    ngram_buckets,
    softmax_probabilities,
    term_counts,
    tfidf,
    train_linear_baseline,
    training_epochs,
)
from seqline.components.evaluate.report import _linear_trained_on
from seqline.components.evaluate.text_component import (
    COMPONENT,
    linear_refit_split,
    linear_training_split,
    linear_validation_split,
)
from seqline.pipeline.artifact import Artifact, ArtifactType, new_artifact
from seqline.pipeline.errors import DataError
from seqline.pipeline.fingerprint import module_closure, node_fingerprint
from tests.components.context import make_context
from tests.components.evaluate.keyword_model import (
    BINARY_KEYWORDS,
    BINARY_LABELS,
    make_corpus,
    write_examples,
)

# Small and fast, but enough steps for a linear model to fit a few dozen words.
FAST = LinearBaselineConfig(
    epochs=8,
    batch_size=32,
    learning_rate=0.05,
    min_df=1,
    seed=3,
    min_steps=0,
    validation_split=None,
)


def _with_cue(rows: list[tuple[str, str]], cues: dict[str, str], seed: int) -> list:
    """Rows with a cue word for their label appended 90% of the time: a signal the keyword
    model (which only counts bad/good) ignores and a linear model can learn."""
    rng = random.Random(seed)
    return [
        (f"{text} {cues[label]}" if rng.random() < 0.9 else text, label) for text, label in rows
    ]


CUES = {"neg": "awful", "pos": "great"}
FLIPPED = {"neg": "great", "pos": "awful"}


@pytest.fixture(scope="module")
def splits() -> dict[str, list[tuple[str, str]]]:
    corpus = {
        "train": make_corpus(240, BINARY_LABELS, BINARY_KEYWORDS, [0.5, 0.5], seed=21),
        "eval": make_corpus(60, BINARY_LABELS, BINARY_KEYWORDS, [0.5, 0.5], seed=22),
        "test": make_corpus(200, BINARY_LABELS, BINARY_KEYWORDS, [0.5, 0.5], seed=23),
    }
    return {name: _with_cue(rows, CUES, seed=i) for i, (name, rows) in enumerate(corpus.items())}


def _majority_accuracy(train: list, test: list) -> float:
    majority = Counter(label for _, label in train).most_common(1)[0][0]
    return sum(label == majority for _, label in test) / len(test)


def _accuracy(model, rows: list[tuple[str, str]]) -> float:
    probabilities = model.probabilities(model.features([text for text, _ in rows]))
    predicted = np.array(BINARY_LABELS)[np.argmax(probabilities, axis=1)]
    return float(np.mean(predicted == np.array([label for _, label in rows])))


def _typed(artifact: Artifact):  # noqa: ANN202 — the typed class of its type_name
    return new_artifact(
        artifact.type_name,
        artifact.uri,
        artifact.fingerprint,
        artifact.producer,
        artifact.properties,
    )


def _files(examples: Artifact, split: str) -> list[str]:
    return _typed(examples).split_files(split)


def test_ngrams_stay_inside_one_text_and_repeat_exactly() -> None:
    rows, buckets = ngram_buckets(["Good film", "film good!", "x"], ngrams=2, buckets=1 << 20)
    # 2 words + 1 pair, 2 words + 1 pair, 1 word: no pair across texts 1 and 2.
    assert Counter(rows.tolist()) == {0: 3, 1: 3, 2: 1}
    words = {b for r, b in zip(rows, buckets, strict=True) if r == 0}
    # Case and punctuation do not matter; word order does for the pair.
    assert set(buckets[rows == 1].tolist()) & words == set(buckets[:2].tolist())
    again = ngram_buckets(["Good film", "film good!", "x"], ngrams=2, buckets=1 << 20)
    assert np.array_equal(buckets, again[1])


def test_linear_baseline_learns_and_beats_the_majority_class(tmp_path: Path, splits: dict) -> None:
    examples = write_examples(str(tmp_path / "examples"), splits)
    model = train_linear_baseline(_files(examples, "train"), BINARY_LABELS, FAST, "train")
    accuracy = _accuracy(model, splits["test"])
    assert model.train_examples == len(splits["train"])
    assert accuracy > 0.85  # the cue words alone give ~0.9
    assert accuracy > _majority_accuracy(splits["train"], splits["test"]) + 0.25


def test_same_data_settings_and_seed_give_the_same_weights(tmp_path: Path, splits: dict) -> None:
    examples = write_examples(str(tmp_path / "examples"), splits)
    files = _files(examples, "train")
    first = train_linear_baseline(files, BINARY_LABELS, FAST, "train")
    second = train_linear_baseline(files, BINARY_LABELS, FAST, "train")
    assert np.array_equal(first.kernel, second.kernel) and np.array_equal(first.bias, second.bias)
    other = train_linear_baseline(files, BINARY_LABELS, dataclasses.replace(FAST, seed=4), "train")
    assert not np.array_equal(first.kernel, other.kernel)


def _model_artifact(binary_model: Artifact, train_split: str | None) -> Artifact:
    properties = dict(binary_model.properties)
    if train_split:
        properties["train_split"] = train_split
    return dataclasses.replace(binary_model, properties=properties)


def _run(tmp_path: Path, examples: Artifact, model: Artifact, config: EvaluateTextConfig) -> tuple:
    out = tmp_path / "blessing"
    out.mkdir(parents=True)
    blessing = Artifact(type_name=ArtifactType.BLESSING, uri=str(out), fingerprint="b1")
    ctx = make_context(
        config=config,
        inputs={"examples": examples, "model": model},
        outputs={"blessing": blessing},
    )
    summary = COMPONENT.executor(ctx)
    metrics = json.loads((out / "metrics.json").read_text())
    return summary, blessing, metrics


def test_candidate_worse_than_the_linear_baseline_is_not_blessed_when_named(
    tmp_path: Path, binary_model: Artifact, splits: dict
) -> None:
    examples = write_examples(str(tmp_path / "examples"), splits)
    model = _model_artifact(binary_model, "train")
    majority_only = EvaluateTextConfig(beat_baseline=("accuracy",), linear_baseline=FAST)
    summary, blessing, metrics = _run(tmp_path / "a", examples, model, majority_only)
    # The keyword model beats the majority class but not the linear baseline, which is shown.
    assert summary["blessed"] is True
    assert metrics["linear_baseline"]["metrics"]["accuracy"] > metrics["model"]["accuracy"]
    assert summary["linear_accuracy"] == pytest.approx(
        metrics["linear_baseline"]["metrics"]["accuracy"], abs=1e-4
    )

    both = EvaluateTextConfig(
        beat_baseline={"majority": ["accuracy"], "linear": ["accuracy"]}, linear_baseline=FAST
    )
    summary, blessing, metrics = _run(tmp_path / "b", examples, model, both)
    assert summary["blessed"] is False
    majority_line, linear_line = blessing.properties["reasons"]
    assert "majority baseline" in majority_line and majority_line.endswith("PASS")
    assert "linear baseline" in linear_line and linear_line.endswith("FAIL")
    report = (Path(blessing.uri) / "report.html").read_text()
    assert "<th>linear baseline on 'test'</th>" in report
    assert "trained on 'train'" in report


def test_linear_baseline_is_trained_on_the_training_split_only(
    tmp_path: Path, binary_model: Artifact, splits: dict
) -> None:
    # The cue words mean the opposite in train: a baseline fitted on train is confidently
    # wrong on test, one that saw test (or eval) would be right.
    flipped = dict(splits)
    flipped["train"] = _with_cue(
        [(text.rsplit(" ", 1)[0] if text.endswith(("awful", "great")) else text, label)
         for text, label in splits["train"]],
        FLIPPED,
        seed=0,
    )  # fmt: skip
    examples = write_examples(str(tmp_path / "examples"), flipped)
    model = _model_artifact(binary_model, "train")
    config = EvaluateTextConfig(beat_baseline={"linear": ["accuracy"]}, linear_baseline=FAST)
    _, _, metrics = _run(tmp_path, examples, model, config)
    linear = metrics["linear_baseline"]
    assert linear["trained_on"] == "train"
    assert linear["train_examples"] == len(splits["train"])  # not eval's 60, not test's 200
    assert metrics["eval_split"] == "test"
    assert linear["metrics"]["accuracy"] < 0.5
    assert metrics["slices"]["overall"]["linear_baseline"] == linear["metrics"]


def test_training_split_follows_the_model_and_never_the_eval_split(
    tmp_path: Path, binary_model: Artifact
) -> None:
    examples = _typed(
        write_examples(str(tmp_path / "examples"), {"train": [("good", "pos")], "own": [], "test": [("bad", "neg")]})  # noqa: E501
    )  # fmt: skip
    config = EvaluateTextConfig(beat_baseline={"linear": ["accuracy"]})
    own = _typed(_model_artifact(binary_model, "own"))
    assert linear_training_split(config, examples, own) == "own"
    legacy = _typed(_model_artifact(binary_model, None))
    assert linear_training_split(config, examples, legacy) == "train"  # baseline_split
    on_test = _typed(_model_artifact(binary_model, "test"))
    with pytest.raises(DataError, match="other than eval_split 'test'"):
        linear_training_split(config, examples, on_test)
    missing = _typed(_model_artifact(binary_model, "fit"))
    with pytest.raises(DataError, match=r"split 'fit'.*got splits"):
        linear_training_split(config, examples, missing)


def test_linear_settings_data_and_code_are_in_the_fingerprint() -> None:
    config = EvaluateTextConfig(beat_baseline={"linear": ["accuracy"]})
    inputs = {"examples": "e1", "model": "m1"}
    base = node_fingerprint(COMPONENT, config, inputs)
    assert node_fingerprint(COMPONENT, config, inputs) == base
    reseeded = dataclasses.replace(config, linear_baseline=LinearBaselineConfig(seed=1))
    assert node_fingerprint(COMPONENT, reseeded, inputs) != base
    # New training data is a new Examples fingerprint.
    assert node_fingerprint(COMPONENT, config, {**inputs, "examples": "e2"}) != base
    closure = module_closure(["seqline.components.evaluate.text_component"])
    assert "seqline.components.evaluate.linear_baseline" in closure


def _topic_corpus(seed: int, per_class: int, classes: int = 20) -> tuple[list[str], np.ndarray]:
    """Short multi-class texts, separable: each has one of its class's 3 words among 8 words
    drawn from a pool shared by all classes (intent-like: many classes, few words each)."""
    rng = random.Random(seed)
    pool = [f"w{i}" for i in range(40)]
    texts, labels = [], []
    for label in range(classes):
        for _ in range(per_class):
            words = [f"c{label}x{rng.randrange(3)}", *rng.sample(pool, 8)]
            rng.shuffle(words)
            texts.append(" ".join(words))
            labels.append(label)
    return texts, np.array(labels)


def _tfidf_of(texts: list[str], config: LinearBaselineConfig, idf: np.ndarray | None = None):  # noqa: ANN202
    rows, buckets = ngram_buckets(texts, config.ngrams, config.buckets)
    rows, cols, counts = term_counts(rows, buckets, config.buckets)
    if idf is None:
        idf = idf_weights(np.bincount(cols, minlength=config.buckets), len(texts), config.min_df)
    return tfidf(rows, cols, counts, idf, len(texts)), idf


SMALL = LinearBaselineConfig(buckets=2**14, patience_steps=60)


def test_a_small_multi_class_set_is_trained_to_convergence() -> None:
    # 240 texts are one batch a pass: a fixed 5 passes are 5 Adam steps. The step budget
    # trains it until it separates the training set, as scikit-learn's LR does.
    texts, y = _topic_corpus(seed=1, per_class=12)
    x, _ = _tfidf_of(texts, SMALL)
    kernel, bias, report = fit_softmax_regression(x, y, 20, SMALL)
    # Without a validation split the whole budget runs: at least min_steps steps (capped by
    # max_epochs passes), far more than the 5 passes the old fixed schedule took.
    budget, _, _ = training_epochs(x.n, SMALL)
    steps_per_pass = -(-x.n // SMALL.batch_size)
    assert report.epochs == budget > SMALL.epochs
    assert (
        report.steps
        == budget * steps_per_pass
        >= min(SMALL.min_steps, SMALL.max_epochs * steps_per_pass)
    )
    accuracy = np.mean(np.argmax(softmax_probabilities(x, kernel, bias), axis=1) == y)
    assert accuracy == 1.0


def test_early_stopping_keeps_the_best_validation_weights_deterministically() -> None:
    texts, y = _topic_corpus(seed=1, per_class=12)
    x, idf = _tfidf_of(texts, SMALL)
    # Held-out texts whose labels are shuffled: fitting train only makes their loss worse.
    held_texts, held_y = _topic_corpus(seed=2, per_class=3)
    held = (_tfidf_of(held_texts, SMALL, idf)[0], np.random.default_rng(0).permutation(held_y))
    kernel, bias, report = fit_softmax_regression(x, y, 20, SMALL, held)
    budget, patience, _ = training_epochs(x.n, SMALL)
    assert report.epochs < budget  # stopped early
    assert report.epochs - report.best_epoch >= patience
    kept = log_loss(softmax_probabilities(held[0], kernel, bias), held[1])
    assert kept == pytest.approx(report.validation_loss, rel=1e-4)  # the best weights, returned
    again = fit_softmax_regression(x, y, 20, SMALL, held)
    assert np.array_equal(kernel, again[0]) and np.array_equal(bias, again[1])
    assert again[2] == report


def test_the_validation_split_is_never_the_training_or_the_scored_split(tmp_path: Path) -> None:
    rows = [("good", "pos"), ("bad", "neg")]
    examples = _typed(
        write_examples(str(tmp_path / "e"), {"train": rows, "eval": rows, "test": rows})
    )
    linear = EvaluateTextConfig(beat_baseline={"linear": ["accuracy"]})
    assert linear_validation_split(linear, examples, "train") == "eval"
    assert linear_validation_split(linear, examples, "eval") is None
    on_eval = dataclasses.replace(linear, eval_split="eval")
    assert linear_validation_split(on_eval, examples, "train") is None
    never = dataclasses.replace(linear, linear_baseline=LinearBaselineConfig(validation_split=None))
    assert linear_validation_split(never, examples, "train") is None
    other = dataclasses.replace(
        linear, linear_baseline=LinearBaselineConfig(validation_split="dev")
    )
    assert linear_validation_split(other, examples, "train") is None  # the Examples lack it


# -- refit (the candidate was refit on train + its early-stopping split: train.refit) ----------


def test_a_fixed_pass_fit_runs_exactly_those_passes_deterministically() -> None:
    texts, y = _topic_corpus(seed=1, per_class=12)
    x, _ = _tfidf_of(texts, SMALL)
    kernel, bias, report = fit_softmax_regression(x, y, 20, SMALL, passes=3)
    steps_per_pass = -(-x.n // SMALL.batch_size)
    assert report == FitReport(3, 3, 3 * steps_per_pass, None)  # not the step budget
    again = fit_softmax_regression(x, y, 20, SMALL, passes=3)
    assert np.array_equal(kernel, again[0]) and np.array_equal(bias, again[1])
    longer = fit_softmax_regression(x, y, 20, SMALL, passes=4)
    assert not np.array_equal(kernel, longer[0])
    held = (x, y)
    with pytest.raises(ValueError, match="passes"):  # a fixed count has nothing to stop on
        fit_softmax_regression(x, y, 20, SMALL, held, passes=3)


def _read_rows(files: list[str]) -> tuple[list[str], list[str]]:
    """(texts, labels) of gzip TFRecord files of raw tf.Examples, in file order."""
    import tensorflow as tf  # noqa: PLC0415

    texts, labels = [], []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        features = tf.train.Example.FromString(record.numpy()).features.feature
        texts.append(features["text"].bytes_list.value[0].decode())
        labels.append(features["label"].bytes_list.value[0].decode())
    return texts, labels


STOPPING = dataclasses.replace(FAST, validation_split="eval", patience_steps=8, epochs=30)


def test_refit_fits_train_and_the_refit_split_together_for_the_kept_passes(
    tmp_path: Path, splits: dict
) -> None:
    examples = write_examples(str(tmp_path / "examples"), splits)
    train, held = _files(examples, "train"), _files(examples, "eval")
    first = train_linear_baseline(
        train, BINARY_LABELS, STOPPING, "train", validation=("eval", held)
    )
    refit = train_linear_baseline(
        train, BINARY_LABELS, STOPPING, "train", validation=("eval", held), refit=("eval", held)
    )
    assert first.refit is None and refit.fit == first.fit  # the same early stopping ...
    passes = first.fit.best_epoch
    assert refit.refit == LinearRefit("eval", passes, len(splits["train"]) + len(splits["eval"]))
    # ... then a fresh fit on train + eval: IDF over both, exactly `passes` passes, same seed.
    texts, labels = _read_rows(train + held)
    x, idf = _tfidf_of(texts, STOPPING)
    assert np.array_equal(refit.idf, idf) and not np.array_equal(refit.idf, first.idf)
    y = np.array([BINARY_LABELS.index(label) for label in labels])
    kernel, bias, _ = fit_softmax_regression(x, y, 2, STOPPING, passes=passes)
    assert np.array_equal(refit.kernel, kernel) and np.array_equal(refit.bias, bias)
    assert refit.train_examples == len(splits["train"]) and refit.trained_on == "train"


def test_evaluate_refits_the_linear_baseline_like_the_candidate_and_says_so(
    tmp_path: Path, binary_model: Artifact, splits: dict
) -> None:
    examples = write_examples(str(tmp_path / "examples"), splits)
    model = _model_artifact(binary_model, "train")
    model.properties["refit"] = {"split": "eval", "epochs": 5, "examples": 300}
    config = EvaluateTextConfig(beat_baseline={"linear": ["accuracy"]}, linear_baseline=STOPPING)
    summary, blessing, metrics = _run(tmp_path, examples, model, config)
    linear = metrics["linear_baseline"]
    passes = linear["best_epoch"]
    assert linear["refit"] == {"split": "eval", "passes": passes, "examples": 300}
    note = (
        f"trained on 'train' + 'eval' (300 examples; refit for {passes} passes after early "
        "stopping on 'eval')"
    )
    assert linear["trained_on_note"] == f"{note}, the candidate's training data; scored on 'test'"
    assert note in (Path(blessing.uri) / "report.html").read_text()
    # The baseline scored is the refit one.
    direct = train_linear_baseline(
        _files(examples, "train"),
        BINARY_LABELS,
        STOPPING,
        "train",
        validation=("eval", _files(examples, "eval")),
        refit=("eval", _files(examples, "eval")),
    )
    assert linear["metrics"]["accuracy"] == pytest.approx(_accuracy(direct, splits["test"]))


def test_the_linear_note_names_the_split_and_a_refit() -> None:
    plain = LinearBaselineInfo("train", 240, 1.0, FAST, validated_on="eval", epochs=9)
    assert plain.trained_on_note() == "trained on the 'train' split (240 examples)"
    assert _linear_trained_on(plain) == "trained on 'train' (240 examples, 1.0 s)"
    refit = dataclasses.replace(plain, refit=LinearRefit("eval", 8, 300))
    assert refit.trained_on_note() == (
        "trained on 'train' + 'eval' (300 examples; refit for 8 passes after early stopping "
        "on 'eval')"
    )
    assert _linear_trained_on(refit) == f"{refit.trained_on_note()}, 1.0 s"
    budget = dataclasses.replace(refit, validated_on=None)
    assert budget.trained_on_note().endswith(
        "refit for 8 passes (its first fit's whole budget: no validation split))"
    )


def test_a_refit_split_the_blessing_is_scored_on_or_absent_is_refused(
    tmp_path: Path, binary_model: Artifact
) -> None:
    rows = [("good", "pos"), ("bad", "neg")]
    examples = _typed(
        write_examples(str(tmp_path / "e"), {"train": rows, "eval": rows, "test": rows})
    )
    config = EvaluateTextConfig(beat_baseline={"linear": ["accuracy"]})

    def refit_on(split: str | None) -> Artifact:
        model = _model_artifact(binary_model, "train")
        if split:
            model.properties["refit"] = {"split": split, "epochs": 3, "examples": 4}
        return _typed(model)

    assert linear_refit_split(config, examples, refit_on(None)) is None
    assert linear_refit_split(config, examples, refit_on("eval")) == "eval"
    with pytest.raises(DataError) as raised:
        linear_refit_split(config, examples, refit_on("test"))
    assert "refit split (Model.refit, train.refit) to differ from eval_split 'test'" in str(
        raised.value
    )
    assert "got 'test'" in str(raised.value) and "Fix: set evaluate.eval_split" in str(raised.value)
    with pytest.raises(
        DataError, match=r"refit split 'dev' .*got splits \['train', 'eval', 'test'\]"
    ):
        linear_refit_split(config, examples, refit_on("dev"))
