"""Writes docs/components.md, the per-component reference, from the components themselves.

    python scripts/component_reference.py [--check]

--check exits 1 (printing nothing else) when docs/components.md is out of date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "components.md"


def render() -> str:
    from seqline.components.series_pipeline import KIND as SERIES
    from seqline.components.text_pipeline import KIND as TEXT
    from seqline.pipeline.reference import component_reference

    # The text kind with its optional tune node, so tune_text is documented too.
    kinds = [("text", TEXT.components(tuned=True)), ("series", SERIES.components())]
    return component_reference(kinds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = render()
    if args.check:
        return 0 if DOC.exists() and DOC.read_text(encoding="utf-8") == text else 1
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
