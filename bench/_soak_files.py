"""The files the soak feeds: scans, born-digital PDFs, images, duplicates and bad files, small so that a loaded
two-core machine can make them quickly.

Every good file gets a number n and every page a size of its own: PDF page k of file n is (200 + n) x (300 + k)
points, image n is (200 + n) x 300 pixels. The API fake reads the size back from what it is sent, so it can say
which fed page each billed page was (`page_key_of_size`), without trusting anything pagemill sends."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

__all__ = ["BASE_H", "BASE_W", "SCHEMA", "Fed", "make_file", "page_key_of_size"]

BASE_W, BASE_H = 200, 300

SCHEMA = {"type": "object", "title": "letter",
          "properties": {"title": {"type": "string"}, "pages": {"type": "integer"}},
          "required": ["title"], "additionalProperties": False}


def page_key(n: int, k: int) -> str:
    return f"{n}:{k}"


def page_key_of_size(kind: str, width: int, height: int) -> str:
    """The key of a page answered by the fake: `dimensions` of a PDF page are at 200 dpi, an image's in pixels."""
    if kind == "document_url":
        width, height = round(width * 72 / 200), round(height * 72 / 200)
    return page_key(width - BASE_W, height - BASE_H)


@dataclass
class Fed:
    """One file handed to pagemill, and what should become of it."""

    n: int
    name: str
    kind: str  # scan | digital | png | jpeg | dup | corrupt | encrypted | empty
    pages: int
    sha256: str
    how: str = ""  # watch | submit | submit --batch | submit --schema
    at: float = 0.0
    expect: str = "done"  # done | failed
    dup_of: int | None = None
    keys: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in ("n", "name", "kind", "pages", "sha256", "how", "at", "expect",
                                               "dup_of")}


def _scan(path: Path, n: int, pages: int, rng: random.Random) -> None:
    frames = []
    for k in range(pages):
        im = Image.new("L", (BASE_W + n, BASE_H + k), 255)
        draw = ImageDraw.Draw(im)
        for line in range(6):
            draw.text((10, 20 + 18 * line), f"soak {n} page {k} line {line} {rng.random():.6f}", fill=0)
        frames.append(im)
    frames[0].save(path, "PDF", resolution=72, save_all=True, append_images=frames[1:])


def _digital(path: Path, n: int, pages: int, rng: random.Random) -> None:
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=(BASE_W + n, BASE_H))
    for k in range(pages):
        c.setPageSize((BASE_W + n, BASE_H + k))
        c.setFont("Helvetica", 8)
        for line in range(8):
            c.drawString(10, BASE_H + k - 20 - 12 * line, f"Soak file {n} page {k} line {line} {rng.random():.6f}")
        c.showPage()
    c.save()


def _encrypted(path: Path, n: int) -> None:
    from reportlab.lib import pdfencrypt
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=(BASE_W + n, BASE_H), encrypt=pdfencrypt.StandardEncryption(f"pw{n}"))
    c.drawString(10, 100, f"secret {n}")
    c.showPage()
    c.save()


def make_file(folder: Path, n: int, kind: str, rng: random.Random, pages: int = 1) -> Fed:
    """Write file number n of `kind` into `folder` (not the watched folder: the feeder moves it there)."""
    ext = {"scan": "pdf", "digital": "pdf", "png": "png", "jpeg": "jpg", "corrupt": "pdf", "encrypted": "pdf",
           "empty": "pdf"}[kind]
    path = folder / f"soak-{n:05d}-{kind}.{ext}"
    expect = "done"
    if kind == "scan":
        _scan(path, n, pages, rng)
    elif kind == "digital":
        _digital(path, n, pages, rng)
    elif kind in ("png", "jpeg"):
        pages = 1
        im = Image.new("RGB", (BASE_W + n, BASE_H), (255, 255, 255))
        ImageDraw.Draw(im).text((10, 10), f"soak image {n} {rng.random():.6f}", fill=(0, 0, 0))
        im.save(path, "PNG" if kind == "png" else "JPEG", quality=85)
    elif kind == "corrupt":
        good = io.BytesIO()
        Image.new("L", (BASE_W + n, BASE_H), 255).save(good, "PDF")
        raw = good.getvalue()
        path.write_bytes(raw[: len(raw) // 3] + os.urandom(64))
        pages, expect = 0, "failed"
    elif kind == "encrypted":
        _encrypted(path, n)
        pages, expect = 0, "failed"
    elif kind == "empty":
        path.write_bytes(b"")
        pages, expect = 0, "failed"
    else:
        raise ValueError(kind)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    fed = Fed(n, path.name, kind, pages, sha, expect=expect)
    if expect == "done":
        fed.keys = [page_key(n, k) for k in range(pages)]
    return fed


def write_schema(folder: Path) -> Path:
    path = folder / "letter.schema.json"
    path.write_text(json.dumps(SCHEMA))
    return path
