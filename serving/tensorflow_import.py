"""Import TensorFlow in a serving process without the Keras import it does not need (issue 13).

TensorFlow's ``__init__`` eagerly imports ``keras.src.optimizers`` (and with it all of Keras)
so that tf.keras optimizers register themselves for SavedModel loading. A model server runs
signatures of SavedModels and never builds a Keras object, the way tensorflow_model_server has
no Keras at all, yet that import cost ~1.5 s and ~165 MB per process on the project's 2-core
machine (3.5 s -> 2.0 s, 706 -> 542 MB maxrss; docs/benchmarks.md). infra_validate's child
server pays it at the end of every run.

The import is skipped by putting ``None`` in ``sys.modules`` for that one module while
TensorFlow imports: Python then raises ImportError for it, which TensorFlow's ``__init__``
catches. The entry is removed right after, so ``tf.keras`` (lazy) and ``import keras`` still work
later in the process. With TF_USE_LEGACY_KERAS set, tf_keras's optimizers are what register, so
the import is left alone. Imports only the standard library until TensorFlow itself.
"""

from __future__ import annotations

import os
import sys

# The module TensorFlow's __init__ imports eagerly (Keras 3 installed as tf.keras).
EAGER_KERAS_MODULE = "keras.src.optimizers"


def import_tensorflow_for_serving() -> bool:
    """Imports TensorFlow, skipping its eager Keras import when that is safe to skip.

    Returns True when TensorFlow was imported here without Keras; False when TensorFlow was
    already imported, Keras was already imported, or legacy Keras is selected (then this is a
    plain ``import tensorflow``).
    """
    if "tensorflow" in sys.modules:
        return False
    legacy = os.environ.get("TF_USE_LEGACY_KERAS", "") in ("true", "True", "1")
    if legacy or "keras" in sys.modules:
        import tensorflow  # noqa: F401

        return False
    sys.modules[EAGER_KERAS_MODULE] = None  # type: ignore[assignment]
    try:
        import tensorflow  # noqa: F401
    finally:
        if sys.modules.get(EAGER_KERAS_MODULE, 0) is None:
            del sys.modules[EAGER_KERAS_MODULE]
    return True
