"""A page beside its text: the rendered image, the markdown as HTML or raw, corrections with their history,
pending OCR versions to choose from, "looks right", and re-OCR with another provider."""

from __future__ import annotations

import difflib
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from starlette.responses import FileResponse, RedirectResponse, Response

from models import corrections
from models.errors import ConfigError, ObjectMissing, PagemillError

from ..export.page_markdown import StoredTable, place_tables
from .context import UiContext, ui
from .markdown import render_markdown
from .queries import image_path, page_view
from .table_cells import table_markdown

router = APIRouter()
DocId = Annotated[int, Path(ge=1)]
PageNo = Annotated[int, Path(ge=0)]


def _page_url(doc: int, page: int, **query: str) -> str:
    from urllib.parse import urlencode

    return f"/doc/{doc}/page/{page}" + (f"?{urlencode(query)}" if query else "")


@router.get("/doc/{doc_id}")
def document(doc_id: DocId) -> Response:
    return RedirectResponse(_page_url(doc_id, 0), status_code=303)


@router.get("/doc/{doc_id}/page/{page_index}")
def page(request: Request, ctx: Annotated[UiContext, Depends(ui)], doc_id: DocId, page_index: PageNo,
         view: str = "html", notice: str | None = None) -> Response:
    pv = page_view(ctx.db, doc_id, page_index)
    if pv is None:
        raise HTTPException(404, f"no document {doc_id}")
    page_count = pv.document.page_count or 0
    html = None
    if pv.page is not None:
        # tables at their placeholders, as `show` and the md export put them
        tables = [StoredTable(t.table_id, table_markdown(t.content, t.format)) for t in pv.tables]
        html = render_markdown(place_tables(pv.page.markdown, tables), lambda name: (
            f"/doc/{doc_id}/image/{name}" if name in pv.image_names else None))
    overlay = _overlay(pv)
    pending = [v for v in pv.versions if v.status == "pending"]
    pending_html = {v.id: render_markdown(v.markdown, lambda name: None) for v in pending}
    return ctx.render(
        request, "page.html", pv=pv, doc=pv.document, page=pv.page, page_index=page_index, page_count=page_count,
        html=html, overlay=overlay, view="raw" if view == "raw" else ("edit" if view == "edit" else "html"),
        pending=pending, pending_html=pending_html, history=_history(pv.versions), notice=notice,
        queues=ctx.settings.queues(ctx.worker_settings.queue),
        prev_url=_page_url(doc_id, page_index - 1) if page_index > 0 else None,
        next_url=_page_url(doc_id, page_index + 1) if page_index + 1 < page_count else None,
        next_doc_url=_page_url(pv.next_document, 0) if pv.next_document else None,
    )


def _overlay(pv: object) -> dict[str, object] | None:
    """The page's blocks in the pixel space of the image the provider read (pages.width/height, the
    Mistral `dimensions`), drawn over the rendered page scaled to fit; None without sizes or boxes."""
    page = pv.page  # type: ignore[attr-defined]
    blocks = [b for b in pv.blocks if None not in (b.top_left_x, b.top_left_y, b.bottom_right_x,  # type: ignore[attr-defined]
                                                     b.bottom_right_y)]
    if page is None or not blocks or not page.width or not page.height:
        return None
    return {"width": page.width, "height": page.height, "blocks": blocks}


def _history(versions: list[corrections.PageVersion]) -> list[dict[str, object]]:
    """Each version with the diff from the one before it (what changed)."""
    out, before = [], None
    for v in versions:
        diff = None
        if before is not None:
            diff = "\n".join(difflib.unified_diff(before.splitlines(), v.markdown.splitlines(), "before", "after",
                                                  lineterm="", n=1))
        out.append({"v": v, "diff": diff})
        if v.status != "pending" and v.status != "dismissed":
            before = v.markdown
    return list(reversed(out))


