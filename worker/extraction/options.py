"""The extraction part of a document's options: which schema, prompt and image schema it was submitted with.

    extraction_options(settings)   # {} or {"schema": {"name", "sha256"}, "extract_prompt"?, "image_schema"?}
    schemas_of(settings)           # the ExtractionSchema objects, to store in `field_schemas`

They are part of the options that dedup compares (a new schema is new options: the document is processed
again), and workers read them from the document row, so a `pagemill worker` needs no schema file of its own.
What a range's OCR request asks for, given these options, is annotation.py's `annotation_of`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from .schema import ExtractionSchema, load_schema

__all__ = ["ExtractionChoice", "extraction_options", "schemas_of"]


class ExtractionChoice(Protocol):
    """The settings these read (worker/settings.py WorkerSettings has them): this module sits below the settings,
    which call `extraction_options` for a document's options."""

    @property
    def schema_path(self) -> Path | None: ...

    @property
    def image_schema(self) -> Path | None: ...

    @property
    def extract_prompt(self) -> str | None: ...


def schemas_of(settings: ExtractionChoice) -> tuple[ExtractionSchema | None, ExtractionSchema | None]:
    schema = load_schema(settings.schema_path) if settings.schema_path is not None else None
    image = load_schema(settings.image_schema) if settings.image_schema is not None else None
    return schema, image


def extraction_options(settings: ExtractionChoice) -> dict[str, Any]:
    schema, image = schemas_of(settings)
    out: dict[str, Any] = {}
    if schema is not None:
        out["schema"] = {"name": schema.name, "sha256": schema.sha256}
        if settings.extract_prompt:
            out["extract_prompt"] = settings.extract_prompt
    if image is not None:
        out["image_schema"] = {"name": image.name, "sha256": image.sha256}
    return out
