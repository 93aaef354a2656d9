"""Text layer first: the quality check, markdown and images from the layer, and the provider wrapper."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image

from models.errors import InputError
from scheduler.samples import SAMPLE_TEXTS, make_born_digital_pdf, make_image, make_scanned_pdf, page_text
from tests.conftest import CORPUS, CORPUS_MISSING, cer
from tests.fixtures.textlayer_pdfs import (
    join_pdfs,
    make_broken_layer_pdf,
    make_hyphenated_pdf,
    make_picture_pdf,
)
from worker.documents.textlayer import check_page, read_page
from worker.documents.textlayer_score import score_text_layer
from worker.providers import get_provider
from worker.providers.base import OcrPage, OcrResult, OcrUsage, SourceDocument
from worker.providers.tesseract import TesseractProvider
from worker.providers.textlayer_first import TextLayerFirst
from worker.settings import WorkerSettings

LETTER_SQ_IN = 8.5 * 11


def _pdf_source(path: Path) -> SourceDocument:
    with pdfium.PdfDocument(path) as pdf:
        n = len(pdf)
    return SourceDocument(path=path, mime_type="application/pdf", kind="pdf", page_count=n)


def _read(path: Path, index: int = 0):  # type: ignore[no-untyped-def]
    pdf = pdfium.PdfDocument(path)
    try:
        return read_page(pdf, index)
    finally:
        pdf.close()


class RecordingProvider:
    """An inner provider that answers "ocr page N" and remembers every call, like a paid API would bill."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def ocr(self, source: SourceDocument, pages: Sequence[int]) -> OcrResult:
        self.calls.append(list(pages))
        return OcrResult(
            pages=[OcrPage(index=i, markdown=f"ocr page {i}", source=self.name) for i in pages],
            model="recording-1",
            usage=OcrUsage(pages_processed=len(pages), doc_size_bytes=123),
            billed=True,
        )

    def close(self) -> None:
        pass


# --- the quality check --------------------------------------------------------------------------------------


def test_plain_english_text_passes_with_every_component_reported() -> None:
    score = score_text_layer(SAMPLE_TEXTS[0] + " " + SAMPLE_TEXTS[1], LETTER_SQ_IN)
    assert score.passed
    assert score.printable == 1.0
    assert score.garbage_runs == 0
    assert score.word_share > 0.9
    assert score.density > 3
    assert score.threshold == 0.6


def test_glyph_name_runs_are_garbage() -> None:
    text = "/g18/g152/g33/g71 /g90/g12/g7 " * 20 + "Total due"
    score = score_text_layer(text, LETTER_SQ_IN)
    assert score.garbage_runs >= 20
    assert score.garbage_share > 0.9
    assert not score.passed
    assert "glyph names" in score.describe()


def test_control_characters_are_garbage() -> None:
    text = "\x0e\x15\x1d\x16\x10 \x0c\x15\x13 \x17\x10\x14\x14 " * 30
    score = score_text_layer(text, LETTER_SQ_IN)
    assert score.printable == 0.0
    assert not score.passed


def test_a_shifted_alphabet_fails_on_word_likeness() -> None:
    shifted = "Aol xbpjr iyvdu mve qbtwz vcly aol shgf kvn dopsl aol wh aplua mhytly jvbuaz opz zlclu zollw"
    score = score_text_layer(shifted, LETTER_SQ_IN)
    assert score.printable == 1.0
    assert score.word_share < 0.5
    assert not score.passed


def test_a_sparse_invisible_ocr_layer_over_a_page_picture_is_refused() -> None:
    poor_ocr = "sw | \\ + 400 + 300 —esupport BH No vote{note 1] 200 4 t= Oppose SeNet{note 2] Percentage"
    score = score_text_layer(poor_ocr, 41.6, image_cover=1.0, invisible=1.0)
    assert score.threshold == 0.8
    assert not score.passed
    assert "scanned page" in score.describe()


def test_a_dense_good_ocr_layer_over_a_page_picture_is_trusted() -> None:
    text = " ".join(page_text(i, 80) for i in range(6))
    score = score_text_layer(text, LETTER_SQ_IN, image_cover=1.0, invisible=1.0)
    assert score.density > 10
    assert score.passed


def test_an_empty_page_is_blank_and_a_picture_without_text_is_not() -> None:
    assert score_text_layer("", LETTER_SQ_IN, has_objects=False).passed
    picture_only = score_text_layer("", LETTER_SQ_IN, image_cover=1.0)
    assert not picture_only.passed
    assert "no text layer" in picture_only.describe()


