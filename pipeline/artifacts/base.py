"""The Artifact base class: a directory, its identity and its small JSON-able facts.

Every typed artifact (examples.py, data_contracts.py, transform.py, model.py, verdicts.py)
subclasses Artifact, sets TYPE_NAME, documents its File structure and reads its facts through
typed properties. The facts still travel as one JSON object (`properties`) in the descriptor
`artifact.json`, so the metadata store and tools outside Python see them; Python code never
indexes that dict by a string it did not define.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from seqline.pipeline.errors import DataError
from seqline.storage import filesystem


@dataclass
class Artifact:
    """A published (or being-written) artifact.

    Attributes:
        type_name: the artifact type's name (a subclass's TYPE_NAME).
        uri: the directory holding the artifact's files.
        fingerprint: hash of the producing node's name, code, config and inputs.
        producer: {"node_id", "component", "run_id"} of the execution that wrote it.
        properties: small JSON-able facts; read them through the subclass's typed properties.
        created: Unix time the descriptor was written (0 while being written).
    """

    TYPE_NAME: ClassVar[str] = ""
    # What a producer must write for consumers to read this type (see `contract`).
    CONTRACT: ClassVar[str] = ""
    # Property names `seqline runs show` / lineage print for this type (report.py).
    SUMMARY_FACTS: ClassVar[tuple[str, ...]] = ()

    type_name: str
    uri: str
    fingerprint: str
    producer: dict[str, str] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    created: float = 0.0

    # Property set by the runner on an output its component forwards (Component.forwards).
    CONTENT_FINGERPRINT: ClassVar[str] = "content_fingerprint"

    @property
    def content_fingerprint(self) -> str:
        """What downstream nodes key their cache on: the fingerprint of the node that made
        this content. For a forwarded output (validate's validated_schema is the schema it
        checked, passed on) that is the forwarded input's; for every other artifact its own
        fingerprint."""
        return str(self.properties.get(self.CONTENT_FINGERPRINT) or self.fingerprint)

    def content_key(self) -> str | None:
        """A digest of everything a consumer reads from this artifact, for types whose
        consumers read only a small part of it (HyperParameters: the best values); None (the
        default) keys consumers on the producing node's fingerprint. The runner records it
        as `content_fingerprint` when the output is published."""
        return None

    def path(self, *parts: str) -> str:
        """A path inside the artifact directory."""
        return filesystem.join(self.uri, *parts)

    def require(self, *keys: str) -> None:
        """DataError naming every missing property: the producer did not follow the contract."""
        missing = [key for key in keys if key not in self.properties]
        if missing:
            producer = self.producer.get("component") or "its producer"
            raise DataError(
                f"{self.type_name} artifact at {self.uri}: expected properties "
                f"{', '.join(keys)}, missing {missing}; re-run {producer}"
            )

    def contract(self) -> str:
        """What a producer must write for consumers to read this type, said when `missing()`
        finds something absent ("" for types without a checked contract)."""
        return self.CONTRACT

    def missing(self) -> list[str]:
        """What a freshly written artifact of this type lacks that its consumers read: one
        phrase per gap ("lists no splits ..."), [] when it is complete (always, for types
        without a checked contract). The runner asks it of every output an executor has just
        written, before publishing (pipeline/execution.py), so an incomplete output fails its
        producer and is never cached; it reads properties and checks that files exist, no
        more (published, cached artifacts are never asked)."""
        return []

    def facts(self) -> dict[str, Any]:
        """The SUMMARY_FACTS that are set: what a person wants to see of this artifact."""
        return {
            k: self.properties[k] for k in self.SUMMARY_FACTS if self.properties.get(k) is not None
        }

    def describe(self) -> list[str]:
        """Extra lines `seqline runs show` prints under this artifact (none by default)."""
        return []

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "uri": self.uri,
            "fingerprint": self.fingerprint,
            "producer": self.producer,
            "properties": self.properties,
            "created": self.created,
        }


def str_list(value: Any) -> list[str]:
    """A property holding a list of names, as list[str] ([] when unset)."""
    return (
        [str(v) for v in value]
        if isinstance(value, Sequence) and not isinstance(value, str)
        else []
    )


def int_map(value: Any) -> dict[str, int]:
    """A property holding name -> count, as dict[str, int] ({} when unset)."""
    return {str(k): int(v) for k, v in value.items()} if isinstance(value, Mapping) else {}
