"""Unloading a version frees what runs it: the session runtime's callables and Session are
closed when the version unloads (or when its last in-flight request ends), not left to garbage
collection; closing twice is harmless and a request reaching a closed version gets UNAVAILABLE.

Waits are bounded waits for a state (never sleeps).
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import tensorflow as tf

from seqline.serving.errors import Code, ServingError
from seqline.serving.server.model_manager import END
from seqline.serving.server.servable import (
    FUNCTION_RUNTIME,
    SESSION_RUNTIME,
    load_servable,
)

X = {"x": np.array([1.0], np.float32)}


def _session_servable(model_dir: str):
    servable = load_servable("hpt", 1, model_dir, runtime=SESSION_RUNTIME)
    assert servable.runtime == SESSION_RUNTIME
    assert isinstance(servable.loaded, tf.compat.v1.Session)
    return servable


def test_closing_a_session_servable_closes_its_session_once(half_plus_two_model):
    servable = _session_servable(half_plus_two_model)
    session = servable.loaded
    runner = servable.signatures["serving_default"]
    assert runner(X)["y"].tolist() == [2.5]

    servable.close()
    assert session._closed
    assert servable.closed and servable.loaded is None
    servable.close()  # a second close (e.g. stop after an unload) is harmless
    assert session._closed

    with pytest.raises(ServingError) as acquired:
        servable.acquire()  # a request that resolved the version just before it unloaded
    assert acquired.value.code == Code.UNAVAILABLE
    assert servable.in_flight == 0
    with pytest.raises(ServingError) as ran:
        runner(X)  # a runner still referenced somewhere answers, it does not crash
    assert ran.value.code == Code.UNAVAILABLE


def test_a_request_in_flight_keeps_the_session_open_until_it_releases(half_plus_two_model):
    servable = _session_servable(half_plus_two_model)
    session = servable.loaded
    servable.acquire()
    servable.close()  # the unload's drain timed out: this request is still running
    assert not session._closed
    assert servable.signatures["serving_default"](X)["y"].tolist() == [2.5]
    servable.release()
    assert session._closed and servable.closed


def test_closing_a_function_servable_is_harmless(half_plus_two_model):
    servable = load_servable("hpt", 1, half_plus_two_model, runtime=FUNCTION_RUNTIME)
    servable.close()
    servable.close()
    assert servable.closed
    with pytest.raises(ServingError):
        servable.acquire()


@pytest.fixture
def no_automatic_gc():
    """Automatic garbage collection off: what the server frees, it frees itself."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_a_version_unloaded_by_the_server_has_its_session_closed_and_graph_freed(
    model_base_path,
    start_server,
    half_plus_two_model,
    half_plus_three_model,
    copy_version,
    no_automatic_gc,
):
    base = model_base_path(half_plus_two_model, name="hpt", versions=(1,))
    server = start_server(model_name="hpt", model_base_path=base)
    first = server.manager.resolve("hpt", 1)
    assert first.runtime == SESSION_RUNTIME
    assert not first.loaded._closed
    session = weakref.ref(first.loaded)
    # The Graph sits in reference cycles: only a collection frees it (and its native memory).
    graph = weakref.ref(first.loaded.graph)

    copy_version(half_plus_three_model, base, 2)
    assert server.manager.wait_for(
        lambda: server.manager.status("hpt", 1)[0].state == END, timeout=60.0
    ), "version 1 did not unload"
    assert first.closed and first.loaded is None
    assert session() is None, "the unloaded version's Session is still alive"
    assert graph() is None, "the unloaded version's tf.Graph is still alive"
    second = server.manager.resolve("hpt")
    assert second.version == 2 and not second.closed
    assert second.signatures["serving_default"](X)["y"].tolist() == [3.5]
