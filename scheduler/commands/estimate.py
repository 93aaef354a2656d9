"""`pagemill estimate`: the pages a run would bill and what they would cost, sending nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..console import cli_errors, console, safe

__all__ = ["register"]


def estimate(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (walked recursively).", show_default=False)],
    batch: Annotated[bool, typer.Option("--batch", help="Price it as a Batch API run [env PAGEMILL_BATCH].")] = False,
    pages: Annotated[str | None, typer.Option("--pages", help="Only these 0-based pages, e.g. 0-3,7.")] = None,
    text_layer: Annotated[
        str | None,
        typer.Option("--text-layer", help="auto | never | only, as for run (auto skips pages with a good text layer).",
                     show_default=False),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="As run --force: count pages already done too.")] = False,
    password: Annotated[str | None, typer.Option("--password", help="Password for encrypted PDFs.")] = None,
) -> None:
    """Pages that would be billed after dedup and text-layer skipping, and their cost at the synchronous, batch
    and annotated rates (PAGEMILL_PRICE_PER_1000_PAGES, ..._BATCH_..., ..._ANNOTATED_...). Sends nothing."""
    from ..reports.estimate import estimate as run_estimate
    from ._intake_options import IntakeFlags

    with cli_errors():
        settings = IntakeFlags(text_layer=text_layer).settings()  # checked as for run
        result = run_estimate(paths, settings=settings, batch=batch or settings.batch, pages=pages,
                              password=password, force=force)
        table = Table()
        for col in ("file", "pages", "already done", "text layer", "billed", "note"):
            table.add_column(col, justify="left" if col in ("file", "note") else "right")
        for f in result.files:
            table.add_row(safe(f.path, 60), str(f.pages), str(f.already_done), str(f.text_layer), str(f.billed),
                          safe(f.problem, 80))
        table.add_row("total", str(sum(f.pages for f in result.files)),
                      str(sum(f.already_done for f in result.files)), str(sum(f.text_layer for f in result.files)),
                      str(result.billed), "", style="bold")
        console.print(table)
        if result.free:
            console.print(f"{result.billed} page(s) would be OCR'd by the local engine: free. "
                          "With PAGEMILL_PROVIDER=mistral they would cost:")
        rates = (("synchronous", result.price_per_1000), ("batch", result.batch_price_per_1000),
                 ("annotated", result.annotated_price_per_1000))
        for name, price in rates:
            chosen = (name == "batch") == result.batch and name != "annotated"
            mark = "  <- this run" if chosen and not result.free else ""
            console.print(f"  {name:<12} {result.billed} pages x ${price:g}/1000 = ${result.billed * price / 1000:.4f}"
                          f"{mark}")
        console.print("nothing was sent")


def register(app: typer.Typer) -> None:
    app.command()(estimate)
