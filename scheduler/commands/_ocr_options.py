"""Flags of run/submit/watch for what of an OCR page is asked for (Mistral request fields).

Each sets its PAGEMILL_... variable for this command and the workers it starts, like --text-layer: the
document's options (and so dedup) follow, since a run asking for other parts is other work. Separate
`pagemill worker` processes read their own environment.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

__all__ = ["TableFormatOpt", "HeaderOpt", "FooterOpt", "BlocksOpt", "ConfidenceOpt", "LangOpt", "check_lang_here",
           "set_lang",
           "set_page_parts"]

TableFormatOpt = Annotated[str | None, typer.Option(
    "--table-format", show_default=False,
    help="html or markdown: tables come apart from the text (stored in page_tables, put back in place by the"
         " exports); inline: left in the markdown [default html; env PAGEMILL_TABLE_FORMAT].")]
HeaderOpt = Annotated[bool | None, typer.Option(
    "--extract-header/--keep-header", show_default=False,
    help="Take page headers out of the text into pages.header [default keep; env PAGEMILL_EXTRACT_HEADER].")]
FooterOpt = Annotated[bool | None, typer.Option(
    "--extract-footer/--keep-footer", show_default=False,
    help="Take page footers out of the text into pages.footer [default keep; env PAGEMILL_EXTRACT_FOOTER].")]
BlocksOpt = Annotated[bool | None, typer.Option(
    "--blocks/--no-blocks", show_default=False,
    help="Ask OCR 4 for typed layout blocks with boxes [default on; env PAGEMILL_INCLUDE_BLOCKS].")]
ConfidenceOpt = Annotated[str | None, typer.Option(
    "--confidence", show_default=False,
    help="Confidence scores: page, word, block or none [default page; env PAGEMILL_CONFIDENCE_SCORES].")]

_CHOICES = {"--table-format": ("html", "markdown", "inline"), "--confidence": ("page", "word", "block", "none")}


def _choice(value: str, flag: str) -> str:
    value = value.strip().lower()
    if value not in _CHOICES[flag]:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(_CHOICES[flag])}", param_hint=flag)
    return value


def set_page_parts(table_format: str | None = None, extract_header: bool | None = None,
                   extract_footer: bool | None = None, blocks: bool | None = None,
                   confidence: str | None = None) -> None:
    if table_format is not None:
        os.environ["PAGEMILL_TABLE_FORMAT"] = _choice(table_format, "--table-format")
    if confidence is not None:
        os.environ["PAGEMILL_CONFIDENCE_SCORES"] = _choice(confidence, "--confidence")
    for name, flag in (("EXTRACT_HEADER", extract_header), ("EXTRACT_FOOTER", extract_footer),
                       ("INCLUDE_BLOCKS", blocks)):
        if flag is not None:
            os.environ[f"PAGEMILL_{name}"] = "1" if flag else "0"


LangOpt = Annotated[str | None, typer.Option(
    "--lang", show_default=False,
    help="Local engine: Tesseract language(s) of the scans, e.g. deu or eng+fra, or auto (each page's script"
         " picks the language installed for it, English if none) [default eng; env PAGEMILL_LANG]. Data comes"
         " from `pip install tessdata-<code>` or `apt-get install tesseract-ocr-<code>`.")]


def set_lang(lang: str | None) -> None:
    """Only the form is checked here; `submit`/`watch` check that the data is installed before queueing."""
    if lang is None:
        return
    from worker.settings import lang_syntax

    try:
        value = lang_syntax(lang)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--lang") from None
    os.environ["PAGEMILL_LANG"] = value


def check_lang_here(always: bool) -> None:
    """Before any progress bar: the language data this host's workers will need (`always` for `run`, which
    starts workers whatever the broker; else only with the embedded broker)."""
    from worker.providers import check_languages
    from worker.settings import WorkerSettings

    settings = WorkerSettings()
    if always or settings.embedded_broker:
        check_languages(settings)
