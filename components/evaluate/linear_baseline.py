"""The linear baseline: TF-IDF-weighted hashed word n-grams -> softmax regression (Keras 3),
trained inside evaluate on the split the candidate was trained on and scored beside it.

It is the classic strong text anchor (TF-IDF + logistic regression) rebuilt from TensorFlow
and Keras parts, so no scikit-learn is needed at run time:

- tokens: the text lower-cased (UTF-8 aware), every run of characters that are not letters,
  digits or "_" replaced by a space, split on whitespace;
- n-grams: every 1..ngrams-gram of the tokens (tf.strings.ngrams), hashed into `buckets`
  buckets with FarmHash (tf.strings.to_hash_bucket_fast: stable across runs and machines,
  so no vocabulary pass is needed);
- weights: sublinear term frequency 1 + log(count) times the smoothed inverse document
  frequency log((1 + n) / (1 + df)) + 1 of the bucket on the training split; buckets seen in
  fewer than `min_df` training documents weigh 0 (dropped); each document's vector is
  L2-normalised (scikit-learn's TfidfVectorizer(sublinear_tf=True) defaults);
- model: one Dense layer (logits [k]) over the sparse [n, buckets] matrix, zero-initialised,
  softmax cross-entropy with an L2 penalty, Adam, mini-batches shuffled with `seed`. With
  zero initial weights and a seeded shuffle, the same data and settings give the same weights;
- how long: at least `epochs` passes and at least `min_steps` Adam steps (at most
  `max_epochs` passes), because a fixed number of passes is a few dozen steps on a small
  split (intent: 6 batches a pass) and leaves the model far from the optimum; when a held-out
  validation split is given, training stops once its loss has not improved for
  `patience_steps` steps and keeps the best pass's weights (so a large split stops as soon
  as it has converged, and a small one is not overfit by the long budget).

Shapes: texts str [n]; LinearFeatures holds a sparse [n, buckets] matrix as sorted COO arrays;
probabilities float32 [n, k]. Imported only while evaluate executes (TensorFlow, Keras).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from seqline.components.evaluate.config import LinearBaselineConfig
from seqline.components.evaluate.splits import label_ids_for
from seqline.pipeline.errors import DataError
from seqline.schemas.text import LABEL_KEY, TEXT_KEY

READ_BATCH = 2048


@dataclass(frozen=True)
class LinearFeatures:
    """A sparse TF-IDF matrix [n, buckets] as COO arrays sorted by (row, column).

    Attributes:
        rows, cols: int64 [nnz]; values: float32 [nnz]; n: number of documents (rows).
    """

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    n: int


# FarmHash fingerprints of words lie in [0, 2**62); n-gram ids fold them with uint64
# arithmetic (wrapping), then a 64-bit finaliser (splitmix64's) spreads them over the buckets.
_WORD_SPACE = 2**62
_FOLD = np.uint64(0x9E3779B97F4A7C15)


def _mix(keys: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser over uint64 [m]: nearby keys land in unrelated buckets."""
    keys = keys ^ (keys >> np.uint64(30))
    keys = keys * np.uint64(0xBF58476D1CE4E5B9)
    keys = keys ^ (keys >> np.uint64(27))
    keys = keys * np.uint64(0x94D049BB133111EB)
    return keys ^ (keys >> np.uint64(31))


