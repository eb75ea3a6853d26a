"""Whether a forecaster's lags fit the windows ingest_series cuts (pure: no Keras import).

Called when the forecaster is built and, before anything runs, when a series pipeline is
assembled (components/series_pipeline.py), so a lag beyond the window is a ConfigError at
`seqline run`, not after ingest, transform and statistics have run.
"""

from __future__ import annotations

from seqline.components.train.config import ForecasterConfig
from seqline.pipeline.errors import ConfigError


def output_steps(output: str, horizon: int) -> int:
    """Steps S the exported forecast has: 1 for "last" and "sequence", H otherwise."""
    return 1 if output in ("last", "sequence") else horizon


def check_lags_fit(config: ForecasterConfig, lookback: int, horizon: int) -> None:
    """ConfigError when residual_lag, level_window, lag_context or encoder_steps reach outside
    a window of `lookback` history steps and `horizon` steps ahead."""
    steps = output_steps(config.output, horizon)
    lag = config.residual_lag
    if lag and not steps <= lag <= lookback:
        raise ConfigError(
            f"forecaster.residual_lag: expected {steps} <= residual_lag <= lookback {lookback} "
            f"(each forecast step needs the value residual_lag steps earlier inside the "
            f"history), got {lag}; lengthen ingest_series.lookback or use a longer lag"
        )
    level = config.level_window
    if level and lag + level > lookback:
        raise ConfigError(
            f"forecaster.level_window: expected residual_lag + level_window <= lookback "
            f"{lookback} (each of the last level_window steps is compared with the value "
            f"residual_lag steps before it), got {lag} + {level} = {lag + level}; set "
            f"ingest_series.lookback to at least {lag + level} or shorten level_window"
        )
    if config.encoder_steps > lookback:
        raise ConfigError(
            f"forecaster.encoder_steps: expected at most lookback {lookback} (the encoder reads "
            f"the last encoder_steps history steps), got {config.encoder_steps}; use 0 for the "
            "whole window or a smaller number"
        )
    for k in config.context_lags:
        if not horizon <= k <= lookback:
            raise ConfigError(
                f"forecaster.lag_context: expected every lag in horizon {horizon} .. lookback "
                f"{lookback} (the rows a lag copies for every step ahead must lie inside the "
                f"history), got {k}"
                + (" (residual_lag, which lag_context: true reads)" if k == lag else "")
                + "; use longer lags, a longer ingest_series.lookback, or drop lag_context"
            )
