"""`pagemill search` and `pagemill export`: getting results out of the database."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from models.errors import ConfigError

from ..console import cli_errors, console, err_console, resolve_document, safe

if TYPE_CHECKING:
    from rich.table import Table

    from models.db import Database
    from models.search import SearchHit

__all__ = ["register", "highlighted"]


def _db() -> Database:
    from models.db import Database

    db = Database.from_settings()
    db.migrate()
    return db


def highlighted(snippet: str) -> str:
    """Rich markup for a snippet: the text escaped (it comes from documents), the matches in bold."""
    from models.search import HIGHLIGHT_END, HIGHLIGHT_START

    out = []
    for n, part in enumerate(snippet.replace("\n", " ").split(HIGHLIGHT_START)):
        match, _, rest = part.partition(HIGHLIGHT_END) if n else ("", "", part)
        if match:
            out.append(f"[bold yellow]{safe(match, 200)}[/bold yellow]")
        out.append(safe(rest, 2000))
    return "".join(out)


def _hits_table(hits: list[SearchHit]) -> Table:
    from rich.table import Table

    table = Table()
    for col in ("doc", "document", "page", "snippet"):
        table.add_column(col, overflow="fold")
    for h in hits:
        # 0-based, the number `pagemill show DOC --page N` and `--pages` take
        page = f"{h.page_index}" + (f" ({h.matched})" if h.matched != "page" else "")
        table.add_row(str(h.document_id), safe(h.filename, 40), page, highlighted(h.snippet))
    return table


def search(
    query: Annotated[str, typer.Argument(help="Words that must all appear on the page; end a word with * for a prefix.")],
    doc: Annotated[str | None, typer.Option("--doc", help="Only this document (id or SHA-256 prefix).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many pages.")] = 20,
) -> None:
    """Full-text search over stored pages (their text, image descriptions and tables), best matches first."""
    from models.search import search as run_search

    with cli_errors():
        db = _db()
        doc_id = resolve_document(db, doc) if doc is not None else None
        hits = run_search(db, query, doc_id=doc_id, limit=limit)
        if not hits:
            console.print("no matching pages")
            return
        console.print(_hits_table(hits))


def export(
    doc: Annotated[str | None, typer.Argument(help="A document id or SHA-256 prefix (omit with --all).")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="md (folder), json (Mistral OCR shape), zip, pdf (the"
                                     " original pages with an invisible text layer: a searchable PDF), or chunks"
                                     " (retrieval chunks as JSON lines; DOC may be job:N).")] = "md",
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Folder for md and --all; file (or folder) for json/zip/pdf.")] = Path("."),
    include_images: Annotated[bool, typer.Option("--include-images", help="json: embed images as base64 data URIs.")] = False,
    all_docs: Annotated[bool, typer.Option("--all", help="Export every done document into OUT/<id>-<name>/.")] = False,
    with_headers: Annotated[bool, typer.Option(
        "--with-headers", help="md/zip: put each page's extracted header and footer back around its text.")] = False,
    decrypt: Annotated[bool, typer.Option(
        "--decrypt", help="pdf: write an encrypted original (opened with --password at intake) unencrypted.")] = False,
    chunk_size: Annotated[int | None, typer.Option("--chunk-size", min=20, help="chunks: at most this many characters"
                                                   " (or tokens with --chunk-unit tokens) [default: 2000 / 512].")] = None,
    chunk_overlap: Annotated[int, typer.Option("--chunk-overlap", min=0, help="chunks: repeat this much of the"
                                               " previous chunk of the same section.")] = 0,
    chunk_unit: Annotated[str, typer.Option("--chunk-unit", help="chunks: chars, or tokens (words and punctuation"
                                            " marks).")] = "chars",
) -> None:
    """Write a document as markdown with its images (tables in place), as Mistral-shaped JSON with every stored
    part of each page, or as a zip of both."""
    from worker.objects.registry import object_store
    from worker.settings import WorkerSettings

    from ..export.document import FORMATS, export_all, export_document

    with cli_errors():
        if fmt not in FORMATS:
            raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        if all_docs == (doc is not None):
            raise ConfigError("give either a document or --all")
        db = _db()
        if fmt == "chunks":  # one JSON-lines file for a document, a job (job:N) or --all
            from ..chunks import ChunkOptions, export_chunks

            try:
                options = ChunkOptions(chunk_size, chunk_overlap, chunk_unit)
            except ValueError as err:
                raise ConfigError(str(err)) from None
            path, docs, count = export_chunks(db, [doc] if doc else [], out, options, all_docs)
            console.print(f"wrote {safe(str(path), 300)}: {count} chunks of {docs} documents")
            return
        objects = object_store(WorkerSettings())
        if doc is not None and fmt == "pdf":
            from ..export.pdf import export_pdf

            done = export_pdf(db, objects, resolve_document(db, doc), out, decrypt)
            console.print(f"wrote {safe(str(done.path), 300)}: {done.pages} pages, a text layer on"
                          f" {len(done.layered)}, {len(done.untouched)} kept as they were")
            if done.without_positions:
                err_console.print("no word positions known on page(s) (0-based) "
                                  + ", ".join(str(i) for i in done.without_positions)
                                  + ": their text is laid across the page (search and copy work, highlights"
                                  " do not match the words)")
            return
        if doc is not None:
            path = export_document(db, objects, resolve_document(db, doc), fmt, out, include_images, with_headers)
            console.print(f"wrote {safe(str(path), 300)}")
            return
        results = export_all(db, objects, fmt, out, include_images, with_headers)
        for r in results:
            if r.error:
                err_console.print(f"[red]document {r.document_id}[/red]: {safe(r.error, 300)}")
            else:
                console.print(f"document {r.document_id}: {safe(str(r.path), 300)}")
        failed = sum(1 for r in results if r.error)
        console.print(f"exported {len(results) - failed} done documents" + (f", {failed} failed" if failed else ""))
        if failed:
            raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(search)
    app.command()(export)
