#!/usr/bin/env bash
# Install automl with its test dependencies, then run the whole test suite (slow tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e '.[test]'
python -m pytest "$@"
