"""SchemaConfig: where the schema comes from, and the defaults inference writes into it.
Pure (no TensorFlow, no Beam)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from seqline.pipeline.errors import ConfigError


@dataclass(frozen=True)
class SchemaConfig:
    """Config of the schema component (the YAML keys of a schema node).

    Attributes:
        curated_schema: a curated schema to use as is: a .pbtxt (or binary .pb) path, a folder
            holding schema.pbtxt, or "builtin:<name>" for one shipped with seqline (e.g.
            "builtin:text_classification"). Default None: infer (see reuse_inferred).
        reuse_inferred: without curated_schema, reuse the schema this node produced on an
            earlier run of this pipeline that validate accepted (found in the metadata store;
            a schema whose validation blocked is never reused), so later spans are validated
            against the first one's schema instead of their own; the *_drift_threshold keys
            below are written over the reused schema. Default True; False infers afresh from
            every span.
        infer_from_split: the split schemas are inferred from (falls back to the first).
            Default "train".
        max_enum_values: a non-text string feature with at most this many distinct values gets
            a string domain (an enum) listing them. Default 50.
        The thresholds below apply to inferred and reused schemas, not to a curated one (edit
        its drift_comparator / skew_comparator instead).
        label_drift_threshold: L-infinity threshold written to the label's drift_comparator
            (max change of any label's share between spans). Default 0.2. None: no check.
        categorical_drift_threshold: L-infinity drift / skew threshold for other enum features.
            Default None (no check).
        text_drift_threshold: Jensen-Shannon divergence threshold (base 2, 0..1) on the length
            in tokens of text features, for drift and skew. Default 0.2. None: no check.
        numeric_drift_threshold: Jensen-Shannon divergence threshold for numeric features, for
            drift and skew. Default None (no check).
    """

    curated_schema: str | None = None
    reuse_inferred: bool = True
    infer_from_split: str = "train"
    max_enum_values: int = 50
    label_drift_threshold: float | None = 0.2
    categorical_drift_threshold: float | None = None
    text_drift_threshold: float | None = 0.2
    numeric_drift_threshold: float | None = None

    def __post_init__(self) -> None:
        if self.curated_schema is not None and not self.curated_schema.strip():
            raise ConfigError(
                "curated_schema: expected a schema path or builtin:<name>, got an empty string; "
                "remove the key to infer the schema from statistics"
            )
        if self.max_enum_values < 1:
            raise ConfigError(f"max_enum_values: expected >= 1, got {self.max_enum_values}")
        for name in (
            "label_drift_threshold",
            "categorical_drift_threshold",
            "text_drift_threshold",
            "numeric_drift_threshold",
        ):
            value = getattr(self, name)
            if value is not None and (math.isnan(value) or not 0.0 < value <= 1.0):
                raise ConfigError(
                    f"{name}: expected a distance in (0, 1] or null (no check), got {value}"
                )
