"""The train components' configs (no TensorFlow import): TrainTextConfig (train_text) and
TrainSeriesConfig (train_series), sharing the training loop's TrainingConfig.

YAML shape (every key optional; `model` for text, `forecaster` for series):

    model:                   # text pipeline (train_text)
      embedding_dim: 64
      layer: lstm            # simple_rnn | lstm | gru
      units: 64
      num_layers: 1          # stacked recurrent layers
      bidirectional: false
      dropout: 0.0           # before the Dense head
      recurrent_dropout: 0.0 # > 0 disables cuDNN
      mask_zero: true
      head: auto             # auto (sigmoid for 2 labels, softmax otherwise) | sigmoid | softmax
      pooling: last          # last | max | mean | attention (over the RNN's outputs, masked)
      spatial_dropout: 0.0   # SpatialDropout1D on the embeddings (drops whole channels)
      conv_filters: 0        # > 0: Conv1D front end (CNN-RNN), kernel conv_kernel_size
      ngram_branch: none     # none | beside (fastText bag of n-grams next to the RNN) | only
      ngram_dim: 32
      linear_branch: none    # none | beside (TF-IDF logistic regression added to the logits) | only
      linear_l2: 0.0         # L2 on the linear branch's weights
      l2: 0.0                # L2 on the head, conv and recurrent kernels
      label_smoothing: 0.0
      class_weights: {}      # label -> weight, or {balanced: 1} for n / (k * count)
      pretrained: null       # {path: vectors.txt, trainable: false} (word2vec/GloVe text)
      mixed_precision: false # true: mixed_float16 on GPU; always off on CPU (reason logged)
    epochs: 10
    batch_size: 32
    learning_rate: 0.001
    early_stopping: {monitor: val_loss, patience: 3, min_delta: 0.0}
    reduce_lr: {patience: 2, factor: 0.5, min_lr: 1.0e-6}
    seed: 42
    steps_per_epoch: null    # null = one pass over the train split
    distribution: auto       # auto | default | mirrored | multi_worker
    ensemble: {members: 1}   # N > 1: N seeds (seed, seed + 1, ...), one SavedModel of their mean
    refit: false             # true: retrain on train + eval for the best epoch count (refit.py)
    forecaster:              # series pipeline (train_series) instead of `model`
      layer: lstm            # simple_rnn | lstm | gru
      units: [64]            # one entry per stacked recurrent layer
      bidirectional: false   # Bidirectional encoder layers
      dropout: 0.0           # after the encoder
      output: direct         # last | direct | seq2seq | sequence (see forecasters.py)
      loss: mse              # mse | mae | huber
      huber_delta: 1.0
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from seqline.pipeline.errors import ConfigError

LayerKind = Literal["simple_rnn", "lstm", "gru"]
Head = Literal["auto", "sigmoid", "softmax"]
Distribution = Literal["auto", "default", "mirrored", "multi_worker"]
Monitor = Literal["val_loss", "val_accuracy", "loss", "accuracy"]
Activation = Literal["tanh", "sigmoid", "relu", "hard_sigmoid", "linear", "elu", "selu", "gelu"]

Pooling = Literal["last", "max", "mean", "attention"]
NgramBranch = Literal["none", "beside", "only"]
ForecastOutput = Literal["last", "direct", "seq2seq", "sequence"]
ForecastLoss = Literal["mse", "mae", "huber"]

LAYER_KINDS: tuple[str, ...] = ("simple_rnn", "lstm", "gru")
FORECAST_OUTPUTS: tuple[str, ...] = ("last", "direct", "seq2seq", "sequence")
FORECAST_LOSSES: tuple[str, ...] = ("mse", "mae", "huber")
HEADS: tuple[str, ...] = ("auto", "sigmoid", "softmax")
POOLINGS: tuple[str, ...] = ("last", "max", "mean", "attention")
NGRAM_BRANCHES: tuple[str, ...] = ("none", "beside", "only")
LinearBranch = Literal["none", "beside", "only"]
LINEAR_BRANCHES: tuple[str, ...] = ("none", "beside", "only")
# class_weights: {BALANCED: 1} asks for weights n / (k * count_of_class) on the train split.
BALANCED = "balanced"
DISTRIBUTIONS: tuple[str, ...] = ("auto", "default", "mirrored", "multi_worker")
MONITORS: tuple[str, ...] = ("val_loss", "val_accuracy", "loss", "accuracy")
ACTIVATIONS: tuple[str, ...] = (
    "tanh",
    "sigmoid",
    "relu",
    "hard_sigmoid",
    "linear",
    "elu",
    "selu",
    "gelu",
)


def _finite_number(value: Any) -> bool:
    """An int or float that is not a bool, NaN or inf (YAML reads `.inf` and `.nan`)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _require(ok: bool, field_path: str, expected: str, got: Any, fix: str) -> None:
    if not ok:
        raise ConfigError(f"{field_path}: expected {expected}, got {got!r}; {fix}")


