"""Test helper: records executions in a MetadataStore as the runner would, without running
anything (lineage and resolver tests build their history with it)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from seqline.pipeline.metadata import MetadataStore


def record_execution(
    store: MetadataStore,
    run_id: str,
    node: str,
    inputs: Mapping[str, int],
    outputs: Mapping[str, tuple[str, str, Mapping[str, Any]]],
) -> dict[str, int]:
    """Records one COMPLETE execution of `node` (fingerprint `{node}-fp`) in `run_id`: inputs
    {name: artifact id}, outputs {name: (type, uri, properties)}; returns the outputs'
    artifact ids by name."""
    execution = store.start_execution(run_id, node, node, f"{node}-fp", inputs)
    ids = {
        name: store.record_output(
            execution,
            name,
            uri=uri,
            type_name=type_name,
            fingerprint=f"{node}-fp",
            node_id=node,
            properties=properties,
            created_at=time.time(),
        )  # fmt: skip
        for name, (type_name, uri, properties) in outputs.items()
    }
    store.finish_execution(execution, "COMPLETE")
    return ids
