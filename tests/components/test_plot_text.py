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


# -- readable legends and ticks whatever the labels (many, long, "_"-prefixed) ------------------


def _one_vs_rest(names: list[str], n: int = 40) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    classes = np.arange(n) % len(names)
    return {name: (classes == k, rng.random(n)) for k, name in enumerate(names)}


def _legend_texts(figure) -> list[str]:  # noqa: ANN001
    return [t.get_text() for t in figure.axes[0].get_legend().get_texts()]


@pytest.mark.parametrize("draw", [plots.roc_png, plots.pr_png, plots.calibration_png])
def test_a_label_starting_with_underscore_has_its_legend_entry(figures, draw) -> None:
    draw(_one_vs_rest(["a", "_x", "c"]), "t")
    texts = _legend_texts(figures[-1])
    assert [t for t in texts if t.lstrip("\u200b") in ("a", "_x", "c")] == [
        "a",
        "\u200b_x",
        "c",
    ]


def test_thirty_classes_get_thirty_colours_and_a_legend_beside_the_plot(figures) -> None:
    from matplotlib.colors import to_hex

    names = [f"category_{k:02d}" for k in range(30)]
    plots.roc_png(_one_vs_rest(names, n=90), "ROC")
    figure = figures[-1]
    axes = figure.axes[0]
    curves = [line for line in axes.get_lines() if line.get_label() in names]
    assert len(curves) == 30
    assert len({to_hex(line.get_color()) for line in curves}) == 30
    legend = axes.get_legend().get_window_extent()
    plot = axes.get_window_extent()
    assert legend.x0 >= plot.x1  # beside the axes, not over the curves
    assert legend.y0 >= 0 and legend.y1 <= figure.bbox.height  # no entry cut off
    assert sorted(_legend_texts(figure)) == sorted([*names, "chance"])


def test_long_labels_are_shortened_in_legends_and_ticks(figures) -> None:
    long = "L" * 300
    plots.roc_png(_one_vs_rest([long, "b"]), "t")
    plots.confusion_matrix_png(np.eye(2, dtype=int), [long, "b"], "t")
    legend = _legend_texts(figures[0])
    ticks = [t.get_text() for t in figures[1].axes[0].get_xticklabels()]
    for texts in (legend, ticks):
        shown = next(t for t in texts if t.startswith("L"))
        assert shown == "L" * 29 + "…"


def test_statistics_label_chart_shortens_and_slants_long_labels(tmp_path: Path, figures) -> None:
    from seqline.components.statistics.report import write_report
    from tests.components.statistics.helpers import direct_statistics

    labels = ["_hidden", "M" * 300, "line1\nline2", *(f"label {k}" for k in range(9))]
    rows = [{"label": label} for label in labels]
    page = Path(write_report(direct_statistics({"train": rows}), str(tmp_path), "label"))
    html = page.read_text(encoding="utf-8")
    assert "M" * 300 in html  # the table keeps the full label
    (chart,) = [f for f in figures if "label balance" in f.axes[0].get_title()]
    ticks = [t for t in chart.axes[0].get_xticklabels() if t.get_text()]
    assert sorted(t.get_text() for t in ticks) == sorted(
        ["\u200b_hidden", "M" * 29 + "…", "line1 line2", *(f"label {k}" for k in range(9))]
    )
    assert all(t.get_rotation() > 0 for t in ticks)
    assert chart.get_figwidth() > 5  # widened for 12 labels
