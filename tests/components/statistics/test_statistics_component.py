"""The statistics component on Beam (FnApiRunner) agrees with the direct computation, and
writes the proto files and an HTML report with PNG histograms."""

from __future__ import annotations

import os

import pytest

from seqline.components.statistics import statistics_proto as sp
from seqline.components.statistics.config import StatisticsConfig
from seqline.components.statistics.statistics_files import (
    STATISTICS_PBTXT,
    custom_num,
    features_by_name,
    read_statistics,
)
from tests.components.statistics.helpers import direct_statistics, run_statistics, write_examples


def _records(n: int, offset: int = 0) -> list[dict]:
    words = ["good", "bad", "film", "plot", "actor", "scene"]
    return [
        {
            "text": " ".join(words[(i * 7 + j) % 6] for j in range((i + offset) % 13 + 1)),
            "label": "pos" if (i + offset) % 3 else "neg",
            "score": float((i * 37 + offset) % 101) / 4.0,
        }
        for i in range(n)
    ]


@pytest.mark.slow
def test_component_matches_direct_computation(tmp_path) -> None:
    splits = {"train": _records(700), "eval": _records(150, offset=5)}
    examples = write_examples(tmp_path / "examples", splits, labels=["neg", "pos"])
    summary, out = run_statistics(tmp_path, examples, StatisticsConfig(batch_size=64))

    assert summary == {"splits": ["train", "eval"], "examples": 850, "features": 3}
    assert out.properties["counts"] == {"train": 700, "eval": 150}
    stats = read_statistics(out.uri)
    direct = direct_statistics(splits, StatisticsConfig())
    assert [d.name for d in stats.datasets] == ["train", "eval"]
    for beam_split, direct_split in zip(stats.datasets, direct.datasets, strict=True):
        assert beam_split.num_examples == direct_split.num_examples
        ours, reference = features_by_name(beam_split), features_by_name(direct_split)
        assert sorted(ours) == ["label", "score", "text"]
        score, ref_score = ours["score"].num_stats, reference["score"].num_stats
        assert score.common_stats == ref_score.common_stats
        assert (score.min, score.max, score.num_zeros) == (
            ref_score.min,
            ref_score.max,
            ref_score.num_zeros,
        )
        assert score.mean == pytest.approx(ref_score.mean, rel=1e-9)
        assert score.std_dev == pytest.approx(ref_score.std_dev, rel=1e-9)
        assert (
            ours["label"].string_stats.rank_histogram
            == reference["label"].string_stats.rank_histogram
        )
        for name in (sp.AVG_NUM_TOKENS, sp.NUM_EMPTY):
            assert custom_num(ours["text"], name) == pytest.approx(
                custom_num(reference["text"], name)
            )

    assert os.path.exists(os.path.join(out.uri, STATISTICS_PBTXT))
    report = os.path.join(out.uri, "report")
    with open(os.path.join(report, "index.html"), encoding="utf-8") as f:
        html = f.read()
    pngs = sorted(f for f in os.listdir(report) if f.endswith(".png"))
    # Readable names plus a digest of the exact split, feature and figure (statistics/report.py).
    assert "labels.png" in pngs
    for stem in ("train-text-token_length_histogram-", "train-score-values-"):
        assert [p for p in pngs if p.startswith(stem)], (stem, pngs)
    for png in pngs:
        assert f"src='{png}'" in html
        with open(os.path.join(report, png), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_series_statistics_on_beam_match_direct(tmp_path) -> None:
    records = []
    for series, step in (("a", 10), ("b", 10), ("c", 5)):
        stamps = [i * step for i in range(30) if not (series == "a" and i in (7, 8))]
        records.extend({"sid": series, "ts": t, "y": float(t % 7)} for t in stamps)
    records.append({"sid": "b", "ts": 40, "y": 0.0})  # a repeated timestamp
    config = StatisticsConfig(
        text_features=(), label_feature="", timestamp_feature="ts", series_id_feature="sid",
        batch_size=16,
    )  # fmt: skip
    examples = write_examples(tmp_path / "examples", {"train": records})
    _summary, out = run_statistics(tmp_path, examples, config)
    beam_ts = features_by_name(read_statistics(out.uri).datasets[0])["ts"]
    direct_ts = features_by_name(direct_statistics({"train": records}, config).datasets[0])["ts"]
    assert beam_ts.custom_stats == direct_ts.custom_stats
    assert custom_num(beam_ts, sp.SERIES_COUNT) == 3
    assert (
        custom_num(beam_ts, sp.SERIES_GAPS) == 1
        and custom_num(beam_ts, sp.SERIES_MISSING_STEPS) == 2
    )
    assert custom_num(beam_ts, sp.SERIES_DUPLICATE_TIMESTAMPS) == 1
    assert custom_num(beam_ts, sp.SERIES_FREQUENCY) == 10


@pytest.mark.parametrize(
    ("config", "named"),
    [
        (StatisticsConfig(text_features=("txt",)), "text_features 'txt'"),
        (StatisticsConfig(label_feature="lbl"), "label_feature 'lbl'"),
    ],
)
def test_a_named_feature_the_examples_lack_is_refused_not_silently_unchecked(
    tmp_path, config, named
) -> None:
    """A typo in a feature's name used to turn off that role's checks (empty texts, drift,
    skew, the label's domain) while the run passed."""
    from seqline.pipeline.errors import ConfigError

    examples = write_examples(tmp_path / "examples", {"train": _records(20)}, ["neg", "pos"])
    with pytest.raises(ConfigError) as error:
        run_statistics(tmp_path, examples, config)
    message = str(error.value)
    assert named in message
    assert "['label', 'score', 'text']" in message
    assert "fix the name(s) in components.statistics" in message
