"""Log output for every pagemill process: JSON lines for log collectors, or readable lines for people.

    PAGEMILL_LOG_FORMAT=json pagemill -v worker
    {"ts": "2026-11-21T10:00:00.123Z", "level": "INFO", "logger": "pagemill.worker", "message": "range started",
     "document_id": 3, "range_id": 7, "attempt": 1, "process": 4242}

Context passed with `extra=` (the pipeline passes document_id, range_id and attempt on every line about a range)
becomes JSON fields, or a `[document_id=3 range_id=7 attempt=1]` suffix in the readable format. No line carries
a configured secret (MISTRAL_API_KEY, PAGEMILL_API_KEY): the redaction filter of worker/redact.py masks the
message and traceback, and the formatters mask their whole output once more, extras included.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from pydantic_settings import BaseSettings, SettingsConfigDict

from .redact import RedactingFilter, redact

__all__ = ["LogSettings", "JsonFormatter", "ReadableFormatter", "configure_logging", "CONTEXT_FIELDS"]

# fields first in both formats, in this order, when a record carries them
CONTEXT_FIELDS = ("document_id", "range_id", "attempt", "job_id", "task_id")
_READABLE = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# attributes every LogRecord has: anything else on a record came from `extra=`
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class LogSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAGEMILL_", extra="ignore")

    log_format: str = "text"  # text | json


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    extra = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
    ordered = {k: extra.pop(k) for k in CONTEXT_FIELDS if k in extra}
    ordered.update(extra)
    return ordered


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ms), level, logger, message, the extras, process, exc."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        out: dict[str, Any] = {
            "ts": ts, "level": record.levelname, "logger": record.name, "message": record.getMessage(),
        }
        for key, value in _extras(record).items():
            out.setdefault(key, _jsonable(value))
        out["process"] = record.process
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:  # already formatted (and redacted) by the redaction filter
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return redact(json.dumps(out, ensure_ascii=False, default=str))


class ReadableFormatter(logging.Formatter):
    """The usual `time level logger: message`, plus `[document_id=.. range_id=.. attempt=..]` when present."""

    def __init__(self) -> None:
        super().__init__(_READABLE)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = {k: v for k, v in _extras(record).items() if k in CONTEXT_FIELDS}
        if context:
            suffix = " [" + " ".join(f"{k}={v}" for k, v in context.items()) + "]"
            head, sep, rest = line.partition("\n")  # keep a traceback below the context
            line = head + suffix + sep + rest
        return redact(line)


def configure_logging(level: int = logging.WARNING, fmt: str | None = None, stream: TextIO | None = None) -> None:
    """Install one stream handler on the root logger (replacing any earlier one set up here) with the chosen
    format and the redaction filter. Celery keeps a root handler that exists (worker_hijack_root_logger off)."""
    fmt = (fmt or LogSettings().log_format).strip().lower()
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_pagemill", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._pagemill = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else ReadableFormatter())
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level)
