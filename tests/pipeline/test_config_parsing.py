from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import pytest

from seqline.pipeline.config_parsing import build_dataclass
from seqline.pipeline.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class Outer:
    name: str
    units: int = 64
    kind: Literal["lstm", "gru"] = "lstm"
    labels: tuple[str, ...] = ()
    ratios: dict[str, float] = field(default_factory=dict)
    bounds: dict[str, Inner] = field(default_factory=dict)
    flag: bool = False

    def __post_init__(self) -> None:
        if self.units <= 0:
            raise ConfigError(f"units: expected a positive integer, got {self.units}")


def test_builds_nested_types_and_converts_lists_to_tuples():
    cfg = build_dataclass(
        Outer,
        {
            "name": "x",
            "units": 8,
            "kind": "gru",
            "labels": ["neg", "pos"],
            "ratios": {"train": 1, "eval": 0.5},
            "bounds": {"accuracy": {"lower": 0.7}},
        },
        "components.train",
    )
    assert cfg.labels == ("neg", "pos")
    assert cfg.ratios == {"train": 1.0, "eval": 0.5}
    assert isinstance(cfg.ratios["train"], float)
    assert cfg.bounds["accuracy"] == Inner(lower=0.7)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"name": "x", "units": "64"}, "components.train.units: expected int, got '64' (str)"),
        ({"name": "x", "units": True}, "components.train.units: expected int"),
        ({"name": "x", "kind": "rnn"}, "components.train.kind: expected one of 'lstm', 'gru'"),
        ({"name": "x", "labels": "neg"}, "components.train.labels: expected a list of str"),
        ({"name": "x", "bounds": {"acc": {"lower": "a"}}}, "components.train.bounds.acc.lower"),
        ({"units": 3}, "components.train.name: required field is missing"),
        ({"name": "x", "unitz": 3}, "unknown field(s) ['unitz']"),
        ({"name": "x", "units": -1}, "components.train.units: expected a positive integer, got -1"),
    ],
)
def test_errors_name_the_field_expected_and_received(data, fragment):
    with pytest.raises(ConfigError) as info:
        build_dataclass(Outer, data, "components.train")
    assert fragment in str(info.value)


def test_none_mapping_means_all_defaults_but_required_fields_still_required():
    @dataclass(frozen=True)
    class AllDefaults:
        a: int = 1

    assert build_dataclass(AllDefaults, None, "x") == AllDefaults()
    with pytest.raises(ConfigError, match="name: required"):
        build_dataclass(Outer, None, "x")


@pytest.mark.parametrize(
    ("tp", "value", "hint"),
    [
        (float, "1e-3", "write 1.0e-3 (a dot and a signed exponent) or 0.001"),
        (float | None, "2E5", "write 2.0e+5"),
        (str, False, 'quote the value ("no", "yes")'),
    ],
)
def test_values_yaml_1_1_reads_surprisingly_get_a_hint(tp, value, hint):
    """`learning_rate: 1e-3` is text in YAML 1.1 and `labels: [no, yes]` are booleans: the
    errors said only `expected float, got '1e-3' (str)`."""
    from seqline.pipeline.config_parsing import convert

    with pytest.raises(ConfigError, match=re.escape(hint)):
        convert(tp, value, "x")
    # Text that is no number gets no number hint.
    with pytest.raises(ConfigError, match=r"got 'abc' \(str\)$"):
        convert(float, "abc", "x")


def test_errors_at_the_top_level_have_no_empty_path_prefix():
    with pytest.raises(ConfigError, match=r"^unknown field\(s\) \['nme'\]; Outer accepts"):
        build_dataclass(Outer, {"nme": "x"}, "")
    with pytest.raises(ConfigError, match=r"^expected a mapping \(Outer\), got 3 \(int\)"):
        build_dataclass(Outer, 3, "")
