"""Mixed precision: on for GPU training when asked, off on CPU (where float16 math is emulated and
slower), and the decision is always logged with its reason.

The head is float32 whatever the policy (models.py), so probabilities and losses keep their
range; LSTM/GRU under mixed_float16 still use cuDNN kernels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

MIXED = "mixed_float16"
FLOAT32 = "float32"


@dataclass(frozen=True)
class PrecisionChoice:
    """The dtype policy chosen and why."""

    policy: str
    reason: str


def choose_precision(requested: bool, num_gpus: int) -> PrecisionChoice:
    """mixed_float16 when `requested` and training runs on >= 1 GPU; float32 otherwise."""
    if not requested:
        return PrecisionChoice(FLOAT32, "model.mixed_precision is false")
    if num_gpus < 1:
        return PrecisionChoice(
            FLOAT32,
            "model.mixed_precision is true but there is no GPU: float16 is slower on CPU, "
            "training in float32",
        )
    return PrecisionChoice(MIXED, f"model.mixed_precision is true and {num_gpus} GPU(s) train")


def apply_precision(keras_module: Any, requested: bool, num_gpus: int) -> PrecisionChoice:
    """Chooses, logs and sets the global dtype policy of `keras_module` (Keras 3 or tf_keras)."""
    choice = choose_precision(requested, num_gpus)
    logger.info("precision: %s (%s)", choice.policy, choice.reason)
    keras_module.mixed_precision.set_global_policy(choice.policy)
    return choice
