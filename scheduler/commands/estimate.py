"""`pagemill estimate`: the pages a run would bill and what they would cost, sending nothing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ..console import cli_errors, console, safe

if TYPE_CHECKING:
    from ..reports.estimate import Estimate

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
        if result.provider == "vlm":
            _vlm_lines(result)
            return
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


def _vlm_lines(result: Estimate) -> None:
    """Tokens, not pages, are what a vision model bills: the input is known from the page sizes and the prompt,
    the output only as a range."""
    t = result.tokens
    console.print(f"{t.pages} page(s) would go to {safe(result.vlm_model, 80)} (PAGEMILL_PROVIDER=vlm): "
                  f"about {t.input_tokens:,} input tokens (page images at the profile's size and the prompt) "
                  f"and {t.output_low:,}-{t.output_high:,} output tokens")
    if result.batch:
        console.print("  --batch does not apply: the Batch API is Mistral's; these pages would be sent synchronously")
    if result.vlm_priced is None:
        console.print("  not priced: set PAGEMILL_VLM_PRICE_PER_MILLION_INPUT_TOKENS and "
                      "PAGEMILL_VLM_PRICE_PER_MILLION_OUTPUT_TOKENS for a cost (0 on your own GPU)")
    else:
        low, high = result.vlm_priced
        console.print(f"  cost ${low:.4f} - ${high:.4f} at the PAGEMILL_VLM_PRICE_PER_MILLION_... prices")
    console.print("nothing was sent")


def register(app: typer.Typer) -> None:
    app.command()(estimate)
