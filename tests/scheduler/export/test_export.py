"""Exports: markdown with working image links, Mistral-shaped JSON, a zip of both, --all."""

from __future__ import annotations

import base64
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from mistralai.client.models import OCRResponse
from PIL import Image as PILImage
from sqlalchemy import update
from typer.testing import CliRunner

from models.db import Database
from models.tables import Image, Page, Usage
from scheduler.cli import app
from scheduler.export.document import PAGE_SEPARATOR, export_all, export_document, ocr_response
from tests.results_db import add_document, migrated_database
from worker.objects.folder import FolderStore
from worker.objects.store import ObjectStore
from worker.settings import WorkerSettings

LINK = re.compile(r"!?\[[^\]]*\]\(([^)]+)\)")


def picture(fmt: str, colour: str) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (40, 30), colour).save(buf, fmt)
    return buf.getvalue()


@pytest.fixture
def db() -> Database:
    database = migrated_database(Database.from_settings().url)
    yield database
    database.dispose()


@pytest.fixture
def objects() -> ObjectStore:
    return FolderStore(WorkerSettings().objects_dir)


def add_image(db: Database, objects: ObjectStore, doc: int, page: int, name: str, data: bytes,
              bbox: tuple[int, int, int, int] = (10, 20, 110, 220)) -> None:
    stored = objects.put_bytes(data, "images", name.rsplit(".", 1)[1])
    with db.write_session() as s:
        s.add(Image(document_id=doc, page_index=page, name=name, path=stored.relpath, sha256=stored.sha256,
                    mime_type="image/png", top_left_x=bbox[0], top_left_y=bbox[1], bottom_right_x=bbox[2],
                    bottom_right_y=bbox[3]))


@pytest.fixture
def document(db: Database, objects: ObjectStore) -> dict[str, bytes]:
    """Document 1: three pages, two stored images (one named .png holding JPEG bytes), one lost placeholder."""
    doc = add_document(db, "Quarterly report.pdf", [
        "# Report\n\nSee the chart:\n\n![img-0-0.png](img-0-0.png)\n",
        "Photo below ![img-1-0.png](img-1-0.png) and a lost one ![img-3.jpeg](img-3.jpeg)",
        "The end.",
    ])
    images = {"img-0-0.png": picture("PNG", "red"), "img-1-0.png": picture("JPEG", "blue")}
    for name, data in images.items():
        add_image(db, objects, doc, int(name.split("-")[1]), name, data)
    with db.write_session() as s:
        s.execute(update(Page).where(Page.document_id == doc).values(width=1700, height=2200, dpi=200,
                                                                     model="mistral-ocr-latest"))
        s.add_all([Usage(document_id=doc, provider="mistral", model="mistral-ocr-latest", pages_processed=2),
                   Usage(document_id=doc, provider="mistral", model="mistral-ocr-latest", pages_processed=1)])
    return images


def test_md_export_links_resolve_to_the_stored_image_bytes(db: Database, objects: ObjectStore,
                                                          document: dict[str, bytes], tmp_path: Path) -> None:
    out = tmp_path / "export"
    written = export_document(db, objects, 1, "md", out)

    assert written == out / "document.md"
    md = written.read_text()
    assert md.count(PAGE_SEPARATOR) == 2
    links = LINK.findall(md)
    assert links == ["images/img-0-0.png", "images/img-1-0.jpeg"]  # extension from the bytes
    for link in links:
        assert (out / link).is_file()
    assert (out / "images/img-0-0.png").read_bytes() == document["img-0-0.png"]
    assert (out / "images/img-1-0.jpeg").read_bytes() == document["img-1-0.png"]
    # a placeholder whose image was never stored stays readable but is no longer a broken link
    assert "img-3.jpeg" in md and "](img-3.jpeg)" not in md


def test_json_export_parses_as_a_mistral_ocr_response(db: Database, objects: ObjectStore,
                                                      document: dict[str, bytes], tmp_path: Path) -> None:
    path = export_document(db, objects, 1, "json", tmp_path / "doc.json", include_images=True)

    parsed = OCRResponse.model_validate(json.loads(path.read_text()))
    assert [p.index for p in parsed.pages] == [0, 1, 2]
    assert parsed.model == "mistral-ocr-latest"
    assert parsed.usage_info.pages_processed == 3
    assert parsed.pages[0].dimensions.model_dump() == {"dpi": 200, "height": 2200, "width": 1700}
    (img,) = parsed.pages[1].images
    assert (img.id, img.top_left_x, img.top_left_y, img.bottom_right_x, img.bottom_right_y) == (
        "img-1-0.png", 10, 20, 110, 220)
    # the image id is the placeholder used in the page's markdown, as in Mistral's responses
    assert f"]({img.id})" in parsed.pages[1].markdown
    header, data = img.image_base64.split(",", 1)
    assert header == "data:image/jpeg;base64"
    assert base64.b64decode(data) == document["img-1-0.png"]


