"""Text and colours for the plots seqline draws from data (statistics, evaluate, train curves).

Labels, feature names and series ids are data: a figure must show them as written and stay
readable whatever they are.

- `literal_text()`: matplotlib otherwise parses any string with two `$` as mathtext, so
  "$5-$10 price" was drawn as "5 − 10 price" and "$\\frac$ cost" raised a ValueError that
  failed the whole component. Every figure is built and saved inside it.
- `display_label()`: the text a legend entry or tick shows: at most LABEL_CHARS characters
  (an ellipsis marks the cut), control characters as spaces, and a leading "_" kept visible
  (matplotlib leaves artists whose label starts with "_" out of the legend). The HTML tables
  beside the figures keep the full label.
- `distinct_colors()`: one colour per curve, never repeating below 60 curves (matplotlib's
  default cycle repeats every 10).
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Iterator

# Longest label a legend entry or tick shows.
LABEL_CHARS = 30
# Put before a label that starts with "_": matplotlib hides such legend entries.
ZERO_WIDTH_SPACE = "\u200b"


@contextlib.contextmanager
def literal_text() -> Iterator[None]:
    """Within it, matplotlib draws every string as written (no mathtext) on the Agg backend.
    Build the figure and save it inside: a Text reads the setting when it is created."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg", force=False)
    with matplotlib.rc_context({"text.parse_math": False}):
        yield


def display_label(name: str, limit: int = LABEL_CHARS) -> str:
    """`name` as a legend entry or tick label: control characters (newline, ESC...) as spaces,
    cut to `limit` characters with "…", and a zero-width space before a leading "_"."""
    text = "".join(" " if unicodedata.category(c) == "Cc" else c for c in str(name))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if text.startswith("_"):
        text = ZERO_WIDTH_SPACE + text
    return text


def distinct_colors(count: int) -> list[tuple[float, float, float, float]]:
    """`count` RGBA colours, all different: tab10 up to 10, tab20 up to 20, tab20 + tab20b +
    tab20c up to 60, else evenly spaced along the turbo colormap."""
    from matplotlib import colormaps  # noqa: PLC0415

    if count <= 10:
        return [colormaps["tab10"](i) for i in range(count)]
    if count <= 20:
        return [colormaps["tab20"](i) for i in range(count)]
    if count <= 60:
        pool = [colormaps[name](i) for name in ("tab20", "tab20b", "tab20c") for i in range(20)]
        return pool[:count]
    return [colormaps["turbo"](i / (count - 1)) for i in range(count)]
