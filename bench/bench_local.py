"""Local engine throughput: `pagemill run` with 2 worker processes vs a bare single-process tesserocr loop.

    python bench/bench_local.py [--pages 20] [--memory-pages 100]

Prints pages/s of both, their ratio (target >= 1.6 on 2 cores; the whole run's >= 1.4), the CPU seconds the
whole `pagemill run` (command and workers) spent per page, and the peak RSS of a worker process while it OCRs
a 100-page document (target <= 400 MB). Figures from one run on the same generated pages. A job this small
runs in direct processes forked from the command (scheduler/launch/direct.py); the same run through Celery workers
(PAGEMILL_DIRECT_MAX_PAGES=0) is printed beside it. On a machine shared with other work pages/s follow its
load; the CPU per page does much less, so A/B runs compare that.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scheduler.samples import make_scanned_pdf, page_text


def bare_loop(pdf: Path, n: int) -> float:
    import pypdfium2 as pdfium

    from worker.providers._tesseract import TesseractEngine

    doc = pdfium.PdfDocument(pdf)
    images = [doc[i].render(scale=300 / 72, grayscale=True).to_pil().copy() for i in range(n)]
    engine = TesseractEngine()
    engine.recognize(images[0], 300)  # warm-up, as the engine measurements do
    start = time.perf_counter()
    for im in images:
        engine.recognize(im, 300)
    return n / (time.perf_counter() - start)


def _descendants(pid: int) -> list[int]:
    out = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for c in children:
        out.append(int(c))
        out.extend(_descendants(int(c)))
    return out


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pipeline(paths: list[Path], data: Path, workers: int, per_task: int,
             **extra_env: str) -> tuple[float, float, float]:
    """Wall-clock seconds of `pagemill run`, the peak RSS (MB) of any one worker process, and the CPU seconds of
    its worker processes (the last figure sampled of each, every 0.2 s: a process's last 0.2 s are missed)."""
    env = dict(os.environ, PAGEMILL_DATA_DIR=str(data), **extra_env)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "scheduler.cli", "run", "--workers", str(workers), "--pages-per-task",
         str(per_task), *map(str, paths)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    peak = 0.0
    cpu: dict[int, float] = {}
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.2):
            for pid in _descendants(proc.pid):
                peak = max(peak, _rss_mb(pid))
                cpu[pid] = max(cpu.get(pid, 0.0), _cpu_s(pid))

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    rc = proc.wait()
    elapsed = time.perf_counter() - start
    stop.set()
    t.join()
    if rc != 0:
        raise SystemExit(f"pagemill run failed with exit code {rc}")
    return elapsed, peak, sum(cpu.values())


def ocr_span_s(data: Path) -> float:
    """Seconds from the first range's start to the last range's end: the pipeline's steady state, without
    the command's and the workers' start-up."""
    import sqlite3
    from datetime import datetime

    con = sqlite3.connect(data / "pagemill.sqlite")
    first, last = con.execute("SELECT min(started_at), max(finished_at) FROM page_ranges").fetchone()
    con.close()
    return (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=20)
    ap.add_argument("--memory-pages", type=int, default=100, help="0 skips the memory measurement")
    ap.add_argument("--pages-per-task", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        pdf = make_scanned_pdf(tmpd / "scan20.pdf", [page_text(i) for i in range(args.pages)], dpi=300)
        print(f"{args.pages} generated scanned pages, 300 dpi, {os.cpu_count()} cores")
        bare = bare_loop(pdf, args.pages)
        print(f"bare tesserocr loop, 1 process:        {bare:6.2f} pages/s")
        elapsed, _, cpu_s = pipeline([pdf], tmpd / "d1", 2, args.pages_per_task)
        piped = args.pages / elapsed
        print(f"pagemill run, 2 worker processes:       {piped:6.2f} pages/s  ({elapsed:.1f} s wall, incl. start-up)")
        print(f"ratio pipeline / bare, whole run:       {piped / bare:6.2f}   (target >= 1.4)")
        span = ocr_span_s(tmpd / "d1")
        print(f"  steady state (first range start -> last range end, {span:.1f} s): {args.pages / span:6.2f} pages/s,"
              f" ratio {args.pages / span / bare:.2f} (target >= 1.6); start-up and shutdown took {elapsed - span:.1f} s")
        print("  (the bare loop's pages are rendered before timing; the pipeline renders each page at 300 dpi)")
        print(f"  CPU of the worker processes: {cpu_s / args.pages:.2f} s per page ({cpu_s:.1f} s, start-up incl.)")
        elapsed_c, _, _ = pipeline([pdf], tmpd / "d1c", 2, args.pages_per_task, PAGEMILL_DIRECT_MAX_PAGES="0")
        span_c = ocr_span_s(tmpd / "d1c")
        print(f"same through Celery workers:            {args.pages / elapsed_c:6.2f} pages/s  ({elapsed_c:.1f} s wall,"
              f" ratio {args.pages / elapsed_c / bare:.2f}; start-up and shutdown took {elapsed_c - span_c:.1f} s)")
        if args.memory_pages:
            big = make_scanned_pdf(
                tmpd / "big.pdf", [page_text(1000 + i, words=30) for i in range(args.memory_pages)], dpi=150
            )
            elapsed, peak, _ = pipeline([big], tmpd / "d2", 1, 8)
            print(f"{args.memory_pages}-page document, 1 worker: {elapsed:.1f} s; peak RSS of one worker process "
                  f"{peak:.0f} MB (target <= 400 MB)")


if __name__ == "__main__":
    main()
