"""The `orchestration:` block of a pipeline config: how an orchestrator runs each node.

    orchestration:
      schedule: "@daily"            # Airflow schedule (cron or preset); null = manual only
      start_date: "2026-01-01"      # first logical date of a scheduled DAG
      date_param: span              # run parameter that takes the logical date (YYYY-MM-DD)
      defaults:                     # every node, unless overridden below
        retries: 1
        retry_delay_seconds: 300
        timeout_seconds: 7200       # null = no limit
        cpu: "1"                    # KFP container requests (Kubernetes quantities)
        memory: 4Gi
      nodes:
        train: {retries: 0, timeout_seconds: 14400, cpu: "4", memory: 16Gi, gpu: 1,
                gpu_type: nvidia.com/gpu}

Pure Python (no Airflow, no kfp): both orchestrator modules and their tests read it.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from seqline.pipeline.config_parsing import build_dataclass
from seqline.pipeline.errors import ConfigError

# Kubernetes resource quantities: "500m", "2", "1.5", "4Gi", "512M".
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")


@dataclass(frozen=True)
class NodeSettings:
    """How one node's task runs. Fields left None fall back to `defaults`, then to these
    built-in values: retries 0, retry_delay_seconds 300, no timeout, no resource requests."""

    retries: int | None = None
    retry_delay_seconds: int | None = None
    timeout_seconds: int | None = None
    cpu: str | None = None
    memory: str | None = None
    gpu: int | None = None
    gpu_type: str | None = None  # KFP accelerator type, e.g. nvidia.com/gpu

    def __post_init__(self) -> None:
        for name in ("retries", "retry_delay_seconds", "gpu"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"{name}: expected >= 0, got {value}")
        if self.timeout_seconds is not None and self.timeout_seconds <= 0:
            raise ConfigError(f"timeout_seconds: expected > 0 or null, got {self.timeout_seconds}")
        for name in ("cpu", "memory"):
            value = getattr(self, name)
            if value is not None and not _QUANTITY.match(str(value)):
                raise ConfigError(
                    f"{name}: expected a Kubernetes quantity such as '500m', '2' or '4Gi', "
                    f"got {value!r}"
                )
        if self.gpu_type and not self.gpu:
            raise ConfigError(f"gpu_type {self.gpu_type!r} is set but gpu is not; set gpu: 1")

    def over(self, base: NodeSettings) -> NodeSettings:
        """These settings, with fields left None taken from `base`."""
        return NodeSettings(
            **{
                f.name: getattr(self, f.name)
                if getattr(self, f.name) is not None
                else getattr(base, f.name)
                for f in dataclasses.fields(self)
            }
        )


BUILT_IN = NodeSettings(retries=0, retry_delay_seconds=300)


@dataclass(frozen=True)
class OrchestrationSettings:
    schedule: str | None = None
    start_date: str | None = None
    date_param: str = "span"
    defaults: NodeSettings = field(default_factory=NodeSettings)
    nodes: dict[str, NodeSettings] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.start_date is not None:
            self.start()  # checks the format now, not when the DAG is scheduled

    def start(self) -> datetime.datetime | None:
        """`start_date` as a UTC datetime (None when unset)."""
        if self.start_date is None:
            return None
        try:
            day = datetime.date.fromisoformat(str(self.start_date))
        except ValueError:
            raise ConfigError(f"start_date: expected YYYY-MM-DD, got {self.start_date!r}") from None
        return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)

    def for_node(self, node_id: str) -> NodeSettings:
        """The settings of `node_id`: its own, then `defaults`, then the built-in values."""
        own = self.nodes.get(node_id, NodeSettings())
        return own.over(self.defaults).over(BUILT_IN)

    def check_nodes(self, node_ids: Sequence[str]) -> None:
        """ConfigError for settings of a node the pipeline does not have (a typo)."""
        unknown = sorted(set(self.nodes) - set(node_ids))
        if unknown:
            raise ConfigError(
                f"orchestration.nodes: unknown node(s) {unknown}; the pipeline's nodes are "
                f"{list(node_ids)}"
            )


def orchestration_settings(data: Mapping[str, Any] | None) -> OrchestrationSettings:
    """Parses the raw `orchestration:` mapping (None -> all defaults); errors name the field."""
    if data is None:
        return OrchestrationSettings()
    if not isinstance(data, Mapping):
        raise ConfigError(f"orchestration: expected a mapping, got {type(data).__name__}")
    data = dict(data)
    if isinstance(data.get("start_date"), datetime.date):  # YAML reads 2026-01-01 as a date
        data["start_date"] = data["start_date"].isoformat()
    # `cpu: 2` is as good a quantity as `cpu: "2"`.
    if isinstance(data.get("nodes"), Mapping):
        data["nodes"] = {k: _quantities_as_text(v) for k, v in data["nodes"].items()}
    data["defaults"] = _quantities_as_text(data.get("defaults"))
    return build_dataclass(OrchestrationSettings, data, "orchestration")


def _quantities_as_text(block: Any) -> Any:
    if not isinstance(block, Mapping):
        return block
    return {
        key: str(value)
        if key in ("cpu", "memory") and isinstance(value, int | float) and value is not True
        else value
        for key, value in block.items()
    }
