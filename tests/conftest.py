"""Suite-wide collection order, heaviest files first: pytest-xdist's loadfile mode hands whole
files to workers in collection order, so a long file collected late becomes the run's tail
while the other workers sit idle (scripts/test.sh). Files are ordered by MEASURED_SECONDS
(longest first), then the other files holding slow tests (whole pipelines, training; marked
`slow`), then the rest; each group keeps its own order, and each file its tests' order."""

from __future__ import annotations

import pytest

# Seconds each file took (sum of its tests and fixtures) in whole-suite runs with three
# workers, 2026-12-07, rounded; the heaviest files, slow-marked or not. Only an ordering hint:
# a file missing here or a stale figure changes when it starts, never what runs.
MEASURED_SECONDS = {
    "tests/components/train/test_train_ensemble.py": 190,
    "tests/components/tune/test_tune_component.py": 120,
    "tests/beam/test_beam_runners.py": 100,
    "tests/components/train/test_train_series.py": 96,
    "tests/components/train/test_train_linear.py": 94,
    "tests/orchestration/test_airflow.py": 90,
    "tests/components/infra_validate/test_infra_validate.py": 86,
    "tests/components/train/test_train_series_step.py": 85,
    "tests/components/train/test_train_forecasters.py": 71,
    "tests/components/train/test_train_warm_start.py": 70,
    "tests/components/train/test_train_distributed.py": 63,
    "tests/serving/test_quiet_logs.py": 62,
    "tests/e2e/test_text_pipeline.py": 60,
    "tests/components/transform/test_transform_component.py": 53,
    "tests/examples/test_loans.py": 49,
    "tests/examples/test_intent.py": 49,
    "tests/e2e/test_extending.py": 45,
    "tests/e2e/test_resolved_baseline.py": 43,
    "tests/e2e/test_series_pipeline.py": 39,
    "tests/e2e/test_warm_start_split_change.py": 38,
    "tests/e2e/test_warm_start_spans.py": 37,
    "tests/components/transform/test_transform_keras_agreement.py": 35,
    "tests/components/train/test_train_series_calendar.py": 35,
    "tests/components/train/test_train_resume.py": 34,
    "tests/components/train/test_train_zoo_component.py": 29,
    "tests/components/train/test_train_zoo.py": 28,
    "tests/components/train/test_train_component.py": 28,
    "tests/serving/server/test_server_lifecycle.py": 25,
    "tests/components/train/test_train_series_known_future.py": 21,
    "tests/components/evaluate/test_linear_baseline.py": 19,
    "tests/components/evaluate/test_evaluate_series_guards.py": 19,
    "tests/serving/server/test_server_flags.py": 17,
    "tests/pipeline/test_cli.py": 17,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath
    slow_files = {item.path for item in items if item.get_closest_marker("slow") is not None}

    def rank(item: pytest.Item) -> tuple[int, float]:
        path = item.path.relative_to(root).as_posix() if item.path.is_relative_to(root) else ""
        seconds = MEASURED_SECONDS.get(path)
        if seconds is not None:
            return (0, -seconds)
        return (1 if item.path in slow_files else 2, 0.0)

    # A stable sort: the order inside each group, and inside each file, is kept.
    items.sort(key=rank)
