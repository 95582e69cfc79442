"""Image intake: validate by content, refuse what is not a plain photo, re-encode.

Re-encoding is the security boundary: the stored file is pixels we wrote ourselves, with
no EXIF (so no GPS), no ICC tricks, no appended payload. Renditions are made from the
re-encoded original in a Celery task.
"""

import io
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

from marketplace.errors import DomainError

register_heif_opener()

ALLOWED_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "HEIF": "HEIC", "MPO": "JPEG"}
MAX_UPLOAD_BYTES = getattr(settings, "MARKETPLACE_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
# 50 MP is beyond any phone camera; a larger header is a decompression bomb.
MAX_PIXELS = 50_000_000
RENDITIONS = {"thumb": 240, "card": 600, "full": 1600}
# The kept original is the largest rendition: nothing on the site shows more, and decoding a
# phone JPEG straight to about this size lets libjpeg skip most of the work (DCT scaling).
ORIGINAL_MAX_SIDE = RENDITIONS["full"]
JPEG_QUALITY = 85

# Byte strings that never occur in a photo but do in files built to be read as two things.
# Markers are long enough that compressed pixel data hits one about once in 10^4 photos.
_ACTIVE_CONTENT = (b"<script", b"<?php", b"<html", b"<!doctype", b"<svg", b"<iframe", b"javascript:")

Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class ImageRejected(DomainError):
    code = "bad_image"


@dataclass(frozen=True)
class EncodedImage:
    content: bytes
    width: int
    height: int


def _read_upload(upload) -> bytes:
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_UPLOAD_BYTES:
        raise ImageRejected(
            f"The file is too large ({size // (1024 * 1024)} MB); the limit is {MAX_UPLOAD_BYTES // (1024 * 1024)} MB."
        )
    upload.seek(0)
    data = upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageRejected(f"The file is too large; the limit is {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    if not data:
        raise ImageRejected("The file is empty.")
    return data


def _has_active_content(data: bytes, chunk: int = 1 << 20) -> bool:
    """Case-insensitive search for the markers, a megabyte at a time: lower() and `in` are
    memchr-fast (a case-insensitive regex is ~30× slower) and chunks keep memory flat."""
    overlap = max(len(m) for m in _ACTIVE_CONTENT)
    view = memoryview(data)
    for start in range(0, len(data), chunk):
        window = bytes(view[max(start - overlap, 0) : start + chunk]).lower()
        if any(marker in window for marker in _ACTIVE_CONTENT):
            return True
    return False


def _flatten_to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB") if image.mode != "RGB" else image


def _fit(width: int, height: int, side: int) -> tuple[int, int]:
    """The size of a (width × height) picture shrunk to fit a side × side box."""
    scale = min(side / max(width, height), 1)
    return max(int(width * scale), 1), max(int(height * scale), 1)


def _encode_jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    # No exif= and no icc_profile= arguments: the output carries pixels only.
    image.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def image_intake(upload, *, max_side: int = ORIGINAL_MAX_SIDE) -> EncodedImage:
    """Validate an uploaded photo and return it re-encoded as a metadata-free JPEG.

    Raises ImageRejected with a message a person understands for anything else.
    """
    data = _read_upload(upload)
    head = data[:512].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml")) or b"<svg" in head:
        raise ImageRejected("SVG files are not accepted. Upload a JPEG, PNG, WebP or HEIC photo.")
    # A ZIP (or JAR, DOCX) ends with its directory record, so a photo+ZIP polyglot shows it.
    if _has_active_content(data) or b"PK\x05\x06" in data[-1024:]:
        raise ImageRejected(
            "This file contains something other than a picture, so it was refused. Upload a plain photo."
        )
    try:
        image = Image.open(io.BytesIO(data))
        fmt = image.format
        if fmt not in ALLOWED_FORMATS:
            raise ImageRejected(f"{fmt or 'This'} files are not accepted. Upload a JPEG, PNG, WebP or HEIC photo.")
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise ImageRejected(
                f"The picture is too large ({width}×{height} pixels); "
                f"the limit is {MAX_PIXELS // 1_000_000} megapixels."
            )
        if width < 1 or height < 1:
            raise ImageRejected("The picture has no pixels.")
        if fmt in ("JPEG", "MPO"):
            # Decode at a reduced DCT scale when the result is shrunk anyway: much less work.
            image.draft("RGB", _fit(width, height, max_side))
        image.load()
        image = ImageOps.exif_transpose(image)
        image = _flatten_to_rgb(image)
        # Bicubic for the big first step (quality is indistinguishable at this ratio, half the cost).
        image.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    except ImageRejected:
        raise
    except Image.DecompressionBombError:
        raise ImageRejected(f"The picture is too large; the limit is {MAX_PIXELS // 1_000_000} megapixels.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageRejected("This file is not a picture we can read. Upload a JPEG, PNG, WebP or HEIC photo.") from None
    return EncodedImage(_encode_jpeg(image), image.width, image.height)


def image_renditions(original: bytes) -> dict[str, bytes]:
    """Fixed-size JPEG renditions (longest side as in RENDITIONS) of a re-encoded original."""
    source = Image.open(io.BytesIO(original))
    out: dict[str, bytes] = {}
    sizes = sorted(RENDITIONS.items(), key=lambda kv: -kv[1])
    if max(source.size) <= sizes[0][1]:
        # The original is already the largest rendition, pixels only: no second encode.
        out[sizes[0][0]] = original
        sizes = sizes[1:]
    source.draft("RGB", _fit(*source.size, sizes[0][1]))
    source = source.convert("RGB")
    # Largest first, each made from the previous: resampling a smaller image is cheaper.
    for name, side in sizes:
        source.thumbnail((side, side), Image.Resampling.LANCZOS)
        out[name] = _encode_jpeg(source)
    return out
