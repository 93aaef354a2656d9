"""The extraction part of a document's options: which schema, prompt and image schema it was submitted with.

    extraction_options(settings)   # {} or {"schema": {"name", "sha256"}, "extract_prompt"?, "image_schema"?}
    schemas_of(settings)           # the ExtractionSchema objects, to store in `field_schemas`
    annotation_of(options, load)   # what a range's OCR request asks for (worker/providers/base.py)

They are part of the options that dedup compares (a new schema is new options: the document is processed
again), and workers read them from the document row, so a `pagemill worker` needs no schema file of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..providers.base import AnnotationRequest
from . import ANNOTATE_KEY
from .schema import ExtractionSchema, load_schema

if TYPE_CHECKING:
    from ..settings import WorkerSettings

__all__ = ["extraction_options", "schemas_of", "annotation_of", "ANNOTATE_KEY"]



def schemas_of(settings: WorkerSettings) -> tuple[ExtractionSchema | None, ExtractionSchema | None]:
    schema = load_schema(settings.schema_path) if settings.schema_path is not None else None
    image = load_schema(settings.image_schema) if settings.image_schema is not None else None
    return schema, image


def extraction_options(settings: WorkerSettings) -> dict[str, Any]:
    schema, image = schemas_of(settings)
    out: dict[str, Any] = {}
    if schema is not None:
        out["schema"] = {"name": schema.name, "sha256": schema.sha256}
        if settings.extract_prompt:
            out["extract_prompt"] = settings.extract_prompt
    if image is not None:
        out["image_schema"] = {"name": image.name, "sha256": image.sha256}
    return out


def annotation_of(
    options: Mapping[str, Any] | None, load: Callable[[str], ExtractionSchema | None], whole_document: bool
) -> AnnotationRequest | None:
    """The annotation a range of a document with these options asks for in its OCR request, if any: the
    document schema only for a document planned as one request (ANNOTATE_KEY) whose range is sent whole
    (`whole_document`: no page of it stored by an earlier attempt), the image schema for every range."""
    if not options:
        return None
    schema = None
    if whole_document and options.get(ANNOTATE_KEY) and isinstance(options.get("schema"), Mapping):
        schema = load(options["schema"]["sha256"])
    image = load(options["image_schema"]["sha256"]) if isinstance(options.get("image_schema"), Mapping) else None
    if schema is None and image is None:
        return None
    return AnnotationRequest(
        schema_name=schema.name if schema else None, schema_sha256=schema.sha256 if schema else None,
        schema=schema.body if schema else None, prompt=options.get("extract_prompt"),
        image_schema_name=image.name if image else None, image_schema=image.body if image else None,
    )