def _positive_int(value: Any, field_path: str, fix: str) -> None:
    _require(
        isinstance(value, int) and not isinstance(value, bool) and value > 0,
        field_path,
        "a positive integer",
        value,
        fix,
    )


def _positive_ints(
    values: Any, field_path: str, expected: str, fix: str, item_fix: str, distinct: bool = False
) -> None:
    """A non-empty tuple (YAML list) of positive integers, distinct ones when `distinct`."""
    _require(
        isinstance(values, tuple)
        and len(values) >= 1
        and (not distinct or len(set(values)) == len(values)),
        field_path,
        expected,
        values,
        fix,
    )
    for i, value in enumerate(values):
        _positive_int(value, f"{field_path}[{i}]", item_fix)


def _fraction(value: Any, field_path: str, fix: str) -> None:
    _require(
        isinstance(value, int | float) and 0.0 <= float(value) < 1.0,
        field_path,
        "a number in [0, 1)",
        value,
        fix,
    )


def _choice(value: Any, choices: tuple[str, ...], field_path: str) -> None:
    _require(
        value in choices,
        field_path,
        f"one of {list(choices)}",
        value,
        f"set {field_path} to one of {list(choices)}",
    )


@dataclass(frozen=True)
class PretrainedEmbeddings:
    """Pretrained word vectors for the token embedding (see embeddings.py).

    Attributes:
        path: a word2vec or GloVe text file ("word v1 v2 ... vD" per line; a word2vec
            "count dim" header line is skipped), plain or .gz. Tokens of the TFT vocabulary
            found in it start from its vector; the others (and the OOV ids) start random,
            padding (id 0) at zero. Its dimension must equal model.embedding_dim.
        trainable: fine-tune the vectors (True) or keep them frozen (default False).
        lowercase: look words up lowercased, as the transform standardizes (default True).
    """

    path: str = ""
    trainable: bool = False
    lowercase: bool = True

    def __post_init__(self) -> None:
        _require(
            isinstance(self.path, str) and bool(self.path),
            "pretrained.path",
            "the path of a word2vec/GloVe text file",
            self.path,
            "e.g. pretrained: {path: /data/glove.6B.100d.txt}",
        )


