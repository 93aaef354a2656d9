"""POST /login: the token, once, in exchange for an HttpOnly cookie (only when PAGEMILL_UI_TOKEN is set)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from .context import UiContext, ui
from .security import TOKEN_COOKIE

router = APIRouter()


@router.get("/login")
def login_form(request: Request, ctx: Annotated[UiContext, Depends(ui)]) -> Response:
    return ctx.render(request, "login.html", problem=None)


@router.post("/login")
def login(request: Request, ctx: Annotated[UiContext, Depends(ui)], token: Annotated[str, Form()] = "") -> Response:
    if not ctx.guard.token_ok(token):
        return ctx.render(request, "login.html", status_code=401, problem="that is not the token")
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response
