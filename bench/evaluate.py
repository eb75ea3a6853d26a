"""Benchmark: eval examples per second of the evaluate component, against TFMA's figure.

Reference: TFMA 0.52's run_model_analysis inside TFX took 26 s for 4,000 eval examples on a
2-core machine (~154 examples/s), and minutes for 8,000 with one slice. TFMA cannot be installed
beside TF 2.21 in seqline's environment (see DESIGN.md); when a side environment has it, pass
its measured seconds with --tfma-seconds to print the ratio against that instead.

What is timed: the evaluate executor end to end on IMDB-sized synthetic reviews (~230 words):
reading the gzip TFRecords, scoring the candidate AND the last blessed model (resolved from a
real SQLite metadata store) through their serving signatures in one pass, the majority
baseline, metrics overall and per length slice, thresholds, metrics.json, blessing and
report.html with its four plots. The models are GRU text classifiers (Keras 3, embedding 64,
GRU 64, max 200 tokens, in-graph tokenizer) exported with the seqline Model contract; their
weights are untrained (speed does not depend on them).

    .venv/bin/python bench/evaluate.py --examples 4000 8000
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import tempfile
import time
import uuid

TFMA_SECONDS_4K = 26.0
TFMA_EXAMPLES = 4000
LABELS = ("neg", "pos")
MAX_TOKENS = 200


def _vocabulary(size: int = 5000) -> list[str]:
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"good", "bad", "great", "awful", "film", "movie", "plot", "acting"}
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(2, 9))))
    return sorted(words)


def _reviews(n: int, vocabulary: list[str], seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.choice(LABELS)
        length = max(20, int(rng.gauss(230, 120)))
        words = rng.choices(vocabulary, k=length)
        words += ["good" if label == "pos" else "bad"] * rng.randint(0, 3)
        rows.append((" ".join(words), label))
    return rows


def _export_gru(export_dir: str, vocabulary: list[str], seed: int) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(MAX_TOKENS,), dtype="int64"),
            keras.layers.Embedding(len(vocabulary) + 2, 64, mask_zero=True),
            keras.layers.GRU(64),
            keras.layers.Dense(len(LABELS), activation="softmax"),
        ]
    )

    class Export(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(vocabulary), tf.range(2, len(vocabulary) + 2, dtype=tf.int64)
                ),
                default_value=1,  # OOV; 0 is padding
            )
            self.labels = tf.constant(list(LABELS))

        def _predict(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
            words = tf.strings.split(tf.strings.lower(text))
            ids = self.table.lookup(words).to_tensor(0, shape=[None, MAX_TOKENS])
            probabilities = tf.cast(self.model(ids, training=False), tf.float32)
            class_ids = tf.argmax(probabilities, axis=1, output_type=tf.int64)
            return {
                "probabilities": probabilities,
                "class_ids": class_ids,
                "classes": tf.gather(self.labels, class_ids),
            }

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve_examples(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
            spec = {"text": tf.io.FixedLenFeature([], tf.string)}
            return self._predict(tf.io.parse_example(examples, spec)["text"])

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve_text(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
            return self._predict(text)

    module = Export()
    tf.saved_model.save(
        module,
        export_dir,
        signatures={"serving_default": module.serve_examples, "predict_text": module.serve_text},
    )


def _write_examples(directory: str, rows: list[tuple[str, str]], shards: int = 2) -> None:
    import tensorflow as tf

    os.makedirs(os.path.join(directory, "test"), exist_ok=True)
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    writers = [
        tf.io.TFRecordWriter(
            os.path.join(directory, "test", f"data-{i:05d}-of-{shards:05d}.tfrecord.gz"), options
        )
        for i in range(shards)
    ]
    for i, (text, label) in enumerate(rows):
        feature = {
            key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
            for key, value in (("text", text), ("label", label))
        }
        example = tf.train.Example(features=tf.train.Features(feature=feature))
        writers[i % shards].write(example.SerializeToString())
    for writer in writers:
        writer.close()


def _model_artifact(root: str, fingerprint: str, vocabulary: list[str], seed: int):  # noqa: ANN202
    from seqline.pipeline.artifact import Artifact, ArtifactType, write_descriptor

    uri = os.path.join(root, fingerprint)
    _export_gru(os.path.join(uri, "saved_model"), vocabulary, seed)
    artifact = Artifact(
        ArtifactType.MODEL,
        uri,
        fingerprint,
        producer={"node_id": "train"},
        properties={"labels": list(LABELS), "task": "binary"},
    )
    write_descriptor(artifact, uri)
    return artifact


def _bless(store, model) -> None:  # noqa: ANN001
    from seqline.pipeline.artifact import ArtifactType

    run_id = uuid.uuid4().hex
    store.start_run(run_id, "bench")
    execution = store.start_execution(run_id, "evaluate", "evaluate", run_id[:16], {})
    store.record_output(
        execution,
        "blessing",
        uri=f"/bench/{run_id}",
        type_name=ArtifactType.BLESSING,
        fingerprint=run_id[:16],
        node_id="evaluate",
        properties={
            "blessed": True,
            "model_name": "train",
            "model_uri": model.uri,
            "model_fingerprint": model.fingerprint,
        },
        created_at=time.time(),
    )
    store.finish_execution(execution, "COMPLETE")
    store.finish_run(run_id, "SUCCEEDED")


def run_once(root: str, n: int, models: dict, vocabulary: list[str], store) -> dict:  # noqa: ANN001
    from seqline.components.evaluate.config import EvaluateTextConfig
    from seqline.components.evaluate.text_component import COMPONENT
    from seqline.pipeline.artifact import Artifact, ArtifactType
    from seqline.pipeline.component import ExecutionContext

    data = os.path.join(root, f"examples-{n}")
    _write_examples(data, _reviews(n, vocabulary, seed=n))
    examples = Artifact(
        ArtifactType.EXAMPLES, data, f"e{n}", properties={"splits": ["test"], "counts": {"test": n}}
    )
    config = EvaluateTextConfig(
        thresholds={"accuracy": {"lower": 0.0}},
        change_thresholds={"accuracy": {"absolute": -1.0}},
        slicing={"length_buckets": [100, 300]},
        slice_thresholds={"length=*": {"thresholds": {"auc": {"lower": 0.0}}}},
    )
    out = os.path.join(root, f"blessing-{n}")
    os.makedirs(out)
    blessing = Artifact(ArtifactType.BLESSING, out, "b")
    from seqline.pipeline.resolvers import LatestBlessedModel, ResolverQuery

    inputs = {"examples": examples, "model": models["candidate"]}
    query = ResolverQuery(store, "bench", root, "evaluate", config, inputs)
    ctx = ExecutionContext(
        config=config,
        inputs=inputs,
        outputs={"blessing": blessing},
        pipeline_name="bench",
        run_id="bench",
        node_id="evaluate",
        pipeline_root=root,
        beam_args=(),
        temp_dir=root,
        progress=lambda _message: None,
        resolved={"baseline_model": LatestBlessedModel().resolve(query)},
    )
    t0 = time.perf_counter()
    summary = COMPONENT.executor(ctx)
    seconds = time.perf_counter() - t0
    assert blessing.properties["baseline_model_uri"] == models["baseline"].uri
    inference = float(summary["inference_seconds"])
    return {"examples": n, "seconds": seconds, "per_second": n / seconds, "inference": inference}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, nargs="+", default=[4000, 8000])
    parser.add_argument(
        "--tfma-seconds",
        type=float,
        default=None,
        help=f"TFMA's measured seconds for {TFMA_EXAMPLES} examples (default: the reference "
        f"{TFMA_SECONDS_4K} s)",
    )
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from seqline.pipeline.metadata import MetadataStore

    tfma_installed = importlib.util.find_spec("tensorflow_model_analysis") is not None
    tfma_seconds = args.tfma_seconds or TFMA_SECONDS_4K
    tfma_rate = TFMA_EXAMPLES / tfma_seconds
    vocabulary = _vocabulary()
    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as root:
        models = {
            "baseline": _model_artifact(root, "baseline", vocabulary, seed=1),
            "candidate": _model_artifact(root, "candidate", vocabulary, seed=2),
        }
        store = MetadataStore(f"sqlite:///{root}/metadata.sqlite")
        _bless(store, models["baseline"])
        run_once(root, 256, models, vocabulary, store)  # warm the file cache and the graphs
        print(f"TFMA installed here: {tfma_installed} (reference: {TFMA_EXAMPLES} examples in "
              f"{tfma_seconds:g} s = {tfma_rate:.0f} examples/s)")  # fmt: skip
        print("2 GRU models scored in one pass, 3 length slices + overall, report.html")
        print("examples  seconds  examples/s  vs TFMA  | in model calls  rest  rest examples/s")
        for n in args.examples:
            result = run_once(root, n, models, vocabulary, store)
            rest = result["seconds"] - result["inference"]
            print(
                f"{n:>8}  {result['seconds']:>7.2f}  {result['per_second']:>10.0f}  "
                f"{result['per_second'] / tfma_rate:>6.1f}x | {result['inference']:>13.2f}s "
                f"{rest:>5.2f}s  {n / rest:>15.0f}"
            )
        store.close()


if __name__ == "__main__":
    main()
