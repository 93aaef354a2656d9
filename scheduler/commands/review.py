"""`pagemill review`: the least confident pages first, so a person checks the worst pages first."""

from __future__ import annotations

from typing import Annotated

import typer

from ..console import cli_errors, console, resolve_document, safe

__all__ = ["register"]


def review(
    below: Annotated[float | None, typer.Option(
        "--below", min=0.0, max=1.0, help="Only pages whose average confidence is below this (0..1).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000, help="At most this many pages.")] = 20,
    doc: Annotated[str | None, typer.Option("--doc", help="Only this document (id or SHA-256 prefix).")] = None,
) -> None:
    """List pages by ascending OCR confidence (document, page, average, minimum), the worst first.

    Pages come with a confidence from Mistral (PAGEMILL_CONFIDENCE_SCORES) or the local engine; text-layer
    pages have none and are not listed. The same list is the `review_queue` view in the database."""
    from rich.table import Table

    from models.db import Database
    from models.review import review_queue

    with cli_errors():
        db = Database.from_settings()
        db.migrate()
        doc_id = resolve_document(db, doc) if doc is not None else None
        rows = review_queue(db, below=below, limit=limit, doc_id=doc_id)
        if not rows:
            console.print("no pages to review" + (f" below {below:g}" if below is not None else "")
                          + " (pages without a confidence score are not listed)")
            return
        table = Table()
        for col, justify in (("doc", "right"), ("document", "left"), ("page", "right"), ("average", "right"),
                             ("minimum", "right"), ("source", "left")):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for r in rows:
            table.add_row(str(r.document_id), safe(r.filename, 50), str(r.page_index), f"{r.average:.3f}",
                          "-" if r.minimum is None else f"{r.minimum:.3f}", safe(r.source, 20))
        console.print(table)
        console.print("[dim]pages are 0-based: `pagemill show DOC --page N`[/dim]")


def register(app: typer.Typer) -> None:
    app.command()(review)
