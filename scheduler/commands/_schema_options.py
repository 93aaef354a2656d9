"""The extraction options of run, submit and watch: --schema, --extract-prompt, --image-schema.

Each schema file is read and checked here, before anything is registered, enqueued or sent (a bad one exits
2 naming the file); the workers get them through the document's options, not through the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["SchemaOpt", "PromptOpt", "ImageSchemaOpt", "set_extraction"]

SchemaOpt = Annotated[
    Path | None,
    typer.Option("--schema", show_default=False, help="A JSON Schema (object) file: every document gets one row of"
                 " these fields (`pagemill fields NAME`), in the OCR request with mistral, else from the stored"
                 " markdown through the chat model [env PAGEMILL_SCHEMA]."),
]
PromptOpt = Annotated[
    str | None,
    typer.Option("--extract-prompt", show_default=False, help="Instructions for the extraction (mistral's"
                 " document_annotation_prompt) [env PAGEMILL_EXTRACT_PROMPT]."),
]
ImageSchemaOpt = Annotated[
    Path | None,
    typer.Option("--image-schema", show_default=False, help="A JSON Schema for each extracted image's annotation"
                 " (mistral's bbox_annotation_format; stored in images.annotation) [env"
                 " PAGEMILL_IMAGE_SCHEMA]."),
]


def set_extraction(schema: Path | None, prompt: str | None, image_schema: Path | None) -> None:
    """Check the schema files (given here or in the environment) and pass them on to the settings. Call inside
    cli_errors(): a bad file raises SchemaRefused (exit 2)."""
    if schema is not None:
        os.environ["PAGEMILL_SCHEMA"] = str(schema.absolute())
    if image_schema is not None:
        os.environ["PAGEMILL_IMAGE_SCHEMA"] = str(image_schema.absolute())
    if prompt is not None:
        os.environ["PAGEMILL_EXTRACT_PROMPT"] = prompt
    for name in ("PAGEMILL_SCHEMA", "PAGEMILL_IMAGE_SCHEMA"):
        if os.environ.get(name, "").strip():
            from worker.extraction.schema import load_schema  # only now: jsonschema takes ~0.1 s to load

            load_schema(Path(os.environ[name]))
