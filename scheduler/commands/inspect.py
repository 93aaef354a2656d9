"""`pagemill status` and `pagemill show`: reading the results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from models.errors import ConfigError

from ..console import cli_errors, console, resolve_document, safe

if TYPE_CHECKING:
    from rich.table import Table

    from models.db import Database
    from models.tables import Document

    from ..reports.status import DocumentRow
    from ..reports.totals import Totals

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


def _rows_table(rows: list[DocumentRow], title: str | None = None) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ("id", "document", "pages", "stored", "sources", "status", "error"):
        table.add_column(col)
    for r in rows:
        sources = ", ".join(f"{k} {v}" for k, v in sorted(r.sources.items()))
        err = f"{r.error_code}: {r.error}" if r.error else ""
        table.add_row(
            str(r.id), safe(r.filename, 50), str(r.page_count if r.page_count is not None else "-"),
            str(r.pages_stored), sources, _colour(r.status), safe(err, 80),
        )
    return table


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _print_totals(t: Totals) -> None:
    order = ("queued", "running", "done", "partial", "failed", "cancelled")
    docs = ", ".join(f"{_colour(k)} {t.documents[k]}" for k in sorted(t.documents, key=lambda k: (
        order.index(k) if k in order else len(order), k)))
    pages = ", ".join(f"{_colour(k)} {t.pages[k]}" for k in sorted(t.pages, key=lambda k: (
        order.index(k) if k in order else len(order), k)))
    where = f"job {t.job_id} ({t.job_kind})" if t.job_id is not None else "all documents"
    console.print(f"[bold]{where}[/bold]")
    console.print(f"  documents  {t.documents_total}" + (f": {docs}" if docs else ""))
    console.print(f"  pages      {sum(t.pages.values())} planned" + (f": {pages}" if pages else ""))
    a = t.archive
    if a.archived or a.waiting or a.failed:  # documents given --archive
        parts = [f"{a.archived}" + (f" ({a.partial} partial: the pages they have)" if a.partial else "")]
        if a.waiting:
            parts.append(f"{a.waiting} to write")
        if a.failed:
            parts.append(f"[red]{a.failed} failed[/red] (`pagemill status DOC` says why)")
        console.print("  archived   " + ", ".join(parts))
    eta = t.eta_s
    if t.pages_pending:
        when = _duration(eta) if eta is not None else "unknown (no page stored in the last 5 minutes)"
        console.print(f"  rate       {t.pages_per_s:.2f} pages/s over the last 5 minutes;"
                      f" {t.pages_pending} pages to go, ETA {when}")
    else:
        console.print(f"  rate       {t.pages_per_s:.2f} pages/s over the last 5 minutes; nothing pending")


def _print_archive(d: Document) -> None:
    where = f"{d.archive_url}/{d.archive_name}" if d.archive_name else d.archive_url
    current = d.archived_rev is not None and d.archived_rev >= d.archive_rev
    if current:
        state = "written" + (" from a partial document: the pages it has" if d.archived_partial else "")
    elif d.status not in ("done", "partial"):
        state = "written once the document is done" if d.status != "failed" else "nothing (the document failed)"
    else:
        state = "to be written again" if d.archived_rev is not None else "to be written"
    console.print(f"  archive  {safe(where or '', 300)}: {state}")
    if d.archive_error and not current:
        console.print(f"  archive error  [red]{safe(d.archive_error, 500)}[/red]")


def status(
    doc: Annotated[str | None, typer.Argument(
        help="A document id or SHA-256 prefix: its ranges and errors; or job:N for one job's totals.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="Only documents in this state.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Rows listed under the totals.")] = 20,
) -> None:
    """Totals first (documents and pages by state, pages/s, ETA), then the latest and failing documents; or one
    document's page ranges, attempts and errors; or one job (job:N)."""
    from rich.table import Table

    from ..reports.status import document_detail, list_documents
    from ..reports.totals import totals

    with cli_errors():
        db = _db()
        if doc is not None and doc.lower().startswith("job:"):
            number = doc[4:]
            if not number.isdigit():
                raise ConfigError(f"{doc!r}: write a job as job:N, e.g. job:3")
            job_id = int(number)
            _print_totals(totals(db, job_id))
            failing = list_documents(db, None, limit, job_id=job_id, failing=True)
            if failing:
                console.print(_rows_table(failing, "failing documents (latest first)"))
            console.print(_rows_table(list_documents(db, state, limit, job_id=job_id), "latest documents"))
            return
        if doc is None:
            if state:
                rows = list_documents(db, state, limit)
                console.print(_rows_table(rows, f"latest {state} documents"))
                return
            t = totals(db)
            if not t.documents_total:
                console.print("no documents yet: `pagemill run PATH` processes some")
                return
            _print_totals(t)
            failing = list_documents(db, None, limit, failing=True)
            if failing:
                console.print(_rows_table(failing, "failing documents (latest first)"))
            console.print(_rows_table(list_documents(db, None, limit), "latest documents"))
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
        if d.archive_url:
            _print_archive(d)
        if ranges:
            table = Table(title="page ranges", title_justify="left")
            for col in ("range", "pages", "status", "attempts", "error"):
                table.add_column(col)
            for r in ranges:
                pages = f"{r.first_page}-{r.last_page}" if len(r.pages) > 1 else str(r.first_page)
                err = f"{r.error_code}: {r.error}" if r.error else ""
                table.add_row(str(r.id), pages, _colour(r.status), str(r.attempts), safe(err, 120))
            console.print(table)
        _print_fields(db, doc_id)


def _print_fields(db: Database, doc_id: int) -> None:
    """The document's extracted fields, one line per schema, with the error where there are none."""
    from rich.table import Table
    from sqlalchemy import select

    from models.tables import FieldsRow

    with db.read_session() as s:
        rows = s.execute(select(FieldsRow.schema_name, FieldsRow.status, FieldsRow.source, FieldsRow.model,
                                FieldsRow.error_code, FieldsRow.error, FieldsRow.note)
                         .where(FieldsRow.document_id == doc_id).order_by(FieldsRow.id)).all()
    if not rows:
        return
    table = Table(title="fields", title_justify="left")
    for col in ("schema", "status", "source", "model", "error"):
        table.add_column(col)
    for name, status, source, model, code, error, note in rows:
        detail = f"{code}: {error}" if error and status != "done" else (note or "")
        colour = {"done": "green", "failed": "red"}.get(status, "")
        shown = f"[{colour}]{status}[/{colour}]" if colour else status
        table.add_row(safe(name, 40), shown, safe(source, 20), safe(model, 40), safe(detail, 300))
    console.print(table)


def _print_batch_jobs(db: Database) -> None:
    from rich.table import Table

    from ..reports.batch import age_text, batch_jobs

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
    from ..reports.status import document_markdown

    with cli_errors():
        db = _db()
        doc_id = resolve_document(db, doc)
        typer.echo(document_markdown(db, doc_id, page, with_headers))


def register(app: typer.Typer) -> None:
    app.command()(status)
    app.command()(show)