def test_generated_pdfs_are_classified(tmp_path: Path) -> None:
    good = make_born_digital_pdf(tmp_path / "good.pdf", SAMPLE_TEXTS[:2])
    control = make_broken_layer_pdf(tmp_path / "control.pdf", SAMPLE_TEXTS[:1], "control")
    shifted = make_broken_layer_pdf(tmp_path / "shifted.pdf", SAMPLE_TEXTS[:1], "shifted")
    scan = make_scanned_pdf(tmp_path / "scan.pdf", SAMPLE_TEXTS[:1], dpi=100)
    verdicts = {}
    for path in (good, control, shifted, scan):
        with pdfium.PdfDocument(path) as pdf:
            verdicts[path.name] = check_page(pdf[0])
    assert verdicts["good.pdf"].passed
    assert not verdicts["control.pdf"].passed and verdicts["control.pdf"].garbage_runs > 10
    assert not verdicts["shifted.pdf"].passed and verdicts["shifted.pdf"].word_share < 0.5
    assert not verdicts["scan.pdf"].passed and verdicts["scan.pdf"].chars == 0


@pytest.mark.skipif(not CORPUS.exists(), reason=CORPUS_MISSING)
def test_real_born_digital_pages_pass_and_real_scans_do_not() -> None:
    def verdicts(name: str) -> list[bool]:
        with pdfium.PdfDocument(CORPUS / name) as pdf:
            return [check_page(pdf[i]).passed for i in range(len(pdf))]

    assert verdicts("minimal-document.pdf") == [True]
    assert verdicts("pdflatex-4-pages.pdf") == [True] * 4
    assert verdicts("c02-22.pdf") == [False]
    # page 3 of multipage.pdf is a scan carrying a poor invisible OCR layer
    assert verdicts("multipage.pdf") == [False] * 6


# --- markdown and images from the layer ---------------------------------------------------------------------


def test_born_digital_pages_come_back_exact(tmp_path: Path) -> None:
    texts = [page_text(i, 120) for i in range(3)] + SAMPLE_TEXTS
    path = make_born_digital_pdf(tmp_path / "digital.pdf", texts)
    for i, text in enumerate(texts):
        page = _read(path, i)
        assert page.score.passed
        assert cer(text, page.markdown) < 0.005, page.markdown


def test_paragraphs_are_separated_by_blank_lines(tmp_path: Path) -> None:
    paragraphs = [SAMPLE_TEXTS[0], SAMPLE_TEXTS[1], SAMPLE_TEXTS[2]]
    path = make_born_digital_pdf(tmp_path / "paras.pdf", ["\n\n".join(paragraphs)])
    markdown = _read(path).markdown
    blocks = markdown.split("\n\n")
    assert len(blocks) == 3
    for block, text in zip(blocks, paragraphs):
        assert cer(text, block) < 0.005


def test_hyphenated_line_ends_are_joined(tmp_path: Path) -> None:
    path = make_hyphenated_pdf(
        tmp_path / "hyphen.pdf",
        ["The committee will review the docu-", "ment before the meeting on Friday and the", "well-known", "",
         "A second paragraph starts here."],
    )
    markdown = _read(path).markdown
    assert "review the document before" in markdown
    assert "docu-" not in markdown
    assert "well-known" in markdown  # a hyphen inside a line stays
    assert markdown.endswith("\n\nA second paragraph starts here.")


def test_embedded_pictures_are_extracted_with_their_box_in_page_pixels(tmp_path: Path) -> None:
    path = make_picture_pdf(tmp_path / "picture.pdf", "Text above the picture.", "Text below the picture.")
    page = _read(path)
    assert page.dpi == 300 and (page.width, page.height) == (2550, 3300)
    assert len(page.images) == 1
    image = page.images[0]
    # the picture sits at x 144..432 pt, y 400..592 pt from the bottom of a 792 pt page: at 300 dpi
    box = (image.top_left_x, image.top_left_y, image.bottom_right_x, image.bottom_right_y)
    assert box == pytest.approx((600, 833, 1800, 1633), abs=2)
    assert image.data is not None
    with Image.open(io.BytesIO(image.data)) as im:
        assert im.size == (600, 400)
    assert page.markdown == (
        f"Text above the picture.\n\n![{image.id}]({image.id})\n\nText below the picture."
    )