@dataclass(frozen=True)
class ModelConfig:
    """The recurrent text classifier's architecture (see models.build_text_model).

    Attributes:
        embedding_dim: width of the token embedding (default 64).
        layer: recurrent layer kind, "simple_rnn" | "lstm" | "gru" (default "lstm").
        units: units per recurrent layer (per direction when bidirectional; default 64).
        num_layers: stacked recurrent layers; all but the last return sequences (default 1).
        bidirectional: wrap every recurrent layer in keras.layers.Bidirectional (default False).
        dropout: dropout rate before the Dense head, in [0, 1) (default 0.0).
        recurrent_dropout: dropout on the recurrent state, in [0, 1) (default 0.0). Anything
            above 0 makes LSTM/GRU fall back from cuDNN to the generic kernel on GPU.
        mask_zero: treat token id 0 (right padding) as masked (default True).
        head: "auto" (sigmoid for 2 labels, softmax otherwise), "sigmoid" (2 labels only) or
            "softmax" (default "auto").
        activation / recurrent_activation / use_bias / unroll / reset_after: passed to the
            recurrent layers; the defaults (tanh, sigmoid, True, False, True) are the only
            values cuDNN kernels accept (see cudnn.py).
        pooling: how the last recurrent layer's outputs become one vector (pooling.py):
            "last" (its final state, default), "max" / "mean" over the time steps, or
            "attention" (a learned, softmax-weighted sum); all ignore padded steps.
        spatial_dropout: SpatialDropout1D rate on the embeddings, in [0, 1) (default 0.0).
        conv_filters: > 0 adds a Conv1D front end (CNN-RNN) of that many filters between the
            embedding and the RNN: "same" padding, ReLU, padded steps zeroed first so results
            do not depend on how much padding follows (default 0 = none).
        conv_kernel_size: the Conv1D kernel width (default 5).
        ngram_branch: a fastText-style bag of n-grams: the transform's "ngrams" ids
            (transform.ngrams) embedded and mean-pooled. "none" (default), "beside" (concatenated
            with the RNN's pooled vector before the head) or "only" (no RNN at all).
        ngram_dim: width of the n-gram embedding (default 32).
        linear_branch: a logistic regression on the transform's TF-IDF (or NB) weighted
            n-grams (transform.ngrams.weights: tfidf or nb): logits = sum_j weight_j *
            W[ngram_j] + b, W [ngram ids, classes] starting at zero. "none" (default),
            "beside" (wide & deep: its logits are ADDED to those of the rest of the model,
            whose head kernel starts at zero, so training starts from the linear model) or
            "only" (the whole model is the linear one; ngram_branch must then be "none").
        linear_l2: L2 penalty on the linear branch's weights W (default 0.0; the table is
            [ngram ids, classes], small enough for a dense penalty at every step).
        l2: L2 penalty on the head, conv and recurrent kernels (default 0.0; embeddings are
            left out: a penalty there makes every step touch the whole table).
        label_smoothing: in [0, 1) (default 0.0).
        class_weights: label name -> loss weight (absent labels weigh 1), or {"balanced": 1}
            for n / (k * count) from the train split's label counts (default {} = none).
        pretrained: PretrainedEmbeddings for the token embedding, or None (default).
        mixed_precision: True: mixed_float16 when training on GPUs (the head stays float32);
            always off on CPU, where it is slower; the choice and its reason are logged
            (precision.py). Default False.
    """

    embedding_dim: int = 64
    layer: LayerKind = "lstm"
    units: int = 64
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    mask_zero: bool = True
    head: Head = "auto"
    activation: Activation = "tanh"
    recurrent_activation: Activation = "sigmoid"
    use_bias: bool = True
    unroll: bool = False
    reset_after: bool = True
    pooling: Pooling = "last"
    spatial_dropout: float = 0.0
    conv_filters: int = 0
    conv_kernel_size: int = 5
    ngram_branch: NgramBranch = "none"
    ngram_dim: int = 32
    linear_branch: LinearBranch = "none"
    linear_l2: float = 0.0
    l2: float = 0.0
    label_smoothing: float = 0.0
    class_weights: dict[str, float] = field(default_factory=dict)
    pretrained: PretrainedEmbeddings | None = None
    mixed_precision: bool = False

    @property
    def uses_rnn(self) -> bool:
        """False when the n-gram or the linear branch is the whole model."""
        return self.ngram_branch != "only" and self.linear_branch != "only"

    def __post_init__(self) -> None:
        self._check_zoo()
        _positive_int(self.embedding_dim, "embedding_dim", "e.g. 64")
        _choice(self.layer, LAYER_KINDS, "layer")
        _positive_int(self.units, "units", "e.g. 64")
        _positive_int(self.num_layers, "num_layers", "use 1 for a single recurrent layer")
        _fraction(self.dropout, "dropout", "use 0.0 to disable dropout")
        _fraction(self.recurrent_dropout, "recurrent_dropout", "use 0.0 to keep cuDNN")
        _choice(self.head, HEADS, "head")
        _choice(self.activation, ACTIVATIONS, "activation")
        _choice(self.recurrent_activation, ACTIVATIONS, "recurrent_activation")

    def _check_zoo(self) -> None:
        _choice(self.pooling, POOLINGS, "pooling")
        _fraction(self.spatial_dropout, "spatial_dropout", "use 0.0 to disable it")
        _require(
            isinstance(self.conv_filters, int) and self.conv_filters >= 0,
            "conv_filters",
            "an integer >= 0",
            self.conv_filters,
            "0 disables the Conv1D front end, e.g. 64 enables it",
        )
        _positive_int(self.conv_kernel_size, "conv_kernel_size", "e.g. 5")
        _choice(self.ngram_branch, NGRAM_BRANCHES, "ngram_branch")
        _positive_int(self.ngram_dim, "ngram_dim", "e.g. 32")
        _choice(self.linear_branch, LINEAR_BRANCHES, "linear_branch")
        _require(
            not (self.linear_branch == "only" and self.ngram_branch != "none"),
            "ngram_branch",
            "'none' with linear_branch 'only' (the linear model is then the whole model)",
            self.ngram_branch,
            "use linear_branch: beside to add the linear logits to the n-gram branch's",
        )
        _require(
            _finite_number(self.linear_l2) and self.linear_l2 >= 0,
            "linear_l2",
            "a number >= 0",
            self.linear_l2,
            "e.g. 1e-6, or 0 for none",
        )
        _require(
            _finite_number(self.l2) and self.l2 >= 0,
            "l2",
            "a number >= 0",
            self.l2,
            "e.g. 1e-5, or 0 for none",
        )
        _fraction(self.label_smoothing, "label_smoothing", "e.g. 0.1, or 0.0 for none")
        for name, weight in self.class_weights.items():
            _require(
                _finite_number(weight) and weight > 0,
                f"class_weights.{name}",
                "a weight > 0",
                weight,
                "e.g. class_weights: {pos: 2.0}, or {balanced: 1} for inverse frequencies",
            )
        if BALANCED in self.class_weights and len(self.class_weights) > 1:
            raise ConfigError(
                f"class_weights: expected either {{balanced: 1}} or label -> weight entries, "
                f"got both: {self.class_weights}; keep one"
            )
        if isinstance(self.pretrained, dict):
            object.__setattr__(self, "pretrained", PretrainedEmbeddings(**self.pretrained))


