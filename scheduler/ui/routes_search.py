"""Search over the full-text index (both databases), and the review queue with "looks right" marks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from markupsafe import Markup, escape
from starlette.responses import Response

from models.errors import ConfigError
from models.search import HIGHLIGHT_END, HIGHLIGHT_START, search

from .context import UiContext, ui
from .queries import review_queue

router = APIRouter()


def highlighted(snippet: str) -> Markup:
    """A snippet as HTML: its text escaped (it comes from documents), only the matches in <mark>."""
    out = []
    for n, part in enumerate(snippet.split(HIGHLIGHT_START)):
        match, _, rest = part.partition(HIGHLIGHT_END) if n else ("", "", part)
        if match:
            out.append(Markup("<mark>%s</mark>") % match)
        out.append(escape(rest))
    return Markup("").join(out)


@router.get("/search")
def search_view(request: Request, ctx: Annotated[UiContext, Depends(ui)], q: str = "") -> Response:
    hits, problem = [], None
    if q.strip():
        try:
            hits = search(ctx.db, q, limit=50)
        except ConfigError as err:
            problem = err.message
    return ctx.render(request, "search.html", q=q, hits=hits, problem=problem, highlighted=highlighted)


@router.get("/review")
def review(request: Request, ctx: Annotated[UiContext, Depends(ui)]) -> Response:
    return ctx.render(request, "review.html", items=review_queue(ctx.db))
