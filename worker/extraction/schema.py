"""Extraction schemas: a JSON Schema file, checked before anything is enqueued or sent.

    schema = load_schema(Path("examples/invoice.schema.json"))   # SchemaRefused (exit 2) names the file
    schema.name, schema.sha256, schema.body
    check_fields(schema.body, {"total": 12.5})                    # InvalidFields with what is wrong

A schema is refused when the file is not JSON, is not a valid JSON Schema (jsonschema's meta-schema check for
the draft it declares, 2020-12 when it declares none), or does not describe an object with `properties`: one
document becomes one row, and the row's columns are the top-level properties. Its name (what `pagemill fields NAME`
takes) is the file name without `.schema.json` / `.json`, reduced to the characters a `json_schema.name` may
hold. Its hash is the SHA-256 of its canonical JSON, so reformatting the file changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, SchemaError, validators
from jsonschema.exceptions import best_match

from models.errors import InvalidFields, SchemaRefused

__all__ = ["ExtractionSchema", "load_schema", "schema_from_body", "check_fields", "schema_sha256",
           "response_format", "property_names"]

_NAME = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class ExtractionSchema:
    name: str
    sha256: str
    body: dict[str, Any]

    @property
    def properties(self) -> list[str]:
        return property_names(self.body)


def property_names(body: dict[str, Any]) -> list[str]:
    props = body.get("properties")
    return list(props) if isinstance(props, dict) else []


def schema_sha256(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _default_name(path: Path) -> str:
    name = path.name
    for suffix in (".schema.json", ".json"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _clean_name(raw: str) -> str:
    return _NAME.sub("_", raw.strip()).strip("_")[:64] or "fields"


def schema_from_body(body: Any, where: str, default_name: str = "fields") -> ExtractionSchema:
    """Check a parsed schema; `where` names it in the messages (a file name, "--image-schema")."""
    if not isinstance(body, dict):
        raise SchemaRefused(f"{where}: a schema must be a JSON object, not {type(body).__name__}")
    cls = validators.validator_for(body, default=Draft202012Validator)
    try:
        cls.check_schema(body)
    except SchemaError as err:
        at = "/".join(str(p) for p in err.absolute_path) or "the top level"
        raise SchemaRefused(f"{where}: not a valid JSON Schema at {at}: {err.message}") from None
    kind = body.get("type")
    if kind != "object" and not (isinstance(kind, list) and "object" in kind):
        raise SchemaRefused(
            f"{where}: the schema must describe an object (\"type\": \"object\"), not {json.dumps(kind)}: "
            "one document becomes one row whose columns are the object's properties"
        )
    if not property_names(body):
        raise SchemaRefused(f"{where}: the schema's object has no \"properties\": there would be no fields")
    return ExtractionSchema(_clean_name(default_name), schema_sha256(body), body)


def load_schema(path: Path) -> ExtractionSchema:
    """Read and check a schema file; SchemaRefused (exit 2) says which file and what is wrong."""
    where = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SchemaRefused(f"{where}: cannot read the schema file ({exc.strerror or exc})") from None
    if len(raw) > _MAX_BYTES:
        raise SchemaRefused(f"{where}: the schema file is {len(raw) / 1e6:.1f} MB; a schema over 1 MB is refused")
    try:
        body = json.loads(raw)
    except UnicodeDecodeError:
        raise SchemaRefused(f"{where}: not JSON (the file is not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise SchemaRefused(f"{where}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return schema_from_body(body, where, _default_name(path))


def check_fields(body: dict[str, Any], data: Any) -> None:
    """Raise InvalidFields with the most relevant validation error when `data` does not validate."""
    cls = validators.validator_for(body, default=Draft202012Validator)
    error = best_match(cls(body, format_checker=cls.FORMAT_CHECKER).iter_errors(data))
    if error is not None:
        at = "/".join(str(p) for p in error.absolute_path)
        raise InvalidFields(f"the answer does not match the schema{f' at {at}' if at else ''}: {error.message}")


def response_format(schema: ExtractionSchema, strict: bool = True) -> dict[str, Any]:
    """Mistral's `ResponseFormat` `{type: json_schema, json_schema: {name, schema, strict}}`, also what
    OpenAI-style chat servers take."""
    return {"type": "json_schema", "json_schema": {"name": schema.name, "schema": schema.body, "strict": strict}}
