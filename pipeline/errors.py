"""The one exception hierarchy for users' mistakes and bad data.

Programming errors stay ValueError/TypeError; everything a user can fix by changing a config,
a file or a command line is a SeqlineError whose message says what was expected, what was
received, and how to fix it.
"""

from __future__ import annotations


class SeqlineError(Exception):
    """Base class for errors a user can act on."""


class ConfigError(SeqlineError):
    """A pipeline or component config is invalid (raised before anything runs)."""


class WiringError(ConfigError):
    """The DAG is inconsistent: unknown upstream node, missing input, type mismatch, cycle."""


class DataNotReady(ConfigError):
    """Data a run asks for has not landed yet: the requested span's folder does not exist, or
    a span folder holds no file yet (an export still being written). Waiting may fix it, so an
    orchestrator retries it: the Airflow python-mode task raises it as a retryable failure, and
    `seqline run` exits with status 75 (EX_TEMPFAIL) instead of 2. It is a ConfigError for
    code that catches those, since the same pre-run checks raise it."""


class DataError(SeqlineError):
    """Input data is unusable, e.g. the rejected-record ratio is above the configured maximum."""


class ContractError(SeqlineError):
    """An executor broke the component contract (docs/extending.md): an output it declared is
    incomplete for its type (Artifact.missing), or it returned something other than a mapping
    of str to JSON values (or None). Raised for the node that did it, before it publishes."""


class ComponentFailed(SeqlineError):
    """A component raised while executing; wraps the original error with the node id."""

    def __init__(self, node_id: str, cause: BaseException) -> None:
        super().__init__(f"component '{node_id}' failed: {type(cause).__name__}: {cause}")
        self.node_id = node_id
        self.cause = cause


class MetadataError(SeqlineError):
    """The metadata store cannot be opened or queried (bad URL, missing driver, missing run)."""
