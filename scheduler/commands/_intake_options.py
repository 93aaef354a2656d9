"""The intake options of `run`, `submit` and `watch`, declared once here and validated once, by WorkerSettings.

Two groups. The *settings* options (--text-layer, --lang, --table-format, --batch, --schema, ...) are fields of
`worker.settings.WorkerSettings`: `IntakeFlags.settings()` builds the command's settings from the environment
with them on top (`WorkerSettings(**overrides)`), so their allowed values are checked by the settings' own
validators, as for the Python API and for `pagemill worker`; a refused value is a usage error naming its flag.
That settings object is handed to `submit()`/`run()`/`watch_folders()`: the document's stored options come from
it (and so dedup follows), and the worker processes the command starts get it (`WorkerSettings.child_env`).
Nothing is written to the command's own environment; separate `pagemill worker` processes read their own.

The *job* options (--pages, --pages-per-task, --force, --password, --budget) belong to one call of `submit()`
(`IntakeFlags.job()`); `watch` takes only the settings options.

A command declares them with `@intake_options(job=...)` and receives them as one `options: IntakeFlags`
argument; typer sees each as an ordinary parameter, so `--help` explains each.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from worker.settings import WorkerSettings

__all__ = ["IntakeFlags", "check_lang_here", "intake_options"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _opt(*names: str, help: str, **kw: Any) -> Any:
    return typer.Option(*names, help=help, show_default=False, **kw)


# name -> (type, typer option, default, WorkerSettings field or None for a job option); the order is --help's
_DECLARED: dict[str, tuple[Any, Any, Any, str | None]] = {
    "pages": (str | None, _opt(
        "--pages", help="Only these 0-based pages, e.g. 0-3,7 (as the Mistral `pages` field)."), None, None),
    "pages_per_task": (int | None, _opt(
        "--pages-per-task", min=1, help="Pages per range task [default: 2 with the local engine, 8 with an API]."),
        None, None),
    "force": (bool, typer.Option("--force", help="OCR again even if identical content was done before."),
              False, None),
    "password": (str | None, _opt("--password", help="Password for encrypted PDFs (never stored)."), None, None),
    "budget": (float | None, _opt(
        "--budget", min=0,
        help="USD this job may spend at most; a range that would cross it waits in `held` (see `pagemill status`)"
             " until the budget is raised. PAGEMILL_MONTHLY_BUDGET_USD caps the installation."), None, None),
    "text_layer": (str | None, _opt(
        "--text-layer",
        help="auto: use good PDF text layers and OCR the rest; never: always OCR; only: never OCR (default: auto"
             " with the local engine, never with mistral) [env PAGEMILL_TEXT_LAYER]. Given to the workers this"
             " command starts; separate `pagemill worker` processes read their own."), None, "text_layer"),
    "vision_min_size": (int | None, _opt(
        "--vision-min-size", min=1,
        help="With vision on (PAGEMILL_VISION_BASE_URL), describe extracted images at least this many pixels on"
             " each side [default 100; env PAGEMILL_VISION_MIN_SIZE]."), None, "vision_min_size"),
    "lang": (str | None, _opt(
        "--lang",
        help="Local engine: Tesseract language(s) of the scans, e.g. deu or eng+fra, or auto (each page's script"
             " picks the language installed for it, English if none) [default eng; env PAGEMILL_LANG]. Data comes"
             " from `pip install tessdata-<code>` or `apt-get install tesseract-ocr-<code>`."), None, "lang"),
    "table_format": (str | None, _opt(
        "--table-format",
        help="html or markdown: tables come apart from the text (stored in page_tables, put back in place by the"
             " exports); inline: left in the markdown [default html; env PAGEMILL_TABLE_FORMAT]."),
        None, "table_format"),
    "extract_header": (bool | None, _opt(
        "--extract-header/--keep-header",
        help="Take page headers out of the text into pages.header [default keep; env PAGEMILL_EXTRACT_HEADER]."),
        None, "extract_header"),
    "extract_footer": (bool | None, _opt(
        "--extract-footer/--keep-footer",
        help="Take page footers out of the text into pages.footer [default keep; env PAGEMILL_EXTRACT_FOOTER]."),
        None, "extract_footer"),
    "blocks": (bool | None, _opt(
        "--blocks/--no-blocks",
        help="Ask OCR 4 for typed layout blocks with boxes [default on; env PAGEMILL_INCLUDE_BLOCKS]."),
        None, "include_blocks"),
    "confidence": (str | None, _opt(
        "--confidence",
        help="Confidence scores: page, word, block or none [default page; env PAGEMILL_CONFIDENCE_SCORES]."),
        None, "confidence_scores"),
    "batch": (bool, typer.Option(
        "--batch",
        help="Send the ranges as Mistral Batch API jobs, at the batch price (half the synchronous one by default),"
             " formed when PAGEMILL_BATCH_MIN_REQUESTS wait or after PAGEMILL_BATCH_MAX_WAIT_S [env"
             " PAGEMILL_BATCH]."), False, "batch"),
    "batch_fallback": (str | None, _opt(
        "--batch-fallback",
        help="A range whose batch line failed: try it again in the next batch (batch, the default) or with a"
             " synchronous request (sync) [env PAGEMILL_BATCH_FALLBACK]."), None, "batch_fallback"),
    "schema": (Path | None, _opt(
        "--schema",
        help="A JSON Schema (object) file: every document gets one row of these fields (`pagemill fields NAME`),"
             " in the OCR request with mistral, else from the stored markdown through the chat model [env"
             " PAGEMILL_SCHEMA]."), None, "schema_path"),
    "extract_prompt": (str | None, _opt(
        "--extract-prompt",
        help="Instructions for the extraction (mistral's document_annotation_prompt) [env"
             " PAGEMILL_EXTRACT_PROMPT]."), None, "extract_prompt"),
    "image_schema": (Path | None, _opt(
        "--image-schema",
        help="A JSON Schema for each extracted image's annotation (mistral's bbox_annotation_format; stored in"
             " images.annotation) [env PAGEMILL_IMAGE_SCHEMA]."), None, "image_schema"),
    "archive": (str | None, _opt(
        "--archive",
        help="Write each finished document's searchable PDF into this folder (or s3://bucket/prefix) under the"
             " original's name (images get .pdf), never over another file, and again when a page is corrected"
             " or re-OCR'd [env PAGEMILL_ARCHIVE_DIR]."), None, "archive_dir"),
}
_JOB = tuple(name for name, (*_, field) in _DECLARED.items() if field is None)


@dataclass(frozen=True)
class IntakeFlags:
    """What the intake options were given as (None / False: not given, the settings decide)."""

    pages: str | None = None
    pages_per_task: int | None = None
    force: bool = False
    password: str | None = None
    budget: float | None = None
    text_layer: str | None = None
    vision_min_size: int | None = None
    lang: str | None = None
    table_format: str | None = None
    extract_header: bool | None = None
    extract_footer: bool | None = None
    blocks: bool | None = None
    confidence: str | None = None
    batch: bool = False
    batch_fallback: str | None = None
    schema: Path | None = None
    extract_prompt: str | None = None
    image_schema: Path | None = None
    archive: str | None = None

    def overrides(self) -> dict[str, object]:
        """The WorkerSettings fields given on the command line (`--batch` off means "as the settings say")."""
        out: dict[str, object] = {}
        for name, (*_, field) in _DECLARED.items():
            value = getattr(self, name)
            if field is None or value is None or (name == "batch" and not value):
                continue
            out[field] = value.absolute() if isinstance(value, Path) else value
        return out

    def settings(self) -> WorkerSettings:
        """The command's settings: the environment's, with these options on top, validated by WorkerSettings
        (a refused value is a usage error naming its flag), and the schema files read and checked before
        anything is registered (a bad one raises SchemaRefused: exit 2 under cli_errors)."""
        from pydantic import ValidationError

        from worker.settings import WorkerSettings

        given = self.overrides()
        try:
            settings = WorkerSettings(**given)
        except ValidationError as exc:
            flags = {field: "--" + name.replace("_", "-") for name, (*_, field) in _DECLARED.items() if field}
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else ""
                if field in given:  # else the environment's value is wrong: reported as a settings error
                    message = error["msg"].removeprefix("Value error, ")
                    raise typer.BadParameter(message, param_hint=flags[field]) from None
            raise
        for path in (settings.schema_path, settings.image_schema):
            if path is not None:
                from worker.extraction.schema import load_schema  # only now: jsonschema takes ~0.1 s to load

                load_schema(path)
        return settings

    def job(self) -> dict[str, Any]:
        """The keyword arguments of `submit()`/`run()` that belong to this one call."""
        return {"pages": self.pages, "pages_per_task": self.pages_per_task, "force": self.force,
                "password": self.password, "budget_usd": self.budget}


def intake_options(*, job: bool) -> Callable[[_F], _F]:
    """Declare the intake options on a typer command (the job options too when `job`): the command takes an
    `options: IntakeFlags` parameter instead, and typer sees each option as a parameter of its own."""
    names = [name for name in _DECLARED if job or name not in _JOB]

    def decorate(func: _F) -> _F:
        signature = inspect.signature(func, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "options"]
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=_DECLARED[name][2],
                              annotation=Annotated[_DECLARED[name][0], _DECLARED[name][1]])
            for name in names
        ]

        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            given = {name: kwargs.pop(name) for name in names if name in kwargs}
            return func(*args, options=IntakeFlags(**given), **kwargs)

        params = [*own, *added]
        command.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command  # type: ignore[return-value]

    return decorate


def check_lang_here(settings: WorkerSettings, always: bool) -> None:
    """Before any progress bar: the language data this host's workers will need (`always` for `run`, which
    starts workers whatever the broker; else only with the embedded broker)."""
    from worker.providers import check_languages

    if always or settings.embedded_broker:
        check_languages(settings)
