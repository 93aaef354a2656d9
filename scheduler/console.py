"""Shared pieces of the command line: the console, safe display of untrusted names, error handling."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from models.errors import PagemillError

__all__ = ["console", "err_console", "safe", "cli_errors", "resolve_document"]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def safe(text: str | None, limit: int = 80) -> str:
    """A file name or message made safe to print: control characters shown escaped, markup escaped."""
    if text is None:
        return ""
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return escape(shown)


@contextmanager
def cli_errors() -> Iterator[None]:
    """The CLI converts, the library raises: PagemillError -> its exit code, Ctrl-C -> 130."""
    try:
        yield
    except PagemillError as err:
        err_console.print(f"[red]error[/red] ({err.code}): {safe(err.message, 2000)}")
        raise typer.Exit(err.exit_code) from None
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(130) from None


def resolve_document(db: object, ref: str) -> int:
    """A document id, or a SHA-256 prefix of at least 6 hex characters."""
    from sqlalchemy import select

    from models.db import Database
    from models.errors import ConfigError
    from models.tables import Document

    assert isinstance(db, Database)
    with db.read_session() as s:
        if ref.isdigit() and s.get(Document, int(ref)) is not None:
            return int(ref)
        if len(ref) >= 6 and all(c in "0123456789abcdefABCDEF" for c in ref):
            ids = s.scalars(select(Document.id).where(Document.sha256.startswith(ref.lower())).limit(2)).all()
            if len(ids) == 1:
                return ids[0]
            if len(ids) > 1:
                raise ConfigError(f"the prefix {ref!r} matches several documents; give more characters")
    raise ConfigError(f"no document {ref!r}; `pagemill status` lists them")


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()