# --- the wrapper --------------------------------------------------------------------------------------------


def test_all_good_pages_never_reach_the_inner_provider(tmp_path: Path) -> None:
    path = make_born_digital_pdf(tmp_path / "digital.pdf", SAMPLE_TEXTS)
    inner = RecordingProvider()
    result = TextLayerFirst(inner, "auto").ocr(_pdf_source(path), [0, 1, 2, 3])
    assert inner.calls == []
    assert [p.source for p in result.pages] == ["text_layer"] * 4
    assert result.usage.pages_processed == 0 and not result.billed
    assert cer(SAMPLE_TEXTS[2], result.pages[2].markdown) < 0.005


def test_bad_pages_go_to_the_inner_provider_in_one_call_and_only_they_are_billed(tmp_path: Path) -> None:
    good = make_born_digital_pdf(tmp_path / "good.pdf", SAMPLE_TEXTS[:2])
    broken = make_broken_layer_pdf(tmp_path / "broken.pdf", SAMPLE_TEXTS[2:3], "control")
    scan = make_scanned_pdf(tmp_path / "scan.pdf", SAMPLE_TEXTS[3:4], dpi=100)
    mixed = join_pdfs(tmp_path / "mixed.pdf", [good, broken, scan])  # pages: good, good, broken, scan
    inner = RecordingProvider()
    result = TextLayerFirst(inner, "auto").ocr(_pdf_source(mixed), [0, 1, 2, 3])
    assert inner.calls == [[2, 3]]
    assert [(p.index, p.source) for p in result.pages] == [
        (0, "text_layer"), (1, "text_layer"), (2, "recording"), (3, "recording"),
    ]
    assert result.usage.pages_processed == 2 and result.billed
    assert result.model == "recording-1"


def test_only_mode_refuses_pages_without_a_good_layer_with_a_clear_error(tmp_path: Path) -> None:
    good = make_born_digital_pdf(tmp_path / "good.pdf", SAMPLE_TEXTS[:1])
    broken = make_broken_layer_pdf(tmp_path / "broken.pdf", SAMPLE_TEXTS[1:2], "shifted")
    mixed = join_pdfs(tmp_path / "mixed.pdf", [good, broken])
    inner = RecordingProvider()
    wrapper = TextLayerFirst(inner, "only")
    assert [p.source for p in wrapper.ocr(_pdf_source(mixed), [0]).pages] == ["text_layer"]
    with pytest.raises(InputError) as info:
        wrapper.ocr(_pdf_source(mixed), [0, 1])
    assert "page(s) 1 have no usable text layer" in info.value.message
    assert "looks like words" in info.value.message
    image = make_image(tmp_path / "page.png", SAMPLE_TEXTS[0], dpi=100)
    with pytest.raises(InputError, match="image has no text layer"):
        wrapper.ocr(SourceDocument(path=image, mime_type="image/png", kind="image", page_count=1), [0])
    assert inner.calls == []


def test_images_go_straight_to_the_inner_provider_in_auto_mode(tmp_path: Path) -> None:
    image = make_image(tmp_path / "page.png", SAMPLE_TEXTS[0], dpi=100)
    inner = RecordingProvider()
    result = TextLayerFirst(inner, "auto").ocr(
        SourceDocument(path=image, mime_type="image/png", kind="image", page_count=1), [0]
    )
    assert inner.calls == [[0]] and result.usage.pages_processed == 1


def test_get_provider_wraps_the_local_engine_by_default_and_follows_the_setting() -> None:
    wrapped = get_provider(WorkerSettings())
    assert isinstance(wrapped, TextLayerFirst) and wrapped.mode == "auto" and wrapped.name == "tesseract"
    only = get_provider(WorkerSettings(text_layer="ONLY"))
    assert isinstance(only, TextLayerFirst) and only.mode == "only"
    assert isinstance(get_provider(WorkerSettings(text_layer="never")), TesseractProvider)


def test_the_mode_is_part_of_the_dedup_options(monkeypatch: pytest.MonkeyPatch) -> None:
    assert WorkerSettings().document_options()["text_layer"] == "auto"
    assert WorkerSettings(provider="mistral").document_options()["text_layer"] == "never"
    monkeypatch.setenv("PAGEMILL_TEXT_LAYER", "only")
    assert WorkerSettings().document_options()["text_layer"] == "only"
    with pytest.raises(ValueError, match="auto, never or only"):
        WorkerSettings(text_layer="sometimes")
