#!/usr/bin/env bash
# Creates .venv with Python 3.11 and installs seqline (editable) with the pinned stack from
# constraints.txt. Re-running is instant when pyproject.toml and constraints.txt are unchanged.
# SEQLINE_EXTRAS picks the extras (default: dev); CI (.ci/run) adds airflow and kfp so the
# orchestrator tests run instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "seqline needs Python 3.11; $PYTHON is $("$PYTHON" --version 2>&1). Set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
extras="${SEQLINE_EXTRAS:-dev}"
stamp=.venv/.seqline-install-stamp
want="$( (cat pyproject.toml constraints.txt; echo "$extras") | sha256sum | cut -c1-32)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "installing seqline and its pinned dependencies into .venv (a few minutes the first time)..."
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[$extras]"
  echo "$want" > "$stamp"
fi
