"""`pagemill status` and `pagemill show`: reading the results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ..console import cli_errors, console, resolve_document, safe

if TYPE_CHECKING:
    from models.db import Database

__all__ = ["register"]

_COLOURS = {"done": "green", "partial": "yellow", "failed": "red", "running": "cyan", "cancelled": "dim",
            "held": "magenta"}


def _colour(status: str) -> str:
    c = _COLOURS.get(status)
    return f"[{c}]{status}[/{c}]" if c else status


def _db() -> Database:
    from models.db import Database

    db = Database.from_settings()
    db.migrate()
    return db


def status(
    doc: Annotated[str | None, typer.Argument(help="A document id or SHA-256 prefix: show its ranges and errors.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="Only documents in this state.")] = None,
) -> None:
    """List documents with page counts and states, or one document's page ranges, attempts and errors."""
    from rich.table import Table

    from ..reports import document_detail, list_documents

    with cli_errors():
        db = _db()
        if doc is None:
            table = Table()
            for col in ("id", "document", "pages", "stored", "sources", "status", "error"):
                table.add_column(col)
            rows = list_documents(db, state)
            for r in rows:
                sources = ", ".join(f"{k} {v}" for k, v in sorted(r.sources.items()))
                err = f"{r.error_code}: {r.error}" if r.error else ""
                table.add_row(
                    str(r.id), safe(r.filename, 50), str(r.page_count if r.page_count is not None else "-"),
                    str(r.pages_stored), sources, _colour(r.status), safe(err, 80),
                )
            console.print(table)
            if not rows:
                console.print("no documents yet: `pagemill run PATH` processes some")
            _print_batch_jobs(db)
            return
        doc_id = resolve_document(db, doc)
        d, ranges, row = document_detail(db, doc_id)
        console.print(f"[bold]document {d.id}[/bold]  {safe(d.filename, 200)}")
        console.print(f"  sha256   {d.sha256}")
        console.print(f"  type     {d.mime_type or '-'}   pages {d.page_count if d.page_count is not None else '-'}")
        console.print(f"  status   {_colour(d.status)}   stored pages {row.pages_stored}")
        if row.sources:
            console.print("  sources  " + ", ".join(f"{k}: {v} pages" for k, v in sorted(row.sources.items())))
        if d.error:
            console.print(f"  error    [red]{d.error_code}[/red]: {safe(d.error, 500)}")
        if ranges:
            table = Table(title="page ranges", title_justify="left")
            for col in ("range", "pages", "status", "attempts", "error"):
                table.add_column(col)
            for r in ranges:
                pages = f"{r.first_page}-{r.last_page}" if len(r.pages) > 1 else str(r.first_page)
                err = f"{r.error_code}: {r.error}" if r.error else ""
                table.add_row(str(r.id), pages, _colour(r.status), str(r.attempts), safe(err, 120))
            console.print(table)


def _print_batch_jobs(db: Database) -> None:
    from rich.table import Table

    from ..batch_report import age_text, batch_jobs

    jobs = batch_jobs(db)
    if not jobs:
        return
    table = Table(title="batch jobs", title_justify="left")
    for col in ("job", "provider job", "status", "requests", "done", "failed", "age", "note"):
        table.add_column(col)
    for j in jobs:
        note = j.error or ("stored" if j.collected and j.status == "SUCCESS" else "")
        table.add_row(str(j.id), safe(j.provider_job_id or "-", 40), j.status, str(j.requests), str(j.succeeded),
                      str(j.failed), age_text(j.age_s), safe(note, 100))
    console.print(table)


def show(
    doc: Annotated[str, typer.Argument(help="A document id or SHA-256 prefix.")],
    page: Annotated[int | None, typer.Option("--page", help="Only this page (0-based).")] = None,
    with_headers: Annotated[bool, typer.Option(
        "--with-headers", help="Put each page's extracted header and footer back around its text.")] = False,
) -> None:
    """Print a document's markdown (pages joined by a horizontal rule, tables in place)."""
    from ..reports import document_markdown

    with cli_errors():
        db = _db()
        doc_id = resolve_document(db, doc)
        typer.echo(document_markdown(db, doc_id, page, with_headers))


def register(app: typer.Typer) -> None:
    app.command()(status)
    app.command()(show)
