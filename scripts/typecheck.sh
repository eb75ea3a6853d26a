#!/usr/bin/env bash
# Type-checks pipeline/, components/, serving/, orchestration/ and storage/ with mypy (config: [tool.mypy] in
# pyproject.toml). The folders install as seqline.* (package-dir), so mypy reads them through
# a folder of symlinks, .mypy_namespace/seqline/, that mirrors the installed layout.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .mypy_namespace/seqline
for folder in pipeline components schemas serving orchestration storage; do
    ln -sfn "../../$folder" ".mypy_namespace/seqline/$folder"
done
exec .venv/bin/python -m mypy --config-file pyproject.toml \
    -p seqline.pipeline -p seqline.components -p seqline.serving -p seqline.orchestration -p seqline.storage "$@"
