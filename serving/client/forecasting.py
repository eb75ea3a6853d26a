"""Forecasting with an exported seqline forecaster: beyond its horizon, and one point at a time.

A seqline forecaster's SavedModel has a "forecast" signature (components/train/series_export.py):

    forecast(history: float32 [B, L, F] [, series_id: string [B]] [, window_end: int64 [B]]
             [, future_covariates: float32 [B, H, K]]) -> forecast: float32 [B, S]
                                                         (or [B, S, T] for T targets)

raw values in and out (the scaling is inside). window_end (epoch seconds of the history's last
step) is an input when the model derives calendar features from timestamps; future_covariates
when it was trained with K known-future covariates (the last K covariate columns): their values
over the H steps after window_end. `predict` checks both before anything is sent.
Two backends give it one interface (`Forecaster`):
    SavedModelForecaster(path)          loads the SavedModel in this process (TensorFlow only)
    ServedForecaster(PredictionClient)  calls a model server (seqline serve or TF Serving)
Both read L, F, S and T from the signature itself, so nothing else needs to be known.

recursive_forecast(forecaster, history, steps) forecasts N steps for any N by feeding the
predictions back, S at a time, as the seed tutorials' predictSteps does: the window slides by S,
its newest S rows get the predicted targets, and the covariate columns get the future covariates
the caller supplies (or the last observed ones, held, when hold_covariates=True). Every supplied
row is used as given and none is invented: a model with K known-future covariates reads H rows
ahead of each of its ceil(N/S) calls, so it needs (ceil(N/S) - 1) * S + H rows
(`future_rows_needed`) and refuses fewer. Errors compound with every round trip; beyond a few
horizons prefer a model trained with a longer H.

Streaming (the seeds' stateful-RNN use), two ways; the server stays stateless in both, so any
replica can answer and a restart loses nothing:
    StepForecaster     the "step" signature: sends one point and the state the previous call
                       returned; O(1) server work per point (components/train/series_step.py);
                       pinned to the model version its state belongs to
    RollingForecaster  keeps the last L points client-side and sends the whole window to
                       "forecast" as each new point arrives; O(L) per point, any forecaster
Both return None until L points have arrived. Streams must be gap-free (the model's windows are
L consecutive steps of ingest's grid): with timestamp= on each point (and step_seconds) a
skipped, repeated or out-of-order point is refused.

Series ids (per-series scaling): ids are case-sensitive and stripped of surrounding whitespace
(as ingest and the exported graph strip them). A model that takes series_id refuses a request
without one, or with an empty one: the graph would scale it with the global statistics. An id
the model was not trained on is still forecast with those global statistics (a new series), but
SavedModelForecaster knows the trained ids (`trained_series_ids`, read from the SavedModel) and
warns with UnknownSeriesWarning; a ServedForecaster cannot know them (None: no warning).

Imports numpy only; TensorFlow loads in SavedModelForecaster, grpc in the client.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from seqline.schemas.series import FLOAT32_MAX, series_id_text

FORECAST_SIGNATURE = "forecast"
HISTORY_INPUT = "history"
SERIES_ID_INPUT = "series_id"
WINDOW_END_INPUT = "window_end"
FUTURE_COVARIATES_INPUT = "future_covariates"
FORECAST_OUTPUT = "forecast"
# The most steps recursive_forecast takes: numpy cannot index beyond it.
MAX_STEPS = int(np.iinfo(np.intp).max) // 2


class ForecastInputError(ValueError):
    """The history, steps or covariates given cannot be forecast from (the message says what
    was expected, what was received and how to fix it)."""


class UnknownSeriesWarning(UserWarning):
    """A series id the model was not trained on: it is forecast with the global scaling
    statistics (the fallback for new series), which is wrong for a mistyped id."""


class Forecaster(Protocol):
    """One call of a forecaster's "forecast" signature.

    Attributes:
        lookback: L, history steps per request.
        num_features: F, columns per step (targets first, then covariates).
        num_targets: T.
        steps: S, forecast steps per call.
        takes_series_id: the signature has a series_id input (per-series scaling).

    Forecasters with known-future inputs (KnownFuture) also have takes_window_end,
    num_future_covariates and horizon, and predict takes window_end / future_covariates.
    """

    lookback: int
    num_features: int
    num_targets: int
    steps: int
    takes_series_id: bool

    def predict(self, history: np.ndarray, series_id: np.ndarray | None = None) -> np.ndarray:
        """history float32 [B, L, F] -> forecast float32 [B, S, T] (original units)."""
        ...


class KnownFuture:
    """The known-future part of a forecast signature, read from its inputs.

    Attributes:
        takes_window_end: the model derives calendar features from window_end (int64 [B]).
        num_future_covariates: K, the future covariates it takes over the horizon (0: none).
        horizon: H, the steps of future covariates per request (0 when K == 0).
    """

    takes_window_end: bool = False
    num_future_covariates: int = 0
    horizon: int = 0
    # The ids per-series scaling was fitted on; None when they are not known (served models).
    trained_series_ids: frozenset[str] | None = None

    def _read_known_future(self, inputs: dict[str, Any], shape_of: Any) -> None:
        self.takes_window_end = WINDOW_END_INPUT in inputs
        future = inputs.get(FUTURE_COVARIATES_INPUT)
        if future is not None:
            shape = list(shape_of(future))
            self.horizon, self.num_future_covariates = int(shape[1]), int(shape[2])

    takes_series_id: bool = False
    steps: int
    num_targets: int

    def predict(
        self,
        history: np.ndarray,
        series_id: np.ndarray | None = None,
        *,
        window_end: Any = None,
        future_covariates: Any = None,
    ) -> np.ndarray:
        """Forecast float32 [B, S] (one target) or [B, S, T] for history float32 [B, L, F]."""
        inputs = self.request_inputs(history, series_id, window_end, future_covariates)
        return _as_steps_targets(self._forecast(inputs), self.steps, self.num_targets)

    def _forecast(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The signature's raw "forecast" output for request_inputs' arrays: the transport."""
        raise NotImplementedError

    def request_inputs(
        self,
        history: np.ndarray,
        series_id: np.ndarray | None,
        window_end: Any = None,
        future_covariates: Any = None,
    ) -> dict[str, np.ndarray]:
        """The forecast signature's inputs as arrays: history float32 [B, L, F], series_id
        (when the signature takes it) and the checked known-future inputs."""
        window = _check_history(self, history)  # type: ignore[arg-type]
        inputs: dict[str, np.ndarray] = {HISTORY_INPUT: window}
        if self.takes_series_id:
            ids = _series_ids(series_id, len(window), required=True)
            warn_unknown_series(ids, self.trained_series_ids)
            inputs[SERIES_ID_INPUT] = np.array(ids, dtype=object)
        inputs.update(self.known_future_inputs(len(window), window_end, future_covariates))
        return inputs

    def known_future_inputs(
        self, batch: int, window_end: Any = None, future_covariates: Any = None
    ) -> dict[str, np.ndarray]:
        """The checked window_end / future_covariates inputs this model needs ({} if none).
        Raises ForecastInputError when one is missing or has the wrong shape."""
        inputs: dict[str, np.ndarray] = {}
        if self.takes_window_end:
            if window_end is None:
                raise ForecastInputError(
                    "window_end: the model derives calendar features from timestamps, so it "
                    f"needs window_end, int64 [{batch}] epoch seconds of each history's last "
                    "step; got none. Pass window_end= (seqline forecast: --window-end)"
                )
            ends = np.asarray(window_end, dtype=np.int64).reshape(-1)
            if ends.shape != (batch,):
                raise ForecastInputError(
                    f"window_end: expected one timestamp per history row ({batch}), got "
                    f"{np.asarray(window_end).shape}"
                )
            inputs[WINDOW_END_INPUT] = ends
        k, h = self.num_future_covariates, self.horizon
        if k:
            if future_covariates is None:
                raise ForecastInputError(
                    f"future_covariates: the model was trained with {k} known-future "
                    f"covariate(s), so it needs their values over the next {h} steps, float "
                    f"[{batch}, {h}, {k}]; got none. Pass future_covariates= (seqline "
                    "forecast: --future-covariates)"
                )
            array = np.asarray(future_covariates, dtype=np.float32)
            if array.ndim == 2:
                array = np.broadcast_to(array[None], (batch, *array.shape))
            if array.ndim != 3 or array.shape[0] != batch or array.shape[2] != k:
                raise ForecastInputError(
                    f"future_covariates: expected [{batch}, {h}, {k}] (batch, steps ahead, "
                    f"future covariates), got {np.asarray(future_covariates).shape}"
                )
            if array.shape[1] < h:
                raise ForecastInputError(
                    f"future_covariates: expected values for all {h} steps ahead, got "
                    f"{array.shape[1]}; the model forecasts {h} steps from them, so supply the "
                    "full horizon (e.g. the whole temperature forecast)"
                )
            if not np.isfinite(array).all():
                raise ForecastInputError(
                    "future_covariates: expected finite values, got NaN or infinity"
                )
            inputs[FUTURE_COVARIATES_INPUT] = np.ascontiguousarray(array[:, :h, :])
        return inputs


