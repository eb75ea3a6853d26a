"""Writes the intent example's CSV from the chatterbot-corpus package (no download at run time).

    pip install 'seqline[intent]'            # chatterbot-corpus 1.3.3, BSD-3-Clause
    python examples/intent/prepare.py        # -> examples/intent/data/intents.csv

chatterbot-corpus ships English chat-bot conversations as YAML, one file per topic ("greetings",
"money", "sports", "tech_support", ...). Every statement of a topic's conversations (the user's
prompt and the bot's answers alike) becomes one labelled short text: the task is telling which
of the topics a message belongs to. Statements are deduplicated (case-insensitively); a statement
found under two topics is ambiguous and dropped, and so are topics with fewer than
MIN_TEXTS distinct statements (only "health" today), which leaves 20 classes.

intents.csv  text,label     ~1,900 rows, UTF-8, sorted by label then text (the split is by
                            hash of the text, so the order does not matter)
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIN_TEXTS = 15


def corpus_dir() -> Path:
    """The installed chatterbot-corpus English data folder (raises with the fix if absent)."""
    try:
        import chatterbot_corpus
    except ImportError as exc:
        raise SystemExit(
            "examples/intent needs the chatterbot-corpus package: pip install 'seqline[intent]'"
        ) from exc
    return Path(chatterbot_corpus.__file__).resolve().parent / "data" / "english"


def _statements(conversation: object) -> list[str]:
    if not isinstance(conversation, list):
        return []
    return [" ".join(s.split()) for s in conversation if isinstance(s, str) and s.strip()]


def load_intents(data_dir: Path | None = None, min_texts: int = MIN_TEXTS) -> list[tuple[str, str]]:
    """(text, topic) pairs from the corpus's English YAML files (see the module docstring)."""
    import yaml

    by_topic: dict[str, dict[str, str]] = defaultdict(dict)
    for path in sorted((data_dir or corpus_dir()).glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for conversation in document.get("conversations") or []:
            for text in _statements(conversation):
                by_topic[path.stem].setdefault(text.lower(), text)
    topics_of: dict[str, set[str]] = defaultdict(set)
    for topic, texts in by_topic.items():
        for key in texts:
            topics_of[key].add(topic)
    rows = []
    for topic in sorted(by_topic):
        unique = sorted(t for k, t in by_topic[topic].items() if len(topics_of[k]) == 1)
        if len(unique) >= min_texts:
            rows += [(text, topic) for text in unique]
    return rows


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "data" / "intents.csv")
    args = parser.parse_args(argv)
    rows = load_intents()
    labels = sorted({label for _, label in rows})
    print(f"{write_csv(args.out, rows)}: {len(rows)} texts, {len(labels)} labels: {labels}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
