#!/usr/bin/env bash
# Runs the whole suite in three orders (reversed and two shuffles) to show no test depends on another's leftovers.
# Not run by CI (about three times the suite's time). Usage: bash bench/test_orders.sh [SEED1 SEED2]
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for order in reverse "shuffle:${1:-1}" "shuffle:${2:-2}"; do
  echo "== order: $order"
  python -m pytest -q -p tests.ordering --order "$order" -p no:cacheprovider | tail -n 3 || status=1
done
exit $status
