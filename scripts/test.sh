#!/usr/bin/env bash
# The README's test command: install pagemill with its test extras, then run the whole suite.
# Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432) tests skip with a reason when those are absent.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e '.[test]'
python -m pytest "$@"
