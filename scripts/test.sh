#!/usr/bin/env bash
# The project's test command: installs what the tests need, checks style and types, runs the suite.
# `.ci/run` calls exactly this; so does the README.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet --disable-pip-version-check -e ".[dev]"

echo "== ruff"
ruff check nano_modal tests bench examples
ruff format --check nano_modal
echo "== mypy"
mypy nano_modal
echo "== pytest"
python -m pytest -p no:cacheprovider "$@"
