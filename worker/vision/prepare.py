"""Make an image fit to send to a vision model: a format every server takes, no more pixels than it uses.

Vision servers take PNG, JPEG, WebP and single-frame GIF, at most 10 MB each (Mistral's documented limits), and
Mistral's current models scale everything to 1540 px on the longest side anyway. So an image already small
enough in one of those formats is sent byte for byte; anything else (TIFF, BMP, an animated GIF, a 6000 px
photo) is re-encoded: downscaled keeping its aspect ratio, JPEG stays JPEG, the rest becomes PNG (or JPEG when
the PNG is still over the size limit). What still does not fit is refused with a message that says why.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from models.errors import CorruptInput, OversizedInput

from .settings import DEFAULT_MAX_SIDE

__all__ = ["PreparedImage", "prepare_image", "SENDABLE_FORMATS", "data_uri"]

SENDABLE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
_MAX_PIXELS = 200_000_000  # refuse decompression bombs before decoding them


@dataclass(frozen=True)
class PreparedImage:
    mime_type: str
    data: bytes
    width: int
    height: int
    converted: bool  # re-encoded (downscaled or converted), not the original bytes

    @property
    def data_uri(self) -> str:
        return data_uri(self.mime_type, self.data)


def data_uri(mime: str, data: bytes) -> str:
    import base64

    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            if im.width * im.height > _MAX_PIXELS:
                raise OversizedInput(f"the image is {im.width}x{im.height} pixels, too large to describe")
            return im
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise OversizedInput("the image has too many pixels to describe") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CorruptInput(f"not a readable image ({type(exc).__name__})") from None


def _flatten(im: Image.Image, jpeg: bool) -> Image.Image:
    if jpeg:
        if im.mode in ("RGB", "L"):
            return im
        rgba = im.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")  # transparency becomes white, as on a page
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if im.mode in ("1", "L", "LA", "RGB", "RGBA", "P"):
        return im
    return im.convert("RGBA" if "A" in im.mode else "RGB")


def _encode(im: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        _flatten(im, True).save(buf, "JPEG", quality=88, optimize=True)
    else:
        _flatten(im, False).save(buf, "PNG", optimize=False)
    return buf.getvalue()


def _as_is(im: Image.Image, data: bytes, max_side: int, max_bytes: int) -> bool:
    fmt = im.format or ""
    single = getattr(im, "n_frames", 1) == 1
    return fmt in SENDABLE_FORMATS and single and max(im.size) <= max_side and len(data) <= max_bytes


def prepare_image(
    data: bytes, max_side: int = DEFAULT_MAX_SIDE, max_bytes: int = 10_000_000, frame: int = 0
) -> PreparedImage:
    """`data` (any format Pillow reads; `frame` of a multi-page TIFF) ready to send as a data URI."""
    with _open(data) as im:
        if frame == 0 and _as_is(im, data, max_side, max_bytes):
            return PreparedImage(SENDABLE_FORMATS[im.format or ""], data, im.width, im.height, False)
        source_format = im.format
        try:
            im.seek(frame)
            im.load()
        except (EOFError, OSError, ValueError) as exc:
            raise CorruptInput(f"frame {frame} of the image could not be read ({type(exc).__name__})") from None
        picture = ImageOps.exif_transpose(im.copy())
    if max(picture.size) > max_side:
        picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)  # keeps the aspect ratio
    first = "JPEG" if source_format == "JPEG" else "PNG"
    encoded = _encode(picture, first)
    if len(encoded) > max_bytes and first == "PNG":
        first, encoded = "JPEG", _encode(picture, "JPEG")
    if len(encoded) > max_bytes:
        raise OversizedInput(
            f"the image is still {len(encoded) / 1e6:.1f} MB after scaling to {max(picture.size)} px and "
            f"re-encoding, over the vision limit of {max_bytes / 1e6:g} MB (PAGEMILL_VISION_MAX_IMAGE_MB)"
        )
    return PreparedImage(SENDABLE_FORMATS[first], encoded, picture.width, picture.height, True)
