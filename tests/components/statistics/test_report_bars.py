"""The statistics report's histograms draw point masses (every series of one length, a
constant feature) as visible bars: they were drawn 1e-12 wide, an empty plot with an axis
labelled "1e-12+1"."""

from __future__ import annotations

import pytest

from seqline.components.statistics.report import _bar_png, bar_geometry


def test_a_constant_feature_is_one_visible_bar_centred_on_its_value() -> None:
    # A quantile histogram of a feature that is always 48: ten buckets at [48, 48].
    lefts, widths, heights = bar_geometry([(48.0, 48.0, 10.0)] * 10)
    assert heights == [100.0]
    assert widths[0] >= 1.0
    assert lefts[0] + widths[0] / 2 == pytest.approx(48.0)


def test_point_masses_among_ranges_get_a_share_of_the_range() -> None:
    buckets = [(0.0, 5.0, 3.0), (5.0, 5.0, 4.0), (5.0, 5.0, 2.0), (5.0, 10.0, 1.0)]
    lefts, widths, heights = bar_geometry(buckets)
    assert sum(heights) == 10.0  # nothing dropped
    point = heights.index(6.0)  # the two ties at 5 merged
    assert widths[point] == pytest.approx(10.0 / 50)
    assert lefts[point] + widths[point] / 2 == pytest.approx(5.0)
    assert sorted(zip(lefts, widths, strict=True))[0] == (0.0, 5.0)


def test_the_plot_axis_has_no_offset_notation(tmp_path, monkeypatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seen = {}
    close = plt.close

    def keep_axis(fig) -> None:
        fig.canvas.draw()
        axis = fig.axes[0].xaxis
        seen["offset"] = axis.get_major_formatter().get_offset()
        seen["xlim"] = fig.axes[0].get_xlim()
        close(fig)

    monkeypatch.setattr(plt, "close", keep_axis)
    _bar_png(str(tmp_path / "b.png"), "train: x", "x", [(1.0, 1.0, 5.0)] * 4)
    assert (tmp_path / "b.png").stat().st_size > 0
    assert seen["offset"] == ""
    low, high = seen["xlim"]
    assert high - low > 0.5  # the bar around 1.0 is visible, not a 1e-12 sliver
