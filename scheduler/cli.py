"""The `pagemill` command line. Each group of commands lives in scheduler/commands/<name>.py and registers
itself here; commands are thin wrappers over functions that raise."""

from __future__ import annotations

import gc
import importlib
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="pagemill",
    help=(
        "Batch OCR: documents in (PDFs and images), searchable per-page markdown and images out.\n\n"
        "Embedded by default: no services and no API key; results go to the data folder (--data).\n"
        "Set PAGEMILL_BROKER_URL and PAGEMILL_DATABASE_URL to use Redis and PostgreSQL."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # help texts say "[default: ...]" and "[env ...]": plain text, not rich markup (which would eat them)
    rich_markup_mode=None,
)

_COMMAND_MODULES = [
    "scheduler.commands.process",
    "scheduler.commands.inspect",
    "scheduler.commands.watch",
    "scheduler.commands.serve",
    "scheduler.commands.maintenance",
    "scheduler.commands.query",
    "scheduler.commands.usage",
    "scheduler.commands.ops",
    "scheduler.commands.describe",
    "scheduler.commands.review",
    "scheduler.commands.ui",
    "scheduler.commands.estimate",
    "scheduler.commands.budget",
    "scheduler.commands.extract",
    "scheduler.commands.fields",
    "scheduler.commands.mcp",
    "scheduler.commands.webhooks",
]


@app.callback()
def _global(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Folder for the embedded database, broker and object folder [env PAGEMILL_DATA_DIR; default ./pagemill-data]",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at info level.")] = False,
) -> None:
    if data is not None:
        # the environment is how settings reach this process's settings objects and the workers it starts
        os.environ["PAGEMILL_DATA_DIR"] = str(data)
    from worker.logging_setup import configure_logging

    # readable lines, or JSON lines with PAGEMILL_LOG_FORMAT=json; secrets masked either way
    configure_logging(logging.INFO if verbose else logging.WARNING)


for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    try:
        app()
    except Exception as err:
        from pydantic import ValidationError  # here, not at the top: `--help` never needs pydantic

        if not isinstance(err, ValidationError):
            raise
        # a PAGEMILL_... variable whose value its settings refuse: say which and why, without a traceback
        from .console import err_console

        for e in err.errors():
            name = "_".join(str(part) for part in e["loc"]).upper()
            name = name if name.startswith(("PAGEMILL_", "MISTRAL_")) else f"PAGEMILL_{name}"
            err_console.print(f"[red]error[/red] (config): {name}: {e['msg']}")
        raise SystemExit(2) from None
    finally:
        # The command is over. At exit the interpreter's last garbage collections walk every object the command
        # loaded (SQLAlchemy, pydantic, the engine): 0.3-0.5 s of a one-page `run` on this machine, 0.03 s once
        # those objects are frozen. Exit handlers and finalizers still run.
        gc.freeze()


if __name__ == "__main__":
    main()
