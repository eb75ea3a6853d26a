"""A serving process imports TensorFlow without its eager Keras import, and still serves
SavedModels that hold Keras layers, and can still import Keras later."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf

CHILD = textwrap.dedent(
    """
    import json, sys
    from seqline.serving.tensorflow_import import import_tensorflow_for_serving
    skipped = import_tensorflow_for_serving()
    keras_after_tf = "keras" in sys.modules
    import tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    out = loaded.signatures["serving_default"](x=tf.constant([[1.0, 2.0, 3.0]]))
    keras_after_load = "keras" in sys.modules
    import keras  # still importable: the skip left no trace in sys.modules
    dense = keras.layers.Dense(2)
    print(json.dumps({
        "skipped": skipped,
        "keras_after_tf": keras_after_tf,
        "keras_after_load": keras_after_load,
        "y": out["y"].numpy().tolist(),
        "dense_shape": list(dense(tf.zeros([1, 3])).shape),
    }))
    """
)


def _keras_layer_model(export_dir: str) -> np.ndarray:
    import keras

    class WithKerasLayer(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = keras.layers.Dense(2, kernel_initializer="ones")
            self.dense.build((None, 3))

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"y": self.dense(x)}

    module = WithKerasLayer()
    tf.saved_model.save(module, export_dir, signatures={"serving_default": module.serve})
    return module.serve(tf.constant([[1.0, 2.0, 3.0]]))["y"].numpy()


def test_a_serving_process_skips_keras_and_still_loads_keras_built_models(tmp_path):
    expected = _keras_layer_model(str(tmp_path / "model"))
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "model")],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["skipped"] is True
    assert report["keras_after_tf"] is False
    assert report["keras_after_load"] is False
    np.testing.assert_allclose(report["y"], expected)
    assert report["dense_shape"] == [1, 2]


def test_nothing_is_skipped_once_tensorflow_is_imported():
    from seqline.serving.tensorflow_import import import_tensorflow_for_serving

    assert "tensorflow" in sys.modules
    assert import_tensorflow_for_serving() is False
