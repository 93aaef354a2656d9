"""Structure of the local engine's markdown on documents of known structure, now against before.

    python bench/bench_structure.py [--before main] [--dpi 150 200 300] [--speed-pages 8]

Documents (tests/structure_docs.py): a one-page report (title, sections, a wrapped and a hyphenated paragraph,
a numbered and a bullet list, a ruled and a borderless table, a figure with a caption, a running header and a
page-number footer), a two-column paper page (full-width title and authors, four sections, a footnote mark)
and a notice with a bulleted list whose bullets Tesseract misreads (and a paragraph starting with "A").
The text-layer path reads the born-digital PDFs; the OCR path reads scans of them made at each dpi with mild
skew and noise. "before" is the code of the git revision `--before` (today's `main`), loaded from git.

Scores per page, summed over pages (found / expected), as a share:
  head   headings written as `#` lines            cells  table cells in the right row and column
  list   list items written as `- ` / `1. `       fig    figures with an image and a placeholder
  whole  paragraphs kept whole (one line)         hyph   words hyphenated at a line end written whole
  bigram word-bigram recall (reading order)       word   word recall (markdown, header and footer)
  s/pg   seconds per page (render excluded for OCR)
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.structure_docs import Truth, make_notice, make_paper, make_report, scan_pdf

_WORD = re.compile(r"[A-Za-z0-9]+(?:[.'][A-Za-z0-9]+)*")


def _norm(text: str) -> str:
    text = re.sub(r"<sup>(.*?)</sup>", r"\1", text)
    return " ".join(_WORD.findall(text.lower()))


def _similar(a: str, b: str, at: float = 0.9) -> bool:
    a, b = _norm(a), _norm(b)
    return bool(a) and difflib.SequenceMatcher(None, a, b).ratio() >= at


def _tables(markdown: str) -> list[list[list[str]]]:
    out: list[list[list[str]]] = []
    cur: list[list[str]] = []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                cur.append(cells)
        elif cur:
            out.append(cur)
            cur = []
    return out


@dataclass
class Score:
    found: Counter[str] = field(default_factory=Counter)
    wanted: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    pages: int = 0

    def add(self, key: str, found: float, wanted: float) -> None:
        self.found[key] += found
        self.wanted[key] += wanted

    def share(self, key: str) -> str:
        return f"{self.found[key] / self.wanted[key]:.2f}" if self.wanted[key] else "  - "


KEYS = ["head", "cells", "list", "fig", "whole", "hyph", "bigram", "word"]


def score_page(score: Score, truth: Truth, markdown: str, header: str, footer: str, images: int) -> None:
    lines = markdown.splitlines()
    heads = [ln.lstrip("#").strip() for ln in lines if re.match(r"#{1,6} ", ln)]
    score.add("head", sum(any(_similar(h, x) for x in heads) for h in truth.headings), len(truth.headings))
    found_tables = _tables(markdown)
    for t in truth.tables:
        best = 0
        for f in found_tables:
            best = max(best, sum(1 for r, row in enumerate(t) for c, cell in enumerate(row)
                                 if r < len(f) and c < len(f[r]) and _norm(f[r][c]) == _norm(cell)))
        score.add("cells", best, sum(len(r) for r in t))
    items = [re.sub(r"^(?:- |\d+\. )", "", ln) for ln in lines if re.match(r"(?:- |\d+\. )", ln)]
    score.add("list", sum(any(_similar(i, x) for x in items) for i in truth.list_items), len(truth.list_items))
    placeholders = len(re.findall(r"!\[[^\]]*\]\([^)]*\)", markdown))
    if truth.figures:
        score.add("fig", min(truth.figures, placeholders, images), truth.figures)
    blocks = [b for b in markdown.splitlines() if b.strip()]  # a wrapped paragraph must be one line
    score.add("whole", sum(any(_similar(p, b) for b in blocks) for p in truth.paragraphs), len(truth.paragraphs))
    tokens = set(_norm(markdown).split())
    score.add("hyph", sum(1 for w in truth.hyphen_joins if w.lower() in tokens), len(truth.hyphen_joins))
    ref = _norm(truth.text()).split()
    hyp = _norm(markdown).split()
    want = Counter(zip(ref, ref[1:]))
    have = Counter(zip(hyp, hyp[1:]))
    score.add("bigram", sum(min(n, have[b]) for b, n in want.items()), sum(want.values()))
    ref_words = Counter(_norm(truth.text() + " " + truth.header + " " + truth.footer).split())
    hyp_words = Counter(_norm(markdown + " " + header + " " + footer).split())
    score.add("word", sum(min(n, hyp_words[w]) for w, n in ref_words.items()), sum(ref_words.values()))


def _module_from_git(rev: str, path: str, name: str) -> types.ModuleType:
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], capture_output=True, text=True,
                            check=True).stdout
    module = types.ModuleType(name)
    module.__package__ = name.rsplit(".", 1)[0]
    module.__file__ = f"<{rev}:{path}>"
    sys.modules[name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


# a reader returns (markdown, header, footer, images) for page 0 of a PDF
Reader = Callable[[Path, int], tuple[str, str, str, int]]


def _ocr_readers(before: str) -> dict[str, Reader]:
    import pypdfium2 as pdfium

    from worker.layout.page import crop_figures
    from worker.providers._tesseract import TesseractEngine

    old = _module_from_git(before, "worker/providers/_tesseract.py", "worker.providers._tesseract_before")
    old_engine = old.TesseractEngine()
    new_engine = TesseractEngine()

    def image(path: Path, dpi: int):  # type: ignore[no-untyped-def]
        with pdfium.PdfDocument(path) as pdf:
            return pdf[0].render(scale=dpi / 72, grayscale=True).to_pil().copy()

    def before_read(path: Path, dpi: int) -> tuple[str, str, str, int]:
        out = old_engine.recognize(image(path, dpi), dpi)
        return (out if isinstance(out, str) else out.found.markdown), "", "", 0

    def now_read(path: Path, dpi: int) -> tuple[str, str, str, int]:
        im = image(path, dpi)
        read = new_engine.read(im, dpi)
        images = crop_figures(read.found, read.image)
        return read.found.markdown, read.found.header or "", read.found.footer or "", len(images)

    return {"before": before_read, "now": now_read}


def _text_readers(before: str) -> dict[str, Reader]:
    import pypdfium2 as pdfium

    from worker.documents import textlayer

    old = _module_from_git(before, "worker/documents/textlayer.py", "worker._textlayer_before")

    def make(module: types.ModuleType) -> Reader:
        def read(path: Path, dpi: int) -> tuple[str, str, str, int]:
            with pdfium.PdfDocument(path) as pdf:
                page = module.read_page(pdf, 0, dpi)
            found = getattr(page, "found", None)
            header = (found.header or "") if found else ""
            footer = (found.footer or "") if found else ""
            return page.markdown, header, footer, len(page.images)

        return read

    return {"before": make(old), "now": make(textlayer)}


def speed(before: str, n: int, rounds: int) -> None:
    """Bare engine pages/s, before and now, on bench_local's pages: the two engines alternate page by page so
    both see the same machine load; the best of `rounds` passes counts."""
    import pypdfium2 as pdfium

    from scheduler.samples import make_scanned_pdf, page_text
    from worker.providers._tesseract import TesseractEngine

    old = sys.modules.get("worker.providers._tesseract_before") or _module_from_git(
        before, "worker/providers/_tesseract.py", "worker.providers._tesseract_before")
    with tempfile.TemporaryDirectory() as tmp:
        pdf = make_scanned_pdf(Path(tmp) / "scan.pdf", [page_text(i, 220) for i in range(n)], dpi=300)
        with pdfium.PdfDocument(pdf) as doc:
            images = [doc[i].render(scale=300 / 72, grayscale=True).to_pil().copy() for i in range(n)]
    engines = {"before": old.TesseractEngine(), "now": TesseractEngine()}
    for e in engines.values():
        e.recognize(images[0], 300)
    best = {k: float("inf") for k in engines}
    for _ in range(rounds):
        spent = {k: 0.0 for k in engines}
        for im in images:
            for k, e in engines.items():
                start = time.perf_counter()
                e.recognize(im, 300)
                spent[k] += time.perf_counter() - start
        best = {k: min(best[k], spent[k]) for k in engines}
    rate = {k: n / best[k] for k in engines}
    print(f"\nbare engine, {n} pages of bench_local's text at 300 dpi, best of {rounds}: before {rate['before']:.2f} "
          f"pages/s, now {rate['now']:.2f} pages/s (ratio {rate['now'] / rate['before']:.2f})")


def corpus(folder: Path, before: str) -> None:
    """Word recall of now against before on real files (no ground truth there: before's words are the
    reference, so 1.00 means nothing before read is lost; now's header and footer count)."""
    import pypdfium2 as pdfium

    from worker.documents.render import render_pages
    from worker.documents.textlayer import check_page
    from worker.providers.base import SourceDocument

    _text_readers(before)  # loads before's text layer module
    old = sys.modules["worker.providers._tesseract_before"].TesseractEngine()
    from worker.providers._tesseract import TesseractEngine

    new = TesseractEngine()
    print(f"\ncorpus {folder}: word recall of now against before, per page")
    for path in sorted(folder.glob("*.pdf")) + sorted(folder.glob("*.png")):
        try:
            if path.suffix == ".png":
                source = SourceDocument(path, "image/png", "image", 1)
                layers = [False]
            else:
                with pdfium.PdfDocument(path) as pdf:
                    layers = [check_page(pdf[i]).passed for i in range(len(pdf))]
                source = SourceDocument(path, "application/pdf", "pdf", len(layers))
        except pdfium.PdfiumError:
            continue
        for i, good in enumerate(layers):
            if good:
                before_md = _layer_markdown(before, path, i)
                now_md = _layer_markdown(None, path, i)
                how = "text layer"
            else:
                rendered = next(iter(render_pages(source, [i])))
                before_md = old.recognize(rendered.image, rendered.dpi)
                read = new.read(rendered.image, rendered.dpi)
                now_md = "\n".join([read.found.markdown, read.found.header or "", read.found.footer or ""])
                how = "OCR"
            # before left words hyphenated at line ends in two; count them joined, as now writes them
            before_md = re.sub(r"([^\W\d_])-\n([a-z])", r"\1\2", before_md)
            ref, hyp = Counter(_norm(before_md).split()), Counter(_norm(now_md).split())
            recall = sum(min(n, hyp[w]) for w, n in ref.items()) / max(1, sum(ref.values()))
            print(f"  {path.name:28} page {i}  {how:10} {sum(ref.values()):5} words  recall {recall:.3f}")


def _layer_markdown(before: str | None, path: Path, index: int) -> str:
    import pypdfium2 as pdfium

    from worker.documents import textlayer

    module = sys.modules["worker._textlayer_before"] if before else textlayer
    with pdfium.PdfDocument(path) as pdf:
        page = module.read_page(pdf, index, 300)
    found = getattr(page, "found", None)
    extra = [found.header or "", found.footer or ""] if found else []
    return "\n".join([page.markdown, *extra])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", default="main", help="git revision whose code is 'before'")
    ap.add_argument("--dpi", type=int, nargs="+", default=[150, 200, 300])
    ap.add_argument("--show", action="store_true", help="print each markdown")
    ap.add_argument("--speed-pages", type=int, default=8, help="pages for the speed comparison (0 skips it)")
    ap.add_argument("--speed-rounds", type=int, default=2)
    ap.add_argument("--corpus", type=Path, help="also compare word recall on the real files in this folder")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-structure-"))
    docs: list[tuple[str, Path, Truth]] = []
    for name, maker in (("report", make_report), ("paper", make_paper), ("notice", make_notice)):
        path = tmp / f"{name}.pdf"
        docs.append((name, path, maker(path)[0]))
    runs: list[tuple[str, str, Path, int, Truth]] = [("text layer", n, p, 300, t) for n, p, t in docs]
    for dpi in args.dpi:
        for n, p, t in docs:
            runs.append(("OCR", n, scan_pdf(p, tmp / f"{n}-{dpi}.pdf", dpi=dpi, seed=dpi), dpi, t))
    readers = {"text layer": _text_readers(args.before), "OCR": _ocr_readers(args.before)}
    totals: dict[tuple[str, str], Score] = {}
    print(f"{'path':10} {'doc':12} {'code':6} " + " ".join(f"{k:>6}" for k in KEYS) + "   s/pg")
    for path_name, doc, pdf, dpi, truth in runs:
        for code in ("before", "now"):
            s = Score()
            start = time.perf_counter()
            markdown, header, footer, images = readers[path_name][code](pdf, dpi)
            s.seconds, s.pages = time.perf_counter() - start, 1
            score_page(s, truth, markdown, header, footer, images)
            label = f"{doc}@{dpi}" if path_name == "OCR" else doc
            print(f"{path_name:10} {label:12} {code:6} " + " ".join(f"{s.share(k):>6}" for k in KEYS)
                  + f"  {s.seconds:5.2f}")
            if args.show:
                print(markdown, f"\n[header: {header!r}] [footer: {footer!r}]\n")
            total = totals.setdefault((path_name, code), Score())
            total.found.update(s.found)
            total.wanted.update(s.wanted)
            total.seconds += s.seconds
            total.pages += 1
    print("\ntotals")
    for (path_name, code), s in totals.items():
        print(f"{path_name:10} {'all':12} {code:6} " + " ".join(f"{s.share(k):>6}" for k in KEYS)
              + f"  {s.seconds / s.pages:5.2f}")
    if args.speed_pages:
        speed(args.before, args.speed_pages, args.speed_rounds)
    if args.corpus:
        corpus(args.corpus, args.before)


if __name__ == "__main__":
    main()
