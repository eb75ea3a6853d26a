"""Recursive multi-step forecasting and the streaming helper, on a fake forecaster whose
forecast is known exactly (no TensorFlow): the served and loaded backends are exercised by
tests/components/train/test_train_series.py and the series e2e test."""

from __future__ import annotations

import numpy as np
import pytest

from seqline.serving.client.forecasting import (
    ForecastInputError,
    RollingForecaster,
    ServedForecaster,
    recursive_forecast,
)
from seqline.serving.client.model_info import SignatureInfo, TensorSpecInfo


class LinearForecaster:
    """Forecasts y[t+k] = last y + k * (mean covariate of the window) for k = 1..S; records the
    windows it was asked about."""

    def __init__(self, lookback: int, features: int, steps: int) -> None:
        self.lookback, self.num_features, self.steps = lookback, features, steps
        self.num_targets, self.takes_series_id = 1, False
        self.calls: list[tuple[np.ndarray, list]] = []

    def predict(self, history, series_id=None):
        history = np.asarray(history, np.float32)
        assert history.shape[1:] == (self.lookback, self.num_features)
        self.calls.append((history.copy(), list(series_id or [])))
        slope = history[:, :, 1:].mean(axis=(1, 2)) if self.num_features > 1 else 1.0
        k = np.arange(1, self.steps + 1, dtype=np.float32)
        last = history[:, -1, 0]
        return (last[:, None] + np.multiply.outer(np.ones_like(last) * slope, k))[:, :, None]


def test_recursion_feeds_predictions_back_with_the_future_covariates():
    model = LinearForecaster(lookback=4, features=2, steps=2)
    history = np.stack([np.arange(6.0), np.zeros(6)], axis=1)  # last y = 5, covariate 0
    future = np.ones((5, 1))  # covariates over the forecast period
    out = recursive_forecast(model, history, 5, series_id=["s"], future_covariates=future)
    # Call 1: covariate 0 -> [5, 5]. Call 2: window y [4, 5, 5, 5], covariates [0, 0, 1, 1]
    # -> slope 0.5 -> [5.5, 6]. Call 3: y [5, 5, 5.5, 6], covariates all 1 -> [7] (of [7, 8]).
    assert out.shape == (1, 5)
    assert [len(c[0][0]) for c in model.calls] == [4, 4, 4]
    second_window = model.calls[1][0][0]
    np.testing.assert_array_equal(second_window[:, 0], [4, 5, 5, 5])
    np.testing.assert_array_equal(second_window[:, 1], [0, 0, 1, 1])
    np.testing.assert_allclose(out[0], [5, 5, 5.5, 6, 7], rtol=1e-6)
    assert all(ids == [b"s"] for _, ids in model.calls)


def test_covariates_must_be_given_or_held():
    model = LinearForecaster(lookback=3, features=2, steps=1)
    history = np.stack([np.arange(3.0), np.full(3, 2.0)], axis=1)
    with pytest.raises(ForecastInputError, match="future_covariates: the model has 1 covariate"):
        recursive_forecast(model, history, 2)
    held = recursive_forecast(model, history, 3, hold_covariates=True)
    np.testing.assert_allclose(held[0], [4, 6, 8])  # slope stays the held covariate, 2


def test_univariate_history_shapes_and_errors():
    model = LinearForecaster(lookback=3, features=1, steps=3)
    np.testing.assert_allclose(recursive_forecast(model, [1, 2, 3, 4], 4)[0], [5, 6, 7, 8])
    with pytest.raises(ForecastInputError, match=r"history: expected \[3, 1\]"):
        recursive_forecast(model, [1.0, 2.0], 2)
    with pytest.raises(ForecastInputError, match="finite"):
        recursive_forecast(model, [1.0, np.nan, 3.0], 2)
    with pytest.raises(ForecastInputError, match="steps: expected an integer >= 1"):
        recursive_forecast(model, [1.0, 2.0, 3.0], 0)


def test_rolling_forecaster_waits_for_a_full_window_then_slides():
    model = LinearForecaster(lookback=3, features=1, steps=2)
    stream = RollingForecaster(model, series_id="m1", initial_history=[10.0])
    assert stream.update(11.0) is None and not stream.ready
    np.testing.assert_allclose(stream.update(12.0), [13.0, 14.0])
    np.testing.assert_allclose(stream.update(20.0), [21.0, 22.0])
    np.testing.assert_array_equal(model.calls[-1][0][0, :, 0], [11.0, 12.0, 20.0])
    with pytest.raises(ForecastInputError, match="point: expected 1 finite value"):
        stream.update([1.0, 2.0])


