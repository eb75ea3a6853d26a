"""The pure core and config of the out-of-tree example component examples/extending/pii_scrub
(its pipeline run is tests/e2e/test_extending.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "extending"))

from pii_scrub.config import ScrubConfig  # noqa: E402
from pii_scrub.scrubbing import rejection_reason, scrub  # noqa: E402

from seqline.pipeline.errors import ConfigError  # noqa: E402


def test_scrub_masks_each_kind_and_measures_the_pii_fraction():
    text = "Loved it. Mail ann.lee@example.com, call +1 (555) 123-4567, card 4111 1111 1111 1111"
    result = scrub(text, ("email", "phone", "card"))
    assert result.text == "Loved it. Mail [EMAIL], call [PHONE], card [CARD]"
    assert result.found == {"email": 1, "phone": 1, "card": 1}
    pii = len("ann.lee@example.com") + len("+1 (555) 123-4567") + len("4111 1111 1111 1111")
    assert result.pii_fraction == pytest.approx(pii / len(text))
    assert rejection_reason(result, 0.5) == "mostly_pii"
    assert rejection_reason(result, 0.9) is None


def test_only_the_configured_kinds_are_masked_and_plain_numbers_stay():
    assert scrub("ann@example.com 555 123 4567", ("phone",)).text == "ann@example.com [PHONE]"
    plain = "10/10, seen 2 times in 2019"
    assert scrub(plain, ("email", "phone", "card")) == scrub(plain, ()).__class__(plain, {}, 0.0)
    assert scrub("", ("email",)).pii_fraction == 0.0


def test_config_names_the_bad_field():
    with pytest.raises(ConfigError, match="kinds: expected a non-empty list"):
        ScrubConfig(kinds=("ssn",))
    with pytest.raises(ConfigError, match="max_pii_fraction: expected a fraction"):
        ScrubConfig(max_pii_fraction=2.0)
