"""Model and ModelRun: what train produces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from seqline.pipeline.artifacts.base import Artifact, str_list
from seqline.pipeline.artifacts.examples import split_definition_of
from seqline.pipeline.errors import DataError
from seqline.storage import filesystem

SPLIT_LINEAGE = "split_lineage"


@dataclass(frozen=True)
class ForecastOutput:
    """What a forecaster's export answers: `steps` forecast steps of `targets`, from windows of
    `lookback` history steps of `targets` + `covariates`; trained on horizon-H windows."""

    targets: tuple[str, ...]
    covariates: tuple[str, ...]
    lookback: int
    horizon: int
    steps: int


@dataclass(frozen=True)
class Refit:
    """How a refit model was trained (train.refit): after early stopping chose `epochs` on
    `split`, a fresh model was trained for that many epochs on the train split and `split`
    together (`examples` records), and that model was exported. Its val_* figures are the
    first fit's, on `split`, which it has since trained on."""

    split: str
    epochs: int
    examples: int


@dataclass
class Model(Artifact):
    """A trained model.

    File structure:
        {uri}/saved_model/          SavedModel with the transform graph inside (classifier:
                                    serving_default(examples), predict_text(text); forecaster:
                                    serving_default(examples), forecast(history[, series_id]))
        {uri}/keras/model.keras     the Keras 3 model (best epoch's weights; with train.refit,
                                    the refit's: see `refit`)

    Properties: task ("binary" | "multiclass" | "forecast"), signatures, train_split, refit
    (see `refit`), epochs_run,
    best_val_loss, best_epoch, best_metrics, monitor, strategy, trained_with, replicas,
    cudnn_incompatibilities, diverged_at_epoch, split_lineage (see `split_lineage`);
    classifiers: labels, head, precision (see `precision`); forecasters: targets, covariates,
    lookback, horizon, forecast_steps, output, per_series.
    """

    TYPE_NAME: ClassVar[str] = "Model"
    SUMMARY_FACTS: ClassVar[tuple[str, ...]] = ("task", "epochs_run", "best_val_loss")
    CONTRACT: ClassVar[str] = (
        "a Model output needs a SavedModel in saved_model/ (tf.saved_model.save(..., "
        "out.saved_model_dir)), what evaluate, infra_validate and push load"
    )

    @property
    def saved_model_dir(self) -> str:
        return self.path("saved_model")

    @property
    def keras_file(self) -> str:
        return self.path("keras", "model.keras")

    @property
    def train_split(self) -> str | None:
        """The split the weights were fitted on (None for models trained before it was
        recorded)."""
        value = self.properties.get("train_split")
        return str(value) if value else None

    @property
    def refit(self) -> Refit | None:
        """How the exported weights were refit on train + the early-stopping split
        (train.refit), or None when they are the first fit's (refit off, or trained before
        seqline recorded it)."""
        value = self.properties.get("refit")
        if not isinstance(value, dict) or not value.get("split"):
            return None
        return Refit(
            str(value["split"]), int(value.get("epochs") or 0), int(value.get("examples") or 0)
        )

    def describe(self) -> list[str]:
        """`seqline show`'s line for a refit model (none otherwise): the exported weights are
        not the ones its val_* figures were measured on."""
        refit = self.refit
        if refit is None:
            return []
        train = self.train_split or "train"
        return [
            f"refit: the exported weights trained on '{train}' + '{refit.split}' "
            f"({refit.examples} examples) for {refit.epochs} epoch(s); best_val_loss and "
            f"val_* are the first fit's, on '{refit.split}'"
        ]

    def fitted_splits(self) -> list[str]:
        """Every split the exported weights were fitted on: train_split, plus the refit
        split when refit ([] when the Model records neither)."""
        splits = [self.train_split] if self.train_split else []
        refit = self.refit
        if refit is not None and refit.split not in splits:
            splits.append(refit.split)
        return splits

    @property
    def split_lineage(self) -> list[dict[str, Any]] | None:
        """The split definitions (Examples.split_definition) of every Examples this model's
        weights were fitted on: those of the models it was warm started from, oldest first,
        then its own; each listed once. None when it records none (trained before seqline
        recorded it, or from Examples without a split definition): then which records it was
        fitted on cannot be told."""
        value = self.properties.get(SPLIT_LINEAGE)
        if not isinstance(value, list) or not value:
            return None
        definitions = [split_definition_of(entry) for entry in value]
        return [d for d in definitions if d is not None] or None

    @property
    def precision(self) -> dict[str, str] | None:
        """{"policy", "reason"}: the dtype policy a text model was trained under (float32 or
        mixed_float16) and why, e.g. float32 because mixed_precision was asked for without a
        GPU. None for models that do not record it."""
        value = self.properties.get("precision")
        if not isinstance(value, dict) or "policy" not in value:
            return None
        return {"policy": str(value["policy"]), "reason": str(value.get("reason") or "")}

    def has_saved_model(self) -> bool:
        return filesystem.exists(filesystem.join(self.saved_model_dir, "saved_model.pb"))

    def missing(self) -> list[str]:
        """["has no saved_model/saved_model.pb"] without a SavedModel, else []."""
        return [] if self.has_saved_model() else ["has no saved_model/saved_model.pb"]

    @property
    def task(self) -> str:
        return str(self.properties.get("task") or "")

    @property
    def is_forecaster(self) -> bool:
        return self.task == "forecast"

    @property
    def labels(self) -> list[str]:
        """A classifier's class names in class-id order. DataError for anything else."""
        labels = str_list(self.properties.get("labels"))
        if (
            len(labels) < 2
            or self.task not in ("binary", "multiclass")
            or (self.task == "binary" and len(labels) != 2)
        ):
            raise DataError(
                f"expected the Model artifact at {self.uri} to be a classifier (task 'binary' "
                f"with 2 labels or 'multiclass' with >= 2), got task={self.task!r} with labels "
                f"{labels}; re-run train"
            )
        return labels

    def forecast_output(self) -> ForecastOutput:
        """A forecaster's output contract. DataError for anything else."""
        if not self.is_forecaster:
            raise DataError(
                f"expected the Model artifact at {self.uri} to be a forecaster (task "
                f"'forecast'), got task {self.task!r}; wire the series pipeline's train here"
            )
        self.require("targets", "lookback", "horizon", "forecast_steps")
        p = self.properties
        return ForecastOutput(
            tuple(str_list(p["targets"])),
            tuple(str_list(p.get("covariates"))),
            int(p["lookback"]),
            int(p["horizon"]),
            int(p["forecast_steps"]),
        )


@dataclass
class ModelRun(Artifact):
    """How training went.

    File structure:
        {uri}/tensorboard/                   TensorBoard event files
        {uri}/history.csv                    one row per epoch
        {uri}/training_curves.png            loss and metrics per epoch
        {uri}/checkpoints/best.weights.h5    the best epoch's weights (of the first fit)
        {uri}/checkpoints/refit.weights.h5   with train.refit: the exported weights

    Properties: epochs_run, resumed_from_epoch (0 for an uninterrupted run), final (last
    epoch's metrics).
    """

    TYPE_NAME: ClassVar[str] = "ModelRun"
    SUMMARY_FACTS: ClassVar[tuple[str, ...]] = ("epochs_run", "resumed_from_epoch")
