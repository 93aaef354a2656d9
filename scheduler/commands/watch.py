"""`pagemill watch DIR...`: a watched folder, running until stopped (Ctrl-C or SIGTERM)."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from ..console import cli_errors
from ._intake_options import IntakeFlags, intake_options

__all__ = ["register"]


@intake_options(job=False)
def watch(
    dirs: Annotated[list[Path], typer.Argument(help="Folders to watch (recursively).", show_default=False)],
    options: IntakeFlags,
    settle: Annotated[
        float | None,
        typer.Option("--settle", min=0, help="Seconds a file's size and mtime must hold still (default 5).",
                     show_default=False),
    ] = None,
    polling: Annotated[
        bool | None,
        typer.Option("--polling/--native", help="Poll instead of native events (network mounts).",
                                  show_default=False)
    ] = None,
    rescan_interval: Annotated[
        float | None,
        typer.Option("--rescan-interval", min=1, help="Seconds between full rescans (default 300).",
                     show_default=False),
    ] = None,
    ignore: Annotated[
        list[str] | None, typer.Option("--ignore", help="Extra fnmatch pattern to ignore (repeatable).")
    ] = None,
    after: Annotated[
        str | None,
        typer.Option("--after", help="keep (default), move (to processed/ or failed/) or delete (once done).",
                     show_default=False),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Embedded worker processes (default: one per core)."),
    ] = None,
) -> None:
    """Watch folders: every complete file put there becomes a document, exactly once.

    Embedded (no PAGEMILL_BROKER_URL) it also runs the workers and sweeps; with a broker it only queues work.
    Settings: PAGEMILL_WATCH_SETTLE_S, _POLLING, _RESCAN_INTERVAL_S, _IGNORE (comma-separated), _AFTER."""
    from models.errors import ConfigError

    from ..watch.after import AfterIntake
    from ..watch.start import WatchSettings, watch_folders

    for name in ("pagemill.watch", "pagemill.sweep", "pagemill.batch"):
        logging.getLogger(name).setLevel(logging.INFO)  # arrival, settling and queueing are the output here
    with cli_errors():
        settings = options.settings()  # the watcher's, its sweeps' and its workers'
        ws = WatchSettings()
        opts = ws.options()
        if after is not None and after not in AfterIntake.__members__:
            raise ConfigError(f"--after must be keep, move or delete, not {after!r}")
        opts = replace(
            opts,
            settle_s=opts.settle_s if settle is None else settle,
            polling=opts.polling if polling is None else polling,
            rescan_interval_s=opts.rescan_interval_s if rescan_interval is None else rescan_interval,
            ignore=(*opts.ignore, *(ignore or [])),
            after=opts.after if after is None else AfterIntake(after),
        )
        stop = threading.Event()

        def _stop(signum: int, _frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        watch_folders(dirs, opts, stop, settings=settings, workers=workers)


def register(app: typer.Typer) -> None:
    app.command()(watch)
