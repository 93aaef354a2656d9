"""Word recall of the text-layer path on real PDFs, shared by `bench/bench_realworld.py` and the corpus test.

The reference for a page is PDFium's own text of it (`get_textpage().get_text_range()`): what any PDF reader
copies out of the page. A word is a run of three or more letters, in any script, lower-cased; a page's score is
the share of the reference's words (with repeats) that appear anywhere in what pagemill stores for the page
(markdown, tables, header and footer). Words are the unit users search for, so a word that comes out
letter-spaced, split or dropped counts as missed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium

from worker.providers.base import OcrPage

__all__ = ["WORD", "words", "page_words", "PageRecall", "stored_text", "read_corpus"]

WORD = re.compile(r"[^\W\d_]{3,}")


def words(text: str) -> list[str]:
    # pdfium joins a word hyphenated at a line end with U+FFFE (or U+0002): the reference word is the whole one
    text = re.sub(r"[\ufffe\x02]\s*", "", text)
    return WORD.findall(text.lower())


def page_words(pdf: pdfium.PdfDocument, index: int) -> list[str]:
    page = pdf[index]
    textpage = page.get_textpage()
    try:
        return words(textpage.get_text_range())
    finally:
        textpage.close()
        page.close()


def stored_text(page: OcrPage) -> str:
    parts = [page.markdown or "", page.header or "", page.footer or ""]
    parts += [t.content for t in page.tables]
    return "\n".join(parts)


@dataclass
class PageRecall:
    file: str
    index: int
    source: str  # text_layer, or the OCR provider's name when the check refused the layer
    reference: int  # words in PDFium's text
    found: int  # of those, words in the stored text
    missed: list[str]

    @property
    def recall(self) -> float:
        return self.found / self.reference if self.reference else 1.0


def score_page(file: str, reference: list[str], page: OcrPage) -> PageRecall:
    have = set(words(stored_text(page)))
    missed = [w for w in reference if w not in have]
    return PageRecall(file, page.index, page.source, len(reference), len(reference) - len(missed), missed)


def read_corpus(folder: Path, provider, pages: int = 2, files: list[str] | None = None) -> list[PageRecall]:
    """Every PDF of `folder` (its first `pages` pages) through `provider`, scored page by page. Encrypted files
    are skipped; pages whose reference is empty (scans, blank pages) are left out."""
    from worker.providers.base import SourceDocument

    out: list[PageRecall] = []
    for path in sorted(folder.glob("*.pdf")):
        if files and path.name not in files:
            continue
        try:
            pdf = pdfium.PdfDocument(path)
        except pdfium.PdfiumError:
            continue  # encrypted or unreadable: not a text-layer case
        try:
            count = len(pdf)
            indexes = list(range(min(pages, count))) if pages > 0 else list(range(count))
            refs = {i: page_words(pdf, i) for i in indexes}
        finally:
            pdf.close()
        indexes = [i for i in indexes if refs[i]]
        if not indexes:
            continue
        source = SourceDocument(path=path, mime_type="application/pdf", kind="pdf", page_count=count)
        result = provider.ocr(source, indexes)
        for page in result.pages:
            out.append(score_page(path.name, refs[page.index], page))
    return out
