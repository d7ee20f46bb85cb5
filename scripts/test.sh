#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, format check, types, then the tests with
# coverage (its floor, in pyproject.toml, is enforced on a whole-suite run).
# Extra arguments go to pytest (e.g. `-m "not slow"`, `-k lake`) and skip the floor.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== ruff check";  ruff check src tests bench
echo "== ruff format"; ruff format --check src tests bench
echo "== mypy";        mypy
echo "== pytest"
if [ "$#" -eq 0 ]; then
  pytest --cov --cov-report=term
else
  pytest "$@"
fi
