"""Errors of the model server: request failures carrying a status code, and bad server configs.

serving/ imports nothing from seqline.pipeline, so it has its own small hierarchy. Codes are the
canonical gRPC / tensorflow.error codes (the same integers), which is what TF Serving returns.
"""

from __future__ import annotations

import enum


class Code(enum.IntEnum):
    """Canonical status codes (google.rpc.Code == tensorflow.error.Code == grpc.StatusCode)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


# The HTTP status TF Serving's REST API answers for each code (its ToHTTPStatusCode table).
HTTP_STATUS: dict[Code, int] = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}


class ServingError(Exception):
    """A request failed with a status code; ``message`` is what the client sees.

    Raised anywhere below the gRPC/REST layers; the gRPC servicer turns it into the call's
    status, the REST handler into ``{"error": message}`` with the HTTP status of ``code``.
    """

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = Code(code)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


def invalid_argument(message: str) -> ServingError:
    return ServingError(Code.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    return ServingError(Code.NOT_FOUND, message)


def failed_precondition(message: str) -> ServingError:
    return ServingError(Code.FAILED_PRECONDITION, message)


class ServerConfigError(ValueError):
    """Server options or a ModelServerConfig file are invalid (raised before serving starts).

    A ValueError so a caller without seqline.pipeline (a bare serving host) can catch it; the
    message says what was expected, what was received and how to fix it.
    """


class InitialLoadError(ServerConfigError):
    """A version the server aspired to at start-up failed its first load (raised by
    start_server before any port opens; `seqline serve` exits 1). tensorflow_model_server
    fails its start the same way ("servable(s) did not become available"), so an
    orchestrator keeps the running instance instead of routing to a server without models.
    A ServerConfigError so that callers catching that still stop on it.
    """
