"""Benchmark: idle wall time around Keras's per-epoch validation, by train input pipeline.

    python bench/iterator_reset.py [--train 3200] [--eval 800] [--epochs 3]
                                   [--variants none,1k,10k,seqline]

Reproduces issue 13's "idle stall in epoch 2": a Keras 3 fit over gzip TFRecords (int64 tokens
[128] + label, 2 files per split) of an Embedding 64 + LSTM 64 model, with a validation split,
repeat() + steps_per_epoch as seqline's train does. Each variant runs in a fresh interpreter;
a sampler thread reads the process's CPU every 50 ms and counts as idle every interval in
which the process used < 10% of one core. Printed per epoch: wall, CPU, idle, and the gap
between the epoch's last train step and validation's first callback (Keras's eval
`epoch_iterator.reset()` plus iterator creation), then the final validation accuracy.

Variants (train pipeline; validation is always the file-ordered split):
    none     no shuffle
    1k, 10k  record-level shuffle(buffer, reshuffle_each_iteration) before repeat(), the
             pipeline seqline used before issue 13 (10k was TrainConfig.shuffle_buffer's default)
    seqline  components/train/data.make_dataset with TrainConfig's default shuffle_buffer
    10k+seq  10k, validation read without background threads (no parallel reads, no parallel
             map, no prefetch): tests whether tearing down the validation iterator's threads
             is what waits
    10k-cont repeat() before shuffle(10k): one shuffle iterator for the whole fit, its buffer
             never refilled at a pass boundary

Read the idle column together with /proc/pressure/cpu: on a machine whose CPU pressure is near
100%, a starved process also shows as idle (< 10% of a core), so compare variants run back to
back and repeat them (docs/benchmarks.md, "The validation-reset stall").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ONE = r"""
import json, os, resource, sys, threading, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
variant, workdir, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
import numpy as np
import tensorflow as tf
import keras

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

marks = []  # (wall, cpu, idle_so_far, label)
idle = [0.0]
stop = threading.Event()
def sampler():
    last_w, last_c = time.perf_counter(), cpu()
    while not stop.wait(0.05):
        w, c = time.perf_counter(), cpu()
        if w > last_w and (c - last_c) / (w - last_w) < 0.1:
            idle[0] += w - last_w
        last_w, last_c = w, c
threading.Thread(target=sampler, daemon=True).start()

def files(split):
    return sorted(tf.io.gfile.glob(os.path.join(workdir, split, "*.gz")))

spec = {"tokens": tf.io.FixedLenFeature([128], tf.int64),
        "label_id": tf.io.FixedLenFeature([], tf.int64)}
def parse(serialized):
    parsed = tf.io.parse_example(serialized, spec)
    label = tf.cast(tf.reshape(parsed["label_id"], [-1, 1]), tf.float32)
    return {"tokens": parsed["tokens"]}, label

