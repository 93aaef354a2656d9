"""Exports of a finished document: markdown with its images, the Mistral OCR response as JSON, or a zip.

    export_document(db, objects, doc_id, "md", Path("out/"))      # out/document.md + out/images/*
    export_document(db, objects, doc_id, "json", Path("a.json"))  # parses with mistralai's OCRResponse
    export_document(db, objects, doc_id, "zip", Path("a.zip"))    # the md export and the json, zipped
    export_all(db, objects, "md", Path("out/"))                   # out/<id>-<name>/ for every done document

Image files are named from the images table (names pagemill chose, re-checked here) with an extension taken
from their bytes, and copied from the object store (a folder or a bucket); the markdown links point at `images/<name>`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from models.db import Database
from models.errors import ConfigError, ObjectMissing, PagemillError
from models.tables import DocStatus, Document, Image, Page, Usage
from worker.documents.mime import image_bytes_mime
from worker.objects.store import IMAGE_EXTENSIONS, ObjectStore
from worker.vision.ids import PAGE_IMAGE_ID

from ..reports.status import PAGE_SEPARATOR
from .page_markdown import readable_page
from .parts import load_parts, ocr_page_parts

__all__ = [
    "FORMATS", "ExportResult", "export_document", "export_all", "ocr_response", "markdown_bundle", "safe_name",
]

FORMATS = ("md", "json", "zip", "pdf", "chunks")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# a markdown link target that is a bare provider/pagemill image name: `](img-0.jpeg)`
_PLACEHOLDER = re.compile(r"!\[([^\]\n]*)\]\((img-[A-Za-z0-9._-]+)\)")


@dataclass(frozen=True)
class ExportResult:
    document_id: int
    path: Path | None
    error: str | None = None


@dataclass
class _Bundle:
    """What an md export consists of: the joined markdown and (file name in images/, source file) pairs."""

    markdown: str
    images: list[tuple[str, bytes]] = field(default_factory=list)


def safe_name(name: str, limit: int = 80) -> str:
    """A file-name fragment safe on every filesystem: letters, digits, `.`, `_`, `-`; never empty or hidden."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "document"
    return cleaned[:limit]


def _load(db: Database, doc_id: int) -> tuple[Document, list[Page], list[Image]]:
    with db.read_session() as s:
        doc = s.get(Document, doc_id)
        if doc is None:
            raise ConfigError(f"no document {doc_id}; `pagemill status` lists them")
        pages = list(s.scalars(select(Page).where(Page.document_id == doc_id).order_by(Page.page_index)))
        images = list(s.scalars(select(Image).where(Image.document_id == doc_id).order_by(Image.id)))
    if not pages:
        raise ConfigError(f"document {doc_id} has no stored pages yet (status {doc.status})")
    return doc, pages, images


def _image_file(objects: ObjectStore, image: Image) -> bytes:
    try:
        return objects.read_bytes(image.path)
    except ObjectMissing as err:
        raise ObjectMissing(f"image {image.name!r} of document {image.document_id}: {err.message}") from None


def _export_names(objects: ObjectStore, images: list[Image]) -> dict[str, tuple[str, bytes]]:
    """image name in the markdown -> (file name under images/, its bytes); extension from the bytes."""
    out: dict[str, tuple[str, bytes]] = {}
    taken: set[str] = set()
    for image in images:
        source = _image_file(objects, image)
        mime = image_bytes_mime(source[:64]) or image.mime_type
        ext = IMAGE_EXTENSIONS.get(mime, "bin")
        stem = safe_name(image.name.rsplit(".", 1)[0] if "." in image.name else image.name)
        name, n = f"{stem}.{ext}", 1
        while name in taken:  # two names that clean up to the same string
            name, n = f"{stem}-{n}.{ext}", n + 1
        taken.add(name)
        out[image.name] = (name, source)
    return out


def _alt(description: str | None, fallback: str) -> str:
    """A vision description as markdown alt text: one line, brackets escaped so the link stays a link."""
    if not description or not description.strip():
        return fallback
    text = " ".join(description.split())
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def _rewrite_links(
    markdown: str, names: dict[str, tuple[str, bytes]], alts: dict[str, str] | None = None
) -> str:
    def replace(m: re.Match[str]) -> str:
        target = names.get(m[2])
        if target is None:  # a placeholder for an image that was never stored: keep the text, drop the link
            return f"[image {m[2]} not stored]"
        return f"![{(alts or {}).get(m[2], m[1])}](images/{target[0]})"

    return _PLACEHOLDER.sub(replace, markdown)


def markdown_bundle(db: Database, objects: ObjectStore, doc_id: int, with_headers: bool = False) -> _Bundle:
    _, pages, images = _load(db, doc_id)
    parts = load_parts(db, doc_id)
    names = _export_names(objects, images)
    alts = {im.name: _alt(im.description, im.name) for im in images if im.description}
    # a whole page of an image document described by the vision step (worker/vision/describe.py) is shown
    # above the page's text, its description as alt text
    shown = {im.page_index: f"![{_alt(im.description, im.name)}](images/{names[im.name][0]})\n\n"
             for im in images if im.provider_id == PAGE_IMAGE_ID}
    markdown = PAGE_SEPARATOR.join(
        shown.get(p.page_index, "")
        + _rewrite_links(readable_page(p.markdown, parts.stored_tables(p.page_index), p.header, p.footer,
                                       with_headers), names, alts)
        for p in pages
    )
    if not markdown.endswith("\n"):
        markdown += "\n"
    return _Bundle(markdown, sorted(names.values(), key=lambda item: item[0]))


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_md(bundle: _Bundle, out_dir: Path) -> Path:
    image_dir = out_dir / "images"
    if bundle.images:
        image_dir.mkdir(parents=True, exist_ok=True)
    for name, source in bundle.images:
        _write_atomic(image_dir / name, source)
    target = out_dir / "document.md"
    _write_atomic(target, bundle.markdown.encode("utf-8"))
    return target


