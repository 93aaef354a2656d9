"""Batch mode against synchronous requests: the same 1000 pages through `run --batch` (one Batch API job on the
loopback Files/Batch fake, a job that takes a few seconds) and through `run` at a rate limit of 5 requests/s.

    python bench/bench_batch.py [--pages 1000] [--pages-per-task 8] [--rate 5] [--job-seconds 5]

Prints, for each mode: HTTP requests sent, batch jobs created, wall time, pages billed, pages billed twice, and the
cost per 1000 pages from the usage ledger (PAGEMILL_PRICE_PER_1000_PAGES=4: batch at half, the target 0.5).
Both runs are embedded (SQLite, the embedded broker, `run`'s own worker processes).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from models import Database, DatabaseSettings
from models.tables import Page, Usage
from scheduler.launch.submit import run
from scheduler.samples import make_born_digital_pdf, page_text
from tests.fakes.batch_server import BatchServer

KEY = "sk-bench-batch-0000"


def _one(server: BatchServer, pdf: Path, data: Path, batch: bool, pages_per_task: int, rate: float) -> dict[str, float]:
    os.environ.update({
        "PAGEMILL_DATA_DIR": str(data), "PAGEMILL_PROVIDER": "mistral", "PAGEMILL_OCR_BASE_URL": server.url,
        "MISTRAL_API_KEY": KEY, "PAGEMILL_RATE_LIMIT": str(rate), "PAGEMILL_PRICE_PER_1000_PAGES": "4",
        "PAGEMILL_BATCH_POLL_MIN_S": "0.5", "PAGEMILL_BATCH_POLL_MAX_S": "2", "PAGEMILL_EMBEDDED_WORKERS": "2",
    })
    before_calls, before_ocr, before_jobs = len(server.calls), len(server.received), len(server.jobs)
    started = time.monotonic()
    job = run([pdf], pages_per_task=pages_per_task, batch=batch)
    wall = time.monotonic() - started
    assert job.ok, [(d.filename, d.error) for d in job.summary()]
    db = Database.from_settings(DatabaseSettings(data_dir=data))
    with db.read_session() as s:
        stored = int(s.scalar(select(func.count()).select_from(Page)) or 0)
        billed = int(s.scalar(select(func.coalesce(func.sum(Usage.pages_processed), 0))) or 0)
        cost = float(s.scalar(select(func.coalesce(func.sum(Usage.cost_usd), 0.0))) or 0.0)
    db.dispose()
    return {"requests": (len(server.calls) - before_calls) + (len(server.received) - before_ocr),
            "jobs": len(server.jobs) - before_jobs, "wall_s": wall, "billed": billed,
            "twice": billed - stored, "per_1000": cost / stored * 1000 if stored else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--pages-per-task", type=int, default=8)
    ap.add_argument("--rate", type=float, default=5.0, help="requests/s, the server's limit and the limiter's")
    ap.add_argument("--job-seconds", type=float, default=5.0, help="how long the fake takes to run a batch job")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        root = Path(tmp)
        pdf = make_born_digital_pdf(root / "backlog.pdf", [page_text(i, words=30) for i in range(args.pages)])
        with BatchServer(api_key=KEY, queue_s=1.0, run_s=args.job_seconds, rate_limit=args.rate,
                         extract_text=False) as server:
            rows = {"sync": _one(server, pdf, root / "sync", False, args.pages_per_task, args.rate),
                    "batch": _one(server, pdf, root / "batch", True, args.pages_per_task, args.rate)}
    print(f"{args.pages} pages, {args.pages_per_task} per range; synchronous at {args.rate:g} requests/s")
    print(f"{'mode':<6} {'requests':>8} {'jobs':>5} {'wall s':>7} {'billed':>7} {'twice':>6} {'$/1000 pages':>13}")
    for mode, r in rows.items():
        print(f"{mode:<6} {r['requests']:>8.0f} {r['jobs']:>5.0f} {r['wall_s']:>7.1f} {r['billed']:>7.0f}"
              f" {r['twice']:>6.0f} {r['per_1000']:>13.3f}")
    print(f"batch cost / synchronous cost: {rows['batch']['per_1000'] / rows['sync']['per_1000']:.2f} (target 0.5)")


if __name__ == "__main__":
    main()
