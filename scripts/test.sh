#!/usr/bin/env bash
# The README's test command: install pagemill with its test extras, lint, then run the whole suite.
# Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432) tests skip with a reason when those are absent.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e '.[test]'
# the linter's rules and their reasons are in pyproject.toml ([tool.ruff])
python -m ruff check models worker scheduler tests bench
python -m pytest "$@"