class FakeClient:
    """What ServedForecaster needs of a PredictionClient: metadata() and predict()."""

    def __init__(self) -> None:
        self.requests = []

    def metadata(self):
        from seqline.serving.client.model_info import ModelMetadata

        signature = SignatureInfo(
            "tensorflow/serving/predict",
            inputs={
                "history": TensorSpecInfo("DT_FLOAT", (-1, 4, 1)),
                "series_id": TensorSpecInfo("DT_STRING", (-1,)),
            },
            outputs={"forecast": TensorSpecInfo("DT_FLOAT", (-1, 2))},
        )
        return ModelMetadata("m", 1, {"forecast": signature})

    def predict(self, inputs, signature_name=None):
        self.requests.append((signature_name, inputs))
        last = inputs["history"][:, -1, 0]
        return {"forecast": np.stack([last + 1, last + 2], axis=1).astype(np.float32)}


def test_served_forecaster_reads_the_layout_from_metadata():
    client = FakeClient()
    served = ServedForecaster(client)
    assert (served.lookback, served.num_features, served.steps) == (4, 1, 2)
    assert served.takes_series_id
    out = recursive_forecast(served, [[1], [2], [3], [4]], 3, series_id=["a"])
    np.testing.assert_allclose(out[0], [5, 6, 7])  # 2nd call: window [3, 4, 5, 6]
    signature, inputs = client.requests[0]
    assert signature == "forecast" and inputs["series_id"].tolist() == [b"a"]
    assert inputs["history"].dtype == np.float32


def test_forecast_cli_usage_errors_exit_2(tmp_path, capsys):
    from seqline.serving.cli import main

    model_dir = str(tmp_path)
    assert main(["forecast", "--saved-model", model_dir, "--history", "[1, 2", "--steps", "3"]) == 2
    assert "expected a JSON list" in capsys.readouterr().err
    history = tmp_path / "h.csv"
    history.write_text("value\n1.0\nabc\n")
    assert (
        main(["forecast", "--saved-model", model_dir, "--history", f"@{history}", "--steps", "3"])
        == 2
    )
    assert "line 3: cell 'abc': expected a plain number" in capsys.readouterr().err
    assert main(["forecast", "--saved-model", model_dir, "--history", "[1]", "--steps", "0"]) == 2
    assert "--steps: expected an integer >= 1" in capsys.readouterr().err


def test_forecast_cli_csv_history_reads_booleans_as_ingest_does(tmp_path):
    from seqline.serving.client.forecast_cli import UsageError, load_rows

    history = tmp_path / "h.csv"
    history.write_text("demand,holiday\n10.5,true\n11,FALSE\n12, True \n13,0\n")
    assert load_rows(f"@{history}", "--history") == [[10.5, 1.0], [11.0, 0.0], [12.0, 1.0], [13, 0]]
    history.write_text("demand,holiday\n10.5,yes\n")
    with pytest.raises(
        UsageError,
        match=r"line 2: cell 'yes': expected a plain number .* or a boolean \(true/false\)",
    ):
        load_rows(f"@{history}", "--history")


class KnownFutureForecaster(LinearForecaster):
    """LinearForecaster whose last covariate is known ahead: predict also takes its values over
    the H steps after the window, and adds their mean to every step (so they are visible)."""

    def __init__(self, lookback: int, features: int, steps: int, horizon: int) -> None:
        super().__init__(lookback, features, steps)
        self.takes_series_id = False
        self.num_future_covariates, self.horizon, self.takes_window_end = 1, horizon, False
        self.futures: list[np.ndarray] = []

    def predict(self, history, series_id=None, *, window_end=None, future_covariates=None):
        future = np.asarray(future_covariates, np.float32)
        assert future.shape[1:] == (self.horizon, 1)
        self.futures.append(future.copy())
        return super().predict(history, series_id) + future.mean(axis=(1, 2))[:, None, None]


