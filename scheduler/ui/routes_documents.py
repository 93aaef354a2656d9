"""The document list (with progress that refreshes while work runs), the failures view and retry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from models.errors import PagemillError
from models.tables import DocStatus

from .context import UiContext, ui
from .queries import failures, list_documents

router = APIRouter()
STATES = ["queued", "running", "done", "partial", "failed", "cancelled"]


def _listing(ctx: UiContext, status: str | None, collection: str | None, before: int | None) -> dict[str, object]:
    status = status if status in STATES else None
    rows = list_documents(ctx.db, status, collection or None, before, ctx.settings.page_size)
    more = len(rows) == ctx.settings.page_size
    return {"rows": rows, "status": status, "collection": collection or "", "before": before,
            "next_before": rows[-1].id if more and rows else None,
            "active": any(r.status not in DocStatus.TERMINAL for r in rows)}


@router.get("/")
def documents(request: Request, ctx: Annotated[UiContext, Depends(ui)], status: str | None = None,
              collection: str | None = None, before: Annotated[int | None, Query(ge=0)] = None) -> Response:
    listing = _listing(ctx, status, collection, before)
    # suggestions from the rows shown: a DISTINCT over every document costs a scan at 100,000 of them
    shown = sorted({r.collection for r in listing["rows"] if r.collection})  # type: ignore[attr-defined]
    return ctx.render(request, "documents.html", states=STATES, collections=shown, **listing)


@router.get("/documents/rows")
def document_rows(request: Request, ctx: Annotated[UiContext, Depends(ui)], status: str | None = None,
                  collection: str | None = None, before: Annotated[int | None, Query(ge=0)] = None) -> Response:
    """The table body alone: htmx polls it while documents are queued or running."""
    return ctx.render(request, "_document_rows.html", **_listing(ctx, status, collection, before))


@router.get("/failures")
def failures_view(request: Request, ctx: Annotated[UiContext, Depends(ui)], notice: str | None = None) -> Response:
    return ctx.render(request, "failures.html", failures=failures(ctx.db), notice=notice)


@router.post("/retry")
def retry(request: Request, ctx: Annotated[UiContext, Depends(ui)],
          document_id: Annotated[int | None, Form()] = None) -> Response:
    """What `pagemill retry [ID]` does: the failed ranges of one document (or of all) are queued again."""
    from scheduler.launch.rerun import retry_failed

    try:
        report = retry_failed(ctx.db, ctx.worker_settings, [document_id] if document_id is not None else None)
    except PagemillError as err:
        return ctx.render(request, "failures.html", status_code=400, failures=failures(ctx.db), notice=err.message)
    notice = f"queued {len(report.range_ids)} range(s), {report.pages} page(s) again"
    if report.intake_failures:
        notice += f"; {len(report.intake_failures)} document(s) failed before any page range (the file must change)"
    return RedirectResponse(f"/failures?notice={_q(notice)}", status_code=303)


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
