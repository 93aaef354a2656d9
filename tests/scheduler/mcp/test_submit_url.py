"""`submit` of an http(s) URL: fetched from a loopback HTTP server (allowed by --allow-private-urls), its type
sniffed from the bytes, registered under the URL's filename with the same bytes in the object store, and the
download folder left empty; redirects followed, and every bad answer a readable error: a page that is not a
document, a 404, too large, too slow, a loopback host without the allow switch, a scheme other than http(s)."""

from __future__ import annotations

import asyncio
import hashlib
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from mcp import ClientSession, StdioServerParameters, stdio_client

from models.errors import ConfigError, InputError, OversizedInput, UnsupportedFormat
from models.tables import Document
from scheduler.mcp.download import DownloadLimits, download
from tests.conftest import ROOT
from tests.results_db import migrated_database
from tests.scheduler.mcp.test_mcp_server import payload, server_env
from worker.objects.registry import object_store
from worker.settings import WorkerSettings


def sample_pdf() -> bytes:
    import io

    from reportlab.pdfgen.canvas import Canvas

    buf = io.BytesIO()
    canvas = Canvas(buf)
    canvas.drawString(72, 720, "Quarterly report fetched over HTTP")
    canvas.showPage()
    canvas.save()
    return buf.getvalue()


PDF = sample_pdf()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # quiet test output
        pass

    def answer(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # http.server calls it by this name
        if self.path == "/docs/report.pdf":  # a server that does not know what it serves
            self.answer(200, PDF, "application/octet-stream")
        elif self.path == "/get?id=7":
            self.answer(200, PDF, "application/pdf", {"Content-Disposition": 'attachment; filename="Q3 report.pdf"'})
        elif self.path == "/moved":
            self.answer(302, b"", "text/plain", {"Location": "/docs/report.pdf"})
        elif self.path == "/page.html":
            self.answer(200, b"<html><body>not a document</body></html>", "text/html; charset=utf-8")
        elif self.path == "/big.pdf":
            self.answer(200, b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024), "application/pdf")
        elif self.path == "/slow.pdf":
            time.sleep(3)
            self.answer(200, PDF, "application/pdf")
        else:
            self.answer(404, b"no such file", "text/plain")


@pytest.fixture
def web() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_checks(web: str, tmp_path: Path) -> None:
    allowed = DownloadLimits(max_mb=1, timeout_s=1, allow_private=True)
    assert download(f"{web}/docs/report.pdf", tmp_path / "a", allowed).read_bytes() == PDF
    assert download(f"{web}/moved", tmp_path / "b", allowed).name == "report.pdf"
    assert download(f"{web}/get?id=7", tmp_path / "c", allowed).name == "Q3 report.pdf"
    with pytest.raises(UnsupportedFormat, match="not a PDF or an image .*text/html"):
        download(f"{web}/page.html", tmp_path / "d", allowed)
    with pytest.raises(InputError, match="answered HTTP 404"):
        download(f"{web}/nothing.pdf", tmp_path / "e", allowed)
    with pytest.raises(OversizedInput, match="over the 1 MB limit"):
        download(f"{web}/big.pdf", tmp_path / "f", allowed)
    with pytest.raises(InputError, match="did not answer within 1 s"):
        download(f"{web}/slow.pdf", tmp_path / "g", allowed)
    with pytest.raises(ConfigError, match="loopback address: refused; .*--allow-private-urls"):
        download(f"{web}/docs/report.pdf", tmp_path / "h", DownloadLimits())
    with pytest.raises(ConfigError, match="http:// or https://"):
        download("file:///etc/passwd", tmp_path / "i", allowed)


async def submit_over_stdio(env: dict[str, str], args: list[str], urls: list[str]) -> list[object]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "scheduler.cli", "mcp", *args], env=env,
                                   cwd=str(ROOT))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        return [await asyncio.wait_for(session.call_tool("submit", {"path": u, "collection": "web"}), 60)
                for u in urls]


def test_submit_a_url_through_mcp(web: str, data_dir: Path, tmp_path: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{data_dir}/pagemill.db"
    migrated_database(url).dispose()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    args = ["--allow-writes", "--allow-folder", str(inbox), "--allow-private-urls"]
    done, not_a_document = asyncio.run(submit_over_stdio(server_env(url, data_dir), args,
                                                         [f"{web}/docs/report.pdf", f"{web}/page.html"]))
    answer = payload(done)
    assert answer["filename"] == "report.pdf" and len(answer["documents"]) == 1
    with migrated_database(url).read_session() as s:
        doc = s.get(Document, answer["documents"][0])
        assert (doc.filename, doc.collection, doc.mime_type) == ("report.pdf", "web", "application/pdf")
        stored = object_store(WorkerSettings()).local_path(doc.object_path).read_bytes()
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(PDF).hexdigest()
    assert not any((data_dir / "downloads").rglob("*"))  # the object store keeps it, not the download folder
    assert not_a_document.is_error and "is not a PDF or an image" in not_a_document.content[0].text

    (refused,) = asyncio.run(submit_over_stdio(server_env(url, data_dir), args[:-1], [f"{web}/docs/report.pdf"]))
    assert refused.is_error and "loopback address: refused" in refused.content[0].text