def bare(fs, buffer, repeat):
    ds = tf.data.TFRecordDataset(fs, compression_type="GZIP", num_parallel_reads=len(fs))
    if buffer:
        ds = ds.shuffle(buffer, seed=42, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(64).map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

counts = json.load(open(os.path.join(workdir, "counts.json")))
if variant == "seqline":
    from seqline.components.train import data
    from seqline.components.train.config import TrainTextConfig
    feature_spec = spec
    buffer = TrainTextConfig().shuffle_buffer
    train = data.make_dataset(files("train"), feature_spec, 64, True, shuffle_buffer=buffer,
                              seed=42, repeat=True)
    val = data.make_dataset(files("eval"), feature_spec, 64, True)
else:
    name, _, eval_kind = variant.partition("+")
    buffer = {"none": 0, "1k": 1000, "10k": 10000, "10k-cont": 10000}[name]
    if name == "10k-cont":  # one shuffle iterator for the whole fit: repeat() before shuffle()
        ds = tf.data.TFRecordDataset(files("train"), compression_type="GZIP", num_parallel_reads=2)
        ds = ds.repeat().shuffle(buffer, seed=42)
        train = ds.batch(64).map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(-1)
    else:
        train = bare(files("train"), buffer, True)
    if eval_kind == "seq":  # validation without background threads: nothing to cancel on reset
        val = tf.data.TFRecordDataset(files("eval"), compression_type="GZIP").batch(64).map(parse)
    else:
        val = bare(files("eval"), 0, False)
    if eval_kind == "noauto":  # no autotuning model thread in the validation iterator
        options = tf.data.Options()
        options.autotune.enabled = False
        val = val.with_options(options)

keras.utils.set_random_seed(42)
model = keras.Sequential([
    keras.Input((None,), dtype="int64", name="tokens"),
    keras.layers.Embedding(10000, 64, mask_zero=True),
    keras.layers.LSTM(64),
    keras.layers.Dense(1, activation="sigmoid"),
])
model.compile("adam", "binary_crossentropy", metrics=["accuracy"])

class Marks(keras.callbacks.Callback):
    def mark(self, label):
        marks.append((time.perf_counter(), cpu(), idle[0], label))
    def on_epoch_begin(self, epoch, logs=None): self.mark("epoch_begin")
    def on_train_batch_end(self, batch, logs=None):
        self.last = (time.perf_counter(), cpu(), idle[0])
    def on_test_begin(self, logs=None):
        marks.append((*self.last, "train_end")); self.mark("test_begin")
    def on_epoch_end(self, epoch, logs=None): self.mark("epoch_end")

steps = -(-counts["train"] // 64)
history = model.fit(train, validation_data=val, epochs=epochs, steps_per_epoch=steps,
                    validation_steps=-(-counts["eval"] // 64), callbacks=[Marks()], verbose=0)
stop.set()
epochs_out, cur = [], {}
for w, c, i, label in marks:
    cur[label] = (w, c, i)
    if label == "epoch_end":
        b, t, v, e = cur["epoch_begin"], cur["train_end"], cur["test_begin"], cur["epoch_end"]
        epochs_out.append({"wall": e[0] - b[0], "cpu": e[1] - b[1], "idle": e[2] - b[2],
                           "reset_wall": v[0] - t[0], "reset_idle": v[2] - t[2]})
print(json.dumps({"variant": variant, "buffer": buffer, "epochs": epochs_out,
                  "val_accuracy": history.history["val_accuracy"][-1]}))
"""


def write_data(workdir: str, n_train: int, n_eval: int) -> None:
    """Gzip TFRecords of learnable synthetic token sequences: label 1 <=> more tokens from the
    upper half of the vocabulary; lengths 20-128, right-padded with 0."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(7)
    for split, n in (("train", n_train), ("eval", n_eval)):
        os.makedirs(os.path.join(workdir, split), exist_ok=True)
        writers = [
            tf.io.TFRecordWriter(os.path.join(workdir, split, f"part-{i}.gz"), options="GZIP")
            for i in range(2)
        ]
        for k in range(n):
            label = int(rng.integers(2))
            length = int(rng.integers(20, 129))
            low, high = (2, 6000) if label == 0 else (4000, 10000)
            tokens = np.zeros(128, np.int64)
            tokens[:length] = rng.integers(low, high, length)
            example = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        "tokens": tf.train.Feature(int64_list=tf.train.Int64List(value=tokens)),
                        "label_id": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                    }
                )
            )
            writers[k % 2].write(example.SerializeToString())
        for w in writers:
            w.close()
    with open(os.path.join(workdir, "counts.json"), "w") as f:
        json.dump({"train": n_train, "eval": n_eval}, f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=3200)
    parser.add_argument("--eval", type=int, default=800)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--variants", default="none,1k,10k,10k+seq,10k-cont,seqline")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="seqline-iter-") as workdir:
        write_data(workdir, args.train, args.eval)
        print(f"{args.train} train / {args.eval} eval records, {args.epochs} epochs, batch 64")
        print(
            f"{'variant':<9}{'buffer':>7}{'epoch':>6}{'wall':>8}{'cpu':>8}{'idle':>8}"
            f"{'reset':>8}{'r.idle':>8}"
        )
        for variant in args.variants.split(","):
            out = subprocess.run(
                [sys.executable, "-c", ONE, variant, workdir, str(args.epochs)],
                capture_output=True,
                text=True,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            )
            if out.returncode != 0:
                sys.stderr.write(out.stderr[-3000:])
                raise SystemExit(f"variant {variant} failed ({out.returncode})")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            for k, e in enumerate(result["epochs"]):
                print(
                    f"{variant:<9}{result['buffer']:>7}{k + 1:>6}{e['wall']:>7.2f}s"
                    f"{e['cpu']:>7.2f}s{e['idle']:>7.2f}s{e['reset_wall']:>7.2f}s"
                    f"{e['reset_idle']:>7.2f}s"
                )
            print(f"{variant:<9}{'':>7}  final val_accuracy {result['val_accuracy']:.4f}")


if __name__ == "__main__":
    main()
