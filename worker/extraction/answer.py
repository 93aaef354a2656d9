"""A model's answer read as the fields of one document: a JSON object, or an InvalidFields that says why not.

What goes wrong in practice, each with its own message: an empty answer, a refusal, text that is not JSON,
JSON encoded twice (a JSON string holding JSON), a value that is not an object, and an object that breaks the
schema (check_fields). A fenced ```json block is read as the JSON inside it: some servers that ignore
`response_format` still answer that way, and what matters is whether the JSON validates.
"""

from __future__ import annotations

import json
import re
from typing import Any

from models.errors import InvalidFields

from .schema import check_fields

__all__ = ["parse_fields"]

_FENCE = re.compile(r"\A```(?:json)?\s*\n(.*?)\n?```\s*\Z", re.S)


def _describe(text: str) -> str:
    shown = " ".join(text.split())
    return repr(shown[:120] + ("…" if len(shown) > 120 else ""))


def parse_fields(text: str | None, schema_body: dict[str, Any], what: str = "answer") -> dict[str, Any]:
    """`text` as a validated JSON object; `what` ("annotation", "answer") names it in the messages."""
    if text is None or not text.strip():
        raise InvalidFields(f"the {what} is empty")
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    try:
        value = json.loads(stripped)
    except ValueError as exc:
        raise InvalidFields(f"the {what} is not JSON ({exc.msg} at character {exc.pos}): {_describe(stripped)}") \
            from None
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            raise InvalidFields(f"the {what} is a JSON string, not an object: {_describe(value)}") from None
        raise InvalidFields(f"the {what} is JSON encoded twice (a string that holds JSON), not an object")
    if not isinstance(value, dict):
        raise InvalidFields(f"the {what} is a JSON {type(value).__name__}, not an object")
    check_fields(schema_body, value)
    return value
