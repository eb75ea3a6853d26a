"""Warm start of train_text from the last blessed model (`train: warm_start:`).

The last blessed model is a resolved input of train_text (pipeline/resolvers.py
LatestBlessedModel), so it is in the node's fingerprint and lineage. Its weights can seed the
new model only when both models read the same token ids and have the same variables:

- model kind: the same training component, task and head, and the same labels in order;
- vocabulary: the same vocabulary files (sha256 over the transform graph's assets) and size;
  the Model artifact records them as its `vocabulary` property for this check;
- layer shapes: every weight of the new model has the baseline's shape, in the same order;
- split definition: every entry of the baseline's `split_lineage` (the split definitions of
  the Examples its weights were fitted on, through its own warm starts; split_lineage.py) is
  this run's Examples' `split_definition`. Under another split (other ratios, another key,
  split_by...) records the baseline was fitted on may sit in this run's test split, and a
  blessing scored there would be decided on data the trainer saw. A baseline that records no
  lineage (trained before it was recorded), or Examples that record no definition, cannot be
  vouched for and count as a difference too.

`warm_start: true` refuses an incompatible baseline (ConfigError naming each difference);
`if_compatible` reports the reason and trains from scratch. Without any blessed model yet
(a pipeline's first run) both train from scratch. Pure Python except `shape_differences`
and `load_baseline_weights`, which take Keras models.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from seqline.pipeline import data_sources
from seqline.pipeline.artifacts import Model
from seqline.pipeline.artifacts.examples import differing_definitions, split_definition_changes
from seqline.pipeline.errors import ConfigError
from seqline.storage import filesystem

WarmStart = bool | Literal["if_compatible"]
ASSETS = ("transform_fn", "assets")


def vocabulary_identity(transform_graph_uri: str, vocab_size: int) -> dict[str, Any]:
    """{"sha256": hash over the transform graph's asset files (names and bytes, sorted),
    "size": vocab_size}: what a model's token ids mean."""
    digest = hashlib.sha256()
    root = filesystem.join(transform_graph_uri, *ASSETS)
    files = sorted(filesystem.walk_files(root)) if filesystem.exists(root) else []
    for path in files:
        digest.update(path[len(root) :].encode() + b"\0")
        with data_sources.open_binary(path) as f:
            digest.update(f.read())
    return {"sha256": digest.hexdigest(), "size": int(vocab_size)}


SPLIT_DIFFERENCE = "split definition"


def split_differences(baseline: Model, current: Mapping[str, Any] | None) -> list[str]:
    """Why the records `baseline` was fitted on may lie in this run's eval or test split ([] if
    its whole split lineage is `current`, this run's Examples' split definition)."""
    if current is None:
        return [
            f"{SPLIT_DIFFERENCE}: this run's Examples record none (their ingest writes no "
            "split_definition), so whether the baseline was fitted on records of this run's "
            "test split cannot be told"
        ]
    lineage = baseline.split_lineage
    if lineage is None:
        return [
            f"{SPLIT_DIFFERENCE}: the baseline records no split lineage (trained before "
            "seqline recorded it, or from Examples without a split_definition), so it may have "
            "been fitted on records of this run's test split"
        ]
    return [
        f"{SPLIT_DIFFERENCE}: the baseline's weights were fitted on Examples split "
        f"differently ({'; '.join(split_definition_changes(definition, current))}), so "
        "records it was fitted on may be in this run's test split, where the blessing is "
        "decided"
        for definition in differing_definitions(lineage, current)
    ]