@dataclass(frozen=True)
class ForecasterConfig:
    """The recurrent forecaster's architecture (see forecasters.build_forecaster); used when the
    TransformGraph holds series windows (its properties["kind"] == "series").

    Attributes:
        layer: "simple_rnn" | "lstm" | "gru" (default "lstm").
        units: units of each stacked recurrent layer, first to last (per direction when
            bidirectional); all but the last return sequences (default (64,)).
        bidirectional: wrap every encoder layer in keras.layers.Bidirectional (default False).
        dropout: dropout rate after the encoder, in [0, 1) (default 0.0).
        stacked_dropout: dropout rate after every encoder layer but the last, in [0, 1)
            (default 0.0). With `dropout` it gives the classic stacked "LSTM + Dropout" per
            layer: units [50, 50, 50, 50], stacked_dropout 0.2, dropout 0.2.
        recurrent_dropout: dropout on the recurrent state, in [0, 1) (default 0.0; > 0 turns
            cuDNN off).
        output: how the forecast is produced (default "direct"):
            "last"      many-to-one: Dense(T) on the last state -> the next step only;
                        longer horizons by recursion (seqline.serving.client.forecasting)
            "direct"    Dense(H * T) on the last state -> all H steps at once
            "seq2seq"   encoder -> RepeatVector(H) -> decoder -> TimeDistributed(Dense(T))
            "sequence"  every layer returns sequences, TimeDistributed(Dense(T)) predicts the
                        next value at every input step (trained on the history shifted by
                        one); the forecast is the last step's prediction
        residual_lag: 0 (default) or a lag k: the network forecasts the correction to the
            value k steps earlier (the seasonal naive forecast, e.g. 336 half-hours = last
            week), added inside the model, and its head starts at zero, so training starts
            from seasonal naive. Needs S <= k <= lookback and output last, direct or seq2seq.
        level_window: 0 (default) or w steps, with residual_lag k: seasonal naive is
            level-corrected by the mean error it made over the last w steps of the history
            (y[t-i] - y[t-i-k], i < w), times a weight per forecast step learned without a bias
            and starting at 1. Seasonal naive repeats last week's level; this carries today's
            shift (a holiday fortnight, a cold spell) forward. Needs residual_lag > 0 and
            k + w <= lookback (e.g. lookback 384 = 336 + 48 on half-hourly data).
        lag_context: give the network the whole input rows at the steps a seasonal naive
            forecast copies, beside the known-future inputs of the steps ahead: for a lag k,
            history steps L - k .. L - k + H - 1 (the target then and every covariate then,
            e.g. last week's temperature at each half-hour being forecast). seq2seq's decoder
            gets step h's rows at step h; direct and last take them like the future input.
            true means [residual_lag]: the network forecasts naive's error, which depends on
            how the conditions ahead differ from the ones naive's values were measured under,
            and without this it sees only the ahead half. A list of lags names the seasons
            itself, e.g. [48, 336] on half-hourly data (yesterday's and last week's rows);
            every lag needs horizon <= k <= lookback (default False: none).
        encoder_steps: 0 (default: the whole lookback) or n: the recurrent encoder reads only
            the last n history steps, while residual_lag, level_window, lag_context and
            linear_skip still read the whole window. A week-long window that exists for last
            week's values need not be run through the recurrence step by step: n = 48 on
            half-hourly data makes each epoch several times cheaper and the recurrence short
            enough to train well. Needs n <= lookback; not with output "sequence"; rules out
            the streaming step signatures (a state cannot forget steps).
        linear_skip: add a linear autoregressive path, Dense(S * T) on the flattened target
            history, to the network's output (LSTNet's "highway"): the recurrent part then
            models what a linear forecaster from the last L steps cannot. Default False; not
            with output "sequence".
        loss: "mse" | "mae" | "huber" (default "mse").
        huber_delta: the Huber loss's delta, > 0 (default 1.0; in scaled units).
        activation / recurrent_activation / use_bias / unroll / reset_after: passed to the
            recurrent layers; the defaults are the only values cuDNN kernels accept.
    """

    layer: LayerKind = "lstm"
    units: tuple[int, ...] = (64,)
    bidirectional: bool = False
    dropout: float = 0.0
    stacked_dropout: float = 0.0
    recurrent_dropout: float = 0.0
    output: ForecastOutput = "direct"
    residual_lag: int = 0
    level_window: int = 0
    lag_context: bool | tuple[int, ...] = False
    encoder_steps: int = 0
    linear_skip: bool = False
    loss: ForecastLoss = "mse"
    huber_delta: float = 1.0
    activation: Activation = "tanh"
    recurrent_activation: Activation = "sigmoid"
    use_bias: bool = True
    unroll: bool = False
    reset_after: bool = True

    # cudnn.py's RecurrentSettings: series windows are never padded, so nothing is masked.
    @property
    def mask_zero(self) -> bool:
        return False

    @property
    def context_lags(self) -> tuple[int, ...]:
        """The lags whose history rows join the known-future inputs (lag_context resolved:
        true -> (residual_lag,), false -> ())."""
        if isinstance(self.lag_context, bool):
            return (self.residual_lag,) if self.lag_context else ()
        return self.lag_context

    def __post_init__(self) -> None:
        _choice(self.layer, LAYER_KINDS, "layer")
        _positive_ints(
            self.units,
            "units",
            "a non-empty list of positive integers",
            "e.g. [64] or [64, 32] for two stacked layers",
            "e.g. 64",
        )
        _fraction(self.dropout, "dropout", "use 0.0 to disable dropout")
        _fraction(self.stacked_dropout, "stacked_dropout", "use 0.0 to disable dropout")
        _fraction(self.recurrent_dropout, "recurrent_dropout", "use 0.0 to keep cuDNN")
        _choice(self.output, FORECAST_OUTPUTS, "output")
        _require(
            isinstance(self.residual_lag, int) and self.residual_lag >= 0,
            "residual_lag",
            "an integer >= 0",
            self.residual_lag,
            "0 for none, or the season, e.g. 336 for last week on half-hourly data",
        )
        _require(
            not (self.residual_lag and self.output == "sequence"),
            "residual_lag",
            "0 with output 'sequence' (it predicts inside the history)",
            self.residual_lag,
            "use output: direct or seq2seq",
        )
        _require(
            isinstance(self.level_window, int)
            and not isinstance(self.level_window, bool)
            and self.level_window >= 0,
            "level_window",
            "an integer >= 0",
            self.level_window,
            "0 for none, or the steps to measure seasonal naive's recent error over, e.g. 48",
        )
        _require(
            not (self.level_window and not self.residual_lag),
            "level_window",
            "0 unless residual_lag > 0 (it corrects the seasonal naive forecast residual_lag "
            "gives)",
            self.level_window,
            "set residual_lag to the season, e.g. 336, or drop level_window",
        )
        _require(
            isinstance(self.encoder_steps, int)
            and not isinstance(self.encoder_steps, bool)
            and self.encoder_steps >= 0,
            "encoder_steps",
            "an integer >= 0",
            self.encoder_steps,
            "0 for the whole lookback, or the last steps the encoder reads, e.g. 48",
        )
        _require(
            not (self.encoder_steps and self.output == "sequence"),
            "encoder_steps",
            "0 with output 'sequence' (it predicts at every history step)",
            self.encoder_steps,
            "use output: direct or seq2seq",
        )
        if isinstance(self.lag_context, list):  # from Python; YAML's lists arrive as tuples
            object.__setattr__(self, "lag_context", tuple(self.lag_context))
        if isinstance(self.lag_context, bool):
            _require(
                not (self.lag_context and not self.residual_lag),
                "lag_context",
                "false unless residual_lag > 0 (true reads the steps seasonal naive copies)",
                self.lag_context,
                "set residual_lag to the season, e.g. 336, list the lags, e.g. [48, 336], or "
                "drop lag_context",
            )
        else:
            _positive_ints(
                self.lag_context,
                "lag_context",
                "true, false or a non-empty list of distinct lags",
                "e.g. [48, 336] for yesterday's and last week's rows on half-hourly data",
                "e.g. 48 or 336",
                distinct=True,
            )
        _require(
            not (self.lag_context and self.output == "sequence"),
            "lag_context",
            "false with output 'sequence' (it predicts inside the history, not steps ahead)",
            self.lag_context,
            "use output: direct, seq2seq or last",
        )
        _require(
            not (self.linear_skip and self.output == "sequence"),
            "linear_skip",
            "false with output 'sequence' (it predicts inside the history)",
            self.linear_skip,
            "use output: direct or seq2seq",
        )
        _choice(self.loss, FORECAST_LOSSES, "loss")
        _require(
            _finite_number(self.huber_delta) and self.huber_delta > 0,
            "huber_delta",
            "a number > 0",
            self.huber_delta,
            "e.g. 1.0",
        )
        _choice(self.activation, ACTIVATIONS, "activation")
        _choice(self.recurrent_activation, ACTIVATIONS, "recurrent_activation")


