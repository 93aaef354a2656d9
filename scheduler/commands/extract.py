"""`pagemill extract --schema FILE [DOC... | job:N | --all]`: fields from stored markdown through a chat model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..console import cli_errors, console, err_console, safe

if TYPE_CHECKING:
    from worker.extraction.extract import Outcome

__all__ = ["register"]


def extract(
    docs: Annotated[list[str] | None, typer.Argument(
        help="Document ids, SHA-256 prefixes, or job:N for every document of a job.", show_default=False,
        metavar="[DOC|job:N]...")] = None,
    schema: Annotated[Path, typer.Option("--schema", help="A JSON Schema file describing one document's fields "
                                         "(an object schema); its name is the file name without .schema.json.",
                                         show_default=False)] = ...,  # type: ignore[assignment]
    every: Annotated[bool, typer.Option("--all", help="Every done or partial document.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Extract again even where this schema's fields are "
                                        "stored (they are kept if the new answer fails).")] = False,
    prompt: Annotated[str | None, typer.Option("--prompt", help="More instructions for the model [env "
                                               "PAGEMILL_EXTRACT_PROMPT].", show_default=False)] = None,
    model: Annotated[str | None, typer.Option("--model", help="Chat model [env PAGEMILL_EXTRACT_MODEL; default "
                                              "mistral-small-latest].", show_default=False)] = None,
) -> None:
    """Fill a schema's fields from the stored markdown, one row per document, through the chat model at
    PAGEMILL_EXTRACT_BASE_URL (falling back to PAGEMILL_VISION_BASE_URL, then https://api.mistral.ai).

    No OCR request is made: it works for documents from any provider, the local engine and the text layer.
    Documents already extracted with the same schema are skipped unless --force. Exit 1 if a document
    failed (its error is shown by `pagemill status DOC`), 2 for a bad schema file, 5 for a rejected key."""
    from worker.extraction.schema import load_schema
    from worker.extraction.settings import ExtractSettings

    from ..launch.extract import extract_documents

    with cli_errors():
        loaded = load_schema(schema)  # refused (exit 2) before anything is read or sent
        settings = ExtractSettings()
        if model:
            settings = settings.model_copy(update={"model": model})

        def show(doc_id: int, filename: str, outcome: Outcome) -> None:
            colour = {"done": "green", "failed": "red"}.get(outcome.status, "")
            status = f"[{colour}]{outcome.status}[/{colour}]" if colour else outcome.status
            detail = outcome.message or outcome.note
            console.print(f"document {doc_id} {safe(filename, 60)}: {status}" +
                          (f": {safe(detail, 300)}" if detail else ""))

        report = extract_documents(loaded, docs or [], every, force, prompt, settings, on_result=show)
        console.print(f"{loaded.name}: {len(report.done)} extracted, {len(report.skipped)} skipped, "
                      f"{len(report.failed)} failed; `pagemill fields {loaded.name}` lists the fields")
        if report.failed:
            err_console.print("`pagemill status DOC` shows a document's extraction error; run again to retry")
            raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(extract)
