"""`pagemill ui`: a server-rendered review page over the same database and object store as every command.

    from scheduler.ui.app import create_app
    app = create_app()  # settings from PAGEMILL_UI_... and the usual PAGEMILL_... variables

Views: documents (routes_documents.py), a page beside its text with corrections and re-OCR (routes_pages.py),
search and the review queue (routes_search.py). Security is security.py's: token, Host check, CSRF on
every POST, a CSP without inline script. htmx (0BSD licence, static/htmx-LICENSE.txt) is served from the
package, nothing from a CDN.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from models.db import Database
from worker.objects.registry import object_store
from worker.settings import WorkerSettings

from . import routes_documents, routes_login, routes_pages, routes_search
from .context import STATIC_DIR, TEMPLATES_DIR, UiContext
from .page_images import PageImages
from .security import SECURITY_HEADERS, Guard
from .settings import UiSettings

__all__ = ["create_app"]


def create_app(settings: UiSettings | None = None, db: Database | None = None,
               worker_settings: WorkerSettings | None = None) -> FastAPI:
    settings = settings or UiSettings()
    worker_settings = worker_settings or WorkerSettings()
    if db is None:
        db = Database.from_settings()
        db.migrate()
    guard = Guard(settings)
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))  # autoescape on for .html
    templates.env.globals["page_label"] = lambda n: f"page {n}"
    ctx = UiContext(db=db, objects=object_store(worker_settings), worker_settings=worker_settings,
                    settings=settings, guard=guard,
                    images=PageImages(worker_settings.data_dir / "ui-cache" / "pages", settings.image_dpi),
                    templates=templates)
    app = FastAPI(title="pagemill review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ui = ctx

    @app.middleware("http")
    async def _guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await guard.refusal(request) or await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for module in (routes_documents, routes_login, routes_pages, routes_search):
        app.include_router(module.router)
    return app
