"""Filled form fields and free-text annotations: their text is kept in the page's markdown where it sits (once),
and pages are rendered with their fields drawn so OCR reads them (docs/schema.md, "Form fields and
annotations")."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import pytest

from tests.conftest import CORPUS, CORPUS_MISSING
from tests.fixtures.form_pdfs import add_free_text, make_filled_form, make_scanned_form, make_unrendered_form
from worker.documents.inspect import open_pdf
from worker.documents.pdf_forms import CHECKED, UNCHECKED, FormText, page_form_text
from worker.providers import get_provider
from worker.providers.base import SourceDocument
from worker.providers.tesseract import TesseractProvider
from worker.settings import WorkerSettings


def _markdown(path: Path, provider: object | None = None) -> tuple[str, str]:
    """(markdown, source) of page 1 as the default local provider (text layer first) gives it."""
    provider = provider or get_provider(WorkerSettings())
    result = provider.ocr(SourceDocument(path, "application/pdf", "pdf", 1), [0])  # type: ignore[attr-defined]
    return result.pages[0].markdown, result.pages[0].source


def _form_text(path: Path) -> list[FormText]:
    with open_pdf(path) as pdf:
        page = pdf[0]
        try:
            return page_form_text(pdf, page)
        finally:
            page.close()


def test_filled_values_stand_beside_their_labels_once(tmp_path: Path) -> None:
    markdown, source = _markdown(make_filled_form(tmp_path / "form.pdf"))
    assert source == "text_layer"
    assert "Full name: Margaret Hamilton" in markdown
    assert "City: Boston" in markdown
    assert markdown.count("Margaret Hamilton") == 1
    # the heading comes first, the answers follow in the order of the form
    assert markdown.index("Application for a library card") < markdown.index("Boston")


def test_check_boxes_read_as_ticked_or_not(tmp_path: Path) -> None:
    markdown, _ = _markdown(make_filled_form(tmp_path / "form.pdf"))
    assert f"Member before {CHECKED}" in markdown
    assert f"Newsletter {UNCHECKED}" in markdown


def test_empty_hidden_and_password_fields_add_nothing(tmp_path: Path) -> None:
    markdown, _ = _markdown(make_filled_form(tmp_path / "form.pdf"))
    assert "internal reference" not in markdown  # a hidden field
    assert "4321" not in markdown  # a password field
    assert "Phone:\n" in markdown + "\n"  # the empty field leaves its label alone


def test_fields_are_listed_with_names_values_and_boxes(tmp_path: Path) -> None:
    found = {f.name: f for f in _form_text(make_filled_form(tmp_path / "form.pdf"))}
    assert set(found) == {"full_name", "city", "member", "newsletter"}
    name = found["full_name"]
    assert (name.value, name.kind) == ("Margaret Hamilton", "field")
    assert name.rect == pytest.approx((160, 672, 410, 694))  # PDF points, as the form draws the field
    assert found["member"].value == CHECKED


def test_a_value_printed_in_the_page_as_well_is_not_doubled(tmp_path: Path) -> None:
    markdown, _ = _markdown(make_filled_form(tmp_path / "printed.pdf", printed_value=True))
    assert markdown.count("Margaret Hamilton") == 1
    assert "Boston" in markdown  # the other fields still come from the form


def test_free_text_annotation_is_kept_where_it_sits(tmp_path: Path) -> None:
    form = make_filled_form(tmp_path / "form.pdf")
    # typed onto the page below the heading, above the first field
    noted = add_free_text(form, tmp_path / "noted.pdf", "Approved on 12 March", (72, 695, 400, 712))
    markdown, _ = _markdown(noted)
    assert markdown.count("Approved on 12 March") == 1
    assert markdown.index("library card") < markdown.index("Approved on 12 March") < markdown.index("Full name")
    kinds = {f.value: f.kind for f in _form_text(noted)}
    assert kinds["Approved on 12 March"] == "freetext"


def test_a_page_holding_only_a_filled_field_is_not_blank(tmp_path: Path) -> None:
    markdown, _ = _markdown(make_unrendered_form(tmp_path / "bare.pdf", "Grace Hopper"))
    assert markdown == "Grace Hopper"


def test_a_scanned_form_filled_on_screen_is_read_with_its_value(tmp_path: Path) -> None:
    scan = make_scanned_form(tmp_path / "scan.pdf", "The quarterly report was received and checked.",
                             "Signed by Ada Lovelace")
    markdown, source = _markdown(scan)
    assert source != "text_layer"  # no text layer: OCR read the rendered page
    assert "quarterly report" in markdown
    assert "Signed by Ada Lovelace" in markdown


def test_fields_without_appearances_are_drawn_for_ocr(tmp_path: Path) -> None:
    # NeedAppearances: only the form environment draws the value, and OCR sees nothing without it
    markdown, _ = _markdown(make_unrendered_form(tmp_path / "unrendered.pdf", "Grace Hopper"),
                            TesseractProvider(tessdata=WorkerSettings().tessdata))
    assert "Grace Hopper" in markdown


def test_read_page_on_a_document_opened_without_forms_still_reads_ticks(tmp_path: Path) -> None:
    # callers that open a PdfDocument themselves (not through open_pdf) get the same answers
    pdf = pdfium.PdfDocument(make_filled_form(tmp_path / "form.pdf"))
    try:
        page = pdf[0]
        values = {f.name: f.value for f in page_form_text(pdf, page)}
        page.close()
    finally:
        pdf.close()
    assert values["member"] == CHECKED and values["newsletter"] == UNCHECKED


@pytest.mark.skipif(not CORPUS.is_dir(), reason=CORPUS_MISSING)
@pytest.mark.parametrize("name", ["pdffill-demo.pdf", "annotations.pdf"])
def test_links_notes_and_markup_add_nothing_to_real_pages(name: str) -> None:
    # pdffill-demo.pdf: links and sticky notes; annotations.pdf: strike-out, stamp, highlight, a sticky note
    # and its popup. None is a filled field or text typed onto the page, so the pages read as before.
    path = CORPUS / "realworld" / name
    with open_pdf(path) as pdf:
        for index in range(len(pdf)):
            page = pdf[index]
            try:
                assert page_form_text(pdf, page) == []
            finally:
                page.close()
    markdown, source = _markdown(path)
    assert source == "text_layer"
    assert "popup note" not in markdown