def _layout(
    history_shape: Sequence[int | None] | None,
    forecast_shape: Sequence[int | None] | None,
    source: str,
) -> tuple[int, int, int, int]:
    """(L, F, S, T) from the signature's history and forecast shapes."""
    ok = (
        history_shape is not None
        and len(history_shape) == 3
        and all(d is not None and d > 0 for d in history_shape[1:])
        and forecast_shape is not None
        and len(forecast_shape) in (2, 3)
        and all(d is not None and d > 0 for d in forecast_shape[1:])
    )
    if not ok:
        raise ForecastInputError(
            f"{source}: expected a seqline forecaster's '{FORECAST_SIGNATURE}' signature "
            f"(history [None, L, F] -> forecast [None, S] or [None, S, T]), got history "
            f"{history_shape} and forecast {forecast_shape}; export the model with the series "
            "pipeline's train component"
        )
    # `ok` above checked both shapes have the dimensions read here.
    assert history_shape is not None and forecast_shape is not None
    lookback, features = int(history_shape[1] or 0), int(history_shape[2] or 0)
    steps = int(forecast_shape[1] or 0)
    targets = int(forecast_shape[2] or 0) if len(forecast_shape) == 3 else 1
    return lookback, features, steps, targets


def _as_steps_targets(forecast: np.ndarray, steps: int, targets: int) -> np.ndarray:
    return np.asarray(forecast, dtype=np.float32).reshape(-1, steps, targets)


