#!/usr/bin/env bash
# Install automl with its test dependencies, check its types (mypy) and style (ruff, as
# configured in pyproject.toml), then run the whole test suite (slow tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e '.[test]'
python -m mypy automl
python -m ruff check automl tests benchmarks examples scripts
python -m pytest "$@"