def test_recursion_uses_every_supplied_future_covariate_row_and_pads_none():
    history = np.stack([np.arange(4.0), np.zeros(4)], axis=1)
    future = np.arange(10.0, 16.0)[:, None]  # 6 real rows, all distinct
    # N = 2 < S: the one call reads the first H real rows, not [10, 11, 11] (cut to N, padded).
    model = KnownFutureForecaster(lookback=4, features=2, steps=2, horizon=3)
    short = recursive_forecast(model, history, 1, future_covariates=future)
    np.testing.assert_array_equal(model.futures[0][0, :, 0], [10, 11, 12])
    direct = model.predict(history[None], future_covariates=future[None, :3])[0, :1, 0]
    np.testing.assert_allclose(short[0], direct)
    # N = 3: calls at 0 and S = 2 read rows 0-2 and 2-4; the fed-back window gets rows 0-1.
    model = KnownFutureForecaster(lookback=4, features=2, steps=2, horizon=3)
    recursive_forecast(model, history, 3, future_covariates=future)
    assert [f[0, :, 0].tolist() for f in model.futures] == [[10, 11, 12], [12, 13, 14]]
    np.testing.assert_array_equal(model.calls[1][0][0, -2:, 1], [10, 11])
    # (ceil(3/2) - 1) * 2 + 3 = 5 rows are needed; 4 are refused, never padded.
    with pytest.raises(ForecastInputError, match=r"so it needs 5 rows, got 4; supply"):
        recursive_forecast(model, history, 3, future_covariates=future[:4])
    # Without known-future covariates N rows are enough.
    plain = LinearForecaster(lookback=4, features=2, steps=2)
    assert recursive_forecast(plain, history, 3, future_covariates=future[:3]).shape == (1, 3)


def test_a_per_series_model_refuses_a_missing_or_empty_series_id_and_strips_spaces():
    model = LinearForecaster(lookback=3, features=1, steps=1)
    model.takes_series_id = True
    for ids in (None, [""], ["  "]):
        with pytest.raises(ForecastInputError, match=r"series_id: the model scales each series"):
            recursive_forecast(model, [1.0, 2.0, 3.0], 2, series_id=ids)
    assert model.calls == []  # refused before anything is sent
    recursive_forecast(model, [1.0, 2.0, 3.0], 2, series_id=[" s\t"])
    assert [ids for _, ids in model.calls] == [[b"s"], [b"s"]]
    with pytest.raises(ForecastInputError, match="--series-id"):
        RollingForecaster(model)
    served = ServedForecaster(FakeClient())
    with pytest.raises(ForecastInputError, match="got none for 1 history row"):
        served.predict(np.zeros((1, 4, 1)))


def test_an_id_the_model_was_not_trained_on_warns_and_still_forecasts():
    from seqline.serving.client.forecasting import UnknownSeriesWarning

    client = FakeClient()
    served = ServedForecaster(client)
    assert served.trained_series_ids is None  # a server does not say: no warning
    served.trained_series_ids = frozenset({"a", "b"})
    with pytest.warns(UnknownSeriesWarning, match=r"series_id 'A': not among the 2 series"):
        served.predict(np.zeros((1, 4, 1)), np.array(["A"], object))
    assert client.requests[-1][1]["series_id"].tolist() == [b"A"]  # case is kept
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownSeriesWarning)
        served.predict(np.zeros((2, 4, 1)), np.array(["a", "b "], object))


def test_step_forecaster_refuses_an_empty_series_id_for_a_per_series_model():
    from seqline.serving.client.forecasting import StepForecaster, UnknownSeriesWarning

    sent = []

    def call(signature, inputs):
        sent.append((signature, inputs))
        return {"state": np.zeros((1, 2), np.float32)}

    with pytest.raises(ForecastInputError, match="series_id: the model scales each series"):
        StepForecaster(call, 1, "", takes_series_id=True)
    assert sent == []
    trained = frozenset({"m"})
    StepForecaster(call, 1, " m ", takes_series_id=True, trained_series_ids=trained)
    assert sent[-1][1]["series_id"].tolist() == [b"m"]
    with pytest.warns(UnknownSeriesWarning, match="'M'"):
        StepForecaster(call, 1, "M", takes_series_id=True, trained_series_ids=trained)
    StepForecaster(call, 1)  # a single-series model: "" as before
    assert sent[-1][1]["series_id"].tolist() == [b""]


