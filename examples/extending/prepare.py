"""Writes the reviews the extending example reads: generated, deterministic, no download.

    python examples/extending/prepare.py [--n 2000] [--out examples/extending/data/reviews.csv]

reviews.csv  text,label   generated movie reviews (labels neg/pos, seqline's synthetic corpus);
             the first 30 end with a reader's e-mail address and phone number, and 3 more
             rows are nothing but an e-mail address. So pii_scrub masks 33 addresses and 30
             phone numbers, and rejects 3 records as mostly_pii. Same arguments ->
             byte-identical file.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from seqline.components.ingest_text.synthetic import write_synthetic_reviews

HERE = Path(__file__).resolve().parent
WITH_PII = 30  # reviews that end with an address and a phone number
ONLY_PII = 3  # rows that are nothing but an address (rejected as mostly_pii)


def write_reviews_with_pii(path: str | Path, n: int = 2000, seed: int = 5) -> Path:
    """Writes `n` generated reviews plus the PII rows (see the module docstring) to `path`."""
    path = Path(path)
    write_synthetic_reviews(path, n, seed=seed)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    for i, row in enumerate(rows[1 : WITH_PII + 1], start=1):
        row[0] += f" Write to me at reader{i}@mail.example.com or +1 555 010 {i:04d}."
    rows += [[f"fan{i}@example.org", "pos"] for i in range(ONLY_PII)]
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="generated reviews (default 2000)")
    parser.add_argument("--out", default=str(HERE / "data" / "reviews.csv"))
    args = parser.parse_args()
    print(f"wrote {write_reviews_with_pii(args.out, args.n)}")


if __name__ == "__main__":
    main()
