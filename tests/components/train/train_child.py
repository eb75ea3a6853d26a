"""Runs the train component in a child process, for tests that need a fresh TensorFlow runtime
(logical CPU devices must be configured before TensorFlow starts) or a real kill -9.

    python train_child.py --transform-graph URI --transformed-examples URI --root DIR
        [--config-json JSON] [--logical-cpus N] [--kill-after-epoch K]

--kill-after-epoch K sends SIGKILL to this process at the end of epoch K (0-based), after every
component callback has run for that epoch (i.e. after BackupAndRestore saved it): the process
dies exactly like `kill -9` mid-training. Prints one JSON line {"summary", "model", "model_run"}
when training completes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transform-graph", required=True)
    parser.add_argument("--transformed-examples", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--config-json", default="{}")
    parser.add_argument("--logical-cpus", type=int, default=0)
    parser.add_argument("--kill-after-epoch", type=int, default=-1)
    args = parser.parse_args()

    if args.logical_cpus:
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus
        )

    from seqline.components.train import callbacks as train_callbacks
    from seqline.components.train.config import TrainTextConfig, from_json
    from seqline.components.train.text_component import COMPONENT
    from seqline.pipeline.artifact import read_artifact
    from tests.components.train.conftest import TextArtifacts, train_context

    if args.kill_after_epoch >= 0:
        make_callbacks = train_callbacks.make_callbacks

        def with_killer(keras_module, *a, **kw):  # type: ignore[no-untyped-def]
            callbacks, recorder = make_callbacks(keras_module, *a, **kw)

            class KillNine(keras_module.callbacks.Callback):
                def on_epoch_end(self, epoch, logs=None):  # type: ignore[no-untyped-def]
                    if epoch == args.kill_after_epoch:
                        os.kill(os.getpid(), signal.SIGKILL)

            return [*callbacks, KillNine()], recorder

        train_callbacks.make_callbacks = with_killer
        # training.py imported the name directly; patch it there too.
        from seqline.components.train import training

        training.make_callbacks = with_killer

    artifacts = TextArtifacts(
        read_artifact(args.transform_graph), read_artifact(args.transformed_examples), ()
    )
    ctx = train_context(from_json(args.config_json, TrainTextConfig), artifacts, Path(args.root))
    summary = COMPONENT.executor(ctx)
    print(
        json.dumps(
            {
                "summary": summary,
                "model": ctx.outputs["model"].to_json(),
                "model_run": ctx.outputs["model_run"].to_json(),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    main()
