"""The signature lookups a client makes for predict, remembered, failures included.

Both clients (PredictionClient over gRPC, RestClient over REST) read a signature's declared
dtypes from the model's metadata: before sending, when an input needs its declared dtype
(request_inputs.needs_declared_dtype: a list or scalar, or an object array), and RestClient
also after a :predict answer, for the output dtypes and shapes JSON does not carry. The rules,
the same for both clients:

- A lookup before sending gets at most PRESEND_LOOKUP_SHARE of the call's time (the call's
  deadline stays one deadline), so a slow or unavailable metadata endpoint leaves the request
  itself most of its time; a lookup after the answer gets what is left of the deadline.
- A lookup that fails (unavailable, slow, not found) is remembered for FAILED_LOOKUP_TTL
  seconds per version selection: calls in that time go on without declared dtypes (the
  server judges the inputs; REST outputs take the dtypes JSON implies) instead of each paying
  for the lookup and its retries again. After that the next call tries again.
- A signature read for a pinned version number is kept for the client's lifetime (a version's
  signatures do not change); one read for the latest version or a label is read again after
  SIGNATURE_TTL seconds, so a newly loaded version's signature is seen within that time (a
  REST :predict answer does not say which version answered, so the cache cannot be keyed by
  the served version).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

PRESEND_LOOKUP_SHARE = 0.25
FAILED_LOOKUP_TTL = 30.0
SIGNATURE_TTL = 60.0

T = TypeVar("T")


class SignatureCache(Generic[T]):
    """{key: looked-up value or a failure}, with the expiry rules in the module docstring.

    Thread-safe. `clock` (time.monotonic) is for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[Hashable, tuple[T | None, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> tuple[bool, T | None]:
        """(found, value): found is False when the key was never looked up or its entry
        expired; value is None for a remembered failure."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False, None
            value, expires = entry
            if self._clock() >= expires:
                del self._entries[key]
                return False, None
            return True, value

    def put(self, key: Hashable, value: T, *, pinned: bool) -> None:
        """Remembers a successful lookup: for good when `pinned` (a version number was
        selected), else for SIGNATURE_TTL seconds."""
        expires = float("inf") if pinned else self._clock() + SIGNATURE_TTL
        with self._lock:
            self._entries[key] = (value, expires)

    def put_failed(self, key: Hashable) -> None:
        """Remembers a failed lookup for FAILED_LOOKUP_TTL seconds."""
        with self._lock:
            self._entries[key] = (None, self._clock() + FAILED_LOOKUP_TTL)
