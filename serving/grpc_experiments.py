"""grpcio settings that shorten a batch-1 call's path, chosen before grpc loads (issue 13).

grpcio (1.6x on) does socket I/O on EventEngine threads by default: the client's reads
("event_engine_client") and the connections a server accepts ("event_engine_listener"). Each
answer or request then reaches the Python thread waiting on gRPC's completion queue through a
thread wake-up. With those two experiments off, the thread waiting on the completion queue polls
the sockets itself. Measured on the project's 2-core machine (docs/benchmarks.md): ~50-90 us
off a client's round trip and ~75 us of its CPU; ~45-90 us off the server's share and ~85-190 us
of its CPU per batch-1 Predict.

gRPC reads GRPC_EXPERIMENTS once, when grpc is imported, for the whole process, so the choice
is made by whoever loads grpc first: PredictionClient and `seqline serve` call
``prefer_low_latency_grpc`` just before they import it. Imports only the standard library.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys

GRPC_EXPERIMENTS_VARIABLE = "GRPC_EXPERIMENTS"
# One value for clients and servers alike: a process inherits it from its parent (a bench or
# test that starts a server after its client), and each half is a no-op for the other role.
LOW_LATENCY_GRPC_EXPERIMENTS = "-event_engine_client,-event_engine_listener"
# grpcio releases whose experiment list holds both names (checked in the library's strings and
# measured). gRPC logs "Unknown experiment" as an ERROR line at start-up for names a release no
# longer has, so other releases keep grpcio's defaults; add a release here after checking it.
CHECKED_GRPCIO_RELEASES: frozenset[tuple[int, int]] = frozenset({(1, 85)})


def _grpcio_release() -> tuple[int, int] | None:
    """(major, minor) of the installed grpcio, read from its metadata (grpc stays unloaded)."""
    try:
        major, minor = importlib.metadata.version("grpcio").split(".")[:2]
        return int(major), int(minor)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None


def prefer_low_latency_grpc() -> bool:
    """Sets GRPC_EXPERIMENTS to LOW_LATENCY_GRPC_EXPERIMENTS for this process, if still useful.

    Acts only when grpc is not imported yet (gRPC has read the variable otherwise), the
    variable is unset (any value the caller set, even empty, is left alone: that is how to keep
    grpcio's defaults) and the installed grpcio is in CHECKED_GRPCIO_RELEASES. Child processes
    inherit it. Returns True when it set it.
    """
    if "grpc" in sys.modules or GRPC_EXPERIMENTS_VARIABLE in os.environ:
        return False
    if _grpcio_release() not in CHECKED_GRPCIO_RELEASES:
        return False
    os.environ[GRPC_EXPERIMENTS_VARIABLE] = LOW_LATENCY_GRPC_EXPERIMENTS
    return True
