"""End to end with vision on: real `pagemill worker` processes (embedded broker), the Mistral OCR fake and the
vision fake on loopback. After a range's pages are stored, its images are described by their own Celery tasks;
descriptions land in the images table, the usage ledger, the search index and the md/json exports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image as PILImage
from sqlalchemy import select
from typer.testing import CliRunner

from models import Database, DatabaseSettings
from models.search import search
from models.tables import Image, Usage
from scheduler.cli import app as cli
from scheduler.export.document import export_document
from scheduler.launch.submit import submit
from scheduler.samples import make_born_digital_pdf, page_text
from tests.conftest import start_worker, stop_process, wait_until
from tests.fakes.mistral_server import MistralServer
from tests.fakes.vision_server import ERROR_BODIES, Fault, VisionServer
from worker.objects.folder import FolderStore
from worker.settings import WorkerSettings
from worker.vision.describe import PAGE_IMAGE_ID, pending_descriptions

OCR_KEY = "sk-ocr-test-3e9d1c"
VISION_KEY = "sk-vision-test-b7f2a0"


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MistralServer, VisionServer]]:
    with MistralServer(api_key=OCR_KEY, images_per_page=1) as ocr, VisionServer(api_key=VISION_KEY) as vision:
        for k, v in {
            "PAGEMILL_PROVIDER": "mistral",
            "PAGEMILL_OCR_BASE_URL": ocr.url,
            "MISTRAL_API_KEY": OCR_KEY,
            "PAGEMILL_RATE_LIMIT": "50",
            "PAGEMILL_RETRY_BASE_S": "0.2",
            "PAGEMILL_RETRY_MAX_S": "3",
            "PAGEMILL_VISION_BASE_URL": vision.url,
            "PAGEMILL_VISION_API_KEY": VISION_KEY,
            "PAGEMILL_VISION_MIN_SIZE": "32",  # the OCR fake's extracted images are 40x40
            "PAGEMILL_VISION_RATE_LIMIT": "20",
            "PAGEMILL_VISION_RETRY_BASE_S": "0.2",
            "PAGEMILL_VISION_RETRY_MAX_S": "3",
        }.items():
            monkeypatch.setenv(k, v)
        yield ocr, vision


def _inputs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    make_born_digital_pdf(folder / "report.pdf", [page_text(10), page_text(11)])
    PILImage.new("RGB", (2400, 1600), (250, 0, 0)).save(folder / "photo.png")  # a big red "photo"
    return folder


def _images(db: Database) -> list[Image]:
    with db.read_session() as s:
        return list(s.scalars(select(Image).order_by(Image.document_id, Image.page_index, Image.id)))


def _run_with_worker(tmp_path: Path, expected: int) -> tuple[Database, dict[str, int]]:
    worker = start_worker(concurrency=2, log=tmp_path / "worker.log")
    try:
        job = submit([_inputs(tmp_path / "in")], wait=True, start_workers=False, timeout_s=120)
        assert job.ok, [(d.filename, d.error) for d in job.summary()]
        db = Database.from_settings(DatabaseSettings())
        ids = job.document_ids
        names = {d.filename: d.document_id for d in job.summary()}
        assert wait_until(lambda: len(_images(db)) == expected and pending_descriptions(db, ids, 32) == 0, 90), \
            (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        stop_process(worker)
    return db, names


def test_images_and_image_documents_are_described_stored_searchable_and_exported(
    tmp_path: Path, servers: tuple[MistralServer, VisionServer]
) -> None:
    _, vision = servers
    vision.inject(Fault(429, ERROR_BODIES["documented"]("Rate limit exceeded"), {"Retry-After": "1"}),
                  Fault(503, ERROR_BODIES["bare"]("upstream overloaded")))
    db, names = _run_with_worker(tmp_path, expected=4)
    pdf_id, photo_id = names["report.pdf"], names["photo.png"]

    images = _images(db)
    # two extracted images of the PDF, the photo's extracted image, and the photo as a whole
    images.sort(key=lambda im: (im.document_id != pdf_id, im.page_index, im.provider_id == PAGE_IMAGE_ID))
    assert [(im.document_id, im.page_index, im.provider_id == PAGE_IMAGE_ID) for im in images] == [
        (pdf_id, 0, False), (pdf_id, 1, False), (photo_id, 0, False), (photo_id, 0, True)]
    for im in images:
        assert im.description is not None and im.description.startswith("A ")
        assert (im.description_model, im.description_tokens) == ("mistral-small-2603", 826)
    whole = images[-1]
    assert whole.name == "page-0.png" and whole.description == "A 1540x1027 picture, mostly red."
    # the 429 and the 503 were retried by their tasks: four descriptions, each billed once
    assert sorted(vision.statuses()) == [200, 200, 200, 200, 429, 503]
    assert all(max(r.image_size or (0, 0)) <= 1540 for r in vision.received)

    with db.read_session() as s:
        ledger = s.execute(select(Usage.kind, Usage.model, Usage.prompt_tokens, Usage.completion_tokens)
                           .where(Usage.kind == "vision")).all()
    assert sorted(ledger) == [("vision", "mistral-small-2603", 812, 14)] * 4

    hits = search(db, "mostly red")  # both images of the photo are red: one hit for its page
    assert [(h.document_id, h.page_index, h.matched) for h in hits] == [(photo_id, 0, "image")]
    [hit] = search(db, "1540x1027 red")
    assert hit.snippet == "page-0.png: A <mark>1540x1027</mark> picture, mostly <mark>red</mark>."
    assert search(db, "mostly white", doc_id=pdf_id)[0].matched == "image"

    objects = FolderStore(WorkerSettings().objects_dir)
    md = export_document(db, objects, photo_id, "md", tmp_path / "out").read_text()
    assert md.startswith("![A 1540x1027 picture, mostly red.](images/page-0.png)\n\n")
    extracted = images[2]
    assert f"![{extracted.description}](images/{extracted.name})" in md
    assert (tmp_path / "out" / "images" / "page-0.png").is_file()
    pdf_md = export_document(db, objects, pdf_id, "md", tmp_path / "pdf-out").read_text()
    assert f"![{images[0].description}](images/{images[0].name})" in pdf_md

    body = json.loads(export_document(db, objects, photo_id, "json", tmp_path / "photo.json").read_text())
    annotations = {im["id"]: im["image_annotation"] for im in body["pages"][0]["images"]}
    assert annotations["page-0.png"] == "A 1540x1027 picture, mostly red."
    assert annotations[extracted.name] == extracted.description


def test_a_rejected_vision_key_leaves_ocr_done_and_gives_up_on_descriptions(
    tmp_path: Path, servers: tuple[MistralServer, VisionServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, vision = servers
    monkeypatch.setenv("PAGEMILL_VISION_API_KEY", "sk-wrong-vision-key-1")
    db, _ = _run_with_worker(tmp_path, expected=4)

    images = _images(db)
    assert all(im.description is None and im.description_model == "mistral-small-latest" for im in images)
    assert {r.status for r in vision.received} == {401}
    assert len(vision.received) <= 2  # one per worker process at most: the others stop without sending
    log = (tmp_path / "worker.log").read_text()
    assert "HTTP 401 from the vision server" in log and "check PAGEMILL_VISION_API_KEY" in log
    assert "sk-wrong-vision-key-1" not in log
    with db.read_session() as s:
        assert s.scalars(select(Usage.kind)).all().count("vision") == 0


def test_pagemill_describe_prints_descriptions_without_a_database(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    red, wide = tmp_path / "red.png", tmp_path / "wide.jpg"
    PILImage.new("RGB", (300, 200), (255, 0, 0)).save(red)
    PILImage.new("RGB", (4000, 1000), (0, 0, 255)).save(wide, quality=90)
    runner = CliRunner()
    with VisionServer(api_key=VISION_KEY, content_mode="chunks") as vision:
        monkeypatch.setenv("PAGEMILL_VISION_BASE_URL", vision.url + "/v1")
        monkeypatch.setenv("PAGEMILL_VISION_API_KEY", VISION_KEY)
        result = runner.invoke(cli, ["describe", str(red), str(wide), "--prompt", "What colour is it?"])
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == [
            f"== {red}", "A 300x200 picture, mostly red.", f"== {wide}", "A 1540x385 picture, mostly blue."]
        assert [r.body["messages"][0]["content"][0]["text"] for r in vision.received if r.body] == [
            "What colour is it?"] * 2
        assert not (tmp_path / "data").exists()  # no database, no data folder

        monkeypatch.setenv("PAGEMILL_VISION_API_KEY", "sk-wrong-key-000")
        result = runner.invoke(cli, ["describe", str(red), str(wide)])
        assert result.exit_code == 5
        shown = " ".join(result.output.split())  # the error console wraps long lines
        assert "HTTP 401 from the vision server: Unauthorized; check PAGEMILL_VISION_API_KEY" in shown
        assert "sk-wrong-key-000" not in result.output
        assert vision.statuses()[2:] == [401]  # stopped at the first image

        monkeypatch.setenv("PAGEMILL_VISION_API_KEY", VISION_KEY)
        result = runner.invoke(cli, ["describe", str(tmp_path / "missing.png"), str(red)])
        assert result.exit_code == 1 and "A 300x200 picture, mostly red." in result.stdout


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.usefixtures("production_env")
def test_with_redis_and_postgresql_images_are_described_billed_once_and_searchable(
    tmp_path: Path, servers: tuple[MistralServer, VisionServer]
) -> None:
    """The production setup: description tasks travel through Redis and land in PostgreSQL, whose generated
    tsvector column indexes them."""
    _, vision = servers
    vision.inject(Fault(503, ERROR_BODIES["bare"]("upstream overloaded")))
    db, names = _run_with_worker(tmp_path, expected=4)
    assert not db.is_sqlite
    images = _images(db)
    assert len(images) == 4 and all(im.description and im.description.startswith("A ") for im in images)
    assert sorted(vision.statuses()) == [200, 200, 200, 200, 503]
    with db.read_session() as s:
        billed = s.scalars(select(Usage.prompt_tokens).where(Usage.kind == "vision")).all()
    assert billed == [812] * 4
    [hit] = search(db, "1540x1027 red")
    assert (hit.document_id, hit.page_index, hit.matched) == (names["photo.png"], 0, "image")
    db.dispose()
