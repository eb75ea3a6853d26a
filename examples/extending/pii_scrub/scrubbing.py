"""Pure PII masking: no Beam, no TensorFlow, so tests call it directly.

scrub("mail me at ann@example.com", ("email",))
-> Scrubbed(text="mail me at [EMAIL]", found={"email": 1}, pii_fraction=0.6)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Longest patterns first: a card number is also a run of digits a phone pattern would take.
PATTERNS: dict[str, re.Pattern[str]] = {
    "card": re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)"),
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "phone": re.compile(r"(?<![\w+])\+?\d[\d ().-]{6,}\d(?!\w)"),
}
REASON_MOSTLY_PII = "mostly_pii"


@dataclass(frozen=True)
class Scrubbed:
    """A masked text, how many matches of each kind it had, and the fraction of the original
    characters that were PII (0.0 for an empty text)."""

    text: str
    found: dict[str, int]
    pii_fraction: float


def scrub(text: str, kinds: Sequence[str]) -> Scrubbed:
    """Replaces every match of the `kinds` patterns by `[KIND]`, in PATTERNS order."""
    found: dict[str, int] = {}
    original_length, masked_chars = len(text), 0
    for kind, pattern in PATTERNS.items():
        if kind not in kinds:
            continue

        def mask(match: re.Match[str], kind: str = kind) -> str:
            nonlocal masked_chars
            masked_chars += len(match.group(0))
            found[kind] = found.get(kind, 0) + 1
            return f"[{kind.upper()}]"

        text = pattern.sub(mask, text)
    fraction = masked_chars / original_length if original_length else 0.0
    return Scrubbed(text, found, fraction)


def rejection_reason(scrubbed: Scrubbed, max_pii_fraction: float) -> str | None:
    """REASON_MOSTLY_PII when more than `max_pii_fraction` of the text was PII, else None."""
    return REASON_MOSTLY_PII if scrubbed.pii_fraction > max_pii_fraction else None
