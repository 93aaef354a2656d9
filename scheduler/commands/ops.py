"""`pagemill migrate`: operating a deployment."""

from __future__ import annotations

import typer

from ..console import cli_errors, console

__all__ = ["register"]


def migrate() -> None:
    """Bring the results database (PAGEMILL_DATABASE_URL, or the embedded SQLite file) to the current schema.

    Safe to run again and from several machines at once (PostgreSQL: an advisory lock); every other command
    migrates on start too, so this is for deployments that run it once before the services (compose.yaml)."""
    from models.db import Database
    from models.settings import DatabaseSettings

    with cli_errors():
        settings = DatabaseSettings()
        db = Database.from_settings(settings)
        try:
            db.migrate()
        finally:
            db.dispose()
        console.print(f"database at the current schema ({db.engine.url.render_as_string(hide_password=True)})")


def register(app: typer.Typer) -> None:
    app.command()(migrate)
