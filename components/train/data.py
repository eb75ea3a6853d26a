"""tf.data input pipelines over TransformedExamples (gzip TFRecords of transformed tf.Example).

Files: TransformedExamples.split_files(split) (pipeline/artifacts). Features (from
tft.TFTransformOutput(...).transformed_feature_spec()):
    text    "tokens" int64 [max_tokens] and "label_id" int64 []         (make_dataset)
    series  "history" float [L * F] and "target" float [H * T]          (make_series_dataset)
Both share batched_records: read, shuffle, repeat, batch, parse, shard, prefetch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import tensorflow as tf

from seqline.pipeline.errors import DataError
from seqline.schemas.text import LABEL_ID_KEY, NGRAM_WEIGHTS_KEY, NGRAMS_KEY, TOKENS_KEY


def make_dataset(
    files: list[str],
    feature_spec: Mapping[str, Any],
    batch_size: int,
    sigmoid_head: bool,
    shuffle_buffer: int = 0,
    seed: int | None = None,
    repeat: bool = False,
    shard_by_data: bool = False,
    trim_padding: bool = False,
    features: tuple[str, ...] = (TOKENS_KEY,),
) -> tf.data.Dataset:
    """Batches of ({"tokens": int64 [B, T]}, label) for Model.fit (with "ngrams" int64 [B, G]
    too, or instead, when `features` says so: models.model_inputs).

    Args:
        files: gzip TFRecord files of transformed tf.Example.
        feature_spec: the transformed feature spec; must contain "tokens" and "label_id".
        batch_size: global batch size.
        sigmoid_head: labels as float32 [B, 1] (binary cross-entropy) instead of int64 [B].
        shuffle_buffer: records in the shuffle buffer; 0 = keep file order (evaluation).
        seed: shuffle seed, for reproducible runs.
        repeat: repeat forever (training uses explicit steps_per_epoch so every epoch, and
            every worker, runs the same number of steps).
        shard_by_data: multi-worker input sharding by record rather than by file, so any
            number of files works for any number of workers.
        trim_padding: cut each batch's trailing all-padding columns (T becomes the batch's
            longest sequence rounded up to a multiple of PADDING_BUCKET). Only for a model with
            mask_zero: masked steps change nothing, so the results are the same while the RNN
            runs fewer steps. Default False. "ngrams" rows are always trimmed (the n-gram
            branch always masks padding), and "ngram_weights" to the same width.
        features: the transformed features the model takes (default ("tokens",)).
    """
    missing = {*features, LABEL_ID_KEY} - set(feature_spec)
    if missing:
        raise DataError(
            f"transformed feature spec: expected features {sorted(features)} and "
            f"{LABEL_ID_KEY!r}, missing {sorted(missing)} (have {sorted(feature_spec)}); the "
            "transform graph does not match the TransformedExamples contract (the n-gram "
            "branch needs transform.ngrams)"
        )
    spec = {key: feature_spec[key] for key in (*features, LABEL_ID_KEY)}

    def parse(serialized: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        parsed = tf.io.parse_example(serialized, spec)
        label = parsed[LABEL_ID_KEY]
        if sigmoid_head:
            label = tf.cast(tf.reshape(label, [-1, 1]), tf.float32)
        inputs = {key: parsed[key] for key in features}
        for key in inputs:
            if key != NGRAM_WEIGHTS_KEY and (trim_padding or key != TOKENS_KEY):
                inputs[key] = trim_right_padding(inputs[key])
        if NGRAM_WEIGHTS_KEY in inputs:  # stays aligned with its ids
            width = tf.shape(inputs[NGRAMS_KEY])[1]
            inputs[NGRAM_WEIGHTS_KEY] = inputs[NGRAM_WEIGHTS_KEY][:, :width]
        return inputs, label

    return batched_records(
        files, batch_size, parse, shuffle_buffer, seed, repeat=repeat, shard_by_data=shard_by_data
    )


# Trimmed widths are multiples of this, so a run sees at most max_tokens / 16 batch shapes.
PADDING_BUCKET = 16


def trim_right_padding(tokens: tf.Tensor) -> tf.Tensor:
    """int64 [B, T] right-padded with 0 -> [B, W]: W = the longest row's length rounded up to a
    multiple of PADDING_BUCKET (at least 1, at most T). Only trailing padding is removed."""
    tokens = tf.convert_to_tensor(tokens)
    lengths = tf.reduce_sum(tf.cast(tf.not_equal(tokens, 0), tf.int32), axis=1)
    longest = tf.reduce_max(tf.concat([lengths, [1]], axis=0))
    width = tf.minimum(tf.shape(tokens)[1], -(-longest // PADDING_BUCKET) * PADDING_BUCKET)
    return tokens[:, :width]


def batched_records(
    files: list[str],
    batch_size: int,
    parse: Callable[[tf.Tensor], Any],
    shuffle_buffer: int = 0,
    seed: int | None = None,
    repeat: bool = False,
    shard_by_data: bool = False,
) -> tf.data.Dataset:
    """Gzip TFRecords -> (shuffle) -> (repeat) -> batch -> parse(serialized [B]) -> prefetch.

    Args: as make_dataset; `parse` maps a batch of serialized examples to (features, label).
    """
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP", num_parallel_reads=len(files))
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size)
    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
        if shard_by_data
        else tf.data.experimental.AutoShardPolicy.AUTO
    )
    ds = ds.with_options(options)
    return ds.prefetch(tf.data.AUTOTUNE)


def without_autotune_thread(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` with tf.data autotuning off, for Model.fit's validation and train inputs.

    Why: Keras drops the validation iterator at the start of every validation pass (the eval
    `epoch_iterator.reset()`; it built that iterator at the end of the previous pass). With
    autotuning on, that teardown measured 0.8-8 s of idle wall time (process near 0% CPU) per
    epoch, with or without a train shuffle and even for a validation pipeline without worker
    threads; with autotuning off it measured 0.00-0.03 s, accuracy unchanged
    (bench/iterator_reset.py, docs/benchmarks.md). Our reading: destroying the iterator joins
    its autotuning thread, which sleeps between optimization rounds for ever longer periods.
    AUTOTUNE parallelism and prefetch sizes then fall back to fixed defaults, plenty for one
    pass over the eval split.

    The train input uses it too: Keras drops the train iterator when fit returns, and that
    teardown stalled likewise (2.2-9.9 s idle between the last callback and fit's return in
    4 of 14 fits with autotuning, 0.00-0.05 s in 8 of 8 without; per-fit CPU unchanged; the
    LSTM, not the parse, bounds the step).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def make_series_dataset(
    files: list[str],
    feature_spec: Mapping[str, Any],
    batch_size: int,
    lookback: int,
    num_features: int,
    horizon: int,
    num_targets: int,
    output: str,
    shuffle_buffer: int = 0,
    seed: int | None = None,
    repeat: bool = False,
    shard_by_data: bool = False,
    num_future: int = 0,
) -> tf.data.Dataset:
    """Batches of ({"history": float32 [B, L, F][, "future": float32 [B, H, G]]}, target
    float32 [B, S, T]) for Model.fit.

    The target is forecasters.training_target(output, ...): the next step, all H steps, or the
    shifted history. num_future: G, the known-future columns per horizon step (0: none).
    Other args as make_dataset.
    """
    from seqline.components.train.forecasters import FUTURE_INPUT, HISTORY_INPUT, training_target

    needed = {HISTORY_INPUT, "target"} | ({FUTURE_INPUT} if num_future else set())
    missing = needed - set(feature_spec)
    if missing:
        raise DataError(
            f"transformed feature spec: expected series features {sorted(needed)}, "
            f"missing {sorted(missing)} (have {sorted(feature_spec)}); the transform graph "
            "does not match the series TransformedExamples contract, rerun transform"
        )
    spec = {name: feature_spec[name] for name in needed}

    def parse(serialized: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        parsed = tf.io.parse_example(serialized, spec)
        history = tf.reshape(parsed[HISTORY_INPUT], [-1, lookback, num_features])
        target = tf.reshape(parsed["target"], [-1, horizon, num_targets])
        features = {HISTORY_INPUT: history}
        if num_future:
            features[FUTURE_INPUT] = tf.reshape(parsed[FUTURE_INPUT], [-1, horizon, num_future])
        return features, training_target(output, history, target, num_targets)

    return batched_records(
        files, batch_size, parse, shuffle_buffer, seed, repeat=repeat, shard_by_data=shard_by_data
    )


def count_records(files: list[str]) -> int:
    """Records in gzip TFRecord files (one pass; used only when the artifact has no counts)."""
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return int(dataset.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