def static_differences(
    baseline: Model,
    *,
    component: str,
    vocabulary: dict[str, Any],
    labels: Sequence[str],
    head: str,
    split_definition: Mapping[str, Any] | None,
) -> list[str]:
    """What makes `baseline` unusable as a starting point before any model is built ([] if
    nothing): model kind, labels, vocabulary hash and size, split definition (this run's
    Examples' `split_definition`, None when they record none)."""
    out: list[str] = split_differences(baseline, split_definition)
    producer = baseline.producer.get("component")
    if producer and producer != component:
        out.append(f"model kind: the baseline was trained by {producer}, this node is {component}")
    task = "binary" if len(labels) == 2 else "multiclass"
    if baseline.task and baseline.task != task:
        out.append(f"model kind: baseline task {baseline.task}, this run {task}")
    base_head = baseline.properties.get("head")
    if base_head and base_head != head:
        out.append(f"model kind: baseline head {base_head}, this run {head}")
    base_labels = baseline.properties.get("labels")
    if base_labels is not None and list(base_labels) != list(labels):
        out.append(f"labels: baseline {list(base_labels)}, this run {list(labels)}")
    recorded = baseline.properties.get("vocabulary")
    if not isinstance(recorded, dict):
        out.append("vocabulary: the baseline records no vocabulary hash (trained earlier)")
        return out
    if recorded.get("size") != vocabulary["size"]:
        size = vocabulary["size"]
        out.append(f"vocabulary size: baseline {recorded.get('size')}, this run {size}")
    if recorded.get("sha256") != vocabulary["sha256"]:
        out.append(
            f"vocabulary hash: baseline {str(recorded.get('sha256'))[:12]}, this run "
            f"{vocabulary['sha256'][:12]} (the token ids mean different words)"
        )
    return out


def shape_differences(baseline_model: Any, model: Any) -> list[str]:
    """Weight-by-weight shape differences between two built Keras models ([] if none)."""
    base = [(w.path, tuple(w.shape)) for w in baseline_model.weights]
    new = [(w.path, tuple(w.shape)) for w in model.weights]
    if len(base) != len(new):
        return [f"layer shapes: the baseline has {len(base)} weights, this model {len(new)}"]
    return [
        f"layer shapes: {path} {list(new_shape)} vs the baseline's {base_path} {list(base_shape)}"
        for (base_path, base_shape), (path, new_shape) in zip(base, new, strict=True)
        if base_shape != new_shape
    ]


def refuse_or_skip(mode: WarmStart, baseline: Model, differences: list[str]) -> str:
    """`true`: raises ConfigError listing `differences`; `if_compatible`: returns the reason
    to record and log (training then starts from scratch)."""
    what = "; ".join(differences)
    if mode is True:
        split = [d.startswith(SPLIT_DIFFERENCE) for d in differences]
        if any(split):
            also = "" if all(split) else " and the same vocabulary and architecture"
            fix = (
                "keep the split the baseline was trained under (ingest's split_by, "
                f"split_ratios / split_fractions / split_cuts, id_column){also}, or set "
                "warm_start: false to train the first model of this split from scratch "
                "(if_compatible does so whenever the baseline differs): a blessing must not "
                "be scored on records the model was fitted on"
            )
        else:
            fix = (
                "train with the same vocabulary and architecture, or set warm_start: "
                "if_compatible (train from scratch when they differ) or false"
            )
        raise ConfigError(
            f"train.warm_start: true, but the last blessed model {baseline.uri} cannot seed "
            f"this model: {what}. Fix: {fix}"
        )
    return f"not warm started from {baseline.uri}: {what}"


def load_baseline_weights(
    mode: WarmStart, baseline: Model, model: Any, progress: Any
) -> str | None:
    """Copies the baseline's weights into the built `model` when every shape matches; returns
    None when it did, else the reason it did not (or raises, see refuse_or_skip)."""
    import keras  # noqa: PLC0415

    import seqline.components.train.pooling  # noqa: F401, PLC0415 — registers custom layers

    source = keras.saving.load_model(baseline.keras_file, compile=False)
    differences = shape_differences(source, model)
    if differences:
        return refuse_or_skip(mode, baseline, differences)
    model.set_weights(source.get_weights())
    progress(f"warm started from the blessed model {baseline.uri}")
    return None
