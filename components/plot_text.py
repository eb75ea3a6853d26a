"""Text for the plots seqline draws from data (statistics, evaluate, train curves).

Labels, feature names and series ids are data: a figure must show them as written.

- `literal_text()`: matplotlib otherwise parses any string with two `$` as mathtext, so
  "$5-$10 price" was drawn as "5 − 10 price" and "$\\frac$ cost" raised a ValueError that
  failed the whole component. Every figure is built and saved inside it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def literal_text() -> Iterator[None]:
    """Within it, matplotlib draws every string as written (no mathtext) on the Agg backend.
    Build the figure and save it inside: a Text reads the setting when it is created."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg", force=False)
    with matplotlib.rc_context({"text.parse_math": False}):
        yield