class SumStep:
    """A step model whose state is the running sum of the points it has seen (plus a start
    marker per series) and whose forecast is that state: what the client does with state and
    points is then visible exactly."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, signature, inputs):
        self.calls.append(signature)
        if signature == "step_start":
            return {"state": np.full((1, 1), 1000.0, np.float32)}
        state = inputs["state"] + inputs["value"].sum(axis=1, keepdims=True)
        return {"state": state, "forecast": state.copy()}


def test_step_forecaster_waits_for_l_points_and_restart_refeeds_the_last_l():
    from seqline.serving.client.forecasting import StepForecaster

    model = SumStep()
    stream = StepForecaster(model, 1, lookback=3)
    assert [stream.update(v) for v in (1.0, 2.0)] == [None, None] and not stream.ready
    np.testing.assert_allclose(stream.update(3.0), [1006.0])  # 1000 + 1 + 2 + 3: a window
    np.testing.assert_allclose(stream.update(4.0), [1010.0])  # remembers 1 beyond L
    # restart: the start state and the last L points, i.e. the window [2, 3, 4] exactly.
    np.testing.assert_allclose(stream.restart(), [1009.0])
    assert stream.points == 3 and stream.ready
    np.testing.assert_allclose(stream.update(5.0), [1014.0])
    np.testing.assert_allclose(stream.restart(), [1012.0])  # [3, 4, 5]: kept rows unchanged
    # A resumed stream keeps its point count when given; without it the count is unknown.
    resumed = StepForecaster(model, 1, state=stream.state, lookback=3, points=stream.points)
    assert resumed.points == 3 and resumed.ready
    unknown = StepForecaster(model, 1, state=stream.state, lookback=3)
    assert unknown.points is None and unknown.ready
    np.testing.assert_allclose(unknown.update(1.0), [1013.0])
    assert unknown.restart() is None and unknown.points == 1  # only the point sent since
    with pytest.raises(ForecastInputError, match="points: a count of points goes with the state"):
        StepForecaster(model, 1, lookback=3, points=5)


class StepClient:
    """A server for StepForecaster.from_client: metadata (L = 3, F = 1) and predict, serving
    version `served`; a call naming another version fails NOT_FOUND as a server's would."""

    def __init__(self) -> None:
        self.served = 4
        self.model = SumStep()
        self.versions: list[int | None] = []

    def metadata(self, version=None):
        from seqline.serving.client.model_info import ModelMetadata
        from seqline.serving.client.retry import RequestFailed
        from seqline.serving.errors import Code

        if version is not None and version != self.served:
            raise RequestFailed(Code.NOT_FOUND, f"Servable not found: version {version}")
        step = SignatureInfo(
            "tensorflow/serving/predict",
            inputs={
                "value": TensorSpecInfo("DT_FLOAT", (-1, 1)),
                "state": TensorSpecInfo("DT_FLOAT", (-1, 1)),
            },
            outputs={"forecast": TensorSpecInfo("DT_FLOAT", (-1, 1))},
        )
        window = SignatureInfo(
            "tensorflow/serving/predict",
            inputs={"history": TensorSpecInfo("DT_FLOAT", (-1, 3, 1))},
            outputs={"forecast": TensorSpecInfo("DT_FLOAT", (-1, 1))},
        )
        return ModelMetadata("m", version or self.served, {"step": step, "forecast": window})

    def predict(self, inputs, signature_name=None, version=None):
        from seqline.serving.client.retry import RequestFailed
        from seqline.serving.errors import Code

        self.versions.append(version)
        if version is not None and version != self.served:
            raise RequestFailed(Code.NOT_FOUND, f"Servable not found: version {version}")
        return self.model(signature_name, inputs)


