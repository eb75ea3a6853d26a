"""A human-readable summary of a DatasetFeatureStatisticsList: `report/index.html` with PNG
histograms (matplotlib, Agg backend) next to it.

Per split: a table of every feature (type, presence, numeric moments or string figures, top
values), then figures: label balance across splits, text length in tokens and characters,
numeric value histograms, series lengths. Plain HTML and relative image links, so the folder can
be opened from disk or served as is.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from seqline.components.plot_text import display_label, literal_text
from seqline.components.statistics import statistics_proto as sp
from seqline.components.statistics.statistics_files import (
    common_stats,
    custom_num,
    custom_stat,
    feature_name,
    histogram,
    value_counts,
)

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import statistics_pb2

INDEX = "index.html"


def _fmt(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def plot_file(split: str, feature: str, kind: str) -> str:
    """The PNG's file name for one figure: readable slugs (the feature's cut to 40 characters)
    plus a digest of the exact names, so features whose slugs agree ("a b", "a.b", "a/b")
    never share a file (one histogram silently replaced the other)."""
    digest = hashlib.sha256(json.dumps([split, feature, kind]).encode("utf-8")).hexdigest()[:10]
    return f"{_safe(split)[:40]}-{_safe(feature)[:40]}-{_safe(kind)}-{digest}.png"


@literal_text()  # feature names and labels drawn as written, never as mathtext
def _bar_png(
    path: str, title: str, xlabel: str, buckets: Sequence[tuple[float, float, float]]
) -> None:
    """Histogram from (low, high, count) buckets."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(5, 2.8), dpi=80)
    if buckets:
        lefts, widths, heights = bar_geometry(buckets)
        ax.bar(lefts, heights, width=widths, align="edge", edgecolor="white")
        # Plain tick labels: a constant feature's axis otherwise reads "1e-12+1".
        ax.ticklabel_format(axis="x", style="plain", useOffset=False)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel("examples", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def bar_geometry(
    buckets: Sequence[tuple[float, float, float]],
) -> tuple[list[float], list[float], list[float]]:
    """(left edges, widths, heights) of the bars drawing (low, high, count) `buckets`.

    Quantile histograms hold point masses, buckets with low == high (every series of one
    length, a constant feature, ties): they are merged per value and drawn 1/50 of the data's
    range wide (1 unit, or 10% of the value, when the whole range is one value), centred on it,
    instead of 1e-12 wide, which drew nothing."""
    points: dict[float, float] = {}
    spans: list[tuple[float, float, float]] = []
    for low, high, count in buckets:
        if high > low:
            spans.append((low, high, count))
        else:
            points[low] = points.get(low, 0.0) + count
    lowest = min(b[0] for b in buckets) if buckets else 0.0
    highest = max(b[1] for b in buckets) if buckets else 0.0
    span = highest - lowest
    point_width = span / 50 if span > 0 else max(abs(lowest) * 0.1, 1.0)
    lefts = [low for low, _, _ in spans] + [x - point_width / 2 for x in points]
    widths = [high - low for low, high, _ in spans] + [point_width] * len(points)
    heights = [count for _, _, count in spans] + list(points.values())
    return lefts, widths, heights


@literal_text()  # feature names and labels drawn as written, never as mathtext
def _label_png(path: str, title: str, per_split: dict[str, dict[str, float]]) -> None:
    """Grouped bars: share of each label value per split. Tick labels are cut to 30 characters
    (the table below the figure has them in full) and slanted; the figure widens with the
    number of labels, so long or many labels do not overlap into one line."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    labels = sorted({label for counts in per_split.values() for label in counts})
    fig, ax = plt.subplots(figsize=(max(5.0, 1.5 + 0.45 * len(labels)), 3.6), dpi=80)
    width = 0.8 / max(len(per_split), 1)
    for i, (split, counts) in enumerate(per_split.items()):
        total = sum(counts.values()) or 1.0
        xs = [j + i * width for j in range(len(labels))]
        shares = [counts.get(label, 0.0) / total for label in labels]
        ax.bar(xs, shares, width=width, label=display_label(split))
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(labels))])
    ax.set_xticklabels(
        [display_label(label) for label in labels], fontsize=8, rotation=30, ha="right"
    )
    ax.set_ylabel("share", fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _buckets(hist: statistics_pb2.Histogram | None) -> list[tuple[float, float, float]]:
    if hist is None:
        return []
    return [(b.low_value, b.high_value, b.sample_count) for b in hist.buckets]


def _feature_row(feature: statistics_pb2.FeatureNameStatistics, num_examples: int) -> str:
    from tensorflow_metadata.proto.v0 import statistics_pb2  # noqa: PLC0415

    common = common_stats(feature)
    present = common.num_non_missing / num_examples if num_examples else 0.0
    kind = statistics_pb2.FeatureNameStatistics.Type.Name(feature.type)
    if feature.HasField("num_stats"):
        n = feature.num_stats
        details = (
            f"mean {_fmt(n.mean)}, std {_fmt(n.std_dev)}, min {_fmt(n.min)}, median "
            f"{_fmt(n.median)}, max {_fmt(n.max)}, zeros {_fmt(n.num_zeros)}, NaN "
            f"{_fmt(custom_num(feature, sp.NUM_NAN))}, Inf "
            f"{_fmt(custom_num(feature, sp.NUM_POS_INF) + custom_num(feature, sp.NUM_NEG_INF))}"
        )
        if custom_stat(feature, sp.SERIES_COUNT) is not None:
            details += (
                f"<br>series {_fmt(custom_num(feature, sp.SERIES_COUNT))}, length "
                f"{_fmt(custom_num(feature, sp.SERIES_LENGTH_MIN))}.."
                f"{_fmt(custom_num(feature, sp.SERIES_LENGTH_MAX))}, frequency "
                f"{_fmt(custom_num(feature, sp.SERIES_FREQUENCY))}, gaps "
                f"{_fmt(custom_num(feature, sp.SERIES_GAPS))} (missing steps "
                f"{_fmt(custom_num(feature, sp.SERIES_MISSING_STEPS))}), irregular "
                f"{_fmt(custom_num(feature, sp.SERIES_IRREGULAR_SPACINGS))}, duplicates "
                f"{_fmt(custom_num(feature, sp.SERIES_DUPLICATE_TIMESTAMPS))}, out of order "
                f"{_fmt(custom_num(feature, sp.SERIES_OUT_OF_ORDER_EXAMPLES))}"
            )
            grid = custom_stat(feature, sp.SERIES_GRID_STEPS)
            if grid is not None:  # ingest_series' own grid: data steps, not window ends
                details += (
                    f"<br>data grid (ingest_series): {_fmt(grid.num)} steps, "
                    f"{_fmt(custom_num(feature, sp.SERIES_GRID_MISSING_STEPS))} missing in "
                    f"{_fmt(custom_num(feature, sp.SERIES_GRID_GAPS))} gap(s)"
                )
    else:
        s = feature.string_stats
        top = ", ".join(
            f"{html.escape(v.value[:40])} ({_fmt(v.frequency)})" for v in s.top_values[:5]
        )
        details = f"distinct ~{_fmt(s.unique)}, avg length {_fmt(s.avg_length)} chars"
        if custom_stat(feature, sp.AVG_NUM_TOKENS) is not None:
            details += (
                f", avg {_fmt(custom_num(feature, sp.AVG_NUM_TOKENS))} tokens, empty "
                f"{_fmt(custom_num(feature, sp.NUM_EMPTY))}"
            )
        if s.invalid_utf8_count:
            details += f", invalid UTF-8 {_fmt(s.invalid_utf8_count)}"
        details += f"<br>top: {top}"
    return (
        f"<tr><td>{html.escape(feature_name(feature))}</td><td>{kind}</td>"
        f"<td>{present:.1%}</td><td>{_fmt(common.avg_num_values)}</td><td>{details}</td></tr>"
    )


def write_report(
    stats: statistics_pb2.DatasetFeatureStatisticsList,
    directory: str,
    label_feature: str = "",
    title: str = "Example statistics",
) -> str:
    """Writes `{directory}/index.html` and its PNGs (local directory); returns the HTML path."""
    os.makedirs(directory, exist_ok=True)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;font-size:13px}"
        "img{margin:4px}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    labels: dict[str, dict[str, float]] = {}
    for dataset in stats.datasets:
        for feature in dataset.features:
            if feature_name(feature) == label_feature:
                labels[dataset.name] = value_counts(feature)
    if labels:
        _label_png(
            os.path.join(directory, "labels.png"), f"label balance ({label_feature})", labels
        )
        parts.append("<h2>Label balance</h2><img src='labels.png'>")
        rows = "".join(
            f"<tr><td>{html.escape(split)}</td><td>"
            + ", ".join(f"{html.escape(k)}: {_fmt(v)}" for k, v in sorted(counts.items()))
            + "</td></tr>"
            for split, counts in labels.items()
        )
        parts.append(f"<table><tr><th>split</th><th>counts</th></tr>{rows}</table>")
    for dataset in stats.datasets:
        split = dataset.name
        parts.append(f"<h2>Split {html.escape(split)}: {_fmt(dataset.num_examples)} examples</h2>")
        parts.append(
            "<table><tr><th>feature</th><th>type</th><th>present</th><th>values/example</th>"
            "<th>summary</th></tr>"
        )
        parts.extend(_feature_row(f, dataset.num_examples) for f in dataset.features)
        parts.append("</table>")
        images: list[str] = []
        for feature in dataset.features:
            name = feature_name(feature)
            plots: list[tuple[str, str, list[tuple[float, float, float]]]] = []
            if feature.HasField("num_stats"):
                plots.append(("values", name, _buckets(histogram(feature, "STANDARD"))))
                lengths = custom_stat(feature, sp.SERIES_LENGTH_QUANTILES)
                if lengths is not None:
                    plots.append(("series", "series length", _buckets(lengths.histogram)))
            for stat_name, xlabel in (
                (sp.TOKEN_LENGTH_HISTOGRAM, "length in tokens"),
                (sp.CHAR_LENGTH_HISTOGRAM, "length in characters"),
            ):
                stat = custom_stat(feature, stat_name)
                if stat is not None and name != label_feature:
                    plots.append((stat_name, xlabel, _buckets(stat.histogram)))
            for key, xlabel, buckets in plots:
                if not buckets:
                    continue
                png = plot_file(split, name, key)
                title = f"{split}: {display_label(name, 50)}"
                _bar_png(os.path.join(directory, png), title, xlabel, buckets)
                images.append(f"<img src='{png}' alt='{html.escape(name)} {html.escape(key)}'>")
        parts.append("<div>" + "".join(images) + "</div>")
    parts.append("</body></html>")
    path = os.path.join(directory, INDEX)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(parts))
    return path
