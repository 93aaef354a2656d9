#!/usr/bin/env bash
# Runs the whole suite in three orders (reversed and two shuffles) to show no test depends on another's leftovers.
# Not run by CI (about three times the suite's time). Usage: bash bench/test_orders.sh [SEED1 SEED2]
# Prints, for each order, the failing and erroring tests and pytest's last line.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for order in reverse "shuffle:${1:-1}" "shuffle:${2:-2}"; do
  echo "== order: $order"
  python -m pytest -q -rfE -p tests.ordering --order "$order" -p no:cacheprovider > "/tmp/pagemill-order-$$.log" 2>&1 || status=1
  grep -E '^(FAILED|ERROR) ' "/tmp/pagemill-order-$$.log"
  tail -n 1 "/tmp/pagemill-order-$$.log"
done
rm -f "/tmp/pagemill-order-$$.log"
exit $status
