"""Pipeline overhead, as a floor: the loopback server answers at once with no limit, so what is measured is the
pipeline's own cost per range (Redis broker, `pagemill worker` processes with a threads pool, HTTP, results
database, object folder). Nobody runs this workload: the real API answers in seconds and allows a few requests/s
(bench_mistral_realistic.py is the workload that decides). It guards against a regression that would make the
pipeline itself the limit.

    python bench/bench_mistral_overhead.py [--pages 8000] [--per-task 8] [--db sqlite|postgres|both]
                                           [--layouts 1x8,4x8] [--rounds 1]

Layouts (processes x threads): 1 x 8, what `pagemill worker` starts for an HTTP provider by default, and 4 x 8,
the realistic and rate-limit benches' layout; each with the embedded SQLite results file and with PostgreSQL (a
throwaway schema). The workers are started and answering a ping before the pages are submitted. Each run prints
pages/s and the CPU a range cost the workers, PostgreSQL's backends (on the same 2 cores here) and Redis.

Floor: >= 300 pages/s through the whole pipeline on this 2-core machine. The old target, a ratio >= 0.5 to a bare
httpx loop posting the same requests, is retired (issue 20): it rewarded machinery (group commit, a kombu
transport subclass, CPU pinning, claims without WAL flush) that saved milliseconds of CPU per range, which no
workload with a real provider notices, and it was removed.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from _mistral_harness import KEY, MistralServer, Pipeline, postgres_schema, services_cpu_s

FLOOR_PAGES_PER_S = 300.0


def _pipeline(
    server: MistralServer, pdf: Path, per_task: int, layout: tuple[int, int], database_url: str | None
) -> tuple[str, float]:
    """Run the pipeline over one PDF; returns (summary line, pages/s)."""
    server.received.clear()
    processes, threads = layout
    pipe = Pipeline(server, processes, threads, {
        "PAGEMILL_RATE_LIMIT": "0", "PAGEMILL_MAX_INFLIGHT": "0",  # no limit configured
    }, database_url=database_url)
    try:
        pipe.submit_file(pdf, per_task)
        stored, done, failed = pipe.wait_done(600)
        cpu_s = pipe.worker_cpu_s() - pipe.cpu_at_start
        services = {name: cpu - pipe.services_at_start[name] for name, cpu in services_cpu_s().items()}
        finished = pipe.last_finished()
    finally:
        pipe.stop()
    if not server.received:
        raise SystemExit(f"no request reached the server: {stored} pages stored, {failed} ranges failed (see the "
                         f"workers' logs in {pipe.tmp})")
    first = min(r.at for r in server.received)
    pps = stored / (finished - first)
    ranges = max(1, done + failed)
    line = (f"{stored} pages ({done} ranges done, {failed} failed) at {pps:.1f} pages/s; CPU per range: "
            f"workers {1000 * cpu_s / ranges:.1f} ms, "
            + ", ".join(f"{name} {1000 * cpu / ranges:.1f} ms" for name, cpu in services.items()))
    return line, pps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=8000)
    ap.add_argument("--per-task", type=int, default=8)
    ap.add_argument("--layouts", default="1x8,4x8", help="processes x threads, comma-separated")
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--rounds", type=int, default=1, help="rounds of every layout and database; the median counts")
    args = ap.parse_args()
    layouts = [tuple(int(n) for n in item.split("x")) for item in args.layouts.split(",")]
    pdf = Pipeline.sample_pdf(args.pages)
    runs: dict[str, list[float]] = {}
    with MistralServer(api_key=KEY, extract_text=False) as server:
        for round_no in range(1, args.rounds + 1):
            print(f"round {round_no}:", flush=True)
            for processes, threads in layouts:
                for db in ("sqlite", "postgres"):
                    if args.db not in (db, "both"):
                        continue
                    name = f"{processes}x{threads}, {'SQLite' if db == 'sqlite' else 'PostgreSQL'}"
                    if db == "sqlite":
                        line, pps = _pipeline(server, pdf, args.per_task, (processes, threads), None)
                    else:
                        with postgres_schema() as url:
                            line, pps = _pipeline(server, pdf, args.per_task, (processes, threads), url)
                    runs.setdefault(name, []).append(pps)
                    print(f"  pipeline ({name} + Redis): {line}", flush=True)
    print()
    for name, results in runs.items():
        median = statistics.median(results)
        verdict = "ok" if median >= FLOOR_PAGES_PER_S else "BELOW THE FLOOR"
        print(f"pipeline ({name} + Redis): median {median:.1f} pages/s over {len(results)} round(s); floor "
              f"{FLOOR_PAGES_PER_S:.0f}: {verdict}")


if __name__ == "__main__":
    main()
