"""Uploads to the web demo: bytes in memory -> checked RGB pixels. No name or path sent by the browser is ever used.

Checks, in order, before any pixel is decoded:

1. size of the upload in bytes (``max_bytes``);
2. the file's type from its first bytes (magic numbers), not from its name or the browser's MIME type: JPEG, PNG,
   WebP or BMP only;
3. the format PIL reads from the header must be the sniffed one (a PNG that claims to be a JPEG is refused);
4. the pixel count from the header (``max_pixels``), so a small file that inflates to a huge image (a
   decompression bomb) is refused without allocating it.

Then the first frame is decoded, EXIF orientation applied (phone photos), and converted to ``(H, W, 3)`` uint8 RGB.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np

from eanet.errors import InvalidInputError
from eanet.inference.inputs import MIN_IMAGE_SIDE_PX

__all__ = ["ALLOWED_TYPES", "UploadError", "UploadLimits", "sniff_image_type", "decode_upload"]

#: Accepted image types: name -> PIL format name.
ALLOWED_TYPES: dict[str, str] = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "bmp": "BMP"}
#: File-name suffixes offered by the upload widget (a hint for the browser's file chooser; the bytes decide).
ALLOWED_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


class UploadError(InvalidInputError):
    """An upload that the demo refuses; the message is shown to the user as is."""


@dataclass(frozen=True)
class UploadLimits:
    """Limits on one uploaded image.

    Attributes:
        max_bytes: largest upload accepted (also given to Gradio, which stops larger uploads while they stream).
        max_pixels: largest width x height accepted (checked from the header before decoding).
        min_side: smallest width or height accepted (default: the predictor's own minimum).
    """

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    min_side: int = MIN_IMAGE_SIDE_PX

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_pixels < 1 or self.min_side < 1:
            raise ValueError("upload limits must be positive")


def sniff_image_type(data: bytes) -> str | None:
    """The image type of ``data`` from its magic number (``jpeg``, ``png``, ``webp``, ``bmp``), else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:2] == b"BM" and len(data) >= 26:
        return "bmp"
    return None


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def decode_upload(data: bytes, limits: UploadLimits = UploadLimits()) -> np.ndarray:
    """Check and decode an uploaded image held in memory.

    Args:
        data: the uploaded file's bytes.
        limits: size, pixel and side limits.

    Returns:
        ``(H, W, 3)`` uint8 RGB.

    Raises:
        UploadError: empty, too large, not an accepted type, damaged, or too many/too few pixels.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise UploadError(f"expected the uploaded file's bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise UploadError("the uploaded file is empty")
    if len(data) > limits.max_bytes:
        raise UploadError(
            f"the file is {_megabytes(len(data))}, more than the limit of {_megabytes(limits.max_bytes)}; "
            "upload a smaller JPEG or PNG"
        )
    kind = sniff_image_type(data)
    if kind is None:
        raise UploadError("the file is not a JPEG, PNG, WebP or BMP image (judged by its content, not its name)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own pixel limit decides
            with Image.open(io.BytesIO(data), formats=[ALLOWED_TYPES[kind]]) as img:
                width, height = img.size
                if width * height > limits.max_pixels:
                    raise UploadError(
                        f"the image is {width}x{height} ({width * height / 1e6:.1f} megapixels), more than the limit "
                        f"of {limits.max_pixels / 1e6:.0f} megapixels; downscale it"
                    )
                if min(width, height) < limits.min_side:
                    raise UploadError(f"the image is {width}x{height}; each side needs at least {limits.min_side} px")
                img.seek(0)  # the first frame of an animated WebP
                img.load()
                img = ImageOps.exif_transpose(img)
                rgb = np.asarray(img.convert("RGB"))
    except UploadError:
        raise
    except Image.DecompressionBombError as err:
        raise UploadError(f"the image is too large to decode safely ({err})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as err:
        raise UploadError(f"the {kind.upper()} file is damaged or truncated and cannot be decoded ({err})") from None
    return np.ascontiguousarray(rgb)