def test_a_served_stream_is_pinned_to_its_version_and_restart_moves_it_on():
    from seqline.serving.client.forecasting import StepForecaster, StreamVersionError

    client = StepClient()
    stream = StepForecaster.from_client(client, step_seconds=60)
    assert (stream.lookback, stream.version) == (3, 4)
    for value in (1.0, 2.0, 3.0):
        stream.update(value, timestamp=60 * int(value))
    assert set(client.versions) == {4}  # every call named the version the state belongs to
    client.served = 5  # a push replaced version 4
    with pytest.raises(
        StreamVersionError,
        match=r"made by model version 4.*stream.restart\(\).*This point was kept, not lost",
    ):
        stream.update(4.0, timestamp=240)
    assert stream.points == 3  # the state has not seen 4.0
    with pytest.raises(ForecastInputError, match="duplicate"):  # its time was kept too
        stream.update(4.0, timestamp=240)
    # Until restart() the state would miss 4.0: the next point is kept too, not sent.
    client.served, calls = 4, len(client.versions)
    with pytest.raises(StreamVersionError, match=r"has not seen its last 1 point\(s\)"):
        stream.update(5.0, timestamp=300)
    assert len(client.versions) == calls  # 5.0 was not sent
    client.served = 5
    # The documented recovery loses nothing: on version 5, from the window [3, 4, 5].
    np.testing.assert_allclose(stream.restart(), [1012.0])
    assert stream.version == 5 and client.versions[-1] == 5 and stream.points == 3
    np.testing.assert_allclose(stream.update(6.0, timestamp=360), [1018.0])  # [3, 4, 5] + 6
    # A saved state resumes on the version that made it.
    resumed = StepForecaster.from_client(client, state=stream.state, points=4, version=5)
    assert resumed.version == 5 and resumed.ready
    # ... and a version no longer served says so and how to go on (was a raw NOT_FOUND).
    with pytest.raises(
        StreamVersionError,
        match=r"version: the saved state belongs to model version 4, which the server no longer "
        r"serves .*Start a new stream without state=.*last L points",
    ):
        StepForecaster.from_client(client, state=stream.state, points=4, version=4)


def test_streams_refuse_gaps_duplicates_and_time_going_backwards():
    from seqline.serving.client.forecasting import StepForecaster

    hour = 3600
    model = LinearForecaster(lookback=2, features=1, steps=1)
    stream = RollingForecaster(model, step_seconds=hour)
    stream.update(1.0, timestamp=0)
    stream.update(2.0, timestamp=hour)
    with pytest.raises(ForecastInputError, match=r"expected 7200 \(one step of 3600 s.*got 36000"):
        stream.update(3.0, timestamp=10 * hour)
    with pytest.raises(ForecastInputError, match=r"after the last point's \(3600\).*duplicate"):
        stream.update(3.0, timestamp=hour)
    with pytest.raises(ForecastInputError, match=r"earlier\); streams must be gap-free"):
        stream.update(3.0, timestamp=0)
    assert [c[0][0, :, 0].tolist() for c in model.calls] == [[1.0, 2.0]]  # none got in
    stream.update(3.0, timestamp=2 * hour)
    unknown_step = RollingForecaster(model)  # without the step only the order is checked
    unknown_step.update(1.0, timestamp=0)
    unknown_step.update(2.0, timestamp=5 * hour)
    with pytest.raises(ForecastInputError, match="duplicate"):
        unknown_step.update(2.0, timestamp=5 * hour)
    step = StepForecaster(SumStep(), 1, lookback=2, step_seconds=hour)
    step.update(1.0, timestamp=0)
    with pytest.raises(ForecastInputError, match=r"got 10800 \(3 steps after it\)"):
        step.update(1.0, timestamp=3 * hour)
    assert step.points == 1
    with pytest.raises(ForecastInputError, match="step_seconds: expected"):
        RollingForecaster(model, step_seconds=0)


def test_predict_checks_the_history_as_recursive_forecast_does():
    client = FakeClient()
    served = ServedForecaster(client)
    for bad, says in (
        ([[1.0], [np.inf], [3.0], [4.0]], "finite values"),
        ([[1.0], [np.nan], [3.0], [4.0]], "finite values"),
        ([["abc"], [2.0], [3.0], [4.0]], "history: expected numbers"),
        ([[1.0, 2.0], [2.0], [3.0], [4.0]], "every row 1 wide"),
    ):
        with pytest.raises(ForecastInputError, match=says):
            served.predict(np.asarray(bad, dtype=object), np.array(["a"], object))
        with pytest.raises(ForecastInputError, match=says):
            served.request_inputs(bad, ["a"])
    assert client.requests == []  # refused before anything was sent


def test_held_covariates_are_not_materialised_and_huge_steps_are_refused():
    from seqline.serving.client.forecasting import _future_covariates

    model = LinearForecaster(lookback=2, features=2, steps=1)
    window = np.array([[[1.0, 5.0], [2.0, 6.0]]], np.float32)
    held = _future_covariates(window, 10**11, 1, None, True, 10**11, model)
    assert held.shape == (1, 10**11, 1) and held.strides[1] == 0  # a view of one row
    assert held[0, 10**11 - 1, 0] == 6.0
    with pytest.raises(ForecastInputError, match="steps: expected at most"):
        recursive_forecast(model, window[0], 10**20, hold_covariates=True)