@router.get("/doc/{doc_id}/page/{page_index}/image.png")
def page_image(ctx: Annotated[UiContext, Depends(ui)], doc_id: DocId, page_index: PageNo) -> Response:
    pv = page_view(ctx.db, doc_id, page_index)
    if pv is None:
        raise HTTPException(404, "no such document")
    doc = pv.document
    try:
        path = ctx.images.png(ctx.objects.local_path(doc.work_path or doc.object_path), doc.sha256, doc.mime_type,
                              doc.page_count or 0, page_index)
    except ConfigError as err:
        raise HTTPException(404, err.message) from None
    except PagemillError as err:
        raise HTTPException(422, err.message) from None
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/doc/{doc_id}/image/{name}")
def stored_image(ctx: Annotated[UiContext, Depends(ui)], doc_id: DocId, name: str) -> Response:
    """An image extracted from the page: found by its name in the images table, read from the path stored
    there (the request only names a row)."""
    found = image_path(ctx.db, doc_id, name)
    if found is None:
        raise HTTPException(404, "no such image")
    path, mime = found
    try:
        full = ctx.objects.local_path(path)  # the bucket's copy in this host's cache, or the object folder's file
    except ObjectMissing:
        raise HTTPException(404, "the image's object is missing") from None
    safe_mime = mime if mime.startswith("image/") and mime != "image/svg+xml" else "application/octet-stream"
    return FileResponse(full, media_type=safe_mime)


def _back(doc_id: int, page_index: int, notice: str) -> Response:
    return RedirectResponse(_page_url(doc_id, page_index, notice=notice), status_code=303)


@router.post("/doc/{doc_id}/page/{page_index}/correct")
def correct(request: Request, ctx: Annotated[UiContext, Depends(ui)], doc_id: DocId, page_index: PageNo,
            markdown: Annotated[str, Form()]) -> Response:
    try:
        corrections.save_correction(ctx.db, doc_id, page_index, markdown, ctx.author(request))
    except ConfigError as err:
        raise HTTPException(400, err.message) from None
    return _back(doc_id, page_index, "correction saved")


@router.post("/doc/{doc_id}/page/{page_index}/choose")
def choose(request: Request, ctx: Annotated[UiContext, Depends(ui)], doc_id: DocId, page_index: PageNo,
           version_id: Annotated[int | None, Form()] = None) -> Response:
    """Take a pending OCR version (version_id), or keep the text in force (no version_id)."""
    try:
        if version_id is None:
            corrections.keep_held_text(ctx.db, doc_id, page_index, ctx.author(request))
            return _back(doc_id, page_index, "kept the current text")
        versions = corrections.pending_versions(ctx.db, doc_id, page_index)
        if version_id not in {v.id for v in versions}:
            raise ConfigError("that version is not pending on this page")
        corrections.choose_version(ctx.db, version_id, ctx.author(request))
    except ConfigError as err:
        raise HTTPException(400, err.message) from None
    return _back(doc_id, page_index, "the new OCR version is now the page's text")


@router.post("/doc/{doc_id}/page/{page_index}/mark")
def mark(request: Request, ctx: Annotated[UiContext, Depends(ui)], doc_id: DocId, page_index: PageNo,
         looks_right: Annotated[str, Form()] = "yes") -> Response:
    try:
        if looks_right == "no":
            corrections.unmark(ctx.db, doc_id, page_index)
        else:
            corrections.mark_looks_right(ctx.db, doc_id, page_index, ctx.author(request))
    except ConfigError as err:
        raise HTTPException(400, err.message) from None
    return _back(doc_id, page_index, "marked: looks right" if looks_right != "no" else "mark removed")


@router.post("/doc/{doc_id}/page/{page_index}/reocr")
def reocr(request: Request, ctx: Annotated[UiContext, Depends(ui)], doc_id: DocId, page_index: PageNo,
          queue: Annotated[str, Form()]) -> Response:
    from scheduler.launch.reocr import queue_page_again

    choices = ctx.settings.queues(ctx.worker_settings.queue)
    if queue not in choices:  # only the queues the settings offer, never a name from the request
        raise HTTPException(400, "not one of the offered queues")
    try:
        queue_page_again(ctx.db, ctx.worker_settings, doc_id, page_index, choices[queue], ctx.author(request))
    except ConfigError as err:
        raise HTTPException(400, err.message) from None
    return _back(doc_id, page_index, f"queued for OCR again on {queue}; the new version will appear beside this one")
