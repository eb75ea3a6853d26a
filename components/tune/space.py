"""The search space: parsed from YAML, checked against train_text's config, declared to
KerasTuner (no TensorFlow or KerasTuner import here; `declare` receives their HyperParameters).

YAML shape, one entry per tuned field (names: components/train/overrides.py):

    space:
      units: {choice: [32, 64, 128]}             # any scalar field: a list of candidates
      layer: {choice: [gru, lstm]}
      learning_rate: {log_range: [1.0e-4, 1.0e-2]}   # sampled log-uniformly
      dropout: {range: [0.0, 0.5], step: 0.1}    # uniformly (step optional)
      num_layers: {range: [1, 3]}                # int fields: integers, step 1 by default

Every candidate (each choice, both ends of a range) is applied to the base train config before
anything runs, so a value train would reject is a ConfigError naming `space.<name>`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from seqline.components.train.config import TrainTextConfig
from seqline.components.train.overrides import apply_overrides, check_names, tunable_fields
from seqline.pipeline.config_parsing import convert
from seqline.pipeline.errors import ConfigError

DimensionKind = Literal["choice", "range", "log_range"]
KINDS: tuple[str, ...] = ("choice", "range", "log_range")


@dataclass(frozen=True)
class Dimension:
    """One tuned field.

    Attributes:
        name: the config field (see overrides.tunable_fields).
        kind: "choice" (one of `values`), "range" (uniform in [low, high]) or "log_range"
            (log-uniform in [low, high], low > 0).
        values: the candidates of a choice (() for ranges).
        low, high: a range's ends (inclusive); ints for int fields.
        step: a range's step (None: continuous for floats, 1 for ints).
        integer: the field is an int (KerasTuner Int instead of Float).
    """

    name: str
    kind: DimensionKind
    values: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    integer: bool = False

    def typed(self, value: Any) -> Any:
        """`value` as KerasTuner handed it back, as the config field's own value: a choice's
        candidate equal to it (KerasTuner stores true/false choices as 1/0, which train's
        bool fields refuse), else the value itself."""
        if self.kind == "choice":
            for candidate in self.values:
                if candidate == value and type(candidate) is not type(value):
                    return candidate
        return value

    def declare(self, hp: Any) -> None:
        """Adds this dimension to a keras_tuner.HyperParameters."""
        if self.kind == "choice":
            hp.Choice(self.name, list(self.values))
        elif self.integer:
            sampling = "log" if self.kind == "log_range" else "linear"
            step = int(self.step) if self.step is not None else None
            hp.Int(self.name, int(self.low), int(self.high), step=step, sampling=sampling)
        else:
            sampling = "log" if self.kind == "log_range" else "linear"
            hp.Float(self.name, self.low, self.high, step=self.step, sampling=sampling)


def _fail(path: str, expected: str, got: Any, fix: str) -> ConfigError:
    return ConfigError(f"{path}: expected {expected}, got {got!r}; {fix}")


def _check_finite(path: str, value: Any, fix: str) -> None:
    """ConfigError for a NaN or infinite number (YAML's .nan / .inf): a range sampled up to
    infinity (or from NaN) proposes nothing train can use, and comparisons with NaN are all
    false, so the other checks would let it through."""
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(path, "a finite number", value, fix)


def _dimension(name: str, spec: Any, base: TrainTextConfig, path: str) -> Dimension:
    if not isinstance(spec, Mapping) or len(spec) - ("step" in spec) != 1:
        raise _fail(
            path,
            f"a mapping with one of {list(KINDS)} (and, for ranges, an optional step)",
            spec,
            f"e.g. {name}: {{choice: [a, b]}} or {{range: [low, high]}}",
        )
    kind = next(k for k in spec if k != "step")
    if kind not in KINDS:
        raise _fail(path, f"one of {list(KINDS)}", kind, f"e.g. {name}: {{choice: [a, b]}}")
    given = spec[kind]
    hint = tunable_fields()[name]
    if kind == "choice":
        if "step" in spec:
            raise _fail(f"{path}.step", "no step for a choice", spec["step"], "remove it")
        if not isinstance(given, list | tuple) or not given:
            raise _fail(f"{path}.choice", "a non-empty list", given, "e.g. [32, 64]")
        for i, value in enumerate(given):
            _check_finite(f"{path}.choice[{i}]", value, "list finite candidates only")
            apply_overrides(base, {name: value}, f"{path}.choice[{i}]")
        # As the field's type (0 -> 0.0 for a float field): KerasTuner wants one type.
        values = tuple(convert(hint, v, path) for v in given)
        if len(set(values)) != len(values):
            raise _fail(f"{path}.choice", "distinct values", list(given), "remove duplicates")
        return Dimension(name, "choice", values=values)
    if hint not in (int, float):
        raise _fail(
            f"{path}.{kind}",
            "a choice: ranges need a numeric field",
            given,
            f"{name} is not a number; use {name}: {{choice: [...]}}",
        )
    if not isinstance(given, list | tuple) or len(given) != 2:
        raise _fail(f"{path}.{kind}", "[low, high]", given, "e.g. [1.0e-4, 1.0e-2]")
    for end, value in zip(("low", "high"), given, strict=True):
        _check_finite(
            f"{path}.{kind}.{end}",
            value,
            "a range is sampled between its ends, so both must be finite, e.g. [1.0e-4, 1.0e-2]",
        )
        apply_overrides(base, {name: value}, f"{path}.{kind}.{end}")
    low, high = (convert(hint, v, path) for v in given)
    if not low < high:
        raise _fail(f"{path}.{kind}", "low < high", list(given), "e.g. [1.0e-4, 1.0e-2]")
    if kind == "log_range" and low <= 0:
        raise _fail(f"{path}.log_range", "low > 0", low, "use range for ranges that include 0")
    step = spec.get("step")
    integer = hint is int
    if step is not None:
        _check_finite(f"{path}.step", step, "give a positive step <= high - low, or leave it out")
        ok = isinstance(step, int if integer else int | float) and not isinstance(step, bool)
        if not ok or step <= 0 or step > high - low:
            raise _fail(
                f"{path}.step",
                f"a positive {'integer' if integer else 'number'} <= high - low",
                step,
                "or leave it out",
            )
        if kind == "log_range":
            raise _fail(f"{path}.step", "no step for a log_range", step, "remove it")
    return Dimension(name, kind, low=low, high=high, step=step, integer=integer)


def parse_space(space: Mapping[str, Any], base: TrainTextConfig) -> tuple[Dimension, ...]:
    """The dimensions of `space` (name -> spec), in the order given.

    Raises ConfigError naming `space.<name>...` for an empty space, an unknown name, an
    unknown kind, or a candidate that `base` with it would reject.
    """
    if not space:
        raise ConfigError(
            "space: expected at least one hyperparameter, got none; e.g. space: "
            "{units: {choice: [32, 64]}, learning_rate: {log_range: [1.0e-4, 1.0e-2]}}"
        )
    check_names([str(name) for name in space], "space")
    return tuple(_dimension(str(name), spec, base, f"space.{name}") for name, spec in space.items())


# Combinations checked before anything runs; a larger space has its candidates checked one by
# one, and a clashing combination a trial draws is recorded as a failed trial (search.py).
MAX_CHECKED_COMBINATIONS = 4096


def candidate_trains(
    dimensions: tuple[Dimension, ...], base: TrainTextConfig
) -> Iterator[tuple[str, Any, TrainTextConfig]]:
    """(path, values, base with them) per combination of the dimensions' candidates (each
    choice, both ends of each range), or per candidate alone past MAX_CHECKED_COMBINATIONS.

    Raises ConfigError naming the combination when train's config rejects it."""
    candidates = [
        [(d.name, v) for v in (d.values if d.kind == "choice" else (d.low, d.high))]
        for d in dimensions
    ]
    if math.prod(len(c) for c in candidates) > MAX_CHECKED_COMBINATIONS:
        for name, value in itertools.chain.from_iterable(candidates):
            yield f"space.{name}", value, apply_overrides(base, {name: value}, f"space.{name}")
        return
    for combination in itertools.product(*candidates):
        values = dict(combination)
        try:
            config = apply_overrides(base, values, "trial")
        except ConfigError as e:
            raise ConfigError(
                f"space: the combination {values} is one train rejects ({e}); every "
                "combination of the candidates can be drawn, so narrow the choices that clash"
            ) from None
        yield "space", values, config