@dataclass(frozen=True)
class EarlyStoppingConfig:
    """keras.callbacks.EarlyStopping(restore_best_weights=True) settings.

    Attributes:
        monitor: metric watched by early stopping, best-checkpointing and LR reduction
            (default "val_loss"; "*accuracy" is maximised, "*loss" minimised).
        patience: epochs without improvement before stopping (default 3).
        min_delta: smallest change that counts as an improvement (default 0.0).
    """

    monitor: Monitor = "val_loss"
    patience: int = 3
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        _choice(self.monitor, MONITORS, "monitor")
        _require(
            isinstance(self.patience, int) and self.patience >= 0,
            "patience",
            "an integer >= 0",
            self.patience,
            "e.g. 3",
        )
        _require(
            _finite_number(self.min_delta) and self.min_delta >= 0,
            "min_delta",
            "a number >= 0",
            self.min_delta,
            "e.g. 0.0",
        )


@dataclass(frozen=True)
class ReduceLRConfig:
    """keras.callbacks.ReduceLROnPlateau settings (monitors early_stopping.monitor).

    Attributes:
        patience: epochs without improvement before the learning rate is reduced (default 2).
        factor: new_lr = lr * factor, in (0, 1) (default 0.5).
        min_lr: lower bound on the learning rate (default 1e-6).
    """

    patience: int = 2
    factor: float = 0.5
    min_lr: float = 1e-6

    def __post_init__(self) -> None:
        _require(
            isinstance(self.patience, int) and self.patience >= 0,
            "patience",
            "an integer >= 0",
            self.patience,
            "e.g. 2",
        )
        _require(
            isinstance(self.factor, int | float) and 0.0 < self.factor < 1.0,
            "factor",
            "a number in (0, 1)",
            self.factor,
            "e.g. 0.5 halves the learning rate",
        )
        _require(
            _finite_number(self.min_lr) and self.min_lr >= 0,
            "min_lr",
            "a number >= 0",
            self.min_lr,
            "e.g. 1e-6",
        )


