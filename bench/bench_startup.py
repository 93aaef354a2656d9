"""Start-up of everyday commands, and what a one-page `pagemill run` costs beyond its OCR.

    python bench/bench_startup.py [--repeat 5]

Prints the median wall time of each command (a fresh interpreter every time) beside `python -c pass` and a bare
script that imports tesserocr and OCRs the same image. The read-only commands run against a small data folder
(the four sample documents, made first by `pagemill run samples/`). Targets on 2 cores: `--help` <= 0.4 s,
read-only commands <= 0.6 s, `run` of one page within 1.5 s of the bare OCR script.

Commands run as `python -m scheduler.cli`, which is what the `pagemill` console script does; a pyenv shim in
front of `pagemill` adds its own ~0.1 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
IMAGE = ROOT / "samples" / "shipping-note.png"

_BARE_OCR = """
import os, sys
import tesserocr
from PIL import Image
with tesserocr.PyTessBaseAPI(path=os.path.join(sys.prefix, "share", "tessdata") + os.sep, lang="eng") as api:
    api.SetImage(Image.open(sys.argv[1]))
    api.SetSourceResolution(300)
    text = api.GetUTF8Text()
assert text.strip()
"""


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # every finished descendant, workers included
    return usage.ru_utime + usage.ru_stime


def _timed(argv: list[str], env: dict[str, str], before: object = None) -> tuple[float, float]:
    if callable(before):
        before()
    cpu, start = _cpu_s(), time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return elapsed, _cpu_s() - cpu


def median_s(argv: list[str], env: dict[str, str], repeat: int, before: object = None) -> tuple[float, float]:
    """Median wall time and median CPU time (all processes of the command: less sensitive to a loaded machine)."""
    _timed(argv, env, before)  # warm the page cache and the bytecode
    runs = [_timed(argv, env, before) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    for key in [k for k in env if k.startswith("PAGEMILL_")]:
        del env[key]
    cli = [sys.executable, "-m", "scheduler.cli"]
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} cores, load average {load:.1f} at start; medians of {args.repeat} runs")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        subprocess.run([*cli, "--data", str(data), "run", str(ROOT / "samples")], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        word = "shipping"
        rows: list[tuple[str, list[str], float | None]] = [
            ("python -c pass", [sys.executable, "-c", "pass"], None),
            ("pagemill --help", [*cli, "--help"], 0.4),
            ("pagemill status --help", [*cli, "status", "--help"], 0.4),
        ]
        d = ["--data", str(data)]
        out = Path(tmp) / "export"
        rows += [
            ("pagemill status", [*cli, *d, "status"], 0.6),
            ("pagemill status 1", [*cli, *d, "status", "1"], 0.6),
            ("pagemill show 1", [*cli, *d, "show", "1"], 0.6),
            (f"pagemill search {word}", [*cli, *d, "search", word], 0.6),
            ("pagemill export 1 --format md", [*cli, *d, "export", "1", "--format", "md", "--out", str(out)], 0.6),
            ("pagemill usage", [*cli, *d, "usage"], 0.6),
            ("pagemill review", [*cli, *d, "review"], 0.6),
            # the fields command's rows need a schema's extraction through a chat model: its help is timed
            ("pagemill fields --help", [*cli, "fields", "--help"], 0.6),
        ]
        print(f"  {'':34s} {'wall':>8s} {'cpu':>8s}")
        for label, argv, target in rows:
            t, cpu = median_s(argv, env, args.repeat)
            goal = f"(target <= {target:.1f} s)" if target else ""
            print(f"  {label:34s} {t:6.2f} s {cpu:6.2f} s  {goal}")

        bare, bare_cpu = median_s([sys.executable, "-c", _BARE_OCR, str(IMAGE)], env, args.repeat)
        print(f"  {'bare tesserocr script, 1 image':34s} {bare:6.2f} s {bare_cpu:6.2f} s")
        run_data = Path(tmp) / "run"

        def fresh() -> None:
            shutil.rmtree(run_data, ignore_errors=True)

        one = [*cli, "--data", str(run_data), "run", str(IMAGE)]
        first, first_cpu = median_s(one, env, args.repeat, fresh)
        print(f"  {'pagemill run, new data folder':34s} {first:6.2f} s {first_cpu:6.2f} s  (+{first - bare:.2f} s over "
              "the bare script: creating the database is part of it)")
        again, again_cpu = median_s([*one, "--force"], env, args.repeat)
        print(f"  {'pagemill run --force, same folder':34s} {again:6.2f} s {again_cpu:6.2f} s  (+{again - bare:.2f} s;"
              " target <= +1.5 s)")
        celery_env = {**env, "PAGEMILL_DIRECT_MAX_PAGES": "0"}
        celery, celery_cpu = median_s([*one, "--force"], celery_env, args.repeat)
        print(f"  {'  same, Celery workers':34s} {celery:6.2f} s {celery_cpu:6.2f} s  (+{celery - bare:.2f} s;"
              " PAGEMILL_DIRECT_MAX_PAGES=0)")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
