"""Typed artifacts: one small class per artifact type, each owning its file structure and its
facts. `ARTIFACT_CLASSES` lists them explicitly (no registration by import side effect); a
type name not listed (an out-of-tree component's) reads as the plain `Artifact`."""

from __future__ import annotations

from seqline.pipeline.artifacts.base import Artifact
from seqline.pipeline.artifacts.data_contracts import ExampleAnomalies, ExampleStatistics, Schema
from seqline.pipeline.artifacts.examples import (
    Examples,
    GridSteps,
    RejectedRecords,
    SeriesWindows,
    SplitGridSteps,
    SplitRecords,
    TransformedExamples,
    WindowSpec,
)
from seqline.pipeline.artifacts.model import ForecastOutput, Model, ModelRun
from seqline.pipeline.artifacts.transform import SeriesScaling, TextVocabulary, TransformGraph
from seqline.pipeline.artifacts.tuning import HyperParameters
from seqline.pipeline.artifacts.verdicts import Blessing, InfraBlessing, PushedModel, Verdict

ARTIFACT_CLASSES: dict[str, type[Artifact]] = {
    cls.TYPE_NAME: cls
    for cls in (
        Examples,
        SeriesWindows,
        RejectedRecords,
        ExampleStatistics,
        Schema,
        ExampleAnomalies,
        TransformGraph,
        TransformedExamples,
        HyperParameters,
        Model,
        ModelRun,
        Blessing,
        InfraBlessing,
        PushedModel,
    )
}


def artifact_class(type_name: str) -> type[Artifact]:
    """The class of `type_name` (the plain Artifact for types seqline does not define)."""
    return ARTIFACT_CLASSES.get(type_name, Artifact)


def accepts(expected: str, produced: str) -> bool:
    """True if an input declared as `expected` may take an output of type `produced`
    (the same type, or a subclass: SeriesWindows are Examples)."""
    if expected == produced:
        return True
    return issubclass(artifact_class(produced), artifact_class(expected)) and (
        artifact_class(expected) is not Artifact
    )


__all__ = [
    "ARTIFACT_CLASSES",
    "Artifact",
    "Blessing",
    "ExampleAnomalies",
    "ExampleStatistics",
    "Examples",
    "ForecastOutput",
    "GridSteps",
    "HyperParameters",
    "InfraBlessing",
    "Model",
    "ModelRun",
    "PushedModel",
    "RejectedRecords",
    "Schema",
    "SeriesScaling",
    "SeriesWindows",
    "SplitGridSteps",
    "SplitRecords",
    "TextVocabulary",
    "TransformGraph",
    "TransformedExamples",
    "Verdict",
    "WindowSpec",
    "accepts",
    "artifact_class",
]
