#!/usr/bin/env bash
# Sets up .venv (see setup.sh), checks lint, formatting and types (mypy over pipeline/,
# components/ and serving/, scripts/typecheck.sh), runs the whole test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k runner -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
# The whole suite, orchestrator tests included, needs the airflow and kfp extras.
export SEQLINE_EXTRAS="${SEQLINE_EXTRAS:-dev,airflow,kfp}"
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
bash scripts/typecheck.sh
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
