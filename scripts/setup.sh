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
# The stamp holds the hash of the pinned files (line 1) and the extras installed with them
# (line 2). A run asking for extras already installed is instant, so demo.sh (dev) and test.sh
# (dev,airflow,kfp) do not reinstall each other's packages; a new extra installs the union.
stamp=.venv/.seqline-install-stamp
deps="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-32)"
have_deps="$(sed -n 1p "$stamp" 2>/dev/null || true)"
have_extras="$(sed -n 2p "$stamp" 2>/dev/null || true)"
[ "$have_deps" = "$deps" ] || have_extras=""
union="$have_extras"
for extra in ${extras//,/ }; do
  case ",$union," in
    *",$extra,"*) ;;
    *) union="${union:+$union,}$extra" ;;
  esac
done
if [ "$have_deps" != "$deps" ] || [ "$union" != "$have_extras" ]; then
  echo "installing seqline and its pinned dependencies into .venv (a few minutes the first time)..."
  .venv/bin/python -m pip install --quiet --upgrade pip
  # setuptools is named so the pinned version lands in .venv (tests/test_packaging.py builds
  # the wheel with it, without isolation); --build-constraint makes the isolated build of
  # the editable install use that same version instead of the newest on PyPI.
  .venv/bin/python -m pip install --quiet -c constraints.txt --build-constraint constraints.txt \
    setuptools -e ".[$union]"
  printf '%s\n%s\n' "$deps" "$union" > "$stamp"
fi
