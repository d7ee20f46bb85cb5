#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, format check, types, then the tests.
# Extra arguments go to pytest (e.g. `-m "not slow"`, `-k lake`).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== ruff check";  ruff check src tests bench
echo "== ruff format"; ruff format --check src tests bench
echo "== mypy";        mypy
echo "== pytest";      pytest "$@"
