"""The text-classification pipeline: ingest_text -> statistics -> schema -> validate ->
transform (transform_text) -> [tune (tune_text)] -> train (train_text) -> evaluate
(evaluate_text) -> infra_validate -> push (wired in standard_pipeline.py). The tune node exists
when the config has a `tune` section (docs/models.md, "Tuning").

transform takes its raw feature spec from validate's "schema" output (the schema the span
passed), so it runs only after validation succeeded and parses exactly what was validated.

Build it from YAML (`kind: text`, see examples/) or from Python:

    from seqline.components.text_pipeline import text_pipeline
    pipeline = text_pipeline(
        "imdb", "runs/imdb",
        ingest_text={"source": "data/imdb.csv", "labels": ["neg", "pos"]},
        evaluate={"thresholds": {"accuracy": {"lower": 0.8}}},
        push={"serving_root": "serving", "model_name": "imdb"},
    )

Each component argument is either that component's config dataclass or a mapping of its fields
(validated exactly like YAML).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from seqline.components.evaluate.text_component import COMPONENT as EVALUATE_TEXT
from seqline.components.ingest_text.component import COMPONENT as INGEST_TEXT
from seqline.components.schema.config import SchemaConfig
from seqline.components.standard_pipeline import (
    PipelineKind,
    build_standard_pipeline,
    python_settings,
)
from seqline.components.train.config import BALANCED
from seqline.components.train.text_component import COMPONENT as TRAIN_TEXT
from seqline.components.transform.text_component import COMPONENT as TRANSFORM_TEXT
from seqline.components.tune.component import COMPONENT as TUNE_TEXT
from seqline.pipeline.config_file import PipelineSettings
from seqline.pipeline.dag import Pipeline
from seqline.pipeline.errors import ConfigError
from seqline.schemas.curated import load_curated_schema
from seqline.schemas.loading import BUILTIN_PREFIX, resolve_schema_path
from seqline.schemas.text import LABEL_KEY, TEXT_KEY
from seqline.storage import filesystem


def check_curated_schema_features(schema: SchemaConfig) -> None:
    """A local (or builtin:) curated schema is sound and describes the features transform_text
    parses, text and label (ConfigError naming the file); transform found a missing one only
    after ingest, statistics and validate ran. A remote or missing file is left to the schema
    node's own check (which says it does not exist) and its run."""
    path = schema.curated_schema
    if not path or filesystem.is_remote(path):
        return
    if not path.startswith(BUILTIN_PREFIX) and not os.path.exists(resolve_schema_path(path)):
        return
    load_curated_schema(
        path,
        required=[TEXT_KEY, LABEL_KEY],
        reason="transform_text parses the text and trains on the label",
    )


def check_text_configs(configs: Mapping[str, Any]) -> None:
    """The model's inputs and class weights match what transform and ingest produce, and a
    curated schema describes the features transform reads (ConfigError naming the fields);
    they were found only once train (or transform) ran."""
    model, ngrams = configs["train"].model, configs["transform"].ngrams
    for branch in ("ngram_branch", "linear_branch"):
        if getattr(model, branch) != "none" and not ngrams.enabled:
            raise ConfigError(
                f"components.train.model.{branch}: {getattr(model, branch)!r} reads the "
                "transform's n-gram features, but transform.ngrams is off; set e.g. "
                "transform.ngrams: {orders: 2" + (", weights: tfidf" if branch == "linear_branch"
                else "") + "} or use " + f"{branch}: none"
            )  # fmt: skip
    if model.linear_branch != "none" and ngrams.weights == "none":
        raise ConfigError(
            "components.train.model.linear_branch: the linear branch weighs n-grams by the "
            "transform's TF-IDF, but transform.ngrams.weights is 'none'; set weights: tfidf "
            "(or nb for binary labels)"
        )
    check_curated_schema_features(configs["schema"])
    labels = set(configs["ingest_text"].labels)
    unknown = sorted(set(model.class_weights) - labels - {BALANCED})
    if labels and unknown:
        raise ConfigError(
            f"components.train.model.class_weights: expected labels from ingest_text.labels "
            f"{sorted(labels)} (or {BALANCED}: 1), got {unknown}; fix the label names"
        )


KIND = PipelineKind(
    ingest_id="ingest_text",
    ingest=INGEST_TEXT,
    transform=TRANSFORM_TEXT,
    train=TRAIN_TEXT,
    evaluate=EVALUATE_TEXT,
    tune=TUNE_TEXT,
    check_configs=check_text_configs,
)


def build_text_pipeline(settings: PipelineSettings) -> Pipeline:
    """The `text` pipeline kind (entry point): validates every component config, then wires."""
    return build_standard_pipeline(settings, KIND)


def text_pipeline(
    name: str,
    root: str,
    *,
    ingest_text: Any,
    evaluate: Any,
    push: Any,
    statistics: Any = None,
    schema: Any = None,
    validate: Any = None,
    transform: Any = None,
    train: Any = None,
    tune: Any = None,
    infra_validate: Any = None,
    metadata_url: str | None = None,
    beam_args: Sequence[str] = (),
    base_dir: str = ".",
) -> Pipeline:
    """Builds the text pipeline from Python (configs as dataclasses or mappings; `tune` adds
    the tune node)."""
    components = {
        "ingest_text": ingest_text,
        "statistics": statistics,
        "schema": schema,
        "validate": validate,
        "transform": transform,
        "train": train,
        "tune": tune,
        "evaluate": evaluate,
        "infra_validate": infra_validate,
        "push": push,
    }
    return build_text_pipeline(
        python_settings(name, root, "text", components, metadata_url, beam_args, base_dir)
    )
