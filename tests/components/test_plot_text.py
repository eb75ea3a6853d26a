"""Labels, feature names and series ids in seqline's figures are data, drawn as written: a `$`
is never mathtext (it crashed statistics, "$\\frac$ cost", or was drawn wrongly, "$5-$10")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqline.components.evaluate import plots

FRAC = "$\\frac$ cost"
PRICE = "$5-$10 price"


@pytest.fixture
def figures(monkeypatch) -> list:
    """Every matplotlib Figure saved while the test runs (after it was drawn)."""
    from matplotlib.figure import Figure

    saved: list = []
    savefig = Figure.savefig

    def keep(self, *args, **kwargs):  # noqa: ANN001, ANN202
        result = savefig(self, *args, **kwargs)
        saved.append(self)
        return result

    monkeypatch.setattr(Figure, "savefig", keep)
    return saved


def drawn_texts(figures: list) -> list:
    """The visible, non-empty Text artists of `figures` (titles, ticks, legend entries)."""
    from matplotlib.text import Text

    return [
        t for figure in figures for t in figure.findobj(Text) if t.get_visible() and t.get_text()
    ]


def assert_literal(figures: list, *strings: str) -> None:
    """Each of `strings` is drawn (inside some text), and no text with a `$` is mathtext."""
    texts = drawn_texts(figures)
    for string in strings:
        assert any(string in t.get_text() for t in texts), (string, [t.get_text() for t in texts])
    dollars = [t for t in texts if "$" in t.get_text()]
    assert dollars
    assert not any(t.get_parse_math() for t in dollars)


def test_evaluate_plots_draw_dollar_labels_as_written(figures) -> None:
    labels = [FRAC, PRICE, "$100 {$200"]
    positive = np.array([1, 0, 1, 0, 1], dtype=bool)
    scores = np.array([0.9, 0.2, 0.6, 0.4, 0.7])
    curves = {name: (positive, scores) for name in labels}
    matrix = np.arange(9).reshape(3, 3)
    pngs = [
        plots.confusion_matrix_png(matrix, labels, f"candidate on 'test' {PRICE}"),
        plots.roc_png(curves, FRAC),
        plots.pr_png(curves, PRICE),
        plots.calibration_png(curves, PRICE),
        plots.error_by_horizon_png({PRICE: np.array([1.0, 2.0])}, title=FRAC),
        plots.forecast_vs_actual_png(np.ones(3), {PRICE: np.ones(3)}, title=f"series {FRAC}"),
    ]
    assert all(png.startswith(b"\x89PNG") for png in pngs)
    assert_literal(figures, FRAC, PRICE, "$100 {$200")


def test_statistics_report_draws_dollar_labels_and_feature_names_as_written(
    tmp_path: Path, figures
) -> None:
    from seqline.components.statistics.report import write_report
    from tests.components.statistics.helpers import direct_statistics

    rows = [{"label": FRAC if i % 2 else PRICE, PRICE: float(i)} for i in range(6)]
    stats = direct_statistics({"train": rows, "$eval$": rows[:3]})
    page = Path(write_report(stats, str(tmp_path), "label")).read_text(encoding="utf-8")
    assert "labels.png" in page
    assert_literal(figures, FRAC, PRICE, "$eval$")
