"""ASGI middleware in front of `/v1/*`: the bearer key (401) and the body size (413), before any parsing."""

from __future__ import annotations

import secrets

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError, too_large, unauthorized

__all__ = ["Guard"]


class Guard:
    def __init__(self, app: ASGIApp, api_key: str | None, json_limit: int, upload_limit: int) -> None:
        self.app = app
        self.api_key = api_key
        self.json_limit = json_limit
        self.upload_limit = upload_limit

    def _authorized(self, scope: Scope) -> bool:
        if not self.api_key:
            return True
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                return scheme.lower() == "bearer" and secrets.compare_digest(token.strip(), self.api_key)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        if not self._authorized(scope):
            await self._reply(unauthorized(), scope, receive, send)
            return
        limit = self.upload_limit if scope["path"].rstrip("/") == "/v1/files" else self.json_limit
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reply(self._too_large(limit), scope, receive, send)
            return
        await self.app(scope, self._counting(receive, limit), send)

    def _too_large(self, limit: int) -> ApiError:
        return too_large(f"the request body is over the limit of {limit // 2**20} MB;"
                         " documents may be at most 50 MB (split larger ones)")

    def _counting(self, receive: Receive, limit: int) -> Receive:
        """A body sent without Content-Length (chunked) is cut off as soon as it passes the limit."""
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise self._too_large(limit)
            return message

        return wrapped

    @staticmethod
    async def _reply(err: ApiError, scope: Scope, receive: Receive, send: Send) -> None:
        await JSONResponse(err.body(), status_code=err.status, headers=err.headers)(scope, receive, send)
