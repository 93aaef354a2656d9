"""Who may use the review page, and proof that a state-changing request came from it.

Token: any bind beyond loopback needs PAGEMILL_UI_TOKEN; every request then carries it as a cookie (set by
POST /login) or as `Authorization: Bearer`. On loopback without a token, the Host header must name loopback,
so a web page on another site cannot reach the app through DNS rebinding.

CSRF: every POST carries a token bound to this process (a form field or the X-CSRF-Token header htmx sends).
Another site's page cannot read it, so it cannot forge a request that changes anything.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from .settings import LOOPBACK_HOSTS, UiSettings

__all__ = ["Guard", "TOKEN_COOKIE", "CSRF_FIELD", "CSRF_HEADER", "STARTUP_REFUSAL"]

TOKEN_COOKIE = "pagemill_ui_token"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
STARTUP_REFUSAL = ("refusing to listen on {host} without a token: set PAGEMILL_UI_TOKEN (every request must then "
                   "carry it), or keep the default 127.0.0.1")
_OPEN_PATHS = ("/login", "/static/")
SECURITY_HEADERS = {
    # no inline script or style anywhere: injected markup could not run even if escaping failed
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; script-src 'self'; style-src 'self'; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass
class Guard:
    settings: UiSettings
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def check_startup(self) -> str | None:
        """The reason to refuse to start, or None."""
        if not self.settings.loopback and not self._token():
            return STARTUP_REFUSAL.format(host=self.settings.host)
        return None

    def _token(self) -> str:
        return self.settings.token.get_secret_value() if self.settings.token else ""

    def token_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self._token().encode())  # type: ignore[union-attr]

    def _authenticated(self, request: Request) -> bool:
        if not self._token():
            return True
        auth = request.headers.get("authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else None
        return self.token_ok(request.cookies.get(TOKEN_COOKIE)) or self.token_ok(bearer)

    def _host_ok(self, request: Request) -> bool:
        if self._token():
            return True
        host = (request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]")
        return host in LOOPBACK_HOSTS

    async def csrf_ok(self, request: Request) -> bool:
        given = request.headers.get(CSRF_HEADER)
        if given is None and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            # the body, not request.form(): Starlette hands the cached body on to the route, not a parsed form
            given = next(iter(parse_qs((await request.body()).decode("utf-8", "replace")).get(CSRF_FIELD, [])), None)
        return isinstance(given, str) and hmac.compare_digest(given.encode(), self.csrf_token.encode())

    async def refusal(self, request: Request) -> Response | None:
        """The response that refuses this request, or None to let it through."""
        if not self._host_ok(request):
            return PlainTextResponse("this review page answers to localhost only", status_code=421)
        path = request.url.path
        if not path.startswith(_OPEN_PATHS) and not self._authenticated(request):
            if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                return RedirectResponse("/login", status_code=303)
            return PlainTextResponse("a token is required (PAGEMILL_UI_TOKEN)", status_code=401)
        if request.method not in ("GET", "HEAD", "OPTIONS") and path != "/login" and not await self.csrf_ok(request):
            return PlainTextResponse("refused: the request lacks this page's CSRF token; reload the page",
                                     status_code=403)
        return None
