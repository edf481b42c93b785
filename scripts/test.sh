#!/usr/bin/env bash
# Sets everything up, then runs the linter, the formatter check and the whole test suite (the lab tests build
# their own network namespaces and remove them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/pytest -q -p no:cacheprovider "$@"
