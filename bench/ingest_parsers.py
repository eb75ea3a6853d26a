"""How fast the ingest parsers read: records/s of ingest_text's CSV and JSONL parsers and
ingest_series' CSV parser on generated in-memory files (pure Python, no Beam).

    .venv/bin/python bench/ingest_parsers.py [--records 50000]

Prints one line per parser. The CSV framing (pipeline/csv_stream.py) tracks quote state in
Python, so this is the figure to watch when changing it.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import time

from seqline.components.ingest_series import parsing as series_parsing
from seqline.components.ingest_series.config import IngestSeriesConfig
from seqline.components.ingest_text import parsing as text_parsing
from seqline.components.ingest_text.config import IngestTextConfig

WORDS = ["good", "bad", "film", "plot", 'a "quoted" word', "commas, here", "line\nbreak"]


def reviews(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [(" ".join(rng.choices(WORDS, k=rng.randint(20, 200))), rng.choice(["neg", "pos"]))
            for _ in range(n)]  # fmt: skip


def timed(label: str, n: int, parse) -> None:  # noqa: ANN001
    start = time.perf_counter()
    count = sum(1 for _ in parse())
    seconds = time.perf_counter() - start
    print(
        f"{label:<28} {n:>8} records  {seconds:6.2f} s  {n / seconds:10,.0f} rec/s  ({count} items)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    n = parser.parse_args().records
    data = reviews(n)
    csv_bytes = ("text,label\n" + "".join(
        '"' + t.replace('"', '""') + f'",{label}\n' for t, label in data)).encode()  # fmt: skip
    jsonl_bytes = "".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in data)
    config = IngestTextConfig(source="x.csv", labels=("neg", "pos"))
    jsonl_config = IngestTextConfig(source="x.jsonl", format="jsonl", labels=("neg", "pos"))
    timed("ingest_text csv", n,
          lambda: text_parsing.parse_csv(io.BytesIO(csv_bytes), "x.csv", config))  # fmt: skip
    timed("ingest_text jsonl", n, lambda: text_parsing.parse_jsonl(
        io.BytesIO(jsonl_bytes.encode()), "x.jsonl", jsonl_config))  # fmt: skip
    series_bytes = ("timestamp,value\n" + "".join(
        f"{1_000_000 + 3600 * i},{i * 0.5}\n" for i in range(n))).encode()  # fmt: skip
    series_config = IngestSeriesConfig(source="x.csv", frequency="1h")
    timed("ingest_series csv", n, lambda: series_parsing.parse_csv(
        io.BytesIO(series_bytes), "x.csv", 0, series_config))  # fmt: skip


if __name__ == "__main__":
    main()
