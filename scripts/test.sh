#!/usr/bin/env bash
# Sets up .venv (see setup.sh), checks lint, formatting and types (mypy over pipeline/,
# components/ and serving/, scripts/typecheck.sh), runs the whole test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k runner -x`. pytest-xdist runs the
# suite in SEQLINE_TEST_WORKERS processes (default 3 on a 2-core machine: much of the suite waits
# on subprocesses, model servers, Beam job services and I/O, and with two workers the slowest
# files left a core idle at the end; four measured 693 s against three's 592 s on the same
# clone, 2026-12-07); each test file stays on one worker so its
# module-scoped fixtures (servers, trained models) are built once. `-n 0` runs it serially.
set -euo pipefail
cd "$(dirname "$0")/.."
# The whole suite, orchestrator tests included, needs the airflow and kfp extras.
export SEQLINE_EXTRAS="${SEQLINE_EXTRAS:-dev,airflow,kfp}"
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
bash scripts/typecheck.sh
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n "${SEQLINE_TEST_WORKERS:-3}" --dist loadfile --durations=15 "$@"
