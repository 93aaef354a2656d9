"""`pagemill fields NAME`: the extracted fields of a schema, one row per document."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..console import cli_errors, console, err_console, safe

__all__ = ["register"]


def fields(
    name: Annotated[str, typer.Argument(help="The schema's name: its file name without .schema.json.",
                                        show_default=False)],
    fmt: Annotated[str, typer.Option("--format", help="table | csv | json | jsonl")] = "table",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of the terminal.",
                                             show_default=False)] = None,
) -> None:
    """The fields extracted with schema NAME (by `pagemill extract` or `run --schema`): one row per document,
    the columns document_id, filename, then the schema's top-level properties (nested values as JSON)."""
    from rich.table import Table

    from models.db import Database
    from models.errors import ConfigError

    from ..reports.fields import FORMATS, cell, fields_table, write_fields

    with cli_errors():
        if fmt not in FORMATS:
            raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        db = Database.from_settings()
        db.migrate()
        columns, rows = fields_table(db, name)
        if fmt == "table" and out is None:
            table = Table()
            for col in columns:
                table.add_column(safe(col, 40), overflow="fold")
            for row in rows:
                table.add_row(*(safe(cell(row[c]), 200) for c in columns))
            console.print(table)
            if not rows:
                err_console.print(f"no valid {safe(name)} fields yet")
            return
        if out is None:
            write_fields(columns, rows, "csv" if fmt == "table" else fmt, sys.stdout)
            return
        with out.open("w", encoding="utf-8", newline="") as fh:
            write_fields(columns, rows, "csv" if fmt == "table" else fmt, fh)
        err_console.print(f"{len(rows)} row(s) written to {safe(str(out), 200)}")


def register(app: typer.Typer) -> None:
    app.command()(fields)
