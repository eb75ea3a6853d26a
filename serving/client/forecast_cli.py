"""`seqline forecast`: N-step forecasts from a seqline forecaster, loaded or served.

    seqline forecast --saved-model runs/x/train/model/FP/saved_model --history @last.csv --steps 24
    seqline forecast --model demand --target 127.0.0.1:8500 --history '[3.1, 2.9, ...]' --steps 48
    seqline forecast --model demand --rest http://127.0.0.1:8501 --history @h.json --steps 6 \\
        --series-id meter-7 --future-covariates @cov.json
    seqline forecast --saved-model DIR --history @last.csv --steps 96 \\
        --window-end 1717542000 --step-seconds 1800      # a model with calendar features

--history is the last L (or more) raw values, oldest first: a JSON list of numbers (one column)
or of rows [target, covariate, ...], inline or @file; a @file ending in .csv holds one row per
line (a non-numeric first line is taken as a header; cells are read as ingest reads them: plain
ASCII numbers within float32's range, true/false as 1/0). Only the value columns: a training
CSV's timestamp and series-id columns are not part of it (a timestamp cell is refused saying
so). One series per call: a history of several series ([B, L, F]) is refused (exit 2).
Forecasts beyond the model's horizon are recursive
(seqline.serving.client.forecasting.recursive_forecast), one model call per S steps; a forecast
needing more than --max-calls calls (default 1000) is refused before any is made, since errors
compound with every call and a large N runs for hours: raise --max-calls to run it anyway. Prints
{"steps", "series_id", "forecast": [...]} as JSON. A per-series model refuses a missing or
empty --series-id (exit 2); with --saved-model, an id it was not trained on is forecast with the
global scaling and a warning on stderr (a served model's trained ids are not known).

Exit codes: 0 success, 1 the server failed or could not be reached, 2 a usage error (bad flags,
unreadable or mis-shaped history, a --saved-model that is not a SavedModel, too many steps), on
one line of stderr. Nothing heavy is imported until the handler runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any, TextIO

from seqline.schemas.series import (
    FLOAT32_MAX,
    NON_FINITE,
    NON_NUMERIC,
    OUT_OF_RANGE,
    ValueRefused,
    number_value,
)

EXIT_OK = 0
EXIT_REQUEST_FAILED = 1
EXIT_USAGE = 2
DEFAULT_TARGET = "127.0.0.1:8500"
# Model calls a forecast may take unless --max-calls allows more (N <= 1000 * S).
DEFAULT_MAX_CALLS = 1000


def register(subparsers: Any) -> None:
    """Adds `forecast` to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "forecast",
        help="forecast N steps with a seqline forecaster (loaded SavedModel or model server)",
        description="Forecast N steps ahead from the last raw values, recursively beyond the "
        "model's horizon; prints JSON.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--saved-model", metavar="DIR", help="load this SavedModel in-process")
    source.add_argument("--model", help="model name on a server (gRPC --target or --rest)")
    parser.add_argument(
        "--target", default=DEFAULT_TARGET, help=f"gRPC host:port (default {DEFAULT_TARGET})"
    )
    parser.add_argument("--rest", metavar="URL", help="use the REST API at this base URL")
    parser.add_argument(
        "--history",
        required=True,
        metavar="JSON|@FILE",
        help="last raw values, oldest first: [v, ...] or [[target, covariate...], ...]; "
        "@file.json or @file.csv",
    )
    parser.add_argument("--steps", type=int, required=True, help="steps to forecast (N >= 1)")
    parser.add_argument(
        "--series-id",
        help="the series, required by per-series models (case-sensitive; surrounding spaces "
        "ignored); with --saved-model an id the model was not trained on warns on stderr (a "
        "served model cannot be checked: it scales such an id with the global statistics)",
    )
    parser.add_argument(
        "--window-end",
        type=int,
        metavar="EPOCH_S",
        help="epoch seconds of the history's last step (models with calendar features)",
    )
    parser.add_argument(
        "--step-seconds",
        type=int,
        metavar="S",
        help="the series' step in seconds, with --window-end beyond one model call (1800: 30min)",
    )
    parser.add_argument(
        "--future-covariates",
        metavar="JSON|@FILE",
        help="covariate rows after the history [[c1, ...], ...]: N rows, or with known-future "
        "covariates (ceil(N/S) - 1) * S + H rows (all used; fewer are refused)",
    )
    parser.add_argument(
        "--hold-covariates",
        action="store_true",
        help="repeat the last observed covariates instead of --future-covariates",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="per-request deadline in seconds (server)"
    )
    parser.add_argument(
        "--max-calls",
        type=int,
        default=DEFAULT_MAX_CALLS,
        metavar="C",
        help="refuse a forecast that needs more than C (>= 1) model calls, ceil(N/S) (default "
        f"{DEFAULT_MAX_CALLS}): errors compound with every call and each is a round trip",
    )
    parser.set_defaults(func=run_forecast)