# More members than this is a mistake rather than a plan: each costs a whole training, and the
# SavedModel and serving CPU grow with N while the seed spread narrows only as 1 / sqrt(N).
MAX_ENSEMBLE_MEMBERS = 16


@dataclass(frozen=True)
class EnsembleConfig:
    """A seed ensemble (`train.ensemble`, ensemble.py): train `members` copies of the configured
    model, member k (0-based) with seed `seed + k` (its initial weights and its shuffle order),
    and export one model whose output is the element-wise mean of their output tensors
    (classifiers: the probabilities; forecasters: the forecast in the model's scaled space,
    before the export's inverse scaling: without log1p that is the mean in original units
    too, since the inverse is affine; with log1p the mean is taken in log space, so the
    served forecast is expm1(mean of the members' log1p-scaled forecasts), a geometric-type
    mean, at most the arithmetic mean of their forecasts in original units).

    Attributes:
        members: N, an integer in [1, MAX_ENSEMBLE_MEMBERS] (default 1: one model, exactly
            the training without this option).
    """

    members: int = 1

    def __post_init__(self) -> None:
        _require(
            isinstance(self.members, int)
            and not isinstance(self.members, bool)
            and 1 <= self.members <= MAX_ENSEMBLE_MEMBERS,
            "members",
            f"an integer from 1 to {MAX_ENSEMBLE_MEMBERS}",
            self.members,
            "e.g. members: 3 (each member is a whole training), or 1 for a single model",
        )


