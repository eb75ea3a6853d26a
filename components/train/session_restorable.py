"""Keras 3 models inside a tf.Module SavedModel that TF Serving's session loader can restore.

tensorflow_model_server (and `seqline serve`'s session runtime) load a SavedModel the TF1 way:
the MetaGraph into a Session, then the saver's restore op. A Keras 3 variable is a wrapper
around a tf.Variable; when the wrapper is what the tf.Module tracks (the Keras model held as an
attribute), the export writes a copy of it that the restore op fills, while the signature
functions read the inner tf.Variable, which nothing restores: every request then fails with
FAILED_PRECONDITION "Could not find variable head/bias" (tensorflow/tensorflow#72963,
keras-team/keras#20095). tf.saved_model.load (TF2) maps both to one object, so Python-side
loading never shows it.

`hold_keras_model` tracks the inner tf.Variables themselves on the module and keeps the Keras
model as a plain, untracked attribute for the signature functions to call when they are
traced: each variable is saved once, and both loaders restore what the functions read.
"""

from __future__ import annotations

from typing import Any

KERAS_VARIABLES = "keras_variables"
KERAS_MODEL = "keras_model"


def hold_keras_model(module: Any, model: Any) -> None:
    """Sets module.keras_variables (tracked: the tf.Variable under each of `model.variables`,
    trainable or not) and module.keras_model (untracked: the Keras 3 model, for tracing)."""
    setattr(module, KERAS_VARIABLES, [variable.value for variable in model.variables])
    # object.__setattr__ skips tf.Module's automatic tracking: tracking the model would export
    # the Keras wrappers again, the copies the TF1 restore op fills instead.
    object.__setattr__(module, KERAS_MODEL, model)
