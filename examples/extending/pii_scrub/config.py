"""The pii_scrub component's config (the `config:` mapping of its node in a pipeline YAML)."""

from __future__ import annotations

from dataclasses import dataclass

from pii_scrub.scrubbing import PATTERNS
from seqline.pipeline.errors import ConfigError


@dataclass(frozen=True)
class ScrubConfig:
    """Attributes:
    kinds: which PII to mask, among "email", "phone", "card". Default all three.
    max_pii_fraction: a record whose text is more than this fraction PII (by characters) is
        rejected with reason "mostly_pii" instead of being kept mostly masked. Default 0.5.
    max_reject_ratio: the node fails (DataError) when more than this fraction of the records
        is rejected. Default 0.05.
    """

    kinds: tuple[str, ...] = ("email", "phone", "card")
    max_pii_fraction: float = 0.5
    max_reject_ratio: float = 0.05

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - set(PATTERNS))
        if unknown or not self.kinds:
            raise ConfigError(
                f"kinds: expected a non-empty list among {sorted(PATTERNS)}, got {list(self.kinds)}"
            )
        for name in ("max_pii_fraction", "max_reject_ratio"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name}: expected a fraction in [0, 1], got {value}")
