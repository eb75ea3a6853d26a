"""Deadlines and retries for calls to a model server, and the error such calls raise.

Shared by the gRPC client (seqline.serving.client.client) and the REST client
(seqline.serving.client.rest_client). Imports only the standard library.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from seqline.serving.errors import Code, ServingError

logger = logging.getLogger(__name__)

# Every RPC the clients make is a read (Predict/Classify/Regress/metadata/status), so a retry
# can never apply a side effect twice. Even so only UNAVAILABLE is retried by default: it means
# the request did not reach a model (server starting, restarting or unreachable). Codes such as
# INVALID_ARGUMENT or NOT_FOUND would fail again identically, and DEADLINE_EXCEEDED means the
# caller's time budget is spent.
DEFAULT_RETRY_CODES: frozenset[Code] = frozenset({Code.UNAVAILABLE})


class RequestFailed(ServingError):
    """A request to a model server failed, as seen by a client.

    A seqline.serving.errors.ServingError, so `except ServingError` catches it too.

    Attributes:
        code: the canonical status code (seqline.serving.errors.Code, an IntEnum with the gRPC
            numbering: `err.code.name == "UNAVAILABLE"`, `err.code == grpc.StatusCode...value[0]`).
        message: the server's error message (TF Serving's `details()` or REST "error"), or the
            client's own explanation when no answer came back.
        method: the RPC or REST route, e.g. "Predict".
        attempts: how many attempts were made (1 + retries used).
        http_status: the HTTP status for REST calls, else None.
    """

    def __init__(
        self,
        code: Code | int | str,
        message: str,
        *,
        method: str = "",
        attempts: int = 1,
        http_status: int | None = None,
    ) -> None:
        super().__init__(as_code(code), message)
        self.method = method
        self.attempts = attempts
        self.http_status = http_status

    def __str__(self) -> str:
        return self.one_line()

    def one_line(self) -> str:
        """`CODE (method, after n attempts): message` on one line (for logs and the CLI)."""
        where = self.method
        if where and self.attempts > 1:
            where += f", after {self.attempts} attempts"
        where = f" ({where})" if where else ""
        text = " ".join(self.message.split())  # server messages may span lines
        return f"{self.code.name}{where}: {text}"


def as_code(code: Code | int | str) -> Code:
    """A Code from a Code, its integer or its name ("UNAVAILABLE")."""
    if isinstance(code, str):
        try:
            return Code[code.upper()]
        except KeyError:
            raise ValueError(
                f"expected a status code name such as 'UNAVAILABLE', got {code!r}; "
                f"known: {', '.join(c.name for c in Code)}"
            ) from None
    return Code(int(code))


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before retrying a failed call.

    Attempt n (0-based) that fails with a code in `retry_codes` is retried after a delay drawn
    uniformly from [0, min(max_backoff, initial_backoff * multiplier**n)] ("full jitter", so that
    many clients restarting together do not retry in lockstep), as long as retries remain and the
    call's deadline leaves time for the wait.

    Defaults: 3 retries, 0.05 s initial backoff doubling to at most 2 s, retry on UNAVAILABLE.
    """

    retries: int = 3
    initial_backoff: float = 0.05
    multiplier: float = 2.0
    max_backoff: float = 2.0
    retry_codes: frozenset[Code] | Iterable[Code | int | str] = DEFAULT_RETRY_CODES

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries: expected >= 0, got {self.retries}")
        if self.initial_backoff < 0 or self.max_backoff < 0:
            raise ValueError(
                f"backoff: expected non-negative seconds, got initial={self.initial_backoff}, "
                f"max={self.max_backoff}"
            )
        if self.multiplier < 1:
            raise ValueError(f"multiplier: expected >= 1, got {self.multiplier}")
        # Accept names and integers too; frozen, so normalise through object.__setattr__.
        object.__setattr__(self, "retry_codes", frozenset(as_code(c) for c in self.retry_codes))

    def should_retry(self, code: Code, attempt: int) -> bool:
        """True if a failure with `code` on 0-based `attempt` may be retried."""
        return code in self.retry_codes and attempt < self.retries

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed 0-based `attempt` (random in the capped window)."""
        cap = min(self.max_backoff, self.initial_backoff * self.multiplier**attempt)
        return (rng or random).uniform(0.0, cap)


@dataclass(frozen=True)
class RetryEvent:
    """Passed to an `on_retry` callback before the client waits and retries."""

    method: str
    attempt: int  # 0-based number of the attempt that failed
    error: RequestFailed
    delay: float  # seconds the client will wait before the next attempt


def call_with_retries(
    method: str,
    attempt_fn: Callable[[float, int], Any],
    *,
    timeout: float,
    policy: RetryPolicy,
    to_error: Callable[[BaseException], RequestFailed | None],
    on_retry: Callable[[RetryEvent], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """Runs `attempt_fn(remaining_seconds, attempt)` until it succeeds, retrying per `policy`.

    `timeout` is the deadline for the whole call, retries and waits included: each attempt gets
    what is left of it. `to_error` turns a raised exception into a RequestFailed (or returns None
    for exceptions that are not a failed request, e.g. a bug, which then propagate unchanged).
    `sleep` is how the wait happens (time.sleep; injectable for tests of the policy).

    Raises:
        RequestFailed: the last attempt's error, with `attempts` set; its message says when the
            deadline left no time for another retry.
    """
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        remaining = deadline - time.monotonic()
        try:
            return attempt_fn(max(remaining, 0.0), attempt)
        except Exception as exc:
            error = to_error(exc)
            if error is None:
                raise
            error.method = error.method or method
            error.attempts = attempt + 1
            if not policy.should_retry(error.code, attempt):
                raise error from exc
            delay = policy.backoff(attempt)
            if time.monotonic() + delay >= deadline:
                error.message += f" (no time left in the {timeout:g} s deadline to retry)"
                raise error from exc
            logger.info(
                "%s failed with %s (attempt %d); retrying in %.3f s",
                method,
                error.code.name,
                attempt + 1,
                delay,
            )
            if on_retry is not None:
                on_retry(RetryEvent(method=method, attempt=attempt, error=error, delay=delay))
            sleep(delay)
            attempt += 1
