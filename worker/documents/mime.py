"""File types from magic bytes: light enough for commands that only read results (no PDFium, no Pillow)."""

from __future__ import annotations

__all__ = ["sniff_mime", "image_bytes_mime"]

_MAGIC: list[tuple[bytes, int, str]] = [
    (b"%PDF-", -1, "application/pdf"),  # -1: anywhere in the first KiB (some writers put junk first)
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"II*\x00", 0, "image/tiff"),
    (b"MM\x00*", 0, "image/tiff"),
    (b"BM", 0, "image/bmp"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
]


def sniff_mime(head: bytes) -> str | None:
    """The MIME type from the first bytes of a file, or None when it is not a document we read."""
    for magic, offset, mime in _MAGIC:
        if offset == -1:
            if magic in head[:1024]:
                return mime
        elif head[offset : offset + len(magic)] == magic:
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_bytes_mime(data: bytes) -> str | None:
    """MIME type of image bytes from their magic, for images a provider returns."""
    mime = sniff_mime(data[:64])
    return mime if mime and mime.startswith("image/") else None
