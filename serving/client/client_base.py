"""What the gRPC and REST model-server clients share, whatever the transport: the model they
address (name, default version selection, default signature), the call policy (one deadline per
call, retries with backoff) and waiting for a version to become AVAILABLE.

`ModelClientBase` is the base of seqline.serving.client.client.PredictionClient (gRPC) and
seqline.serving.client.rest_client.RestClient (REST). It imports numpy and the standard library
only, so RestClient stays free of grpc and TensorFlow.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

from seqline.serving.client.model_info import VersionStatus, wait_for_version
from seqline.serving.client.retry import (
    DEFAULT_RETRY_CODES,
    RequestFailed,
    RetryEvent,
    RetryPolicy,
    call_with_retries,
)
from seqline.serving.errors import Code
from seqline.serving.request_inputs import check_version_selector


class ModelClientBase(ABC):
    """The transport-independent half of a client for one model on a model server.

    Args:
        model_name: the model to address.
        version / version_label: pin a version (int) or a label (e.g. "stable") for every
            call, not both; default None = the server's choice (the latest AVAILABLE version).
        signature_name: default signature for requests; "serving_default" by default.
        timeout: default deadline per call in seconds (retries included); 10.0.
        retries: how many times to retry a call that failed with a code in `retry_codes`; 3.
        backoff: initial retry delay in seconds, doubled per retry up to `max_backoff` (2 s),
            with full jitter; 0.05.
        retry_codes: status codes (Code, int or name) to retry; default {UNAVAILABLE}.
        on_retry: called with a RetryEvent before each retry wait (logging, metrics).

    Raises:
        ValueError: an empty model name, a timeout <= 0, both a version and a label, or bad
            retry settings.
    """

    def __init__(
        self,
        model_name: str,
        *,
        version: int | None = None,
        version_label: str | None = None,
        signature_name: str = "serving_default",
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        retry_codes: Iterable[Code | int | str] = DEFAULT_RETRY_CODES,
        on_retry: Callable[[RetryEvent], None] | None = None,
    ) -> None:
        if not model_name:
            raise ValueError("model_name: expected a non-empty model name, got ''")
        if timeout <= 0:
            raise ValueError(f"timeout: expected seconds > 0, got {timeout}")
        check_version_selector(version, version_label)
        self.model_name = model_name
        self.version = version
        self.version_label = version_label
        self.signature_name = signature_name
        self.timeout = float(timeout)
        self.retry_policy = RetryPolicy(
            retries=retries,
            initial_backoff=backoff,
            max_backoff=max_backoff,
            retry_codes=frozenset(retry_codes),
        )
        self.on_retry = on_retry

    @abstractmethod
    def status(
        self,
        *,
        version: int | None = None,
        version_label: str | None = None,
        timeout: float | None = None,
    ) -> list[VersionStatus]:
        """The model's version statuses (all versions unless one is selected), by version."""

    def wait_until_available(
        self,
        version: int | None = None,
        *,
        timeout: float = 30.0,
        poll_interval: float = 0.05,
    ) -> int:
        """Polls the model status until `version` (default: any version) is AVAILABLE.

        While the server is unreachable or does not know the model yet (UNAVAILABLE, NOT_FOUND)
        it keeps polling; this is how a deploy script waits for a fresh server or a new push.

        Returns:
            The AVAILABLE version (the highest one when `version` is None).

        Raises:
            RequestFailed: DEADLINE_EXCEEDED with the last status seen when `timeout` passes;
                or the load error if the requested version ended with one (state END with an
                error), since polling longer cannot fix that.
        """
        return wait_for_version(
            lambda budget: self.status(version=version, timeout=budget),
            self.model_name,
            version,
            timeout=timeout,
            poll_interval=poll_interval,
        )

    def _select_version(
        self, version: int | None, version_label: str | None, *, use_default: bool = True
    ) -> tuple[int | None, str | None]:
        """The (version, version_label) a call addresses: the call's own selection, else (with
        `use_default`) the client's. Raises ValueError when the call gives both."""
        check_version_selector(version, version_label)
        if version is None and version_label is None and use_default:
            return self.version, self.version_label
        return version, version_label

    def _call_with_policy(
        self,
        method: str,
        attempt: Callable[[float, int], Any],
        timeout: float | None,
        to_error: Callable[[BaseException], RequestFailed | None],
    ) -> Any:
        """Runs `attempt(remaining_seconds, attempt_number)` under this client's retry policy,
        within `timeout` seconds (default the client's), retries included."""
        return call_with_retries(
            method,
            attempt,
            timeout=self.timeout if timeout is None else timeout,
            policy=self.retry_policy,
            to_error=to_error,
            on_retry=self.on_retry,
        )
