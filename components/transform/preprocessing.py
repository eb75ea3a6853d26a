"""The TFT preprocessing_fn for text classification: TextVectorization's job, in one full pass.

Raw inputs (see seqline.schemas.text): "text" tf.string [batch], and at training time "label"
tf.string [batch]. Outputs:
    tokens   int64 [batch, max_tokens]  right-padded / truncated; 0 = padding. A longer text
                                        keeps its first max_tokens tokens, or its last with
                                        truncation "keep_end"; padding stays on the right.
    ngrams   int64 [batch, max_ngrams]  only with transform.ngrams (orders > 0): ids of the
                                        text's 1..orders-grams (all its tokens, in order: "a b c"
                                        with orders 2 -> a, b, c, "a b", "b c") in a TFT
                                        vocabulary of the train split's most frequent n-grams
                                        (id = index + 1; 0 = padding); n-grams outside it are
                                        dropped; truncated like tokens, right-padded
    label_id int64 [batch]              index of the label name in the ordered label list;
                                        only when "label" is among the inputs

Token ids are laid out exactly as `keras.layers.TextVectorization(max_tokens=vocab_size)`:
    0                        padding
    1 .. k                   OOV buckets (k = num_oov_buckets; a token's bucket is
                             tf.strings.to_hash_bucket_fast(token, k), as Keras' StringLookup)
    k+1 .. vocab_size-1      the vocabulary, most frequent token first
so `vocab_size` means what TextVectorization's `max_tokens` means: all ids, padding and OOV
included; the learned vocabulary holds at most `vocab_size - 1 - k` tokens.

Standardization (`standardize`), in this order, all on the whole string:
    1. lowercase with tf.strings.lower (ASCII letters only, exactly as TextVectorization's
       default; "É" stays "É"),
    2. replace HTML tags such as `<br />` or `</p>` with a space (a tag starts with a letter or
       "/" right after "<" and contains no "<" or ">"; so "a < b > c" is left alone),
    3. delete the characters TextVectorization's "lower_and_strip_punctuation" deletes
       (PUNCTUATION_PATTERN, copied from Keras 3.15),
then split on ASCII whitespace (tf.strings.split, as TextVectorization's split="whitespace").

Ties in the vocabulary. TFT's vocabulary analyzer orders (count, token) pairs largest first
(`beam.combiners.Top.Of` when top_k is set, `sorted(reverse=True)` otherwise), so tokens with
equal counts are ordered by their UTF-8 bytes, descending ("b" before "a"), and when the top_k cut
falls inside a group of equal counts, the bytes-largest tokens of that group are kept.
Keras 3's IndexLookup.finalize_state does `np.lexsort((tokens, counts))[::-1]`: count
descending, ties by token bytes descending, then takes the first max_tokens - 1 - k. The two rules
are the same, so ids agree exactly even with ties; tests/components/transform checks both a
tie-free and a tie-heavy corpus. (TextVectorization has only one OOV id; for k > 1 the tests
compare with StringLookup(num_oov_indices=k), whose hashing is what TextVectorization would use.)
TFT additionally applies `frequency_threshold` (keep tokens seen at least that many times);
Keras has no such option, so with a threshold > 1 the ids equal those of a TextVectorization
whose max_tokens is sized to the tokens that pass the threshold (also tested). Token counts are
summed as float64 unit weights (see make_preprocessing_fn), exact up to 2**53 occurrences.

Serving (no label). `TFTransformOutput.transform_raw_features(raw, drop_unused_features=True)`
(the default in TFT 1.21, and what transform_features_layer() calls) prunes the saved graph to
the outputs computable from the inputs given: with {"text": ...} alone it returns {"tokens"} and
never touches the label table (the preprocessing_fn also skips the label branch when "label" is
not an input, e.g. for unlabelled analysis data). So the train component applies the graph to
raw text like this (tests/components/transform/test_transform_component.py runs this recipe):

    tft_output = tft.TFTransformOutput(transform_graph_uri)
    tft_layer = tft_output.transform_features_layer()   # keep a reference on the tf.Module

    # autograph=False: no Python control flow on tensors; AutoGraph converting the TFT
    # layer's Python code costs more than tracing it.
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")],
                 autograph=False)
    def predict_text(text):
        tokens = tft_layer({"text": text})["tokens"]      # int64 [batch, max_tokens]
        ...

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")],
                 autograph=False)
    def serving_default(examples):
        # Parse WITHOUT the label: raw_feature_spec(with_label=False). The raw schema stored
        # under {uri}/metadata includes "label" (required), so parsing serving requests with
        # tft_output.raw_feature_spec() would fail on examples that carry no label.
        raw = tf.io.parse_example(examples, raw_feature_spec(with_label=False))
        return predict_text(raw["text"])

The layer is a tf_keras object: hold it as an attribute of a tf.Module (never inside a Keras 3
model) and save the Module with tf.saved_model.save.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import tensorflow as tf
import tensorflow_transform as tft

from seqline.components.transform import tft_log_filter
from seqline.components.transform.text_features import (
    NGRAM_VOCAB_NAME,
    NgramConfig,
    check_nb_labels,
)
from seqline.pipeline.errors import ConfigError
from seqline.schemas.text import (
    HTML_TAG_PATTERN,
    LABEL_ID_KEY,
    LABEL_KEY,
    NGRAM_WEIGHTS_KEY,
    NGRAMS_KEY,
    PUNCTUATION_PATTERN,
    TEXT_KEY,
    TOKENS_KEY,
)

if TYPE_CHECKING:
    from seqline.components.transform.config import TransformTextConfig as TransformConfig

# TFT's two unactionable warnings (tft_log_filter.py); at import, not in text_component.run,
# so a Beam worker process that unpickles the preprocessing_fn drops them too.
tft_log_filter.install()

# PUNCTUATION_PATTERN and HTML_TAG_PATTERN live in schemas/text.py: statistics counts the
# texts with no token after standardization with the same patterns.
# Name of the token vocabulary in the TFT output: tft_output.vocabulary_by_name(VOCAB_NAME).
VOCAB_NAME = "tokens"
# Ids below the learned vocabulary: the padding id.
PADDING_ID = 0


def standardize(text: tf.Tensor, strip_html: bool = True) -> tf.Tensor:
    """Lowercases, replaces HTML tags with a space and deletes punctuation.

    Args:
        text: tf.string tensor of any shape.
        strip_html: replace tags such as "<br />" with " " (default True).

    Returns:
        tf.string tensor of the same shape.
    """
    text = tf.strings.lower(text)
    if strip_html:
        # Before punctuation: "<", "/" and ">" are punctuation, and deleting them first would
        # glue "br" to its neighbours ("good.<br />Bad" -> "goodbrbad").
        text = tf.strings.regex_replace(text, HTML_TAG_PATTERN, " ")
    return tf.strings.regex_replace(text, PUNCTUATION_PATTERN, "")


def tokenize(text: tf.Tensor, strip_html: bool = True) -> tf.RaggedTensor:
    """Standardizes and splits on whitespace.

    Args:
        text: tf.string [batch].
        strip_html: see `standardize`.

    Returns:
        tf.string RaggedTensor [batch, (tokens)]; runs of whitespace never yield empty tokens.
    """
    return tf.strings.split(standardize(text, strip_html=strip_html))


def to_keras_ids(
    tokens: tf.RaggedTensor, vocab_ids: tf.RaggedTensor, num_oov_buckets: int
) -> tf.RaggedTensor:
    """Maps vocabulary indices to TextVectorization's id layout.

    Args:
        tokens: tf.string RaggedTensor [batch, (n)], the tokens that were looked up.
        vocab_ids: int64 RaggedTensor [batch, (n)], index of each token in the vocabulary file
            (0 = most frequent) or -1 when the token is not in it.
        num_oov_buckets: k >= 1.

    Returns:
        int64 RaggedTensor [batch, (n)]: in-vocabulary -> index + 1 + k; OOV -> 1 + hash bucket.
    """
    in_vocab = vocab_ids.flat_values + 1 + num_oov_buckets
    if num_oov_buckets == 1:
        oov = tf.ones_like(vocab_ids.flat_values)
    else:
        # Same hash as Keras' IndexLookup (FarmHash64 via to_hash_bucket_fast, no salt).
        oov = 1 + tf.strings.to_hash_bucket_fast(tokens.flat_values, num_oov_buckets)
    ids = tf.where(vocab_ids.flat_values >= 0, in_vocab, oov)
    return vocab_ids.with_flat_values(ids)


def pad_or_truncate(ids: tf.RaggedTensor, max_tokens: int, keep: str = "keep_start") -> tf.Tensor:
    """Right-pads with PADDING_ID (0) or truncates each row to exactly `max_tokens` ids.

    Args:
        ids: int64 (or float) RaggedTensor [batch, (n)].
        max_tokens: output length T >= 1.
        keep: rows longer than T keep their first T ids ("keep_start", default) or their
            last T ("keep_end"). Shorter rows are right-padded either way, so masks stay
            right-padded (cuDNN's rule).

    Returns:
        Tensor [batch, T] of ids' dtype.
    """
    if keep == "keep_end":
        ids = ids[:, -max_tokens:]
    # The cast lets the same padding serve float rows (the n-gram TF-IDF weights).
    padding = tf.constant(PADDING_ID, dtype=ids.dtype)
    return ids.to_tensor(default_value=padding, shape=[None, max_tokens])


def ngrams_of(tokens: tf.RaggedTensor, orders: int) -> tf.RaggedTensor:
    """The 1..`orders`-grams of each row, unigrams first, then bigrams, ...

    Args:
        tokens: tf.string RaggedTensor [batch, (n)].
        orders: longest n-gram, >= 1.

    Returns:
        tf.string RaggedTensor [batch, (m)], n-grams joined by one space: for ["a", "b", "c"]
        and orders 2: ["a", "b", "c", "a b", "b c"].
    """
    grams = [tokens] + [tf.strings.ngrams(tokens, n, separator=" ") for n in range(2, orders + 1)]
    return tf.concat(grams, axis=1) if len(grams) > 1 else tokens


def ngram_ids(
    tokens: tf.RaggedTensor,
    config: NgramConfig,
    keep: str,
    label_ids: tf.Tensor | None = None,
) -> dict[str, tf.Tensor]:
    """The n-gram features (see the module docstring): {"ngrams": int64 [batch, max_ngrams]},
    plus "ngram_weights" float32 [batch, max_ngrams] with config.weights "tfidf" or "nb" (the
    ids are then each text's distinct n-grams: tfidf_weights, for "nb" times
    log_count_ratio). Computes the n-gram vocabulary (and the document frequencies, per class
    for "nb") with TFT analyzers on the data it is analyzed on.

    Args:
        label_ids: int64 [batch], 0 or 1, needed to analyze "nb" weights (rows of other ids
            are not counted); unused otherwise. Serving feeds no label: the analyzers are
            constants by then and the graph is pruned to what the text alone computes.
    """
    grams = ngrams_of(tokens, config.orders)
    flat = grams.flat_values
    vocabulary = tft.vocabulary(
        flat,
        weights=tf.ones_like(flat, dtype=tf.float64),  # see make_preprocessing_fn
        top_k=config.vocab_size - 1,
        frequency_threshold=config.frequency_threshold if config.frequency_threshold > 1 else None,
        vocab_filename=NGRAM_VOCAB_NAME,
    )
    ids = tft.apply_vocabulary(grams, vocabulary, default_value=-1)
    known = tf.ragged.boolean_mask(ids, ids >= 0)  # drop n-grams outside the vocabulary
    if not config.weighted:
        return {NGRAMS_KEY: pad_or_truncate(known + 1, config.max_ngrams, keep)}
    distinct, counts = distinct_per_row(known)
    size = config.vocab_size - 1
    idf = inverse_document_frequency(distinct, size)
    weights = tfidf_weights(counts, distinct.with_flat_values(tf.gather(idf, distinct.flat_values)))
    if config.weights == "nb":
        if label_ids is None:
            raise ConfigError(
                "ngrams.weights 'nb': expected a 'label' input to count n-grams per class on, "
                "got none; analyze the transform on labelled data (the Examples' train split)"
            )
        ratio = log_count_ratio(*class_document_frequency(distinct, label_ids, size))
        weights = l2_normalize_rows(
            weights * distinct.with_flat_values(tf.gather(ratio, distinct.flat_values))
        )
    return {
        NGRAMS_KEY: pad_or_truncate(distinct + 1, config.max_ngrams, keep),
        NGRAM_WEIGHTS_KEY: pad_or_truncate(weights, config.max_ngrams, keep),
    }


def distinct_per_row(ids: tf.RaggedTensor) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
    """Each row's distinct ids in order of first occurrence, and how often each occurs.

    Args:
        ids: int64 RaggedTensor [batch, (n)] of ids >= 0.

    Returns:
        (distinct int64 [batch, (u)], counts int64 [batch, (u)]): for [[5, 3, 5], [], [3]] ->
        ([[5, 3], [], [3]], [[2, 1], [], [1]]).
    """
    rows = ids.value_rowids()
    # One key per (row, id): unique_with_counts keeps first-occurrence order, and flat values
    # are row-major, so the distinct keys come out grouped by row.
    width = tf.reduce_max(tf.concat([ids.flat_values, [0]], axis=0)) + 1
    keys, _, counts = tf.unique_with_counts(rows * width + ids.flat_values, out_idx=tf.int64)
    key_rows = keys // width
    distinct = tf.RaggedTensor.from_value_rowids(keys % width, key_rows, nrows=ids.nrows())
    return distinct, distinct.with_flat_values(counts)


def inverse_document_frequency(distinct: tf.RaggedTensor, size: int) -> tf.Tensor:
    """float32 [size]: 1 + log((1 + n) / (1 + df)) per id (scikit-learn's smoothed idf), n the
    documents and df those containing the id, both counted by TFT analyzers over the data the
    graph is analyzed on (the train split).

    Args:
        distinct: int64 RaggedTensor [batch, (u)], each row's distinct ids, all < size.
        size: number of ids.
    """
    # Each batch reduces to one dense [size] count vector (for 200,000 ids, 800 KB a batch),
    # which tft.sum adds up; tft.experimental.idf failed TFT's analysis phase here.
    present = tf.math.unsorted_segment_sum(
        tf.ones_like(distinct.flat_values, dtype=tf.float32), distinct.flat_values, size
    )
    # Named: TFT's analyzer cache keys then do not depend on tracing order.
    df = tft.sum(present[None, :], reduce_instance_dims=False, name="ngram_df")  # [size]
    n = tft.sum(tf.ones_like(distinct.row_lengths(), dtype=tf.float32), name="ngram_docs")
    return 1.0 + tf.math.log((1.0 + n) / (1.0 + df))


def tfidf_weights(counts: tf.RaggedTensor, idf: tf.RaggedTensor) -> tf.RaggedTensor:
    """Sublinear TF-IDF, L2-normalised per row (scikit-learn's TfidfVectorizer(sublinear_tf=True,
    norm="l2")).

    Args:
        counts: int64 RaggedTensor [batch, (u)], occurrences (>= 1) of each distinct term.
        idf: float RaggedTensor [batch, (u)], each term's inverse document frequency (> 0).

    Returns:
        float32 RaggedTensor [batch, (u)]: (1 + log count) * idf / the row's L2 norm; a row of
        one term weighs 1.0, an empty row stays empty.
    """
    raw = (1.0 + tf.math.log(tf.cast(counts.flat_values, tf.float32))) * tf.cast(
        idf.flat_values, tf.float32
    )
    return l2_normalize_rows(counts.with_flat_values(raw))


def l2_normalize_rows(weights: tf.RaggedTensor) -> tf.RaggedTensor:
    """float32 RaggedTensor [batch, (u)] divided by each row's L2 norm; all-zero and empty rows
    are left as they are."""
    norms = tf.sqrt(tf.reduce_sum(weights * weights, axis=1))  # [batch]
    safe = tf.where(norms > 0, norms, tf.ones_like(norms))
    return weights / safe[:, None]


def class_document_frequency(
    distinct: tf.RaggedTensor, label_ids: tf.Tensor, size: int
) -> tuple[tf.Tensor, tf.Tensor]:
    """(positive, negative): float32 [size] each, the number of texts of label id 1 (positive)
    and of label id 0 (negative) containing each id, counted by a TFT analyzer over the data the
    graph is analyzed on (the train split). Rows of any other label id are not counted.

    Args:
        distinct: int64 RaggedTensor [batch, (u)], each row's distinct ids, all < size.
        label_ids: int64 [batch].
        size: number of ids.
    """
    row_labels = tf.gather(tf.reshape(label_ids, [-1]), distinct.value_rowids())
    # Segment (label * size + id) counts both classes in one pass: [2 * size] per batch.
    in_class = (row_labels == 0) | (row_labels == 1)
    segments = tf.boolean_mask(row_labels * size + distinct.flat_values, in_class)
    present = tf.math.unsorted_segment_sum(
        tf.ones_like(segments, dtype=tf.float32), segments, 2 * size
    )
    # Named, as ngram_df: analyzer cache keys then do not depend on tracing order.
    counts = tft.sum(present[None, :], reduce_instance_dims=False, name="ngram_class_df")
    return counts[size:], counts[:size]


def log_count_ratio(positive: tf.Tensor, negative: tf.Tensor, alpha: float = 1.0) -> tf.Tensor:
    """Naive Bayes log-count ratio per id (Wang & Manning 2012): r = log((p / |p|_1) /
    (q / |q|_1)), p = alpha + positive, q = alpha + negative.

    Args:
        positive, negative: float [size] per-class document frequencies (class_document_frequency).
            Ids counted in neither class (vocabulary slots the train split left empty) are
            outside the vocabulary: they are left out of |p|_1 and |q|_1 and get r = 0.
        alpha: additive smoothing (1, as the paper).

    Returns:
        float32 [size]; > 0 where the id is relatively more frequent in the positive class.
    """
    positive, negative = tf.cast(positive, tf.float64), tf.cast(negative, tf.float64)
    seen = (positive + negative) > 0
    zero = tf.zeros_like(positive)
    p = tf.where(seen, alpha + positive, zero)
    q = tf.where(seen, alpha + negative, zero)
    # log of 1 where unseen, so no log(0) is evaluated even in the branch tf.where discards.
    ratio = tf.math.log(tf.where(seen, p, 1.0) / tf.reduce_sum(p)) - tf.math.log(
        tf.where(seen, q, 1.0) / tf.reduce_sum(q)
    )
    return tf.cast(tf.where(seen, ratio, zero), tf.float32)


def label_to_id(labels: tf.Tensor, label_names: Sequence[str]) -> tf.Tensor:
    """Looks label names up in a static table.

    Args:
        labels: tf.string [batch] (or [batch, 1]).
        label_names: ordered label names; the id of a name is its position.

    Returns:
        int64 [batch]; -1 for a name not in `label_names` (the Beam pipeline counts and drops
        those and the component fails with a DataError).
    """
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            keys=tf.constant(list(label_names), dtype=tf.string),
            values=tf.range(len(label_names), dtype=tf.int64),
        ),
        default_value=-1,
    )
    return table.lookup(tf.reshape(labels, [-1]))


def make_preprocessing_fn(
    config: TransformConfig, labels: Sequence[str]
) -> Callable[[dict[str, tf.Tensor]], dict[str, tf.Tensor]]:
    """The preprocessing_fn for tft_beam.AnalyzeAndTransformDataset.

    Args:
        config: vocab_size V, max_tokens T, frequency_threshold, num_oov_buckets k, strip_html.
        labels: ordered label names (the Examples artifact's "labels" property).

    Returns:
        preprocessing_fn({"text": [batch], "label"?: [batch]}) ->
        {"tokens": int64 [batch, T], "label_id"?: int64 [batch]} (see the module docstring).
    """
    label_names = tuple(labels)
    check_nb_labels(config.ngrams.weights, label_names)
    top_k = config.vocab_size - 1 - config.num_oov_buckets

    def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        tokens = tokenize(tf.reshape(inputs[TEXT_KEY], [-1]), strip_html=config.strip_html)
        flat_tokens = tokens.flat_values
        vocabulary = tft.vocabulary(
            flat_tokens,
            # Unit weights count exactly what the unweighted analyzer counts, but make TFT
            # reduce each batch to (unique token, count) inside TensorFlow; unweighted, it
            # emits every single token into Beam (one Python element per token: ~3x slower).
            # float64 keeps per-token sums exact up to 2**53.
            weights=tf.ones_like(flat_tokens, dtype=tf.float64),
            top_k=top_k,
            # TFT warns that a threshold of 1 is a no-op and asks for None.
            frequency_threshold=(
                config.frequency_threshold if config.frequency_threshold > 1 else None
            ),
            vocab_filename=VOCAB_NAME,
        )
        # OOV -> -1 here; to_keras_ids hashes OOV tokens itself so ids match Keras exactly.
        vocab_ids = tft.apply_vocabulary(tokens, vocabulary, default_value=-1)
        ids = to_keras_ids(tokens, vocab_ids, config.num_oov_buckets)
        outputs = {TOKENS_KEY: pad_or_truncate(ids, config.max_tokens, config.truncation)}
        # Absent at serving time: the graph is then pruned to "tokens" (module docstring).
        if LABEL_KEY in inputs:
            outputs[LABEL_ID_KEY] = label_to_id(inputs[LABEL_KEY], label_names)
        if config.ngrams.enabled:
            outputs.update(
                ngram_ids(tokens, config.ngrams, config.truncation, outputs.get(LABEL_ID_KEY))
            )
        return outputs

    return preprocessing_fn