@dataclass(frozen=True)
class TrainingConfig:
    """The training loop's settings, shared by train_text and train_series.

    Attributes:
        epochs: maximum number of epochs (default 10); early stopping may end sooner.
        batch_size: global batch size, split across replicas (default 32).
        learning_rate: Adam's initial learning rate (default 1e-3).
        ema: 0.0 (default: off), or a momentum in (0, 1), e.g. 0.99: validation, early
            stopping, the best checkpoint and so the exported model use an exponential moving
            average of the weights over roughly the last 1 / (1 - ema) steps (Polyak
            averaging) instead of the last step's weights, which makes the result depend less
            on the seed (weight_averaging.py). Keras 3 only (not multi_worker).
        early_stopping: EarlyStoppingConfig.
        reduce_lr: ReduceLRConfig.
        seed: seeds Python, NumPy, TensorFlow and the shuffle (default 42).
        steps_per_epoch: batches per epoch; None = ceil(train count / batch_size).
        shuffle_buffer: records held by the shuffle buffer (default 10,000). Not the cause
            of issue 13's idle gap at each validation (it came with and without a shuffle;
            data.without_autotune_thread removes it), so the default stays.
        train_split: split trained on (default "train").
        eval_split: split used for validation (early stopping, best weights, LR reduction);
            None = the first of "eval", "validation" that the TransformedExamples have (never
            "test", which evaluate keeps for the blessing).
        distribution: "auto" (default), "default" (one device), "mirrored" (all local GPUs,
            or all logical CPUs when there is no GPU) or "multi_worker" (TF_CONFIG cluster).
            See strategy.py.
        ensemble: EnsembleConfig (default members 1: a single model). With members N > 1
            the Model's val metrics are the mean model's on the eval split, and N times the
            training time, SavedModel size and serving CPU are the cost (ensemble.py).
        refit: after early stopping has chosen the best epoch on eval_split, train a fresh
            model (same seed, settings and learning-rate schedule) on train_split and
            eval_split together for that many epochs, and export it: the model learns from
            the eval records too, while test stays unseen for evaluate. Its val_* figures are
            the first fit's. Default False; not with ensemble.members > 1 (refit.py).
    """

    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    ema: float = 0.0
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    reduce_lr: ReduceLRConfig = field(default_factory=ReduceLRConfig)
    seed: int = 42
    steps_per_epoch: int | None = None
    shuffle_buffer: int = 10_000
    train_split: str = "train"
    eval_split: str | None = None
    distribution: Distribution = "auto"
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)
    refit: bool = False

    def __post_init__(self) -> None:
        _positive_int(self.epochs, "epochs", "e.g. 10")
        _positive_int(self.batch_size, "batch_size", "e.g. 32")
        _require(
            _finite_number(self.learning_rate) and self.learning_rate > 0,
            "learning_rate",
            "a number > 0",
            self.learning_rate,
            "e.g. 0.001",
        )
        _require(
            isinstance(self.ema, int | float)
            and not isinstance(self.ema, bool)
            and (self.ema == 0 or 0 < self.ema < 1),
            "ema",
            "0.0 (off) or a momentum strictly between 0 and 1",
            self.ema,
            "e.g. 0.99 (averages over ~100 steps), or 0.0",
        )
        _require(
            isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed >= 0,
            "seed",
            "an integer >= 0",
            self.seed,
            "e.g. 42",
        )
        if self.steps_per_epoch is not None:
            _positive_int(self.steps_per_epoch, "steps_per_epoch", "or null for one full pass")
        _positive_int(self.shuffle_buffer, "shuffle_buffer", "e.g. 10000")
        _require(
            isinstance(self.train_split, str) and bool(self.train_split),
            "train_split",
            "a split name",
            self.train_split,
            'e.g. "train"',
        )
        if self.eval_split is not None:
            _require(
                isinstance(self.eval_split, str) and bool(self.eval_split),
                "eval_split",
                "a split name or null",
                self.eval_split,
                'e.g. "eval", or null to pick one automatically',
            )
            _require(
                self.eval_split != self.train_split,
                "eval_split",
                f"a split other than train_split ({self.train_split!r})",
                self.eval_split,
                "validate on held-out data",
            )
        _choice(self.distribution, DISTRIBUTIONS, "distribution")
        if isinstance(self.ensemble, dict):  # from Python or to_json's round trip
            object.__setattr__(self, "ensemble", EnsembleConfig(**self.ensemble))
        _require(
            isinstance(self.ensemble, EnsembleConfig),
            "ensemble",
            "a mapping {members: N}",
            self.ensemble,
            "e.g. ensemble: {members: 3}",
        )
        _require(
            isinstance(self.refit, bool), "refit", "true or false", self.refit, "e.g. refit: true"
        )
        # A member refit on eval would make the mean model's figures on eval (the ensemble's
        # only held-out figures before evaluate) figures on training data.
        _require(
            not (self.refit and self.ensemble.members > 1),
            "refit",
            "false with ensemble.members > 1 (the ensemble's figures on the eval split would "
            "then be on data its members trained on)",
            self.refit,
            "set refit: false, or ensemble: {members: 1}",
        )


