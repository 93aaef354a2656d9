"""`pagemill usage`: pages billed by paid providers and their estimated cost."""

from __future__ import annotations

from typing import Annotated

import typer

from ..console import cli_errors, console, safe

__all__ = ["register"]


def usage(
    by: Annotated[str, typer.Option(
        "--by", help="Group by day | model | document | kind | billing (sync, batch, annotated).")] = "day",
    kind: Annotated[str | None, typer.Option("--kind", help="Only ocr, annotation, vision or extract rows.")] = None,
    price: Annotated[
        float | None,
        typer.Option(
            "--price-per-1000",
            help="Re-estimate the cost at this USD price per 1000 pages [default: the price recorded with each "
            "response, PAGEMILL_PRICE_PER_1000_PAGES].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Pages billed and estimated cost (USD) per day, per model or per document, from the usage ledger."""
    from rich.table import Table

    from models.db import Database

    from ..reports.usage import pages_by_billing, usage_summary

    with cli_errors():
        db = Database.from_settings()
        db.migrate()
        rows = usage_summary(db, by, kind, price)
        if not rows:
            console.print("no billed usage yet (the local engine is free; the Mistral provider records usage)")
            return
        table = Table()
        for col, justify in ((by, "left"), ("requests", "right"), ("pages", "right"), ("MB sent", "right"),
                             ("tokens", "right"), ("est. cost USD", "right")):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for r in rows:
            table.add_row(safe(r.group, 60), str(r.requests), str(r.pages), f"{r.doc_bytes / 1e6:.1f}",
                          str(r.tokens), f"{r.cost_usd:.4f}")
        table.add_row("total", str(sum(r.requests for r in rows)), str(sum(r.pages for r in rows)),
                      f"{sum(r.doc_bytes for r in rows) / 1e6:.1f}", str(sum(r.tokens for r in rows)),
                      f"{sum(r.cost_usd for r in rows):.4f}", style="bold")
        console.print(table)
        rates = pages_by_billing(db, kind or "ocr")
        if rates:
            order = ("sync", "batch", "annotated", "batch_annotated")
            console.print("by rate: " + "; ".join(
                f"{name} {rates[name][0]} pages ${rates[name][1]:.4f}"
                for name in sorted(rates, key=lambda n: order.index(n) if n in order else len(order))))


def register(app: typer.Typer) -> None:
    app.command()(usage)
