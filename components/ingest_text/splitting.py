"""Deterministic hash split: the same key lands in the same split on every run and runner.

The key (a record's id column, or else its text as the model reads it: transform's
standardization, `seqline.schemas.text.standardized_text`, so texts differing only in case,
punctuation, HTML tags or spacing share a split) is hashed with SHA-256 (not Python's `hash`,
which is salted per process) into a point in [0, 1); the splits own consecutive intervals of
[0, 1) sized by their ratios, laid out in sorted name order so that listing the splits in
another order (which does not change the config's fingerprint) cannot change the assignment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

_SCALE = float(2**64)


def hash_fraction(key: str) -> float:
    """A uniform-looking, stable point in [0, 1) for `key` (first 64 bits of its SHA-256)."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def split_boundaries(ratios: Mapping[str, float]) -> list[tuple[float, str]]:
    """[(upper bound, split name), ...] in sorted name order; the last bound is exactly 1.0 so
    rounding in the ratios can never leave a key without a split."""
    names = sorted(ratios)
    bounds: list[tuple[float, str]] = []
    total = 0.0
    for name in names:
        total += float(ratios[name])
        bounds.append((total, name))
    bounds[-1] = (1.0, bounds[-1][1])
    return bounds


def assign_split(key: str, boundaries: list[tuple[float, str]]) -> str:
    """The split of `key` given `split_boundaries(ratios)`."""
    point = hash_fraction(key)
    for upper, name in boundaries:
        if point < upper:
            return name
    return boundaries[-1][1]


def carve_eval(split: str, key: str, eval_from_train: float) -> str:
    """The split of a record the source put in `split`, after moving `eval_from_train` of the
    source's train records to eval (split_by "source" on data with only train and test, such
    as aclImdb: early stopping needs a split that is neither).

    The same key always makes the same choice; the hash point is the one `assign_split` uses,
    so a record's fate does not depend on the order records arrive in.
    """
    if split == "train" and eval_from_train > 0 and hash_fraction(key) < eval_from_train:
        return "eval"
    return split
