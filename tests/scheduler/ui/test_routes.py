"""The review page's routes through FastAPI's TestClient, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from models.db import Database
from models.search import search
from models.tables import Page, PageRange, PageVersion
from scheduler.export.document import markdown_bundle
from worker.objects.folder import FolderStore
from worker.settings import WorkerSettings

from .conftest import LOCAL, csrf_of
from .helpers import HOSTILE_NAME, Library


def test_the_list_shows_documents_progress_and_a_failure(client: TestClient, library: Library) -> None:
    html = client.get("/").text
    assert "letters.pdf" in html and "broken.pdf" in html
    assert "2/2" in html  # pages done of total
    assert "1 failed range(s)" in html
    # only failed ones
    html = client.get("/?status=partial").text
    assert "broken.pdf" in html and "letters.pdf" not in html


def test_the_list_pages_by_id(client: TestClient, library: Library, ui_db: Database) -> None:
    client.app.state.ui.settings.page_size = 2  # type: ignore[attr-defined]
    first = client.get("/").text
    assert "broken.pdf" in first and "letters.pdf" not in first
    assert f"before={library.hostile}" in first
    older = client.get(f"/?before={library.hostile}").text
    assert "letters.pdf" in older and "broken.pdf" not in older


def test_failures_show_the_readable_error_and_retry_queues_the_range(client: TestClient, library: Library,
                                                                     ui_db: Database) -> None:
    html = client.get("/failures").text
    assert "the provider rejected the request: page too large" in html
    token = csrf_of(client)
    r = client.post("/retry", data={"csrf_token": token, "document_id": library.broken}, follow_redirects=True)
    assert r.status_code == 200
    assert "queued 1 range(s), 1 page(s) again" in r.text
    with ui_db.read_session() as s:
        assert s.scalars(select(PageRange.status).where(PageRange.document_id == library.broken)).all() == ["queued"]


def test_a_page_shows_its_image_beside_its_rendered_text(client: TestClient, library: Library) -> None:
    html = client.get(f"/doc/{library.letters}/page/0").text
    assert f'src="/doc/{library.letters}/page/0/image.png"' in html
    assert "Dear heron, the quarterly report follows." in html
    png = client.get(f"/doc/{library.letters}/page/0/image.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    # cached in the data folder: rendered once
    cached = list((WorkerSettings().data_dir / "ui-cache").rglob("*.png"))
    assert len(cached) == 1
    assert client.get(f"/doc/{library.letters}/page/0/image.png").content == png.content
    assert client.get(f"/doc/{library.letters}/page/7/image.png").status_code == 404
    raw = client.get(f"/doc/{library.letters}/page/0?view=raw").text
    assert '<pre id="page-markdown" class="raw">Dear heron' in raw


def test_hostile_names_and_markdown_render_inert(client: TestClient, library: Library) -> None:
    listing = client.get("/").text
    assert HOSTILE_NAME not in listing
    assert "&lt;img src=x onerror=" in listing
    html = client.get(f"/doc/{library.hostile}/page/0").text
    article = html[html.index('<article id="page-text"'):html.index("</article>")]
    assert "<script" not in article and "javascript:" not in article
    assert "&lt;script&gt;" in article  # shown as text
    assert "<table>" in article and "&lt;b onmouseover" in article
    assert 'href="https://example.org/"' in article
    assert "onerror=" not in article.replace("&lt;img src=x onerror=", "")
    csp = client.get("/").headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_search_finds_a_page_and_links_to_it(client: TestClient, library: Library) -> None:
    html = client.get("/search", params={"q": "heron"}).text
    assert f'href="/doc/{library.letters}/page/0"' in html
    assert "<mark>heron</mark>" in html
    assert "nothing to search" in client.get("/search", params={"q": "!!"}).text


def test_a_post_without_the_csrf_token_is_refused(client: TestClient, library: Library, ui_db: Database) -> None:
    url = f"/doc/{library.letters}/page/0/correct"
    r = client.post(url, data={"markdown": "forged"})
    assert r.status_code == 403
    r = client.post(url, data={"markdown": "forged", "csrf_token": "wrong"})
    assert r.status_code == 403
    assert client.post("/retry", data={}).status_code == 403
    with ui_db.read_session() as s:
        assert "forged" not in s.scalar(select(Page.markdown).where(Page.document_id == library.letters,
                                                                    Page.page_index == 0))


def test_a_correction_is_what_show_export_and_search_return_and_keeps_its_history(
        client: TestClient, library: Library, ui_db: Database) -> None:
    url = f"/doc/{library.letters}/page/0/correct"
    r = client.post(url, data={"markdown": "Dear egret, the quarterly report follows.", "csrf_token": csrf_of(client)},
                    follow_redirects=True)
    assert "correction saved" in r.text and "Dear egret" in r.text
    assert [h.page_index for h in search(ui_db, "egret")] == [0]
    assert search(ui_db, "heron") == []
    bundle = markdown_bundle(ui_db, FolderStore(WorkerSettings().objects_dir), library.letters)
    assert "Dear egret" in bundle.markdown
    with ui_db.read_session() as s:
        versions = s.execute(select(PageVersion.kind, PageVersion.markdown, PageVersion.author)
                             .where(PageVersion.document_id == library.letters).order_by(PageVersion.id)).all()
    assert [(v.kind, v.author) for v in versions] == [("ocr", None), ("correction", "ana")]
    assert versions[0].markdown.startswith("Dear heron, the quarterly report follows.")
    page = client.get(f"/doc/{library.letters}/page/0").text
    assert "corrected by ana" in page
    assert "-Dear heron" in page and "+Dear egret" in page  # what changed


def test_the_author_comes_from_the_configured_header(ui_db: Database, library: Library) -> None:
    from scheduler.ui.app import create_app
    from scheduler.ui.settings import UiSettings

    app = create_app(UiSettings(user="ana", user_header="X-Forwarded-User"), db=ui_db)
    with TestClient(app, base_url=LOCAL) as c:
        c.post(f"/doc/{library.letters}/page/1/correct", headers={"X-Forwarded-User": "bo"},
               data={"markdown": "fixed", "csrf_token": csrf_of(c)})
    with ui_db.read_session() as s:
        assert s.scalar(select(PageVersion.author).where(PageVersion.kind == "correction")) == "bo"


def test_looks_right_takes_a_page_off_the_review_queue(client: TestClient, library: Library) -> None:
    queue = client.get("/review").text
    assert f'href="/doc/{library.letters}/page/1"' in queue
    client.post(f"/doc/{library.letters}/page/1/mark", data={"csrf_token": csrf_of(client)})
    assert f'href="/doc/{library.letters}/page/1"' not in client.get("/review").text
    assert "looks right (ana)" in client.get(f"/doc/{library.letters}/page/1").text


def test_stored_images_show_inline_and_are_found_by_name_in_the_database_only(client: TestClient,
                                                                             library: Library) -> None:
    html = client.get(f"/doc/{library.letters}/page/0").text
    assert f'<img src="/doc/{library.letters}/image/img-0-0.png" alt="img-0-0.png"' in html
    image = client.get(f"/doc/{library.letters}/image/img-0-0.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    assert client.get(f"/doc/{library.letters}/image/..%2F..%2Fpagemill.sqlite").status_code == 404
    assert client.get(f"/doc/{library.hostile}/image/img-0-0.png").status_code == 404  # another document's


def test_re_ocr_queues_the_page_on_an_offered_queue_only(ui_db: Database, library: Library) -> None:
    from scheduler.ui.app import create_app
    from scheduler.ui.settings import UiSettings

    settings = UiSettings(user="ana", reocr_queues="mistral=pagemill-mistral")
    with TestClient(create_app(settings, db=ui_db), base_url=LOCAL) as c:
        page = c.get(f"/doc/{library.letters}/page/1").text
        assert "mistral (queue pagemill-mistral)" in page
        url = f"/doc/{library.letters}/page/1/reocr"
        assert c.post(url, data={"csrf_token": csrf_of(c), "queue": "pagemill-evil"}).status_code == 400
        r = c.post(url, data={"csrf_token": csrf_of(c), "queue": "mistral"}, follow_redirects=True)
        assert "queued for OCR again on mistral" in r.text
        assert "This page is queued for OCR" in r.text
    with ui_db.read_session() as s:
        (rng,) = s.scalars(select(PageRange).where(PageRange.document_id == library.letters)).all()
        assert rng.pages == [1] and rng.status == "queued"


def test_a_pending_ocr_version_is_shown_beside_the_correction_and_can_be_taken(
        client: TestClient, library: Library, ui_db: Database) -> None:
    from models.corrections import save_correction
    from worker.ranges.persist import PreparedResult, insert_prepared_many

    save_correction(ui_db, library.letters, 1, "Yours sincerely, the corrected committee", author="ana")
    with ui_db.write_session() as s:
        s.execute(delete(Page).where(Page.document_id == library.letters, Page.page_index == 1))
        insert_prepared_many(s, [PreparedResult([{"document_id": library.letters, "page_index": 1,
                                                  "markdown": "Yours sincerely, the newer engine committee",
                                                  "source": "mistral", "model": "mistral-ocr-latest"}], [], None)])
    html = client.get(f"/doc/{library.letters}/page/1").text
    assert "New OCR output waiting for your choice" in html
    assert "the corrected committee" in html and "the newer engine committee" in html
    assert f'href="/doc/{library.letters}/page/1"' in client.get("/review").text.split("</tr>")[1]  # first
    version = re.search(r'name="version_id" value="(\d+)"', html)
    assert version
    r = client.post(f"/doc/{library.letters}/page/1/choose",
                    data={"csrf_token": csrf_of(client), "version_id": version.group(1)}, follow_redirects=True)
    assert "New OCR output waiting" not in r.text
    assert "the newer engine committee" in r.text.split('id="page-text"')[1].split("</article>")[0]


def test_a_document_that_failed_before_any_page_shows_its_error_not_an_image(client: TestClient, ui_db: Database,
                                                                             library: Library) -> None:
    from models.tables import Document

    with ui_db.write_session() as s:
        doc = s.get(Document, library.broken)
        assert doc is not None
        doc.page_count, doc.status, doc.error = None, "failed", "the PDF is damaged and cannot be read"
    html = client.get(f"/doc/{library.broken}/page/0").text
    assert 'id="page-image"' not in html and "the PDF is damaged and cannot be read" in html


def test_the_list_filters_by_collection(client: TestClient, library: Library, ui_db: Database) -> None:
    from sqlalchemy import update

    from models.tables import Document

    with ui_db.write_session() as s:
        s.execute(update(Document).where(Document.id == library.letters).values(collection="box-7"))
    html = client.get("/?collection=box-7").text
    assert "letters.pdf" in html and "broken.pdf" not in html
    assert '<option value="box-7">' in html


def test_on_loopback_without_a_token_a_foreign_host_name_is_refused(client: TestClient) -> None:
    # a page on another site that rebinds its name to 127.0.0.1 still sends its own name as Host
    assert client.get("/", headers={"Host": "evil.example:8780"}).status_code == 421
    assert client.get("/", headers={"Host": "localhost:8780"}).status_code == 200


def test_the_review_queue_puts_the_least_confident_page_first(client: TestClient, library: Library,
                                                              ui_db: Database) -> None:
    from sqlalchemy import update

    with ui_db.write_session() as s:
        for doc, index, score in ((library.letters, 0, 0.91), (library.letters, 1, 0.42), (library.hostile, 0, 0.77)):
            s.execute(update(Page).where(Page.document_id == doc, Page.page_index == index)
                      .values(confidence_avg=score, confidence_min=score / 2))
    rows = client.get("/review").text.split("<tbody>")[1].split("</tr>")
    order = [re.search(r'href="/doc/(\d+)/page/(\d+)"', r).groups() for r in rows if "href=" in r]  # type: ignore[union-attr]
    assert order[:3] == [(str(library.letters), "1"), (str(library.hostile), "0"), (str(library.letters), "0")]
    assert "0.420 / 0.210" in rows[0]
    assert order[3] == (str(library.broken), "0")  # then the pages without a score


def test_blocks_are_drawn_over_the_page_with_their_text_on_hover(client: TestClient, library: Library,
                                                                 ui_db: Database) -> None:
    from sqlalchemy import update

    from models.tables import PageBlock

    with ui_db.write_session() as s:
        s.execute(update(Page).where(Page.document_id == library.letters, Page.page_index == 0)
                  .values(width=1240, height=1754))
        s.add_all([
            PageBlock(document_id=library.letters, page_index=0, seq=0, type="title", top_left_x=100,
                      top_left_y=90, bottom_right_x=900, bottom_right_y=160, content="Dear heron", confidence=0.93),
            PageBlock(document_id=library.letters, page_index=0, seq=1, type="text", top_left_x=100,
                      top_left_y=200, bottom_right_x=1100, bottom_right_y=400,
                      content="<script>window.__pwned=6</script> the quarterly report"),
        ])
    html = client.get(f"/doc/{library.letters}/page/0").text
    assert 'viewBox="0 0 1240 1754"' in html
    assert '<rect id="block-0" class="box box-title" x="100" y="90"' in html and 'width="800" height="70"' in html
    assert "<title>title (0.93): Dear heron</title>" in html
    assert "&lt;script&gt;window.__pwned=6&lt;/script&gt; the quarterly report</title>" in html
    assert "2 block(s) drawn on the page" in html
    assert "<svg" not in client.get(f"/doc/{library.letters}/page/1").text  # no blocks there


def test_stored_tables_show_as_tables_at_their_placeholders_with_their_cells_escaped(
    client: TestClient, library: Library, ui_db: Database
) -> None:
    from sqlalchemy import update

    from models.tables import PageTable

    with ui_db.write_session() as s:
        s.execute(update(Page).where(Page.document_id == library.letters, Page.page_index == 0)
                  .values(markdown="Before the table.\n\n[tbl-0-0.html](tbl-0-0.html)\n\nAfter it, note<sup>1</sup>."))
        s.add(PageTable(document_id=library.letters, page_index=0, table_id="tbl-0-0.html", format="html",
                        content="<table><tr><th>Item</th><th>Qty</th></tr>"
                                "<tr><td>Widget <img src=x onerror=alert(1)></td><td>3</td></tr></table>",
                        text="Item Qty Widget 3"))
    html = client.get(f"/doc/{library.letters}/page/0").text
    body = html[html.index("Before the table."):html.index("After it")]
    assert "<th>Item</th>" in body and "<td>Widget</td>" in body and "<td>3</td>" in body
    assert "tbl-0-0.html" not in body  # the table stands where its link was, no dangling link
    assert "onerror" not in html  # the provider's HTML never reaches the page: only its cell text does
    assert "note<sup>1</sup>." in html