def ngram_buckets(texts: Any, ngrams: int, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """(row index int64 [m], bucket int64 [m]): one entry per n-gram occurrence of each text.

    Words are tokenised and fingerprinted by TensorFlow ops (tf.strings.lower, regex_replace,
    split, to_hash_bucket_fast); the n-gram of words i..i+j-1 (same text only) is the fold
    h_i * F + h_{i+1} ... of their fingerprints, so no n-gram string is ever built.

    Args:
        texts: tf.string [b] (or anything tf.constant accepts).
        ngrams: largest n-gram width (1 = words only, 2 = words and word pairs).
        buckets: number of hash buckets.
    """
    lowered = tf.strings.lower(tf.convert_to_tensor(texts, dtype=tf.string), encoding="utf-8")
    cleaned = tf.strings.regex_replace(lowered, r"[^\pL\pN_]+", " ")
    tokens = tf.strings.split(cleaned)  # ragged [b, (words)]
    words = tf.strings.to_hash_bucket_fast(tokens.flat_values, _WORD_SPACE).numpy()
    word_rows = tokens.value_rowids().numpy().astype(np.int64)
    words = words.astype(np.uint64)
    rows, keys = [word_rows], [_mix(words)]
    folded = words
    with np.errstate(over="ignore"):
        for width in range(2, ngrams + 1):
            shift = width - 1
            if len(words) <= shift:
                break
            folded = folded[:-1] * _FOLD + words[shift:]
            same_text = word_rows[:-shift] == word_rows[shift:]
            rows.append(word_rows[:-shift][same_text])
            keys.append(_mix(folded[same_text]))
    bucket_ids = (np.concatenate(keys) % np.uint64(buckets)).astype(np.int64)
    return np.concatenate(rows), bucket_ids


def term_counts(
    rows: np.ndarray, buckets_of: np.ndarray, buckets: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, counts) of the distinct (row, bucket) pairs, sorted by row then bucket."""
    keys, counts = np.unique(rows * buckets + buckets_of, return_counts=True)
    return keys // buckets, keys % buckets, counts


def idf_weights(document_frequency: np.ndarray, documents: int, min_df: int) -> np.ndarray:
    """float32 [buckets]: log((1 + n) / (1 + df)) + 1, and 0 where df < min_df."""
    df = document_frequency.astype(np.float64)
    idf = np.log((1.0 + documents) / (1.0 + df)) + 1.0
    idf[df < min_df] = 0.0
    return idf.astype(np.float32)


def tfidf(
    rows: np.ndarray, cols: np.ndarray, counts: np.ndarray, idf: np.ndarray, n: int
) -> LinearFeatures:
    """Sublinear TF times IDF, rows L2-normalised; zero-weight entries are dropped."""
    values = (1.0 + np.log(counts.astype(np.float64))) * idf[cols]
    keep = values > 0
    rows, cols, values = rows[keep], cols[keep], values[keep]
    norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=n))
    values = values / norms[rows]
    return LinearFeatures(rows, cols, values.astype(np.float32), n)


def _text_label_batches(files: Sequence[str]) -> Any:
    """(text tf.string [b], label tf.string [b]) batches of raw tf.Examples, in file order."""
    spec = {
        TEXT_KEY: tf.io.FixedLenFeature([], tf.string, default_value=b""),
        LABEL_KEY: tf.io.FixedLenFeature([], tf.string, default_value=b""),
    }
    dataset = tf.data.TFRecordDataset(list(files), compression_type="GZIP").batch(READ_BATCH)
    return dataset.map(
        lambda serialized: tuple(tf.io.parse_example(serialized, spec)[k] for k in spec),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    ).prefetch(2)


def _counts_of_texts(
    batches: Any, ngrams: int, buckets: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Term counts (rows, cols, counts) over all text batches, and the number of texts."""
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    offset = 0
    for texts in batches:
        row_ids, bucket_ids = ngram_buckets(texts, ngrams, buckets)
        rows, cols, counts = term_counts(row_ids, bucket_ids, buckets)
        parts.append((rows + offset, cols, counts))
        offset += int(texts.shape[0])
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, 0
    return (*(np.concatenate([p[i] for p in parts]) for i in range(3)), offset)  # type: ignore[return-value]


def softmax_probabilities(
    features: LinearFeatures, kernel: np.ndarray, bias: np.ndarray
) -> np.ndarray:
    """float32 [n, k]: softmax of X @ kernel + bias (a document with no known n-gram gets the
    bias alone, i.e. the training prior the model learned)."""
    logits = np.tile(bias.astype(np.float64), (features.n, 1))
    values = features.values.astype(np.float64)
    for k in range(logits.shape[1]):  # bincount sums per row far faster than np.add.at
        weights = values * kernel[features.cols, k]
        logits[:, k] += np.bincount(features.rows, weights=weights, minlength=features.n)
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def log_loss(probabilities: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of probabilities [n, k] at the true class ids y [n]."""
    picked = probabilities[np.arange(len(y)), y].astype(np.float64)
    return float(-np.mean(np.log(np.maximum(picked, 1e-12))))


@dataclass(frozen=True)
class FitReport:
    """How a fit went: passes run, the pass whose weights were kept (1-based), Adam steps run,
    and the validation loss of the kept weights (None without a validation split)."""

    epochs: int
    best_epoch: int
    steps: int
    validation_loss: float | None


def training_epochs(n: int, config: LinearBaselineConfig) -> tuple[int, int, int]:
    """(passes budgeted, patience in passes, passes between validations) for n training
    examples: at least config.epochs passes and config.min_steps steps, at most
    config.max_epochs passes; patience_steps rounded up to whole passes; the validation loss
    is measured about 10 times per patience (every pass on large data), because each
    measurement that improves copies the [buckets, k] table, which costs more than a pass of a
    few batches."""
    steps_per_epoch = max(1, -(-n // config.batch_size))
    budget = max(config.epochs, -(-config.min_steps // steps_per_epoch))
    patience = max(1, -(-config.patience_steps // steps_per_epoch))
    every = max(1, patience // 10)
    return min(config.max_epochs, budget), patience, every


def fit_softmax_regression(
    x: LinearFeatures,
    y: np.ndarray,
    classes: int,
    config: LinearBaselineConfig,
    validation: tuple[LinearFeatures, np.ndarray] | None = None,
    passes: int | None = None,
) -> tuple[np.ndarray, np.ndarray, FitReport]:
    """(kernel float32 [buckets, k], bias float32 [k], report) of a softmax regression on x.

    Mini-batch Adagrad with an L2 penalty on the rows of the kernel a batch touches ("lazy"
    updates, as sparse linear learners do): each step reads and writes only the buckets present
    in its batch, so a step costs O(non-zeros of the batch x k), not O(buckets x k). Batches
    are cut from x's row-sorted arrays in an order drawn from config.seed; zero initial weights
    and order-preserving ops make the result a function of data, settings and seed.

    Passes: training_epochs(x.n, config). With validation (features, class ids), its loss is
    measured every `every` passes and after the last; training stops after `patience` passes
    without a lower loss and the weights of the best measured pass are returned. With `passes`
    (no validation then): exactly that many passes, the last one's weights (a refit for the
    pass count an earlier early-stopped fit chose, on more data).
    """
    if passes is not None and (validation is not None or passes < 1):
        raise ValueError(f"passes: expected an int >= 1 without validation, got {passes}")
    c = config
    starts = np.searchsorted(x.rows, np.arange(x.n + 1))
    row_starts = starts[:-1]
    cols = tf.RaggedTensor.from_row_starts(tf.constant(x.cols), row_starts)
    values = tf.RaggedTensor.from_row_starts(tf.constant(x.values), row_starts)
    labels = tf.constant(y, dtype=tf.int64)
    k = classes
    # One row per bucket: [weights (k) | Adam's first moments (k) | second moments (k)], so a
    # step reads and writes the rows its batch touches with one gather and one scatter. A
    # row's moments change only in the steps whose batch has it ("lazy" Adam).
    state = tf.Variable(tf.zeros([c.buckets, 3 * k]))
    bias_state = tf.Variable(tf.zeros([3, k]))
    steps = tf.Variable(0.0)
    rate, beta1, beta2, epsilon = c.learning_rate, 0.9, 0.999, 1e-7

    def adam(weights: Any, gradient: Any, first: Any, second: Any) -> tuple[Any, Any, Any]:
        first = beta1 * first + (1 - beta1) * gradient
        second = beta2 * second + (1 - beta2) * gradient * gradient
        corrected = rate * tf.sqrt(1 - beta2**steps) / (1 - beta1**steps)
        return weights - corrected * first / (tf.sqrt(second) + epsilon), first, second

    # autograph=False here and below: straight-line tensor code, nothing to convert.
    @tf.function(reduce_retracing=True, autograph=False)
    def step(rows: tf.Tensor) -> None:
        batch_cols, batch_values = tf.gather(cols, rows), tf.gather(values, rows)
        used, position = tf.unique(batch_cols.flat_values)
        packed = tf.gather(state, used)  # [u, 3k]
        weights = packed[:, :k]
        with tf.GradientTape() as tape:
            tape.watch(weights)
            terms = batch_values.flat_values[:, None] * tf.gather(weights, position)
            logits = (
                tf.math.unsorted_segment_sum(terms, batch_cols.value_rowids(), tf.size(rows))
                + bias_state[0]
            )
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(tf.gather(labels, rows), logits)
            ) + c.l2 * tf.reduce_sum(weights * weights)
        grad_weights, grad_bias = tape.gradient(loss, [weights, bias_state])
        steps.assign_add(1.0)
        updated = adam(
            weights, tf.convert_to_tensor(grad_weights), packed[:, k : 2 * k], packed[:, 2 * k :]
        )
        state.scatter_update(tf.IndexedSlices(tf.concat(updated, axis=1), used))
        bias_state.assign(tf.stack(adam(bias_state[0], grad_bias[0], bias_state[1], bias_state[2])))

    order_rng = np.random.default_rng(c.seed)
    epochs, patience, every = training_epochs(x.n, c)
    if validation is None:
        epochs = passes if passes is not None else epochs
        for _epoch in range(epochs):
            order = order_rng.permutation(x.n)
            for first in range(0, x.n, c.batch_size):
                step(tf.constant(order[first : first + c.batch_size], dtype=tf.int64))
        report = FitReport(epochs, epochs, int(steps.numpy()), None)
        return state.numpy()[:, :k], bias_state.numpy()[0], report

    # The validation loss is computed in the graph from the rows its n-grams touch, and the
    # best weights are kept in a variable: copying the whole [buckets, k] table out after every
    # pass would cost more than a pass on small data.
    v = validation[0]
    v_rows = tf.constant(v.rows)
    v_cols, v_values = tf.constant(v.cols), tf.constant(v.values)
    v_labels = tf.constant(validation[1], dtype=tf.int64)
    best_kernel = tf.Variable(tf.zeros([c.buckets, k]))
    best_bias = tf.Variable(tf.zeros([k]))

    @tf.function(autograph=False)
    def validation_loss() -> tf.Tensor:
        terms = v_values[:, None] * tf.gather(state, v_cols)[:, :k]
        logits = tf.math.unsorted_segment_sum(terms, v_rows, v.n) + bias_state[0]
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(v_labels, logits))

    @tf.function(autograph=False)
    def keep_best() -> None:
        best_kernel.assign(state[:, :k])
        best_bias.assign(bias_state[0])

    best_loss, best_epoch, epoch = np.inf, 0, 0
    for epoch in range(1, epochs + 1):
        order = order_rng.permutation(x.n)
        for first in range(0, x.n, c.batch_size):
            step(tf.constant(order[first : first + c.batch_size], dtype=tf.int64))
        if epoch % every and epoch < epochs:
            continue
        loss = float(validation_loss().numpy())
        if loss < best_loss:  # strictly lower: ties keep the earlier (simpler) weights
            keep_best()
            best_loss, best_epoch = loss, epoch
        elif epoch - best_epoch >= patience:
            break
    report = FitReport(epoch, best_epoch, int(steps.numpy()), best_loss)
    return best_kernel.numpy(), best_bias.numpy(), report


@dataclass(frozen=True)
class LinearRefit:
    """How a baseline was refit after early stopping (the candidate was, train.refit): a fresh
    fit on its training split and `split` together (`examples` in all, IDF over both) for
    exactly `passes` passes, the pass count early stopping kept."""

    split: str
    passes: int
    examples: int


@dataclass(frozen=True)
class LinearBaseline:
    """A trained linear baseline.

    Attributes:
        labels: the k label names (the candidate's, in class-id order).
        config: the settings it was trained with.
        idf: float32 [buckets], the training split's IDF weights (0 = dropped bucket).
        kernel: float32 [buckets, k]; bias: float32 [k].
        trained_on: the split it was trained on; train_examples: its number of examples.
        seconds: wall time of reading, featurising and training.
        fit: passes and steps run, the pass kept and its validation loss (FitReport).
        validated_on: the split it early-stopped on, or None (the whole budget was trained).
        refit: how its weights and IDF were refit on trained_on + another split (LinearRefit),
            or None: they are the early-stopped fit's, on trained_on alone.
    """

    labels: tuple[str, ...]
    config: LinearBaselineConfig
    idf: np.ndarray
    kernel: np.ndarray
    bias: np.ndarray
    trained_on: str
    train_examples: int
    seconds: float
    fit: FitReport
    validated_on: str | None = None
    refit: LinearRefit | None = None

    def features(self, texts: Any) -> LinearFeatures:
        """The TF-IDF matrix of texts (tf.string [b] or a list of str)."""
        c = self.config
        row_ids, bucket_ids = ngram_buckets(texts, c.ngrams, c.buckets)
        n = int(tf.shape(tf.convert_to_tensor(texts, dtype=tf.string))[0])
        rows, cols, counts = term_counts(row_ids, bucket_ids, c.buckets)
        return tfidf(rows, cols, counts, self.idf, n)

    def probabilities(self, features: LinearFeatures) -> np.ndarray:
        """float32 [n, k]: softmax_probabilities with this model's kernel and bias."""
        return softmax_probabilities(features, self.kernel, self.bias)

    def serving_function(self) -> Callable[..., dict[str, Any]]:
        """A function with the serving contract (examples=serialized tf.Example [b] ->
        probabilities [b, k], class_ids [b]), so scoring.score_models scores it on the same
        batches as the candidate."""
        spec = {TEXT_KEY: tf.io.FixedLenFeature([], tf.string, default_value=b"")}

        def serve(examples: Any) -> dict[str, Any]:
            texts = tf.io.parse_example(examples, spec)[TEXT_KEY]
            probabilities = self.probabilities(self.features(texts))
            return {
                "probabilities": tf.constant(probabilities),
                "class_ids": tf.constant(np.argmax(probabilities, axis=1).astype(np.int64)),
            }

        return serve


def _read_split(
    files: Sequence[str], labels: Sequence[str], where: str
) -> tuple[list[Any], np.ndarray]:
    """(text batches tf.string [b], class ids int [n]) of one split's raw examples."""
    texts_and_labels = list(_text_label_batches(files))
    label_strings = (
        np.concatenate([batch[1].numpy() for batch in texts_and_labels])
        if texts_and_labels
        else np.zeros(0, dtype=object)
    )
    if len(label_strings) == 0:
        return [], np.zeros(0, dtype=np.int64)
    return [batch[0] for batch in texts_and_labels], label_ids_for(
        label_strings, labels, where=where
    )


def train_linear_baseline(
    files: Sequence[str],
    labels: Sequence[str],
    config: LinearBaselineConfig,
    split: str,
    progress: Callable[[str], None] | None = None,
    validation: tuple[str, Sequence[str]] | None = None,
    refit: tuple[str, Sequence[str]] | None = None,
) -> LinearBaseline:
    """Reads the raw examples of one split, fits the IDF weights and the softmax regression.

    Args:
        files: the split's gzip TFRecord files of raw tf.Example ("text", "label").
        labels: the candidate's label names; every example's label must be one of them.
        config: featurisation and training settings (config.LinearBaselineConfig).
        split: the split's name, recorded as `trained_on`.
        validation: (split name, its files): a held-out split to early-stop on (its features
            use the training split's IDF); None or an empty split: the whole step budget is
            trained.
        refit: (split name, its files): after that fit, a fresh one on `files` + these
            together (IDF over both, same settings and seed) for exactly the passes it kept
            (its best_epoch), with no validation; that one is returned (its `refit` says so).

    Raises:
        DataError: an empty split, or labels outside `labels` (named, with counts).
    """
    start = time.perf_counter()
    c = config
    text_batches, y = _read_split(files, labels, f"linear baseline's '{split}' split")
    if len(y) == 0:
        raise DataError(
            f"linear baseline: expected training examples in the '{split}' split, got none "
            f"({len(files)} file(s)); check the ingest split ratios, or drop 'linear' from "
            "evaluate.beat_baseline and evaluate.linear_baseline"
        )
    rows, cols, counts, n = _counts_of_texts(text_batches, c.ngrams, c.buckets)
    idf = idf_weights(np.bincount(cols, minlength=c.buckets), n, c.min_df)
    x = tfidf(rows, cols, counts, idf, n)
    held_out, validated_on = None, None
    if validation is not None:
        name, validation_files = validation
        batches, y_validation = _read_split(
            validation_files, labels, f"linear baseline's validation split '{name}'"
        )
        if len(y_validation) > 0:
            v_rows, v_cols, v_counts, v_n = _counts_of_texts(batches, c.ngrams, c.buckets)
            held_out = (tfidf(v_rows, v_cols, v_counts, idf, v_n), y_validation)
            validated_on = name
    epochs, _, _ = training_epochs(n, c)
    if progress is not None:
        stopping = f"early stopping on '{validated_on}'" if validated_on else "no validation split"
        progress(
            f"linear baseline: {n} '{split}' examples, {int((idf > 0).sum())} n-gram buckets "
            f"in use, {len(x.values)} non-zeros; training up to {epochs} epoch(s), {stopping}"
        )
    kernel, bias, report = fit_softmax_regression(x, y, len(labels), c, held_out)
    if progress is not None:
        progress(
            f"linear baseline: {report.epochs} epoch(s), {report.steps} steps; kept epoch "
            f"{report.best_epoch} (validation loss {report.validation_loss})"
        )
    refitted = None
    if refit is not None:
        idf, kernel, bias, refitted = _refit(text_batches, y, labels, c, report, refit, progress)
    return LinearBaseline(
        labels=tuple(labels),
        config=c,
        idf=idf,
        kernel=kernel,
        bias=bias,
        trained_on=split,
        train_examples=n,
        seconds=time.perf_counter() - start,
        fit=report,
        validated_on=validated_on,
        refit=refitted,
    )


def _refit(
    text_batches: list[Any],
    y: np.ndarray,
    labels: Sequence[str],
    config: LinearBaselineConfig,
    first: FitReport,
    refit: tuple[str, Sequence[str]],
    progress: Callable[[str], None] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, LinearRefit]:
    """(idf, kernel, bias, LinearRefit) of a fresh fit on the training batches (class ids y)
    and the refit split's examples together, for exactly first.best_epoch passes (at least 1)."""
    c = config
    name, files = refit
    batches, y_refit = _read_split(files, labels, f"linear baseline's refit split '{name}'")
    rows, cols, counts, n = _counts_of_texts([*text_batches, *batches], c.ngrams, c.buckets)
    idf = idf_weights(np.bincount(cols, minlength=c.buckets), n, c.min_df)
    passes = max(1, first.best_epoch)
    if progress is not None:
        progress(
            f"linear baseline: refit on {n} examples (+ '{name}') for {passes} epoch(s), the "
            "epochs early stopping kept"
        )
    x = tfidf(rows, cols, counts, idf, n)
    y_all = np.concatenate([y, y_refit])
    kernel, bias, _ = fit_softmax_regression(x, y_all, len(labels), c, passes=passes)
    return idf, kernel, bias, LinearRefit(name, passes, n)
