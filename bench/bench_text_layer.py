"""Text layer first vs always OCR on 50 generated born-digital pages, local engine.

    python bench/bench_text_layer.py [--pages 50]

Prints pages/s with --text-layer auto and with never, and their ratio (target >= 50), measured three ways:
- provider: the provider call alone on the whole document (what a worker spends per page);
- pipeline: pages / (last range finished - first range started), through `scheduler.launch.submit.run` with
  real worker processes (intake, queueing and worker start-up excluded);
- wall: pages / the whole `run()` call, worker start-up and intake included.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from models import Database, DatabaseSettings
from models.tables import PageRange
from scheduler.launch.submit import run
from scheduler.samples import make_born_digital_pdf, page_text
from worker.providers import get_provider
from worker.providers.base import SourceDocument
from worker.settings import WorkerSettings


def _provider_rate(pdf: Path, pages: int, mode: str) -> float:
    provider = get_provider(WorkerSettings(text_layer=mode))
    source = SourceDocument(path=pdf, mime_type="application/pdf", kind="pdf", page_count=pages)
    try:
        start = time.perf_counter()
        result = provider.ocr(source, list(range(pages)))
        elapsed = time.perf_counter() - start
    finally:
        provider.close()
    assert len(result.pages) == pages
    return pages / elapsed


def _pipeline_rates(pdf: Path, pages: int, mode: str, work: Path) -> tuple[float, float]:
    # a run in another data folder reconfigures the Celery app, whose broker pools follow its configuration
    data = work / f"data-{mode}"
    os.environ["PAGEMILL_DATA_DIR"] = str(data)
    os.environ["PAGEMILL_TEXT_LAYER"] = mode
    start = time.perf_counter()
    job = run([pdf], pages_per_task=8)
    wall = time.perf_counter() - start
    if not job.ok:
        raise SystemExit(f"the {mode} run failed: {[d.error for d in job.summary()]}")
    db = Database.from_settings(DatabaseSettings(data_dir=data))
    with db.read_session() as s:
        first, last = s.execute(select(func.min(PageRange.started_at), func.max(PageRange.finished_at))).one()
    db.dispose()
    busy = max((last - first).total_seconds(), 1e-3)
    return pages / busy, pages / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pagemill-bench-") as tmp:
        work = Path(tmp)
        pdf = make_born_digital_pdf(work / "born-digital.pdf", [page_text(i, 120) for i in range(args.pages)])
        rates: dict[str, dict[str, float]] = {}
        for mode in ("auto", "never"):
            provider = _provider_rate(pdf, args.pages, mode)
            pipeline, wall = _pipeline_rates(pdf, args.pages, mode, work)
            rates[mode] = {"provider": provider, "pipeline": pipeline, "wall": wall}
        print(f"{args.pages} born-digital pages, local engine, {os.cpu_count()} cores")
        print(f"{'measure':<10}{'auto p/s':>12}{'never p/s':>12}{'auto/never':>12}")
        for measure in ("provider", "pipeline", "wall"):
            auto, never = rates["auto"][measure], rates["never"][measure]
            print(f"{measure:<10}{auto:>12.2f}{never:>12.2f}{auto / never:>12.1f}")


if __name__ == "__main__":
    main()
