"""Hyperparameter overrides of train_text's config (no TensorFlow import).

A tuned value is named like the config field it replaces: a scalar field of `model`
(ModelConfig: `units`, `layer`, `pooling`, `dropout`, `conv_filters`, `ngram_branch`...) by its
bare name, or one of the training loop's TRAINING_KEYS (`learning_rate`, `batch_size`). The tune
component declares its search space with these names, and train_text applies the best values
found with `apply_overrides`, so every scalar zoo option can be tuned and nothing else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, get_type_hints

from seqline.components.train.config import ModelConfig, TrainTextConfig
from seqline.pipeline.config_parsing import convert
from seqline.pipeline.errors import ConfigError

# Training-loop fields worth searching; epochs, seeds, splits and distribution are not
# hyperparameters of the model (epochs are bounded by tune's own per-trial budget).
TRAINING_KEYS: tuple[str, ...] = ("learning_rate", "batch_size")
_SCALARS = (bool, int, float, str)


def _is_scalar(tp: Any) -> bool:
    """True for bool/int/float/str and Literal[...] of those (ModelConfig's layer, pooling...)."""
    if tp in _SCALARS:
        return True
    args = getattr(tp, "__args__", ())
    return getattr(tp, "__origin__", None) is not None and all(
        isinstance(a, _SCALARS) for a in args
    )


def tunable_fields() -> dict[str, Any]:
    """Tunable name -> its field's type hint (int, float, bool, str or a Literal)."""
    model_hints = get_type_hints(ModelConfig)
    fields = {
        f.name: model_hints[f.name]
        for f in dataclasses.fields(ModelConfig)
        if _is_scalar(model_hints[f.name])
    }
    train_hints = get_type_hints(TrainTextConfig)
    fields.update({name: train_hints[name] for name in TRAINING_KEYS})
    return fields


def check_names(names: list[str], path: str) -> None:
    """ConfigError naming every unknown name and listing the tunable ones."""
    known = tunable_fields()
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ConfigError(
            f"{path}: unknown hyperparameter(s) {unknown}; expected names of scalar "
            f"train.model fields or {list(TRAINING_KEYS)}: {sorted(known)}"
        )


def apply_overrides(
    config: TrainTextConfig, values: Mapping[str, Any], path: str = "hyperparameters"
) -> TrainTextConfig:
    """`config` with `values` (name -> value) replacing its fields, validated like YAML.

    Raises ConfigError naming `{path}.{name}` for an unknown name, a value of the wrong type,
    or a value the config rejects (e.g. dropout 1.5).
    """
    check_names(list(values), path)
    hints = tunable_fields()
    converted = {name: convert(hints[name], v, f"{path}.{name}") for name, v in values.items()}
    model_values = {k: v for k, v in converted.items() if k not in TRAINING_KEYS}
    train_values = {k: v for k, v in converted.items() if k in TRAINING_KEYS}
    try:
        model = dataclasses.replace(config.model, **model_values)
        return dataclasses.replace(config, model=model, **train_values)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
