"""`get_page(..., image=true)` through the SDK's own client over stdio: the page comes back as an MCP image that
PIL decodes, with the page's aspect ratio and at most MAX_EDGE_PX on its longer edge, for a PDF page and for a
large photographed image; a missing original is a readable tool error."""

from __future__ import annotations

import asyncio
import base64
import io
import sys
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from mcp import ClientSession, StdioServerParameters, stdio_client
from PIL import Image
from sqlalchemy import insert

from models.tables import Document, Page
from scheduler.mcp.page_image import MAX_EDGE_PX
from tests.conftest import ROOT
from tests.results_db import migrated_database
from tests.scheduler.mcp.test_mcp_server import payload, server_env
from worker.objects.registry import object_store
from worker.settings import WorkerSettings


def landscape_pdf(path: Path) -> Path:
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfgen.canvas import Canvas

    canvas = Canvas(str(path), pagesize=A4)  # page 0 portrait, page 1 landscape (842 x 595 pt)
    canvas.drawString(72, 720, "Page zero, portrait")
    canvas.showPage()
    canvas.setPageSize(landscape(A4))
    canvas.rect(100, 100, 400, 200, fill=1)
    canvas.drawString(72, 520, "Page one, landscape")
    canvas.showPage()
    canvas.save()
    return path


def store_document(db_url: str, original: Path, mime: str, pages: int) -> int:
    db = migrated_database(db_url)
    stored = object_store(WorkerSettings()).put_file(original)
    with db.write_session() as s:
        doc = Document(sha256=stored.sha256, filename=original.name, object_path=stored.relpath, mime_type=mime,
                       status="done", page_count=pages)
        s.add(doc)
        s.flush()
        s.execute(insert(Page), [{"document_id": doc.id, "page_index": i, "markdown": f"page {i}",
                                  "source": "tesseract"} for i in range(pages)])
        doc_id = doc.id
    db.dispose()
    return doc_id


async def call(env: dict[str, str], calls: list[dict[str, object]]) -> list[object]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "scheduler.cli", "mcp"], env=env,
                                   cwd=str(ROOT))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        return [await asyncio.wait_for(session.call_tool("get_page", args), 60) for args in calls]


def decoded(result: object) -> tuple[Image.Image, str]:
    images = [c for c in result.content if c.type == "image"]  # type: ignore[attr-defined]
    assert len(images) == 1, result
    return Image.open(io.BytesIO(base64.b64decode(images[0].data))), images[0].mime_type


def test_get_page_returns_the_page_image(data_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{data_dir}/pagemill.db"
    data_dir.mkdir(parents=True, exist_ok=True)
    pdf = store_document(url, landscape_pdf(tmp_path / "report.pdf"), "application/pdf", 2)
    photo_path = tmp_path / "whiteboard.jpg"
    Image.radial_gradient("L").resize((4000, 3000)).convert("RGB").save(photo_path, "JPEG", quality=90)
    photo = store_document(url, photo_path, "image/jpeg", 1)
    gone = store_document(url, landscape_pdf(tmp_path / "gone.pdf"), "application/pdf", 2)
    with migrated_database(url).read_session() as s:
        gone_path = object_store(WorkerSettings()).local_path(s.get(Document, gone).object_path)
    gone_path.unlink()

    portrait, landscape_page, text_only, big, missing, no_page = asyncio.run(call(server_env(url, data_dir), [
        {"document_id": pdf, "page": 0, "image": True}, {"document_id": pdf, "page": 1, "image": True},
        {"document_id": pdf, "page": 1}, {"document_id": photo, "page": 0, "image": True},
        {"document_id": gone, "page": 0, "image": True}, {"document_id": pdf, "page": 5, "image": True}]))

    image, mime = decoded(portrait)
    assert mime in ("image/png", "image/jpeg") and image.format in ("PNG", "JPEG")
    assert abs(image.width / image.height - 595 / 842) < 0.01 and max(image.size) <= MAX_EDGE_PX
    image, _ = decoded(landscape_page)
    assert abs(image.width / image.height - 842 / 595) < 0.01 and max(image.size) <= MAX_EDGE_PX
    described = payload(landscape_page)["image"]
    assert (described["width"], described["height"]) == image.size
    assert payload(landscape_page)["markdown"] == "page 1"
    assert [c.type for c in text_only.content] == ["text"] and "image" not in payload(text_only)
    image, _ = decoded(big)
    assert image.size == (MAX_EDGE_PX, MAX_EDGE_PX * 3 // 4)  # 4000 x 3000 scaled down, aspect kept
    assert missing.is_error and "missing from the object store" in missing.content[0].text
    assert no_page.is_error and "no stored page 5" in no_page.content[0].text