def test_json_without_include_images_has_no_base64(db: Database, objects: ObjectStore,
                                                   document: dict[str, bytes]) -> None:
    body = ocr_response(db, objects, 1)
    parsed = OCRResponse.model_validate(body)
    assert all(im.image_base64 is None for p in parsed.pages for im in p.images)


def test_zip_holds_the_md_and_the_json_export(db: Database, objects: ObjectStore, document: dict[str, bytes],
                                              tmp_path: Path) -> None:
    folder = export_document(db, objects, 1, "md", tmp_path / "md").parent
    as_json = export_document(db, objects, 1, "json", tmp_path / "doc.json")
    archive = export_document(db, objects, 1, "zip", tmp_path / "doc.zip")

    with zipfile.ZipFile(archive) as zf:
        names = sorted(zf.namelist())
        md_names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        assert names == sorted([*md_names, "document.json"])
        for name in md_names:
            assert zf.read(name) == (folder / name).read_bytes()
        assert zf.read("document.json") == as_json.read_bytes()


def test_export_all_writes_every_done_document(db: Database, objects: ObjectStore, document: dict[str, bytes],
                                               tmp_path: Path) -> None:
    add_document(db, "notes/../../etc.png", ["second done document"])
    add_document(db, "broken.pdf", [], status="failed")

    results = export_all(db, objects, "md", tmp_path / "all")

    assert [(r.document_id, r.error) for r in results] == [(1, None), (2, None)]
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["1-Quarterly_report", "2-etc"]
    assert (tmp_path / "all/2-etc/document.md").read_text().startswith("second done document")


def test_cli_export_and_search(db: Database, document: dict[str, bytes], tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["export", "1", "--format", "json", "--out", str(tmp_path / "a.json")])
    assert res.exit_code == 0, res.output
    OCRResponse.model_validate_json((tmp_path / "a.json").read_text())

    res = runner.invoke(app, ["export", "--all", "--format", "zip", "--out", str(tmp_path / "z")])
    assert res.exit_code == 0, res.output
    assert zipfile.is_zipfile(tmp_path / "z/1-Quarterly_report/document.zip")

    res = runner.invoke(app, ["search", "chart"])
    assert res.exit_code == 0, res.output
    assert "Quarterly report.pdf" in res.output and "chart" in res.output

    res = runner.invoke(app, ["export", "--format", "md"])
    assert res.exit_code == 3 and "either a document or --all" in res.output


def test_search_prints_the_page_number_show_takes(db: Database, document: dict[str, bytes]) -> None:
    """Page numbers are 0-based for people everywhere: the page search prints is the one `show --page` takes."""
    runner = CliRunner()
    res = runner.invoke(app, ["search", "end"], terminal_width=200)
    assert res.exit_code == 0, res.output
    (row,) = [line for line in res.output.splitlines() if "Quarterly" in line]
    page = row.split("│")[3].strip()
    assert page == "2"  # "The end." is the third page, index 2
    assert "start at 1" not in res.output
    res = runner.invoke(app, ["show", "1", "--page", page])
    assert res.exit_code == 0 and res.output.strip() == "The end."


@pytest.mark.slow  # a real embedded run: worker processes and Tesseract
def test_export_of_a_real_ocr_run(tmp_path: Path) -> None:
    from scheduler.launch.submit import run
    from scheduler.samples import make_image

    source = make_image(tmp_path / "memo.png", "The heron flies over the quiet river at dawn")
    job = run([source], start_workers=True)
    (doc,) = job.summary()
    assert doc.status == "done", doc.error
    db = Database.from_settings()
    objects = FolderStore(WorkerSettings().objects_dir)

    md = export_document(db, objects, doc.document_id, "md", tmp_path / "out").read_text()
    body = ocr_response(db, objects, doc.document_id)

    assert "heron" in md.lower()
    parsed = OCRResponse.model_validate(body)
    assert parsed.pages[0].markdown.lower().count("heron") == 1
    assert parsed.pages[0].dimensions is not None and parsed.pages[0].dimensions.width > 0
