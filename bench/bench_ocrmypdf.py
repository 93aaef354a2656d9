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
Rounds alternate which tool goes first (the machine may be shared: each round's figures are printed, then the
medians). Tesseract differs: pagemill's tesserocr wheel carries its own libtesseract, OCRmyPDF runs the
system's `tesseract`; both print their version.
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


def run_pagemill(docs: list[Path], out_dir: Path, data: Path) -> float:
    """Seconds of the one command a user runs for this: `pagemill run --archive DIR`, which OCRs the scans and
    writes each searchable PDF into DIR under the scan's name as its document finishes."""
    env = dict(os.environ, PAGEMILL_DATA_DIR=str(data), PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "scheduler.cli", "run", "--workers", "2", "--archive", str(out_dir),
                    *map(str, docs)], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=1800)
    return time.perf_counter() - start


def run_pagemill_export(docs: list[Path], out_dir: Path, data: Path) -> float:
    """Seconds of `pagemill run` and then one `pagemill export --format pdf` command per document (a Python
    start-up each: the slower way to the same files)."""
    env = dict(os.environ, PAGEMILL_DATA_DIR=str(data), PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "scheduler.cli", "run", "--workers", "2", *map(str, docs)], env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=1800)
    for n, doc in enumerate(docs, start=1):  # documents are numbered in the order given
        subprocess.run([sys.executable, "-m", "scheduler.cli", "export", str(n), "--format", "pdf", "--out",
                        str(out_dir / doc.name)], env=env, check=True, stdout=subprocess.DEVNULL, timeout=600)
    return time.perf_counter() - start


def run_ocrmypdf(docs: list[Path], out_dir: Path) -> float:
    start = time.perf_counter()
    for doc in docs:
        subprocess.run(["ocrmypdf", "-j", "2", "--output-type", "pdf", "-q", str(doc), str(out_dir / doc.name)],
                       check=True, timeout=1800)
    return time.perf_counter() - start


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

    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}; OCRmyPDF "
          f"{subprocess.run(['ocrmypdf', '--version'], capture_output=True, text=True).stdout.strip()} on {tess};"
          f" pagemill on tesserocr's {tesserocr.tesseract_version().split()[1]}")
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

    seconds: dict[str, list[float]] = {"pagemill": [], "ocrmypdf": [], "pagemill run + export commands": []}
    cpu: dict[str, list[float]] = {"pagemill": [], "ocrmypdf": []}
    scores: dict[str, dict[str, tuple[float, float, float]]] = {}
    for r in range(args.rounds):
        order = ["pagemill", "ocrmypdf"] if r % 2 == 0 else ["ocrmypdf", "pagemill"]
        for tool in order:
            out = work / f"round{r}-{tool}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            if tool == "pagemill":
                took = run_pagemill(docs, out, work / f"round{r}-data")
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                exported = out.parent / f"{out.name}-export"
                shutil.rmtree(exported, ignore_errors=True)
                exported.mkdir()
                commands = run_pagemill_export(docs, exported, work / f"round{r}-data-export")
                seconds["pagemill run + export commands"].append(commands)
                detail = f" with --archive (run + {len(docs)} export commands instead: {commands:.1f} s)"
            else:
                took, detail = run_ocrmypdf(docs, out), ""
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            cpu[tool].append(used)
            seconds[tool].append(took)
            print(f"round {r + 1}: {tool:9s} {took:6.1f} s, {took / pages:5.2f} s/page, CPU {used / pages:5.2f} s/page"
                  f"{detail}"
                  f" (load average {os.getloadavg()[0]:.1f})")
            if r == 0:
                scores[tool] = {d.name: score(out / d.name, d, truths[d.name]) for d in docs}

    print(f"\n{'document':22s} {'tool':9s} {'recall':>7s} {'in place':>9s} {'size':>6s}")
    for d in docs:
        for tool in ("pagemill", "ocrmypdf"):
            rec, placed, size = scores[tool][d.name]
            print(f"{d.name:22s} {tool:9s} {rec:7.3f} {placed:9.3f} {size:5.2f}x")
    words = {d.name: len(truths[d.name].words) for d in docs}
    total_words = sum(words.values())
    total_in = sum(d.stat().st_size for d in docs)
    print()
    for tool in ("pagemill", "ocrmypdf"):
        rec = sum(scores[tool][d.name][0] * words[d.name] for d in docs) / total_words
        placed = sum(scores[tool][d.name][1] * words[d.name] for d in docs) / total_words
        size = sum(scores[tool][d.name][2] * d.stat().st_size for d in docs) / total_in
        med = statistics.median(seconds[tool])
        print(f"{'total':22s} {tool:9s} {rec:7.3f} {placed:9.3f} {size:5.2f}x   {med / pages:5.2f} s/page"
              f" (median of {len(seconds[tool])}: {', '.join(f'{s:.1f}' for s in seconds[tool])} s)")
    commands = statistics.median(seconds["pagemill run + export commands"])
    print(f"{'total':22s} {'pagemill run + export commands':47s} {commands / pages:5.2f} s/page")
    for tool in ("pagemill", "ocrmypdf"):
        print(f"CPU {tool:9s} {statistics.median(cpu[tool]) / pages:5.2f} s/page (processes it started, user + system;"
              " less swayed by other work on the machine than the wall clock)")
    ratio = statistics.median(seconds["ocrmypdf"]) / statistics.median(seconds["pagemill"])
    print(f"\nwhole job: pagemill run --archive {ratio:.2f}x faster than ocrmypdf -j 2 (target >= 1.5); run and"
          f" then export commands {statistics.median(seconds['ocrmypdf']) / commands:.2f}x; outputs in {work}")


if __name__ == "__main__":
    main()
