"""`seqline rollback`: pin an earlier version in models.config; a running server switches with
no failed request, and `--to latest` switches back."""

from __future__ import annotations

import threading
from collections import Counter

import numpy as np
import pytest

from seqline.serving.deploy.config_file import read_configs, write_configs
from seqline.serving.deploy.rollback import rollback, served_version, versions_on_disk
from seqline.serving.errors import ServerConfigError
from seqline.serving.model_config import ModelConfig, VersionPolicy
from tests.serving.conftest import copy_version

# half_plus_two answers 0.5x + 2 (version 1), half_plus_three 0.5x + 3 (version 2).
ANSWER_AT_ZERO = {2.0: 1, 3.0: 2}


def _serving_dir(tmp_path, half_plus_two_model: str, half_plus_three_model: str) -> tuple:
    base = str(tmp_path / "serving" / "m")
    copy_version(half_plus_two_model, base, 1)
    copy_version(half_plus_three_model, base, 2)
    config_file = str(tmp_path / "serving" / "models.config")
    write_configs(config_file, [ModelConfig(name="m", base_path=base)])
    return base, config_file


def test_rollback_under_continuous_traffic_fails_no_request(
    tmp_path, half_plus_two_model, half_plus_three_model, start_server
) -> None:
    from seqline.pipeline.cli import main
    from seqline.serving.client.client import PredictionClient

    base, config_file = _serving_dir(tmp_path, half_plus_two_model, half_plus_three_model)
    handle = start_server(
        model_config_file=config_file, rest_api_port=0, file_system_poll_wait_seconds=0.2
    )
    assert handle.wait_until_available("m", 2, timeout=60)

    answered: Counter[int] = Counter()
    failures: list[str] = []
    stop = threading.Event()
    phase = {"now": "before"}
    seen_by_phase = {"before": Counter(), "after": Counter(), "forward": Counter()}

    def traffic() -> None:
        # retries=0: a request that fails is counted, never hidden by a retry.
        with PredictionClient(handle.grpc_target, "m", retries=0, timeout=10) as client:
            while not stop.is_set():
                try:
                    y = client.predict({"x": np.array([0.0], np.float32)})["y"]
                except Exception as exc:  # any failure at all is what this test counts
                    failures.append(repr(exc))
                    continue
                version = ANSWER_AT_ZERO[float(y[0])]
                answered[version] += 1
                seen_by_phase[phase["now"]][version] += 1

    threads = [threading.Thread(target=traffic) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        while sum(answered.values()) < 50:
            stop.wait(0.01)
        result = rollback(config_file, "m", server=handle.grpc_target, timeout=60)
        assert (result.from_version, result.to_version, result.confirmed) == (2, 1, True)
        # Wait until the old version is withdrawn, then count what answers from now on.
        handle.manager.wait_for(lambda: not handle.manager.is_available("m", 2), 30)
        phase["now"] = "after"
        target = sum(seen_by_phase["after"].values()) + 50
        while sum(seen_by_phase["after"].values()) < target:
            stop.wait(0.01)

        # Roll forward again through the CLI (un-pin: the newest version serves).
        phase["now"] = "forward"
        code = main(
            ["rollback", "m", "--to", "latest", "--model_config_file", config_file,
             "--server", handle.grpc_target]
        )  # fmt: skip
        assert code == 0
        assert handle.wait_until_available("m", 2, timeout=30)
        handle.manager.wait_for(lambda: not handle.manager.is_available("m", 1), 30)
        target = seen_by_phase["forward"][2] + 20
        while seen_by_phase["forward"][2] < target:
            stop.wait(0.01)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert failures == []
    assert seen_by_phase["before"][2] > 0
    assert seen_by_phase["after"] == Counter({1: seen_by_phase["after"][1]})  # only v1 after
    assert read_configs(config_file)[0].policy == VersionPolicy()


def test_rollback_defaults_to_the_previous_version_and_checks_the_target(
    tmp_path, half_plus_two_model, half_plus_three_model, copy_version
) -> None:
    base, config_file = _serving_dir(tmp_path, half_plus_two_model, half_plus_three_model)
    copy_version(half_plus_two_model, base, 4)  # versions 1, 2, 4 (3 was removed)
    (tmp_path / "serving" / "m" / "7").mkdir()  # incomplete: no saved_model.pb, never a target
    assert versions_on_disk(base) == [1, 2, 4]

    result = rollback(config_file, "m")
    assert (result.from_version, result.to_version, result.confirmed) == (4, 2, False)
    (entry,) = read_configs(config_file)
    assert entry.policy == VersionPolicy(kind="specific", versions=(2,))
    assert served_version(entry, versions_on_disk(base)) == 2
    # Again: from the pinned version 2 back to 1.
    assert rollback(config_file, "m").to_version == 1
    with pytest.raises(ServerConfigError, match=r"older than the served one \(1\)"):
        rollback(config_file, "m")
    with pytest.raises(ServerConfigError, match=r"version 7 to exist.*found versions \[1, 2, 4\]"):
        rollback(config_file, "m", 7)
    with pytest.raises(ServerConfigError, match=r"entry for model 'other'"):
        rollback(config_file, "other")
    assert rollback(config_file, "m", "latest").to_version is None
    assert read_configs(config_file)[0].policy == VersionPolicy()
