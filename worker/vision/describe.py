"""The vision step as plain functions (no Celery): what to describe, describing it, storing the answer.

    ids = plan_document(db, objects, doc_id, pages=[0, 1], settings=vs)   # image ids worth describing
    describe_stored_image(db, objects, client, image_id, vs)               # one request, stored

What gets described: every extracted image at least PAGEMILL_VISION_MIN_SIZE px on each side, and every page
of an image document (a photo, a scanned chart) as a whole. A whole page is stored as an `images` row of its
own, named `page-<n>.<ext>` with provider_id PAGE_IMAGE_ID: the picture as sent (downscaled), so the search
index, the md export (alt text) and the JSON export (`image_annotation`) treat it like any other image.

Per image: `description`, `description_model` (the model that answered) and `description_tokens` (prompt +
completion); one `usage` row with kind 'vision' per billed answer. An image whose description failed for good
keeps `description` NULL with `description_model` set (tried, failed): it is not pending any more.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from sqlalchemy import or_, select, update

from models.db import Database
from models.errors import StorageError
from models.tables import Document, Image, Usage

from ..documents.inspect import read_image_size
from ..objects.store import IMAGE_EXTENSIONS, ObjectStore
from ..ranges.persist import insert_ignore
from ..ranges.retry import call_with_retries
from .chat import Description
from .client import VisionClient
from .ids import PAGE_IMAGE_ID
from .prepare import PreparedImage, prepare_image
from .settings import VisionSettings

__all__ = [
    "PAGE_IMAGE_ID",
    "prepare_for",
    "describe_prepared",
    "plan_document",
    "describe_stored_image",
    "store_description",
    "mark_failed",
    "pending_descriptions",
]

log = logging.getLogger("pagemill.worker.vision")


def prepare_for(data: bytes, settings: VisionSettings, frame: int = 0) -> PreparedImage:
    return prepare_image(data, settings.max_side, int(settings.max_image_mb * 1_000_000), frame)


def describe_prepared(
    client: VisionClient,
    image: PreparedImage,
    prompt: str,
    attempts: int = 4,
    base_s: float = 2.0,
    max_s: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Description:
    """One image with retries in this thread (the CLI's way; Celery tasks retry with a countdown instead):
    429/5xx/timeouts wait Retry-After or a backoff, anything else is raised at once."""
    return call_with_retries(lambda: client.describe(image, prompt), attempts, base_s, max_s, sleep)


def _qualifies(image: Image, min_size: int, objects: ObjectStore) -> bool:
    if image.provider_id == PAGE_IMAGE_ID:
        return True
    size = (image.width, image.height)
    if None in size:
        try:
            size = read_image_size(objects.read_bytes(image.path)) or (0, 0)
        except (OSError, StorageError):
            return False
    return min(size) >= min_size  # type: ignore[type-var]


def _page_images(
    db: Database, objects: ObjectStore, doc: Document, pages: Sequence[int], settings: VisionSettings
) -> None:
    """The pages of an image document as image rows of their own (once: names are unique per document)."""
    with db.read_session() as s:
        have = set(s.scalars(select(Image.page_index).where(
            Image.document_id == doc.id, Image.provider_id == PAGE_IMAGE_ID)))
    todo = [p for p in pages if p not in have]
    if not todo:
        return
    original = objects.read_bytes(doc.work_path or doc.object_path)
    rows = []
    for page in todo:
        prepared = prepare_for(original, settings, frame=page)
        ext = IMAGE_EXTENSIONS[prepared.mime_type]
        stored = objects.put_bytes(prepared.data, "images", ext)
        rows.append({
            "document_id": doc.id, "page_index": page, "name": f"page-{page}.{ext}", "provider_id": PAGE_IMAGE_ID,
            "path": stored.relpath, "sha256": stored.sha256, "mime_type": prepared.mime_type,
            "width": prepared.width, "height": prepared.height,
        })
    with db.write_session() as s:
        insert_ignore(s, Image, rows, ["document_id", "name"])


def plan_document(
    db: Database, objects: ObjectStore, document_id: int, pages: Sequence[int] | None, settings: VisionSettings
) -> list[int]:
    """Ids of the images of `pages` (all pages when None) still to describe; creates the whole-page image
    rows of an image document first."""
    with db.read_session() as s:
        doc = s.get(Document, document_id)
        if doc is None:
            return []
        s.expunge(doc)
    wanted = list(pages) if pages is not None else list(range(doc.page_count or 0))
    if (doc.mime_type or "").startswith("image/"):
        _page_images(db, objects, doc, wanted, settings)
    with db.read_session() as s:
        images = list(s.scalars(
            select(Image).where(
                Image.document_id == document_id, Image.page_index.in_(wanted),
                Image.description.is_(None), Image.description_model.is_(None),
            ).order_by(Image.page_index, Image.id)
        ))
    return [im.id for im in images if _qualifies(im, settings.min_size, objects)]


def store_description(db: Database, image_id: int, document_id: int | None, desc: Description) -> bool:
    """The description on its image (unless one is there already) and the answer in the usage ledger.
    Returns whether the image took this description."""
    with db.write_session() as s:
        result = s.execute(
            update(Image)
            .where(Image.id == image_id, Image.description.is_(None))
            .values(description=desc.text, description_model=desc.model, description_tokens=desc.total_tokens)
        )
        # billed whether or not a concurrent delivery stored its own answer first
        s.add(Usage(document_id=document_id, kind="vision", provider="vision", model=desc.model,
                    pages_processed=0, prompt_tokens=desc.prompt_tokens, completion_tokens=desc.completion_tokens))
        return bool(result.rowcount)


def mark_failed(db: Database, image_id: int, model: str) -> None:
    with db.write_session() as s:
        s.execute(update(Image).where(Image.id == image_id, Image.description.is_(None))
                  .values(description_model=model))


def describe_stored_image(
    db: Database, objects: ObjectStore, client: VisionClient, image_id: int, settings: VisionSettings
) -> Description | None:
    """Describe one stored image and store the answer; None when it has a description already."""
    with db.read_session() as s:
        image = s.get(Image, image_id)
        if image is None or image.description is not None:
            return None
        path, document_id = image.path, image.document_id
    data = objects.read_bytes(path)
    desc = client.describe(prepare_for(data, settings), settings.prompt)
    store_description(db, image_id, document_id, desc)
    return desc


def pending_descriptions(db: Database, document_ids: Sequence[int], min_size: int) -> int:
    """Images of these finished documents still to describe (not described, not given up on), counting an
    image document whose page image is not planned yet as one: a waiter such as `pagemill run` can wait for
    this to reach 0."""
    ids = list(document_ids)
    with db.read_session() as s:
        images = len(s.scalars(select(Image.id).where(
            Image.document_id.in_(ids), Image.description.is_(None), Image.description_model.is_(None),
            or_(Image.provider_id == PAGE_IMAGE_ID, (Image.width >= min_size) & (Image.height >= min_size)),
        )).all())
        planned = select(Image.document_id).where(Image.provider_id == PAGE_IMAGE_ID)
        unplanned = len(s.scalars(select(Document.id).where(
            Document.id.in_(ids), Document.mime_type.like("image/%"),
            Document.status.in_(("done", "partial")), Document.id.not_in(planned),
        )).all())
    return images + unplanned