@dataclass(frozen=True)
class TrainTextConfig(TrainingConfig):
    """train_text's config: the training loop (TrainingConfig) plus `model`, the text
    classifier's architecture (ModelConfig), and `warm_start`.

    Attributes:
        model: the architecture (ModelConfig).
        warm_start: initialise the model from the last blessed model of this pipeline (the
            same model name; a resolved input, so a new blessed model reruns train): true
            (refuse with a ConfigError naming what differs when the vocabulary hash or size,
            the layer shapes, the labels or the model kind differ), "if_compatible" (log the
            reason and train from scratch), or false. With no blessed model yet, training
            starts from scratch. The Model records `warm_started_from` (uri, fingerprint,
            pushed version) or `warm_start_skipped` (the reason). Default false.
            See docs/scheduled-runs.md.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    warm_start: bool | Literal["if_compatible"] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(
            isinstance(self.model, ModelConfig),
            "model",
            "a mapping of ModelConfig fields",
            self.model,
            "see components/train/config.py",
        )
        # Every member would start from the one baseline's weights: the seed would then only
        # change the data order, the diversity the mean exists for would be mostly gone, and
        # an ensemble baseline has N times the weights a member has.
        _require(
            not (self.warm_start and self.ensemble.members > 1),
            "warm_start",
            "false with ensemble.members > 1 (members warm started from one baseline would "
            "start identical)",
            self.warm_start,
            "set warm_start: false, or ensemble: {members: 1}",
        )


@dataclass(frozen=True)
class TrainSeriesConfig(TrainingConfig):
    """train_series' config: the training loop (TrainingConfig) plus `forecaster`, the
    recurrent forecaster's architecture (ForecasterConfig)."""

    forecaster: ForecasterConfig = field(default_factory=ForecasterConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(
            isinstance(self.forecaster, ForecasterConfig),
            "forecaster",
            "a mapping of ForecasterConfig fields",
            self.forecaster,
            "see components/train/config.py",
        )


C = TypeVar("C", bound=TrainingConfig)

# Never "test": that split is kept for evaluate, which blesses on data training never saw.
EVAL_SPLIT_CANDIDATES: tuple[str, ...] = ("eval", "validation")


def to_json(config: TrainingConfig) -> str:
    """The config as JSON, for handing to extra worker processes (see worker.py)."""
    return json.dumps(dataclasses.asdict(config), sort_keys=True)


def from_json(text: str, config_type: type[C]) -> C:
    """Inverse of to_json (for `config_type`), validated like the YAML config (unknown keys
    and wrong types raise ConfigError naming `train.<field>`)."""
    from seqline.pipeline.config_parsing import build_dataclass

    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"train config: expected a JSON object, got {text!r} ({e})") from e
    return build_dataclass(config_type, data, "train")
