"""What every route of the review page shares: the database, the object store, settings, templates."""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from models.db import Database
from worker.objects.store import ObjectStore
from worker.settings import WorkerSettings

from .page_images import PageImages
from .security import CSRF_FIELD, Guard
from .settings import UiSettings

__all__ = ["UiContext", "ui", "TEMPLATES_DIR", "STATIC_DIR"]

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


@dataclass
class UiContext:
    db: Database
    objects: ObjectStore
    worker_settings: WorkerSettings
    settings: UiSettings
    guard: Guard
    images: PageImages
    templates: Jinja2Templates

    def author(self, request: Request) -> str:
        """Who made a change: the proxy's header when one is configured, else the setting, else the OS user."""
        if self.settings.user_header:
            named = request.headers.get(self.settings.user_header, "").strip()
            if named:
                return named[:200]
        if self.settings.user:
            return self.settings.user
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "unknown"

    def render(self, request: Request, name: str, status_code: int = 200, **values: Any) -> Response:
        values.update(request=request, csrf=self.guard.csrf_token, csrf_field=CSRF_FIELD,
                      csrf_headers=json.dumps({"X-CSRF-Token": self.guard.csrf_token}))
        return self.templates.TemplateResponse(request, name, values, status_code=status_code)


def ui(request: Request) -> UiContext:
    ctx = request.app.state.ui
    assert isinstance(ctx, UiContext)
    return ctx