class UsageError(Exception):
    """A command-line value is unusable; exit code 2."""


def load_rows(value: str, flag: str) -> list[Any]:
    """JSON inline / @file.json, or @file.csv -> a list of numbers or rows of numbers."""
    if value.startswith("@"):
        path = value[1:]
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise UsageError(f"{flag}: cannot read {path}: {exc.strerror}") from exc
        if path.endswith(".csv"):
            return _csv_rows(text, f"{flag} {path}")
    else:
        text = value
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{flag}: expected a JSON list such as [1.0, 2.0] or [[1.0, 0.5], ...], got invalid "
            f"JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    if not isinstance(rows, list) or not rows:
        raise UsageError(f"{flag}: expected a non-empty JSON list, got {type(rows).__name__}")
    return rows


def _csv_cell(cell: str) -> float:
    """A value cell as ingest_series reads it (seqline.schemas.series.number_value): a plain
    number (ASCII digits, sign, point, exponent) within float32's range, or a boolean (true/false
    in any letter case -> 1.0/0.0); ValueRefused (a ValueError) for anything else."""
    return number_value(cell)


def _csv_rows(text: str, source: str) -> list[list[float]]:
    rows: list[list[float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        try:
            rows.append([_csv_cell(c) for c in cells])
        except ValueRefused as exc:
            if number == 1 and not rows and exc.reason == NON_NUMERIC:
                continue  # a header
            raise UsageError(f"{source}: line {number}: {_refused_cell(exc)}") from exc
    widths = sorted({len(row) for row in rows})
    if len(widths) > 1:
        raise UsageError(
            f"{source}: expected the same number of cells on every line (targets first, then "
            f"covariates), got lines of {widths} cells; fill or remove the short lines"
        )
    if not rows:
        raise UsageError(f"{source}: expected at least one row of numbers, found none")
    return rows


def _refused_cell(exc: ValueRefused) -> str:
    """What was wrong with one cell: expected / received / fix."""
    expected = (
        "expected a plain number (ASCII digits, optional sign, point and exponent, e.g. -12.5 "
        f"or 1e3) within float32's range (|x| <= {FLOAT32_MAX:.8g}) or a boolean (true/false)"
    )
    if exc.reason == OUT_OF_RANGE:
        return (
            f"cell {exc.cell!r}: {expected}, got a number beyond float32's range (the model "
            "reads values as float32, where it is infinite); rescale the column as the training "
            "data was"
        )
    if exc.reason == NON_FINITE:
        return f"cell {exc.cell!r}: {expected}, got NaN or an infinity; fill gaps first"
    if _is_timestamp(exc.cell):
        return (
            f"cell {exc.cell!r}: {expected}, got a timestamp; --history takes the value columns "
            "only (targets first, then covariates): drop the training CSV's timestamp and "
            "series-id columns (e.g. cut -d, -f2- for a leading timestamp; name the series "
            "with --series-id, the last point's time with --window-end)"
        )
    return (
        f"cell {exc.cell!r}: {expected}, got text ingest_series rejects as non_numeric; write "
        "the number plainly (no digit separators such as 1_000 or 1,000, ASCII digits only)"
    )


def _is_timestamp(cell: str) -> bool:
    """The cell reads as an ISO 8601 date or date-time (a training CSV's timestamp column)."""
    from datetime import datetime

    text = cell.strip()
    if len(text) < 8 or not text[:4].isdigit():
        return False
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def run_forecast(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Handler of `seqline forecast`; returns an exit code (errors go to stderr, one line)."""
    out = out or sys.stdout
    import numpy as np

    from seqline.serving.client.forecasting import (
        MAX_STEPS,
        ForecastInputError,
        UnknownSeriesWarning,
        recursive_forecast,
    )
    from seqline.serving.errors import ServingError

    try:
        if args.steps < 1:
            raise UsageError(f"--steps: expected an integer >= 1, got {args.steps}")
        if args.max_calls < 1:
            raise UsageError(
                f"--max-calls: expected an integer >= 1 (the most model calls a forecast may "
                f"take; default {DEFAULT_MAX_CALLS}), got {args.max_calls}; every forecast takes "
                "at least one call, so leave it out or pass a positive count"
            )
        history = load_rows(args.history, "--history")
        covariates = (
            load_rows(args.future_covariates, "--future-covariates")
            if args.future_covariates
            else None
        )
        forecaster = _forecaster(args)
        _check_one_series(forecaster, history)
        calls = -(-args.steps // forecaster.steps)
        if calls > args.max_calls:
            raise UsageError(
                f"--steps: expected at most {args.max_calls * forecaster.steps:,} steps "
                f"(--max-calls {args.max_calls} calls of the model's {forecaster.steps} "
                f"step(s)), got {args.steps:,}, which takes {calls:,} calls, one after the "
                "other; errors compound with every call (predictions are fed back), so a model "
                "trained with a longer horizon is usually better. "
                + (
                    f"To run it anyway, pass --max-calls {calls}"
                    if args.steps <= MAX_STEPS
                    else f"At most {MAX_STEPS:,} steps can be forecast at all"
                )
            )
        ids = None if args.series_id is None else [args.series_id]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnknownSeriesWarning)
            forecast = recursive_forecast(
                forecaster,
                history,
                args.steps,
                series_id=ids,
                future_covariates=covariates,
                hold_covariates=args.hold_covariates,
                window_end=None if args.window_end is None else [args.window_end],
                step_seconds=args.step_seconds,
            )
        # An id the model was not trained on still forecasts (a new series), but says so.
        ours = [w for w in caught if issubclass(w.category, UnknownSeriesWarning)]
        for message in dict.fromkeys(str(w.message) for w in ours):
            print(f"seqline forecast: warning: {message}", file=sys.stderr)
        for w in caught:  # any other warning, as it would have shown
            if w not in ours:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    except (UsageError, ForecastInputError) as exc:
        print(f"seqline forecast: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ServingError as exc:
        print(f"seqline forecast: error: {exc}", file=sys.stderr)
        return EXIT_REQUEST_FAILED
    values = np.asarray(forecast)[0]
    json.dump(
        {
            "steps": args.steps,
            "series_id": args.series_id,
            "forecast": [float(str(np.float32(v))) for v in values.reshape(-1)]
            if values.ndim == 1
            else values.tolist(),
        },
        out,
        indent=2,
    )
    out.write("\n")
    return EXIT_OK


def _check_one_series(forecaster: Any, history: list[Any]) -> None:
    """Refuses a history of several series: the output holds one forecast."""
    from seqline.serving.client.forecasting import _check_history

    batch = _check_history(forecaster, history).shape[0]
    if batch != 1:
        raise UsageError(
            f"--history: expected one series ([L, F] rows, or [L] values when F == 1), got "
            f"{batch} series ([{batch}, L, F]); seqline forecast prints one forecast: run it "
            "once per series (with its --series-id), or call recursive_forecast for a batch"
        )


def _saved_model_dir(path: str) -> str:
    """The directory if it holds a SavedModel; UsageError naming the fix otherwise."""
    import os

    if not os.path.isdir(path):
        raise UsageError(f"--saved-model: {path} is not a directory")
    if any(os.path.isfile(os.path.join(path, f)) for f in ("saved_model.pb", "saved_model.pbtxt")):
        return path
    versions = sorted(
        (int(name) for name in os.listdir(path) if name.isdigit()
         and os.path.isdir(os.path.join(path, name))),
    )  # fmt: skip
    if versions:
        shown = ", ".join(str(v) for v in versions)
        example = os.path.join(path, str(versions[-1]))
        raise UsageError(
            f"--saved-model: expected a SavedModel directory (with saved_model.pb), got "
            f"{path}, a model base directory (versions {shown}): pass a version dir, e.g. "
            f"{example}"
        )
    raise UsageError(
        f"--saved-model: expected a SavedModel directory (with saved_model.pb), got {path}, "
        "which has none; pass a pushed version dir (serving/<model>/<version>) or a Model "
        "artifact's saved_model/"
    )


def _forecaster(args: argparse.Namespace) -> Any:
    from seqline.serving.client.forecasting import SavedModelForecaster, ServedForecaster

    if args.saved_model:
        return SavedModelForecaster(_saved_model_dir(args.saved_model))
    if args.rest:
        from seqline.serving.client.rest_client import RestClient

        client: Any = RestClient(args.rest, args.model, timeout=args.timeout)
    else:
        from seqline.serving.client.client import PredictionClient

        client = PredictionClient(args.target, args.model, timeout=args.timeout)
    return ServedForecaster(client)
