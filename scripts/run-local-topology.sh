#!/usr/bin/env bash
# The compose.yaml topology without Docker: migrations once, N workers and a scheduler (sweeps + watched
# folder) against a local Redis and PostgreSQL. Ctrl-C (or SIGTERM) stops them all.
#
#   PAGEMILL_BROKER_URL=redis://127.0.0.1:6379/0 \
#   PAGEMILL_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/pagemill \
#   scripts/run-local-topology.sh ./inbox
#
# Settings (environment): WORKERS (default 2), WORKER_CONCURRENCY (default: pagemill's choice), PAGEMILL_DATA_DIR
# (the object folder, default ./pagemill-data), METRICS_BASE_PORT (set it to serve metrics: the scheduler on
# that port, worker i on port+i), and every PAGEMILL_* setting of docs/production.md.
set -euo pipefail

inbox="${1:-./inbox}"
workers="${WORKERS:-2}"
: "${PAGEMILL_BROKER_URL:?set PAGEMILL_BROKER_URL, e.g. redis://127.0.0.1:6379/0}"
: "${PAGEMILL_DATABASE_URL:?set PAGEMILL_DATABASE_URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/pagemill}"
export PAGEMILL_BROKER_URL PAGEMILL_DATABASE_URL
export PAGEMILL_WATCH_DIRS="${PAGEMILL_WATCH_DIRS:-$inbox}"
pagemill_cmd=(${PAGEMILL_CMD:-pagemill})  # tests run `python -m scheduler.cli`

mkdir -p "$inbox"
"${pagemill_cmd[@]}" migrate

pids=()
stop() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait || true
}
trap stop INT TERM EXIT

conc=()
if [[ -n "${WORKER_CONCURRENCY:-}" ]]; then conc=(--concurrency "$WORKER_CONCURRENCY"); fi
for i in $(seq 1 "$workers"); do
    port=""
    if [[ -n "${METRICS_BASE_PORT:-}" ]]; then port=$((METRICS_BASE_PORT + i)); fi
    PAGEMILL_METRICS_PORT="$port" "${pagemill_cmd[@]}" -v worker --loglevel info "${conc[@]}" &
    pids+=($!)
done
PAGEMILL_METRICS_PORT="${METRICS_BASE_PORT:-}" "${pagemill_cmd[@]}" -v scheduler &
pids+=($!)

echo "pagemill: $workers worker(s) and a scheduler watching $PAGEMILL_WATCH_DIRS (pids ${pids[*]}); Ctrl-C stops" >&2
# any process that exits ends the topology: a supervisor (compose, systemd) would restart it instead
wait -n "${pids[@]}"
echo "pagemill: a process exited; stopping the others" >&2
