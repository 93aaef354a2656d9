"""A worker keeps the PDFs it reads open between ranges: one open per document, never a stale one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models.errors import CorruptInput, EncryptedInput
from scheduler.samples import make_born_digital_pdf
from tests.worker.documents.test_bad_input import encrypted_pdf
from worker.documents.pdf_cache import OpenPdfCache
from worker.providers.base import SourceDocument
from worker.providers.mistral_request import plan_parts


def _text(pdf, index: int) -> str:  # type: ignore[no-untyped-def]
    page = pdf[index]
    try:
        textpage = page.get_textpage()
        return textpage.get_text_range().strip()
    finally:
        page.close()


def _source(path: Path, pages: int) -> SourceDocument:
    return SourceDocument(path=path, mime_type="application/pdf", kind="pdf", page_count=pages)


def test_consecutive_ranges_open_the_document_once_and_copy_the_right_pages(tmp_path: Path) -> None:
    import base64

    import pypdfium2 as pdfium

    pdf_path = make_born_digital_pdf(tmp_path / "a.pdf", [f"Page number {i} here" for i in range(24)])
    cache = OpenPdfCache()
    sent = []
    for first in (0, 8, 16):
        parts = plan_parts(_source(pdf_path, 24), list(range(first, first + 8)), 50_000_000, 1000, cache)
        sent.extend(parts)
    assert cache.opened == 1
    assert [p.pages for p in sent] == [list(range(f, f + 8)) for f in (0, 8, 16)]
    small = pdfium.PdfDocument(base64.b64decode(sent[1].document["document_url"].split(",", 1)[1]))
    assert len(small) == 8
    assert _text(small, 0) == "Page number 8 here"
    assert _text(small, 7) == "Page number 15 here"
    small.close()
    cache.close()


def test_a_replaced_file_is_opened_again(tmp_path: Path) -> None:
    pdf_path = make_born_digital_pdf(tmp_path / "a.pdf", ["first version"])
    cache = OpenPdfCache()
    with cache.document(pdf_path) as pdf:
        assert _text(pdf, 0) == "first version"
    make_born_digital_pdf(tmp_path / "b.pdf", ["second version", "with two pages"]).replace(pdf_path)
    st = pdf_path.stat()
    os.utime(pdf_path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    with cache.document(pdf_path) as pdf:
        assert len(pdf) == 2
        assert _text(pdf, 0) == "second version"
    assert cache.opened == 2
    cache.close()


def test_least_recently_used_documents_are_closed_beyond_capacity(tmp_path: Path) -> None:
    paths = [make_born_digital_pdf(tmp_path / f"{i}.pdf", [f"doc {i}"]) for i in range(3)]
    cache = OpenPdfCache(capacity=2)
    for p in (paths[0], paths[1], paths[0], paths[2], paths[0]):
        with cache.document(p) as pdf:
            assert _text(pdf, 0) == f"doc {paths.index(p)}"
    assert cache.opened == 3  # paths[0] stayed open: it was used more recently than paths[1]
    with cache.document(paths[1]):
        pass
    assert cache.opened == 4
    cache.close()


def test_encrypted_and_damaged_files_raise_typed_errors_and_are_not_cached(tmp_path: Path) -> None:
    locked = encrypted_pdf(tmp_path / "locked.pdf", "secret ledger", "pw")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n garbage, no objects\n")
    cache = OpenPdfCache()
    with pytest.raises(EncryptedInput, match="--password"):
        with cache.document(locked):
            pass
    with pytest.raises(CorruptInput):
        with cache.document(broken):
            pass
    with cache.document(locked, password="pw") as pdf:
        assert _text(pdf, 0) == "secret ledger"
    assert cache.opened == 1
    cache.close()
