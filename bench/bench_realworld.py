"""Word recall of the text-layer path on born-digital PDFs as people have them (../shared/corpus/realworld).

    python bench/bench_realworld.py [--corpus DIR] [--pages 2] [--all-pages] [--worst 15] [--file NAME ...]

For every PDF (its first `--pages` pages, or all with `--all-pages`), the local engine with `--text-layer auto`
reads each page as `pagemill run` does, and the stored text (markdown, tables, header, footer) is scored against
PDFium's own text of the same page (tests/realworld.py says how). Prints the worst pages with the words they
missed, the recall over text-layer pages (target >= 0.99, no page under 0.95), the same over pages the check sent
to OCR, and seconds per text-layer page.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.realworld import read_corpus
from worker.providers import get_provider
from worker.settings import WorkerSettings


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "realworld")
    ap.add_argument("--pages", type=int, default=2)
    ap.add_argument("--all-pages", action="store_true")
    ap.add_argument("--worst", type=int, default=15)
    ap.add_argument("--file", nargs="*")
    args = ap.parse_args()
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}", file=sys.stderr)
        return 2
    provider = get_provider(WorkerSettings(text_layer="auto"))
    start = time.perf_counter()
    try:
        scores = read_corpus(args.corpus, provider, 0 if args.all_pages else args.pages, args.file)
    finally:
        provider.close()
    elapsed = time.perf_counter() - start
    layer = [s for s in scores if s.source == "text_layer"]
    ocr = [s for s in scores if s.source != "text_layer"]
    print(f"{'file':40} {'pg':>3} {'source':>10} {'ref':>5} {'recall':>7}  missed (first 12)")
    for s in sorted(scores, key=lambda s: s.recall)[: args.worst]:
        print(f"{s.file[:40]:40} {s.index:>3} {s.source[:10]:>10} {s.reference:>5} {s.recall:7.3f}  "
              f"{' '.join(s.missed[:12])}")

    def total(group: list) -> str:
        ref = sum(s.reference for s in group)
        got = sum(s.found for s in group)
        under = sum(1 for s in group if s.recall < 0.95)
        low = min((s.recall for s in group), default=1.0)
        return f"{len(group)} pages, {ref} words: recall {got / max(ref, 1):.4f}, lowest page {low:.3f}, {under} under 0.95"

    print(f"text layer: {total(layer)}")
    print(f"sent to OCR: {total(ocr)}")
    print(f"{elapsed:.1f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
