"""Chunks of what the local engine makes of real layouts: the generated report of tests/structure_docs.py (its
headings, tables and list known) and born-digital PDFs of the shared corpus, read through their text layer."""

from __future__ import annotations

import re
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from scheduler.chunks import ChunkOptions, chunk_pages
from scheduler.chunks.markdown import document_text, join_pages
from tests.conftest import CORPUS, CORPUS_MISSING
from tests.structure_docs import make_report
from worker.providers.base import SourceDocument
from worker.providers.textlayer_first import TextLayerFirst


class _NoOcr:
    name = "none"

    def ocr(self, source, pages):  # type: ignore[no-untyped-def]
        raise AssertionError("a text layer is read, not OCR'd")

    def close(self) -> None:
        pass


def layer_pages(path: Path, limit: int = 12) -> list[tuple[int, str]]:
    with pdfium.PdfDocument(path) as pdf:
        n = min(len(pdf), limit)
    source = SourceDocument(path=path, mime_type="application/pdf", kind="pdf", page_count=n)
    result = TextLayerFirst(_NoOcr(), "only").ocr(source, list(range(n)))  # type: ignore[arg-type]
    return [(p.index, p.markdown) for p in result.pages]


def check(pages: list[tuple[int, str]], options: ChunkOptions) -> list:
    pieces = chunk_pages(pages, options)
    whole = document_text(join_pages(pages))
    measure = options.measure()
    for p in pieces:
        assert measure(p.text) <= options.limit
        assert p.text[p.prefix:len(p.text) - p.suffix] == whole[p.start:p.end]
        assert set(p.pages) <= {i for i, _ in pages}
    bounds = [0, *[x for p in pieces for x in (p.start, p.end)], len(whole)]
    assert all(whole[a:b].strip() == "" for a, b in zip(bounds[::2], bounds[1::2]))
    return pieces


@pytest.mark.parametrize("limit", [300, 1200])
def test_the_generated_report(tmp_path: Path, limit: int) -> None:
    truth = make_report(tmp_path / "report.pdf")
    pages = layer_pages(tmp_path / "report.pdf")
    pieces = check(pages, ChunkOptions(max_size=limit))
    title, *sections = truth[0].headings
    for section in sections:
        holding = [p for p in pieces if re.search(rf"(?m)^#+ {re.escape(section)}$", p.text)]
        assert len(holding) == 1, section
        assert holding[0].headings[-1] == section and holding[0].headings[0] == title
    for rows in truth[0].tables:
        header = "| " + " | ".join(rows[0]) + " |"
        with_rows = [p for p in pieces if any(f"| {r[0]} |" in p.text for r in rows[1:])]
        assert with_rows and all(header in p.text for p in with_rows)  # whole, or its header in every part
    for item in truth[0].list_items:
        assert sum(item in p.text for p in pieces) == 1
    assert all(p.pages == [0] for p in pieces)


@pytest.mark.skipif(not CORPUS.is_dir(), reason=CORPUS_MISSING)
@pytest.mark.parametrize("name", ["pdflatex-4-pages.pdf", "google-doc-document.pdf",
                                  "realworld/150109DSP-Milw-505-90D.pdf",
                                  "realworld/WARN-Report-for-7-1-2015-to-03-25-2016.pdf",
                                  "realworld/federal-register-2020-17221.pdf", "realworld/chelsea_pdta.pdf"])
def test_corpus_documents(name: str) -> None:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{name} is not in the corpus at {CORPUS}")
    pages = layer_pages(path, 6)
    for options in (ChunkOptions(max_size=400), ChunkOptions(max_size=100, unit="tokens", overlap=10)):
        pieces = check(pages, options)
        assert pieces
        # each chunk's pages are the pages its own text came from
        for p in pieces:
            own = p.text[p.prefix:len(p.text) - p.suffix]
            first_words = " ".join(own.split()[:3])
            if first_words and len(first_words) > 8:
                assert any(first_words in " ".join(md.split()) for i, md in pages if i in p.pages) or \
                    len(p.pages) > 1