class SavedModelForecaster(KnownFuture):
    """The "forecast" signature of a SavedModel loaded in this process.

    Args:
        path: SavedModel directory (a Model artifact's saved_model/, or a pushed version dir).
        signature: signature name (default "forecast").
    """

    def __init__(self, path: str, signature: str = FORECAST_SIGNATURE) -> None:
        import tensorflow as tf

        loaded = tf.saved_model.load(path)
        if signature not in loaded.signatures:
            raise ForecastInputError(
                f"{path}: expected a signature {signature!r}, the SavedModel has "
                f"{sorted(loaded.signatures)}; is it a seqline forecaster?"
            )
        self._loaded = loaded  # keeps the function's variables alive
        self._fn = loaded.signatures[signature]
        _args, inputs = self._fn.structured_input_signature
        history = inputs.get(HISTORY_INPUT)
        forecast = self._fn.structured_outputs.get(FORECAST_OUTPUT)
        self.lookback, self.num_features, self.steps, self.num_targets = _layout(
            None if history is None else history.shape.as_list(),
            None if forecast is None else forecast.shape.as_list(),
            path,
        )
        self.takes_series_id = SERIES_ID_INPUT in inputs
        self._read_known_future(inputs, lambda spec: spec.shape.as_list())
        if self.takes_series_id:
            self.trained_series_ids = captured_series_ids(self._fn)

    def _forecast(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        import tensorflow as tf

        kwargs = {name: tf.constant(value) for name, value in inputs.items()}
        return self._fn(**kwargs)[FORECAST_OUTPUT].numpy()


class ServedForecaster(KnownFuture):
    """The "forecast" signature of a model on a server, through a PredictionClient (gRPC) or
    a RestClient: anything with `predict(inputs, signature_name=...)`.

    Args:
        client: seqline.serving.client.client.PredictionClient (or RestClient).
        lookback, num_features, steps, num_targets, takes_series_id: the signature's layout;
            None (default) reads it from the server's metadata (PredictionClient only).
        signature: signature name (default "forecast").
    """

    def __init__(
        self,
        client: Any,
        signature: str = FORECAST_SIGNATURE,
        *,
        lookback: int | None = None,
        num_features: int | None = None,
        steps: int | None = None,
        num_targets: int = 1,
        takes_series_id: bool | None = None,
    ) -> None:
        self._client = client
        self._signature = signature
        if None in (lookback, num_features, steps, takes_series_id):
            info = client.metadata().signatures.get(signature)
            if info is None:
                raise ForecastInputError(
                    f"the served model has no signature {signature!r}; is it a seqline forecaster?"
                )
            history = info.inputs.get(HISTORY_INPUT)
            forecast = info.outputs.get(FORECAST_OUTPUT)
            lookback, num_features, steps, num_targets = _layout(
                None if history is None else history.shape,
                None if forecast is None else forecast.shape,
                f"served signature {signature!r}",
            )
            takes_series_id = SERIES_ID_INPUT in info.inputs
            self._read_known_future(info.inputs, lambda spec: spec.shape)
        self.lookback, self.num_features = int(lookback), int(num_features)  # type: ignore[arg-type]
        self.steps, self.num_targets = int(steps), int(num_targets)  # type: ignore[arg-type]
        self.takes_series_id = bool(takes_series_id)

    def _forecast(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        return self._client.predict(inputs, signature_name=self._signature)[FORECAST_OUTPUT]


def captured_series_ids(function: Any) -> frozenset[str] | None:
    """The series ids a per-series model's scaling was fitted on, or None if they cannot be told.

    Per-series scaling looks each id up in the key vocabulary of TFT's per-key analyzers (the
    train split's ids, components/transform/series_preprocessing.py), which the exported
    function captures as a constant string vector [K], one per scaled column and all equal.
    None when there is no such vector, or several that differ (then they are something else).
    """
    import tensorflow as tf

    vocabularies = {
        tuple(sorted(t.numpy().tolist()))
        for t in function.captured_inputs
        if t.dtype == tf.string and t.shape.rank == 1
    }
    if len(vocabularies) != 1:
        return None
    return frozenset(v.decode("utf-8", "surrogateescape") for v in vocabularies.pop())


def warn_unknown_series(ids: Iterable[bytes | str], trained: frozenset[str] | None) -> list[str]:
    """Warns (UnknownSeriesWarning) for each id not in `trained`; returns those ids.

    Nothing when `trained` is None (not known). The ids are compared as given (stripped: see
    _series_ids); case is significant.
    """
    if trained is None:
        return []
    unknown = []
    for sid in ids:
        text = sid.decode("utf-8", "surrogateescape") if isinstance(sid, bytes) else sid
        if text not in trained and text not in unknown:
            unknown.append(text)
    for text in unknown:
        known = sorted(trained)
        shown = ", ".join(repr(k) for k in known[:10]) + (" ..." if len(known) > 10 else "")
        warnings.warn(
            f"series_id {text!r}: not among the {len(known)} series the model was trained on "
            f"({shown}); it is scaled with the global statistics, the fallback for new series. "
            "If it is not a new series, check the id (ids are case-sensitive)",
            UnknownSeriesWarning,
            stacklevel=3,
        )
    return unknown


def _series_ids(series_id: Any, batch: int, required: bool = False) -> list[bytes]:
    """One id per history row, read with ingest's rule (seqline.schemas.series.series_id_text):
    text stripped of surrounding whitespace, an integral float (a pandas float64 id column)
    or Decimal as its integer (1.0 -> "1"), None / NaN missing (sent as "").

    required (the model scales per series): a missing or empty id is refused, since the graph
    would scale it with the global statistics instead of the series' own.
    """
    if series_id is None:
        if required:
            raise ForecastInputError(_missing_series_id(f"got none for {batch} history row(s)"))
        return [b""] * batch
    ids = [
        (series_id_text(s) or "").encode("utf-8", "surrogateescape")
        for s in np.ravel(np.asarray(series_id, dtype=object))
    ]
    if len(ids) != batch:
        raise ForecastInputError(
            f"series_id: expected one id per history row ({batch}), got {len(ids)}"
        )
    empty = [i for i, sid in enumerate(ids) if not sid]
    if required and empty:
        raise ForecastInputError(_missing_series_id(f"got an empty id at row(s) {empty[:10]}"))
    return ids


def _missing_series_id(received: str) -> str:
    return (
        "series_id: the model scales each series with its own training statistics, so it needs "
        f"the series id of every history row; {received}. Pass series_id= (seqline forecast: "
        "--series-id; StepForecaster: series_id); ids are case-sensitive, surrounding spaces "
        "are ignored. Without one the model would silently use the global statistics"
    )


def _check_history(forecaster: Forecaster, history: Any) -> np.ndarray:
    """history [L, F] / [B, L, F] (or [L] / [B, L] when F == 1) -> float32 [B, L, F]."""
    lookback, features = forecaster.lookback, forecaster.num_features
    try:
        with np.errstate(over="ignore"):  # a value beyond float32 is refused below, by name
            array = np.asarray(history, dtype=np.float32)
    except (TypeError, ValueError) as exc:  # text, None, ragged rows
        raise ForecastInputError(
            f"history: expected numbers, [{lookback}, {features}] or [batch, {lookback}, "
            f"{features}] with every row {features} wide, got values numpy cannot read as one "
            f"float array ({exc}); pass plain numbers, the same count in every row"
        ) from exc
    if features == 1 and array.ndim in (1, 2) and array.shape[-1] != 1:
        array = array[..., None]
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[2] != features or array.shape[1] < lookback:
        raise ForecastInputError(
            f"history: expected [{lookback}, {features}] or [batch, {lookback}, {features}] "
            f"(at least the last {lookback} steps of {features} column(s), targets first), got "
            f"shape {np.asarray(history).shape}; pass the most recent values of every column"
        )
    if not np.isfinite(array).all():
        wide = np.asarray(history, dtype=np.float64)
        if np.isfinite(wide).all():  # finite numbers float32 rounds to inf (|x| > 3.4e38)
            raise ForecastInputError(
                f"history: expected values within float32's range (|x| <= {FLOAT32_MAX:.8g}: the "
                "model reads float32), got a value beyond it; rescale as the training data was"
            )
        raise ForecastInputError(
            "history: expected finite values, got NaN or infinity; fill gaps before forecasting"
        )
    return array[:, -lookback:, :]


def recursive_forecast(
    forecaster: Forecaster,
    history: Any,
    steps: int,
    *,
    series_id: Any = None,
    future_covariates: Any = None,
    hold_covariates: bool = False,
    window_end: Any = None,
    step_seconds: int | None = None,
) -> np.ndarray:
    """Forecasts `steps` steps by feeding the model's own predictions back.

    Args:
        forecaster: SavedModelForecaster, ServedForecaster or anything like them.
        history: float [L, F] or [B, L, F] (original units; longer histories are cut to the
            last L steps; [L] / [B, L] when there is one column).
        steps: N >= 1 steps to forecast.
        series_id: one id per history row; required when the model scales per series
            (takes_series_id): a missing or empty id is refused, an id it was not trained on
            warns (UnknownSeriesWarning) when the trained ids are known.
        future_covariates: float [B, R, F - T] (or [R, F - T]): the covariates' values over
            the forecast period, from the step after the history on, required when the model
            has covariates, unless
        hold_covariates: repeat the last observed covariate values instead (default False).
            R >= future_rows_needed(forecaster, N): N, or with K known-future covariates
            (ceil(N/S) - 1) * S + H; more rows are fine (the rest is unused), fewer are refused.
        window_end: int [B] epoch seconds of each history's last step; required when the model
            derives calendar features (takes_window_end).
        step_seconds: the series' step; required with window_end when steps > S (each round's
            window ends S steps later).

    A model with K known-future covariates gets, each round, the last K columns of
    future_covariates over its H steps ahead: the supplied rows, never padded.

    Returns:
        float32 [B, N] for one target, [B, N, T] for several; a batch dimension is always
        present.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ForecastInputError(f"steps: expected an integer >= 1, got {steps!r}")
    if steps > MAX_STEPS:
        raise ForecastInputError(
            f"steps: expected at most {MAX_STEPS:,} (an array index), got {steps:,}; forecast "
            "fewer steps (errors compound with every round of fed-back predictions)"
        )
    window = _check_history(forecaster, history)
    batch = window.shape[0]
    ids = None
    if series_id is not None or forecaster.takes_series_id:  # refused before any call
        ids = _series_ids(series_id, batch, required=forecaster.takes_series_id)
    targets = forecaster.num_targets
    num_covariates = forecaster.num_features - targets
    covariates = _future_covariates(
        window,
        steps,
        num_covariates,
        future_covariates,
        hold_covariates,
        future_rows_needed(forecaster, steps),
        forecaster,
    )
    ends = _window_ends(forecaster, window_end, batch, steps, step_seconds)
    produced: list[np.ndarray] = []
    done = 0
    while done < steps:
        known = _known_future(forecaster, covariates, ends, done, step_seconds)
        predicted = forecaster.predict(window, None if ids is None else np.asarray(ids), **known)
        take = min(forecaster.steps, steps - done)
        produced.append(predicted[:, :take, :])
        if done + take >= steps:
            break
        # The window slides by S; its newest rows are the predictions and their covariates.
        new_rows = np.concatenate(
            [predicted, covariates[:, done : done + forecaster.steps]], axis=2
        )
        window = np.concatenate([window, new_rows], axis=1)[:, -forecaster.lookback :, :]
        done += take
    forecast = np.concatenate(produced, axis=1)[:, :steps, :]
    return forecast[:, :, 0] if targets == 1 else forecast


def _window_ends(
    forecaster: Forecaster, window_end: Any, batch: int, steps: int, step_seconds: int | None
) -> np.ndarray | None:
    """int64 [B] window ends for a model that takes them (else None), checked."""
    if not getattr(forecaster, "takes_window_end", False):
        return None
    if window_end is None:
        raise ForecastInputError(
            "window_end: the model derives calendar features from timestamps: pass window_end "
            f"(int64 [{batch}], epoch seconds of each history's last step)"
        )
    if steps > forecaster.steps and not (isinstance(step_seconds, int) and step_seconds > 0):
        raise ForecastInputError(
            f"step_seconds: forecasting {steps} steps takes more than one call of "
            f"{forecaster.steps} step(s), and each later window ends later: pass the series' "
            f"step in seconds (e.g. 1800 for 30min), got {step_seconds!r}"
        )
    ends = np.asarray(window_end, dtype=np.int64).reshape(-1)
    if ends.shape != (batch,):
        raise ForecastInputError(
            f"window_end: expected one timestamp per history row ({batch}), got "
            f"{np.asarray(window_end).shape}"
        )
    return ends


def _known_future(
    forecaster: Forecaster,
    covariates: np.ndarray,
    ends: np.ndarray | None,
    done: int,
    step_seconds: int | None,
) -> dict[str, Any]:
    """The predict() keyword arguments for the round starting `done` steps ahead."""
    known: dict[str, Any] = {}
    if ends is not None:
        known["window_end"] = ends + done * int(step_seconds or 0)
    k = int(getattr(forecaster, "num_future_covariates", 0) or 0)
    if k:
        h = int(forecaster.horizon)  # type: ignore[attr-defined]
        known["future_covariates"] = covariates[:, done : done + h, -k:]
    return known


def future_rows_needed(forecaster: Forecaster, steps: int) -> int:
    """Rows of future covariates recursive_forecast needs for `steps` (N) steps.

    N for a model without known-future covariates (the rows after the history that the
    predictions are fed back with; the last call's rows are not read). With K known-future
    covariates each of the R = ceil(N/S) calls reads the H rows after its window, and the last
    call's window ends (R - 1) * S steps after the history: (R - 1) * S + H rows (at least N).
    """
    step = forecaster.steps
    rounds = -(-steps // step)
    if int(getattr(forecaster, "num_future_covariates", 0) or 0):
        horizon = int(getattr(forecaster, "horizon", 0) or 0)
        return max(steps, (rounds - 1) * step + horizon)
    return steps


def _future_covariates(
    window: np.ndarray,
    steps: int,
    count: int,
    given: Any,
    hold: bool,
    needed: int,
    forecaster: Forecaster,
) -> np.ndarray:
    """float32 [B, R >= needed, count]: the covariates over the forecast period, as given."""
    batch = window.shape[0]
    if count == 0:  # a view: nothing of size `needed` is allocated
        return np.broadcast_to(np.zeros((batch, 1, 0), np.float32), (batch, needed, 0))
    known = int(getattr(forecaster, "num_future_covariates", 0) or 0)
    why = (
        f"forecasting {steps} step(s) takes {-(-steps // forecaster.steps)} call(s) of "
        f"{forecaster.steps}, and each call reads the {known} known-future covariate(s) over "
        f"the {getattr(forecaster, 'horizon', 0)} steps after its window, so it needs "
        f"{needed} rows"
        if known
        else f"forecasting {steps} step(s) needs {needed} rows"
    )
    if given is None:
        if not hold:
            raise ForecastInputError(
                f"future_covariates: the model has {count} covariate column(s), so feeding "
                f"predictions back needs their future values; {why}: pass future_covariates "
                f"[batch, {needed}, {count}] (seqline forecast: --future-covariates), or "
                "hold_covariates=True to repeat the last observed values"
            )
        # A read-only view of the last row: N held rows cost nothing, whatever N is.
        return np.broadcast_to(window[:, -1:, -count:], (batch, needed, count))
    array = np.asarray(given, dtype=np.float32)
    if array.ndim == 2:
        array = np.broadcast_to(array[None], (batch, *array.shape))
    if array.ndim != 3 or array.shape[0] != batch or array.shape[2] != count:
        raise ForecastInputError(
            f"future_covariates: expected [{batch}, {needed}, {count}] (batch, steps after the "
            f"history, covariates), got {np.asarray(given).shape}"
        )
    if array.shape[1] < needed:
        raise ForecastInputError(
            f"future_covariates: {why}, got {array.shape[1]}; supply the covariates' values "
            f"for the {needed} steps after the history (nothing is padded or invented), or "
            f"forecast fewer steps"
        )
    if not np.isfinite(array).all():
        raise ForecastInputError("future_covariates: expected finite values, got NaN or infinity")
    return array


class RollingForecaster:
    """Client-side rolling window for streaming forecasts (the server stays stateless).

        stream = RollingForecaster(forecaster, series_id="meter-7")
        for value in readings:             # one row of F values (or a number when F == 1)
            forecast = stream.update(value)  # None until L points have arrived
            if forecast is not None: ...     # float32 [S] (or [S, T])

    Args:
        forecaster: SavedModelForecaster / ServedForecaster.
        series_id: the stream's series (for per-series models).
        initial_history: optional earlier rows [n, F] to start from.
        step_seconds: the series' step in seconds (e.g. 3600 for 1h); with it a point whose
            timestamp is not exactly one step after the last one is refused. Without it only
            the order is checked (a timestamp must be after the last one).

    Streams must be gap-free, on the grid the model was trained on (ingest's frequency, with
    its gaps filled): the window is L consecutive steps, and a missing point shifts every row
    before it. Pass timestamp= with each point to have skipped, repeated or out-of-order points
    refused before they enter the window.
    """

    def __init__(
        self,
        forecaster: Forecaster,
        series_id: Any = None,
        initial_history: Any = None,
        *,
        step_seconds: int | None = None,
    ) -> None:
        self._forecaster = forecaster
        self.step_seconds = _step_seconds(step_seconds)
        self._last_time: int | None = None
        if forecaster.takes_series_id:  # refused now rather than at the L-th point
            given = _series_ids(None if series_id is None else [series_id], 1, required=True)
            series_id = given[0].decode("utf-8", "surrogateescape")
        self._series_id = series_id
        self._rows: deque[np.ndarray] = deque(maxlen=forecaster.lookback)
        if initial_history is not None:
            for row in np.asarray(initial_history, dtype=np.float32).reshape(
                -1, forecaster.num_features
            ):
                self._append(row)

    def _append(self, row: Any) -> None:
        array = np.asarray(row, dtype=np.float32).reshape(-1)
        if array.shape != (self._forecaster.num_features,) or not np.isfinite(array).all():
            raise ForecastInputError(
                f"point: expected {self._forecaster.num_features} finite value(s) (targets "
                f"first, then covariates), got {np.asarray(row).tolist()}"
            )
        self._rows.append(array)

    @property
    def ready(self) -> bool:
        """True once L points are held."""
        return len(self._rows) == self._forecaster.lookback

    def update(
        self, point: Any, *, timestamp: int | None = None, future_covariates: Any = None
    ) -> np.ndarray | None:
        """Adds one point; returns the forecast from the last L points, or None before that.

        timestamp (epoch seconds of this point) and future_covariates ([H, K], the next H
        steps' known-future values) are passed on when the model takes them (calendar
        features, future covariates); a model that needs one refuses a forecast without it.
        A timestamp must be after the last point's, and exactly `step_seconds` after it when
        the step is known: ForecastInputError otherwise, and the point is not added.
        """
        now = _check_timestamp(self._last_time, timestamp, self.step_seconds)
        self._append(point)
        self._last_time = now
        if not self.ready:
            return None
        window = np.stack(self._rows)[None]
        ids = None if self._series_id is None else np.array([self._series_id], dtype=object)
        known: dict[str, Any] = {}
        if getattr(self._forecaster, "takes_window_end", False):
            known["window_end"] = None if timestamp is None else [timestamp]
        if getattr(self._forecaster, "num_future_covariates", 0):
            known["future_covariates"] = future_covariates
        forecast = self._forecaster.predict(window, ids, **known)[0]
        return forecast[:, 0] if self._forecaster.num_targets == 1 else forecast


STEP_START_SIGNATURE = "step_start"
STEP_SIGNATURE = "step"
VALUE_INPUT = "value"
STATE = "state"


class StreamVersionError(RuntimeError):
    """A stream's state was made by a model version the server no longer serves (a push or
    rollback replaced it): the state cannot be used by another version. `restart()` rebuilds it
    on the served version from the last L points the stream kept; the point whose update
    raised it is kept too (before the call), so restart() re-feeds it and nothing is lost."""


def _check_timestamp(last: int | None, timestamp: Any, step_seconds: int | None) -> int | None:
    """The point's timestamp as int, checked against the last point's: always later, and exactly
    one step later when the step is known. None when the point has none (nothing checked)."""
    if timestamp is None:
        return None
    try:
        now = int(timestamp)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ForecastInputError(
            f"timestamp: expected epoch seconds (an integer), got {timestamp!r}"
        ) from exc
    if last is None:
        return now
    gap_free = (
        "streams must be gap-free, on the grid the model was trained on: fill missing points "
        "as ingest's gap_policy does and send them in time order"
    )
    if now <= last:
        what = "a duplicate" if now == last else "earlier"
        raise ForecastInputError(
            f"timestamp: expected a time after the last point's ({last}), got {now} ({what}); "
            f"{gap_free}"
        )
    if step_seconds and now - last != step_seconds:
        ahead = (now - last) / step_seconds
        raise ForecastInputError(
            f"timestamp: expected {last + step_seconds} (one step of {step_seconds} s after the "
            f"last point, {last}), got {now} ({ahead:g} steps after it); {gap_free}"
        )
    return now


def _step_seconds(step_seconds: Any) -> int | None:
    if step_seconds is None:
        return None
    if isinstance(step_seconds, bool) or not isinstance(step_seconds, int) or step_seconds < 1:
        raise ForecastInputError(
            f"step_seconds: expected the series' step in seconds, an integer >= 1 (e.g. 3600 "
            f"for 1h), got {step_seconds!r}"
        )
    return step_seconds


class _ServedStep:
    """Calls a served model's step signatures on one version, pinned when the stream starts.

    A state is only meaningful to the weights that made it, so every call names `version` (the
    one the server answered with when the stream started); when the server no longer serves it
    (NOT_FOUND after a push or rollback), StreamVersionError says so. repin() moves to the
    version the server serves now (StepForecaster.restart does it).
    """

    def __init__(self, client: Any, version: int | None) -> None:
        self._client = client
        self.version = version

    def repin(self) -> None:
        self.version = self._client.metadata().version

    def __call__(self, signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.version is None:  # the server did not say which version: nothing to pin
            return self._client.predict(inputs, signature_name=signature)
        try:
            return self._client.predict(inputs, signature_name=signature, version=self.version)
        except Exception as exc:
            code = getattr(getattr(exc, "code", None), "name", None)
            if code != "NOT_FOUND":
                raise
            raise StreamVersionError(
                f"{signature}: the stream's state was made by model version {self.version}, "
                f"which the server no longer serves ({exc}); a state only works with the weights "
                "that made it: call stream.restart() to rebuild it on the served version from "
                "the last L points the stream kept"
            ) from exc


class StepForecaster:
    """Streaming through a forecaster's "step" signature: one point per call, O(1) server work.

    The server stays stateless: the state (the encoder's recurrent state and the series'
    scaler, components/train/series_step.py) comes back with every forecast and this object
    sends it with the next point, so any replica serving the same version can answer.

        stream = StepForecaster.from_client(PredictionClient("host:8500", "demand"), "meter-7")
        for value in readings:               # one row of F values (or a number when F == 1)
            forecast = stream.update(value)  # None until L points have arrived
            if forecast is not None: ...     # float32 [S] (or [S, T])

    Until L points (the model's lookback) have been sent the state has seen less than a
    window and its forecast is not one the model was trained to make, so `update` returns None
    (`ready` is False), as RollingForecaster does. At L points the forecast equals the window
    signature's on those points. Past L the state remembers more than the last L points (the
    model was trained on L-point windows from a zero state; series_step.py); the two stay close
    on a trained model, and `restart()` re-feeds the last L points it kept (L step calls) when
    you need the window's exact semantics.

    A state is only meaningful to the model version that made it: from_client pins the version
    the server answered with (`version`) and sends every call to it; after a push or rollback
    removes that version the next update raises StreamVersionError, and `restart()` moves to
    the served version (re-feeding the kept points). The point of the update that raised it is
    kept (with its timestamp), not sent: restart() re-feeds it last, so `except
    StreamVersionError: forecast = stream.restart()` loses no point and the point must not be
    sent again; until restart() every update keeps its point and raises StreamVersionError. To
    resume after a restart of the client, keep `state`, `points` and `version` together (e.g.
    beside the stream's offset in a queue) and pass all three back; when that version is no
    longer served from_client raises StreamVersionError: start a new stream and send it the
    series' last L points.

    Streams must be gap-free, on the grid the model was trained on (ingest's frequency, with
    its gaps filled): pass `timestamp=` with each point and `step_seconds` to have a skipped,
    repeated or out-of-order point refused (without step_seconds only the order is checked).

    Args:
        call: (signature name, {input: array}) -> {output: array}; from_client / from_saved_model
            build it.
        num_features: F, values per point.
        series_id: the stream's series ("" for a single series; default), read as ingest reads
            ids (seqline.schemas.series.series_id_text: text stripped, 1.0 -> "1"); refused
            when empty and the model scales per series.
        state: a state [D] saved from an earlier `state` to resume from (default: step_start's).
        lookback: L, points before the first forecast and points kept for restart();
            from_client / from_saved_model read it from the "forecast" signature. None: not
            known, every update returns a forecast and restart() goes back to the bare start
            state.
        points: with `state`, the points that state has seen (the saved `points`); None
            (default with a state): not known, so the stream is taken as warmed up (`ready`).
        step_seconds: the series' step in seconds, to refuse timestamps that skip steps.
        takes_series_id: the model scales per series (its "forecast" signature takes
            series_id); from_client / from_saved_model read it.
        trained_series_ids: the ids it was trained on, to warn about others (None: unknown).
    """

    def __init__(
        self,
        call: Any,
        num_features: int,
        series_id: Any = "",
        state: np.ndarray | None = None,
        *,
        lookback: int | None = None,
        points: int | None = None,
        step_seconds: int | None = None,
        takes_series_id: bool = False,
        trained_series_ids: frozenset[str] | None = None,
    ) -> None:
        self._call = call
        self.num_features = num_features
        self.lookback = lookback
        self.step_seconds = _step_seconds(step_seconds)
        self.takes_series_id = takes_series_id
        self.trained_series_ids = trained_series_ids
        self.series_id = series_id_text(series_id) or ""
        # The last L points (for restart); when L is not known, only the unseen ones below.
        self._rows: deque[np.ndarray] = deque(maxlen=lookback) if lookback else deque()
        # Points kept (the newest of _rows) that the state has not seen: their update raised
        # StreamVersionError; restart() re-feeds them.
        self._unseen = 0
        self._last_time: int | None = None
        # Points the state has seen; None after resuming from a state without its count.
        self.points: int | None
        if state is None:
            if points not in (None, 0):
                raise ForecastInputError(
                    f"points: a count of points goes with the state that saw them; got "
                    f"points={points} without state=. Pass both (saved together) or neither"
                )
            self.state, self.points = self._start_state(), 0
        else:
            self.state = np.asarray(state, np.float32)
            self.points = points

    @property
    def version(self) -> int | None:
        """The model version this stream's state belongs to (from_client; None: not known)."""
        return getattr(self._call, "version", None)

    @property
    def ready(self) -> bool:
        """True once the state has seen L points (or when L or the point count is not known)."""
        return self.lookback is None or self.points is None or self.points >= self.lookback

    @classmethod
    def from_client(
        cls, client: Any, series_id: Any = "", *, version: int | None = None, **kwargs: Any
    ) -> StepForecaster:
        """Through a PredictionClient (gRPC Predict with named inputs) or a RestClient; F and L
        from the metadata. Every call goes to one version: `version` (pass the saved one with a
        saved state) or, by default, the one the server serves now (the client's selection).
        StreamVersionError when `version` is given and no longer served."""
        if version is None:
            meta = client.metadata()
        else:
            try:
                meta = client.metadata(version=version)
            except Exception as exc:
                if getattr(getattr(exc, "code", None), "name", None) != "NOT_FOUND":
                    raise
                saved = "the saved state" if kwargs.get("state") is not None else "the stream"
                raise StreamVersionError(
                    f"version: {saved} belongs to model version {version}, which the server no "
                    f"longer serves ({exc}); a state only works with the weights that made it. "
                    "Start a new stream without state= (and without version=, to use the served "
                    "version) and send it the series' last L points through update() (L: the new "
                    "stream's `lookback`), as restart() does"
                ) from exc
        signatures = meta.signatures
        info = signatures.get(STEP_SIGNATURE)
        value = None if info is None else info.inputs.get(VALUE_INPUT)
        features = _step_features(None if value is None else value.shape, "the served model")
        window = signatures.get(FORECAST_SIGNATURE)
        kwargs.setdefault(
            "takes_series_id", window is not None and SERIES_ID_INPUT in window.inputs
        )
        history = None if window is None else window.inputs.get(HISTORY_INPUT)
        kwargs.setdefault("lookback", _window_lookback(None if history is None else history.shape))
        pinned = version if version is not None else meta.version
        return cls(_ServedStep(client, pinned), features, series_id, **kwargs)

    @classmethod
    def from_saved_model(cls, path: str, series_id: Any = "", **kwargs: Any) -> StepForecaster:
        """Loads the SavedModel in this process (TensorFlow only); F and L from its signatures."""
        import tensorflow as tf

        loaded = tf.saved_model.load(path)
        signature = loaded.signatures.get(STEP_SIGNATURE)
        value = (
            None if signature is None else signature.structured_input_signature[1].get(VALUE_INPUT)
        )
        features = _step_features(None if value is None else value.shape.as_list(), path)
        window = loaded.signatures.get(FORECAST_SIGNATURE)
        window_inputs = {} if window is None else window.structured_input_signature[1]
        if SERIES_ID_INPUT in window_inputs:
            kwargs.setdefault("takes_series_id", True)
            kwargs.setdefault("trained_series_ids", captured_series_ids(window))
        history = window_inputs.get(HISTORY_INPUT)
        kwargs.setdefault(
            "lookback", _window_lookback(None if history is None else history.shape.as_list())
        )

        def call(name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            fn = loaded.signatures[name]  # `loaded` stays referenced: its variables live on
            return {
                k: v.numpy()
                for k, v in fn(**{k: tf.constant(v) for k, v in inputs.items()}).items()
            }

        return cls(call, features, series_id, **kwargs)

    def _start_state(self) -> np.ndarray:
        ids = _series_ids([self.series_id], 1, required=self.takes_series_id)
        if self.takes_series_id:
            warn_unknown_series(ids, self.trained_series_ids)
        inputs = {SERIES_ID_INPUT: np.array(ids, dtype=object)}
        state = self._call(STEP_START_SIGNATURE, inputs)[STATE]
        return np.asarray(state, np.float32)[0]

    def restart(self) -> np.ndarray | None:
        """Rebuilds the state from step_start and the last L points kept (L step calls), so the
        next forecast has the window signature's exact semantics; a served stream first moves to
        the version the server serves now. The kept points include those whose update raised
        StreamVersionError (kept, not sent), so the recovery `except StreamVersionError:
        stream.restart()` loses no point: its forecast is the one after the newest point.
        Returns the forecast after the re-fed points, or None when fewer than L are kept (a
        stream resumed from a saved state keeps only the points sent since). Without a known L
        it returns to the bare start state and re-feeds only the points a StreamVersionError
        kept (None when there are none). If a call fails, the stream is left as it was, so
        restart() can be called again."""
        repin = getattr(self._call, "repin", None)
        if repin is not None:
            repin()
        kept = list(self._rows)
        state, forecast = self._start_state(), None
        for row in kept:
            state, forecast = self._advance(state, row)
        self.state, self.points, self._unseen = state, len(kept), 0
        if not self.lookback:
            self._rows.clear()
        return forecast if self.ready else None

    def update(self, value: Any, *, timestamp: int | None = None) -> np.ndarray | None:
        """Sends one point; returns the forecast float32 [S] (one target) or [S, T], or None
        until L points have been sent (`ready`).

        timestamp: epoch seconds of this point; when given it must be after the last point's,
        and exactly `step_seconds` after it when the step is known (ForecastInputError
        otherwise, before anything is sent: streams must be gap-free).
        """
        row = np.asarray(value, dtype=np.float32).reshape(-1)
        if row.shape != (self.num_features,) or not np.isfinite(row).all():
            raise ForecastInputError(
                f"point: expected {self.num_features} finite value(s) (targets first, then "
                f"covariates), got {np.asarray(value).tolist()}"
            )
        now = _check_timestamp(self._last_time, timestamp, self.step_seconds)
        if self._unseen:
            # The state missed the kept point(s): stepping it on would leave a gap in it.
            self._keep(row, now)
            raise StreamVersionError(
                f"step: the stream's state has not seen its last {self._unseen - 1} point(s) "
                f"(their update raised StreamVersionError: model version {self.version} is no "
                "longer served), so this point was kept, not sent; call stream.restart(): it "
                "re-feeds the kept points, this one included, on the served version"
            )
        try:
            state, forecast = self._advance(self.state, row)
        except StreamVersionError as exc:
            self._keep(row, now)
            raise StreamVersionError(
                f"{exc}. This point was kept, not lost: restart() re-feeds it after the points "
                "before it, so do not send it again"
            ) from exc.__cause__
        self.state = state
        self.points = None if self.points is None else self.points + 1
        if self.lookback:
            self._rows.append(row)
        self._last_time = now
        return forecast if self.ready else None

    def _keep(self, row: np.ndarray, timestamp: int | None) -> None:
        """Keeps a point the state has not seen (for restart), with its time for the next
        point's gap check; `points` stays the count the state has seen."""
        self._rows.append(row)
        self._unseen += 1
        self._last_time = timestamp

    def _advance(self, state: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One step call: (the next state [D], the forecast [S] or [S, T])."""
        out = self._call(STEP_SIGNATURE, {VALUE_INPUT: row[None], STATE: state[None]})
        return (
            np.asarray(out[STATE], np.float32)[0],
            np.asarray(out[FORECAST_OUTPUT], np.float32)[0],
        )


def _window_lookback(history_shape: Sequence[int | None] | None) -> int | None:
    """L from the forecast signature's history shape [None, L, F]; None when it has none."""
    if history_shape is None or len(history_shape) != 3 or not (history_shape[1] or 0) > 0:
        return None
    return int(history_shape[1] or 0)


def _step_features(value_shape: Sequence[int | None] | None, source: str) -> int:
    """F from the step signature's value shape [None, F]."""
    if value_shape is None or len(value_shape) != 2 or not (value_shape[1] or 0) > 0:
        raise ForecastInputError(
            f"{source}: expected a '{STEP_SIGNATURE}' signature with input '{VALUE_INPUT}' "
            f"[None, F], got {value_shape}; forecasters exported by train_series have it unless "
            "their encoder is bidirectional (the Model's 'streaming' property)"
        )
    return int(value_shape[1] or 0)
