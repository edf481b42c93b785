#!/usr/bin/env bash
# Sets everything up, then runs the linter, the formatter check and the whole test suite (the lab tests build
# their own network namespaces and remove them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# Independent tests run side by side (pytest-xdist): most of a test waits on a device, a DC or
# a subprocess, not on the CPU. tests/conftest.py keeps each shared server in one worker.
exec .venv/bin/pytest -q -p no:cacheprovider -n "${KEYTURN_TEST_WORKERS:-3}" --dist loadgroup "$@"