def _write_zip(bundle: _Bundle, out_path: Path, response: dict[str, Any]) -> Path:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("document.md", bundle.markdown)
            zf.writestr("document.json", _json(response))
            for name, source in bundle.images:
                # images are already compressed: storing them saves time and nothing else
                zf.writestr(f"images/{name}", source, compress_type=zipfile.ZIP_STORED)
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_path


def _data_uri(objects: ObjectStore, image: Image) -> str:
    source = _image_file(objects, image)
    mime = image_bytes_mime(source[:64]) or image.mime_type
    return f"data:{mime};base64," + base64.b64encode(source).decode("ascii")


def ocr_response(db: Database, objects: ObjectStore, doc_id: int, include_images: bool = False) -> dict[str, Any]:
    """The document in the Mistral OCRResponse shape (pages, model, usage_info)."""
    doc, pages, images = _load(db, doc_id)
    parts = load_parts(db, doc_id)
    with db.read_session() as s:
        billed, usage_model = s.execute(
            select(func.coalesce(func.sum(Usage.pages_processed), 0), func.max(Usage.model))
            .where(Usage.document_id == doc_id)
        ).one()
    by_page: dict[int, list[Image]] = {}
    for image in images:
        by_page.setdefault(image.page_index, []).append(image)
    out_pages = []
    for p in pages:
        dims = {"dpi": p.dpi, "height": p.height, "width": p.width}
        out_pages.append({
            "index": p.page_index,
            "markdown": p.markdown,
            "images": [
                {
                    "id": im.name,
                    "top_left_x": im.top_left_x, "top_left_y": im.top_left_y,
                    "bottom_right_x": im.bottom_right_x, "bottom_right_y": im.bottom_right_y,
                    "image_base64": _data_uri(objects, im) if include_images else None,
                    # the provider's annotation; else a vision description, the closest thing pagemill has
                    "image_annotation": im.annotation if im.annotation is not None else im.description,
                }
                for im in by_page.get(p.page_index, [])
            ],
            "dimensions": dims if None not in dims.values() else None,
            **ocr_page_parts(p, parts),
        })
    model = next((p.model for p in pages if p.model), None) or usage_model or pages[0].source
    return {
        "pages": out_pages,
        "model": model,
        "usage_info": {"pages_processed": int(billed), "doc_size_bytes": doc.size_bytes},
        "document_annotation": None,
    }


def _file_target(out: Path, default_name: str) -> Path:
    return out / default_name if out.is_dir() or str(out).endswith(os.sep) else out


def _json(response: dict[str, Any]) -> str:
    return json.dumps(response, ensure_ascii=False, indent=1)


def export_document(db: Database, objects: ObjectStore, doc_id: int, fmt: str, out: Path,
                    include_images: bool = False, with_headers: bool = False) -> Path:
    """Write one document; returns the file written (document.md, the .json or the .zip)."""
    if fmt == "md":
        return _write_md(markdown_bundle(db, objects, doc_id, with_headers), out)
    if fmt == "zip":
        # the zip's images are files beside the markdown: the json there needs no base64 copy of them
        return _write_zip(markdown_bundle(db, objects, doc_id, with_headers),
                          _file_target(out, f"document-{doc_id}.zip"), ocr_response(db, objects, doc_id, False))
    if fmt == "json":
        target = _file_target(out, f"document-{doc_id}.json")
        _write_atomic(target, _json(ocr_response(db, objects, doc_id, include_images)).encode("utf-8"))
        return target
    if fmt == "pdf":  # the original pages with an invisible text layer (pdf.py)
        from .pdf import export_pdf

        return export_pdf(db, objects, doc_id, out).path
    if fmt == "chunks":  # retrieval chunks as JSON lines (scheduler/chunks/)
        from ..chunks import export_chunks

        return export_chunks(db, [str(doc_id)], _file_target(out, f"document-{doc_id}.chunks.jsonl"))[0]
    raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")


def export_all(db: Database, objects: ObjectStore, fmt: str, out_dir: Path,
               include_images: bool = False, with_headers: bool = False) -> list[ExportResult]:
    """Every done document into out_dir/<id>-<safe name>/; one document's failure does not stop the rest."""
    with db.read_session() as s:
        docs = s.execute(
            select(Document.id, Document.filename).where(Document.status == DocStatus.done).order_by(Document.id)
        ).all()
    results = []
    for doc_id, filename in docs:
        folder = out_dir / f"{doc_id}-{safe_name(Path(filename).stem)}"
        target = folder if fmt == "md" else folder / f"document.{fmt}"
        try:
            results.append(ExportResult(doc_id, export_document(db, objects, doc_id, fmt, target, include_images,
                                                                with_headers)))
        except PagemillError as err:
            results.append(ExportResult(doc_id, None, err.message))
    return results
