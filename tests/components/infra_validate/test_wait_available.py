"""infra_validate launches its child server before the model is published, so a child that dies
while loading must be reported at once, not after load_timeout_seconds."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from seqline.components.infra_validate.validation import _wait_available
from seqline.serving.client.retry import RequestFailed
from seqline.serving.errors import Code


class _NeverAvailable:
    """A client whose model never becomes AVAILABLE within a slice."""

    def __init__(self) -> None:
        self.calls = 0

    def wait_until_available(self, version: int, *, timeout: float) -> int:
        self.calls += 1
        raise RequestFailed(Code.DEADLINE_EXCEEDED, f"not AVAILABLE within {timeout:g} s")


def test_a_child_that_exited_while_loading_is_reported_without_waiting_the_budget() -> None:
    exited = SimpleNamespace(process=SimpleNamespace(poll=lambda: -11))
    started = time.monotonic()
    with pytest.raises(RequestFailed) as caught:
        _wait_available(_NeverAvailable(), exited, timeout=120.0)
    assert time.monotonic() - started < 30.0
    assert caught.value.code == Code.UNAVAILABLE
    assert "exited with code -11 while loading" in str(caught.value)


def test_a_live_child_is_waited_for_until_the_budget_then_the_deadline_is_raised() -> None:
    alive = SimpleNamespace(process=SimpleNamespace(poll=lambda: None))
    client = _NeverAvailable()
    with pytest.raises(RequestFailed) as caught:
        _wait_available(client, alive, timeout=0.5)
    assert caught.value.code == Code.DEADLINE_EXCEEDED


def test_a_failed_load_is_raised_at_once_whatever_the_child_state() -> None:
    class LoadFailed:
        def wait_until_available(self, version: int, *, timeout: float) -> int:
            raise RequestFailed(Code.INVALID_ARGUMENT, "version 1 failed to load: bad graph")

    alive = SimpleNamespace(process=SimpleNamespace(poll=lambda: None))
    with pytest.raises(RequestFailed) as caught:
        _wait_available(LoadFailed(), alive, timeout=120.0)
    assert "bad graph" in str(caught.value)
