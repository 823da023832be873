"""Inputs of inference: images given as paths, arrays or PIL images, and the files behind command-line arguments.

Every problem with one input is an :class:`InputError` (a :class:`~eanet.errors.InvalidInputError`) naming the input
and what to do, so a batch job reports it and goes on with the other inputs.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eanet.data.images import ImageReadError, read_image
from eanet.errors import InvalidInputError

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "MIN_IMAGE_SIDE_PX",
    "InputError",
    "InputItem",
    "load_image",
    "image_size_from_header",
    "as_rgb_array",
    "collect_inputs",
    "not_a_regular_file",
    "check_image_size",
    "parse_box",
]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
#: Smallest width or height of an image the predictor accepts. The crop is resampled to the network's input (256 px
#: for the released models): below this a pair of hands spans too few pixels to carry any pose, and the result would
#: be a guess presented as a prediction. The web demo's upload limit uses the same value.
MIN_IMAGE_SIDE_PX = 16


class InputError(InvalidInputError):
    """One input cannot be used (missing, unreadable, truncated, not an image, too large, undecodable video)."""

    def __init__(self, source: str, message: str):
        self.source = str(source)
        super().__init__(f"{source}: {message}")


@dataclass(frozen=True)
class InputItem:
    """One file to process: ``kind`` is ``image`` or ``video``; ``error`` is set for an argument that names nothing
    usable (an empty folder, a glob without matches, a missing path). ``box`` (xywh, ``box_format`` ``hands`` or
    ``crop``) overrides the run's crop choice for this item."""

    source: str
    kind: str
    path: Path | None = None
    error: str | None = None
    box: tuple[float, float, float, float] | None = None
    box_format: str = "hands"


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def parse_box(text: str | None) -> tuple[float, float, float, float]:
    """``"x, y, w, h"`` in pixels (commas and/or spaces, optionally in brackets) -> ``(x, y, w, h)``.

    The one parser of a box typed by a user (``--bbox`` of ``eanet predict`` and ``eanet analyze``, the web demo).

    Raises:
        InvalidInputError: not four numbers, or a width or height that is not positive; the message has an example.
    """
    numbers = re.findall(_NUMBER, text or "")
    rest = re.sub(_NUMBER, "", text or "")
    if len(numbers) != 4 or re.sub(r"[\s,;()\[\]]", "", rest):
        raise InvalidInputError(
            f"the box must be four numbers x, y, width, height in pixels (e.g. 120, 80, 300, 260); got {text!r}"
        )
    x, y, w, h = (float(n) for n in numbers)
    if not all(np.isfinite([x, y, w, h])) or w <= 0 or h <= 0:
        raise InvalidInputError(f"the box needs a positive width and height; got {text!r}")
    return x, y, w, h


def image_size_from_header(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` read from the file header without decoding the pixels; None when PIL cannot tell.

    Raises:
        InputError: PIL's decompression-bomb guard refuses the file (far more pixels than any photo).
    """
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
            with Image.open(path) as img:
                return int(img.size[0]), int(img.size[1])
    except Image.DecompressionBombError as err:
        raise InputError(str(path), f"the image is too large to decode safely ({err})") from None
    except Exception:  # noqa: BLE001 - formats PIL does not know are left to the decoder
        return None


def _check_pixels(source: str, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise InputError(
            source,
            f"the image is {width}x{height} ({width * height / 1e6:.0f} megapixels), more than the limit of "
            f"{max_pixels / 1e6:.0f} megapixels; downscale it, or raise inference.max_image_pixels if you trust it",
        )


def check_image_size(source: str, width: int, height: int) -> None:
    """:class:`InputError` when a side is below :data:`MIN_IMAGE_SIDE_PX` (the message gives the minimum)."""
    if min(width, height) < MIN_IMAGE_SIDE_PX:
        raise InputError(
            source,
            f"the image is {width}x{height} pixels, too small: each side needs at least {MIN_IMAGE_SIDE_PX} pixels "
            "(give the original photo, not a thumbnail)",
        )


_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)", "; save the stream to a file first"),
    (stat.S_ISSOCK, "a socket", ""),
    (stat.S_ISCHR, "a character device", ""),
    (stat.S_ISBLK, "a block device", ""),
)


def not_a_regular_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as an image or video file; None for a regular file, a folder or a path that does
    not exist at all (callers word "missing" themselves).

    Reading a FIFO or a device would block or never end, so these are refused by their type, before any read; a
    symbolic link whose target is missing is told apart from a missing file.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return f"is a broken symbolic link (its target {os.readlink(path)!r} does not exist)"
        return None
    except OSError as err:
        return f"cannot be inspected ({err.strerror or err})"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    for test, what, hint in _SPECIAL_KINDS:
        if test(mode):
            return f"is {what}, not a regular file; give an image or video file{hint}"
    return "is not a regular file; give an image or video file"


def load_image(path: str | Path, max_pixels: int = 100_000_000) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB.

    The size is checked from the header before decoding, so a huge image (or a decompression bomb) is refused
    without allocating its pixels.

    Raises:
        InputError: missing, empty, not a regular file, unreadable, truncated, not an image, or more than
            ``max_pixels`` pixels.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(str(path), "is a folder, not an image")
    problem = not_a_regular_file(path)
    if problem is not None:
        raise InputError(str(path), problem)
    if path.is_file():
        if path.stat().st_size == 0:
            raise InputError(str(path), "the file is empty (0 bytes): an interrupted download or copy?")
        header = image_size_from_header(path)
        if header is not None:
            _check_pixels(str(path), *header, max_pixels)
    try:
        img = read_image(path)
    except ImageReadError as err:
        what = {
            "missing": "the file does not exist",
            "unreadable": "the file cannot be read (permissions?)",
            "truncated": "the file is truncated (an incomplete download or copy?)",
            "corrupt": "the file is not an image OpenCV can decode",
        }.get(err.reason, err.reason)
        raise InputError(str(path), what) from None
    except Exception as err:  # noqa: BLE001 - a decoder failure (cv2.error, MemoryError) is this file's problem
        raise InputError(str(path), f"the file cannot be decoded as an image ({type(err).__name__}: {err})") from None
    _check_pixels(str(path), img.shape[1], img.shape[0], max_pixels)
    return img


def as_rgb_array(image: Any, source: str = "<array>", max_pixels: int = 100_000_000) -> np.ndarray:
    """A path, NumPy array or PIL image as ``(H, W, 3)`` uint8 RGB.

    Arrays are taken as RGB: ``(H, W, 3)`` or ``(H, W, 4)`` (alpha dropped) or ``(H, W)`` grey; uint8, or floats in
    ``[0, 1]``.
    """
    if isinstance(image, (str, Path)):
        return load_image(image, max_pixels)
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        _check_pixels(source, image.size[0], image.size[1], max_pixels)
        return np.asarray(image.convert("RGB"))
    if hasattr(image, "detach"):  # a torch tensor (H, W, 3)
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise InputError(source, f"expected a file path, a NumPy array or a PIL image, got {type(image).__name__}")
    arr = image
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise InputError(source, f"expected an (H, W, 3) RGB array, got shape {image.shape}")
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise InputError(source, f"the image is too small ({arr.shape[1]}x{arr.shape[0]})")
    _check_pixels(source, arr.shape[1], arr.shape[0], max_pixels)
    arr = arr[..., :3]
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or arr.min() < 0.0 or arr.max() > 1.0:
            raise InputError(source, "float images must hold finite values in [0, 1] (or pass uint8 0-255)")
        return np.ascontiguousarray(np.round(arr * 255.0).astype(np.uint8))
    raise InputError(source, f"unsupported array dtype {arr.dtype}; pass uint8 RGB or floats in [0, 1]")


def _kind_of(path: Path) -> str:
    return "video" if path.suffix.lower() in VIDEO_SUFFIXES else "image"


def _is_media_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES


def _folder_items(folder: Path, recursive: bool) -> list[Path]:
    """Entries with an image or video suffix, folders left out; FIFOs, devices and broken links are kept (they are
    reported as failed inputs, not silently skipped)."""
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if not p.name.startswith(".") and _is_media_name(p) and not p.is_dir())


def collect_inputs(arguments: Iterable[str], recursive: bool = False) -> list[InputItem]:
    """Expand command-line inputs (files, folders, glob patterns) into items, in argument order.

    A file named explicitly is used whatever its suffix (a non-image then fails when it is read, with its own
    message); folders and globs keep only image and video suffixes. An argument that yields nothing, and a path that
    is not a regular file (a FIFO, a device, a broken symbolic link), becomes an item with ``error`` set, so it is
    reported like any other failed input. Duplicates are dropped.
    """
    items: list[InputItem] = []
    seen: set[Path] = set()

    def add(path: Path, source: str) -> None:
        key = path.resolve()
        if key in seen:
            return
        seen.add(key)
        problem = not_a_regular_file(path)
        if problem is not None:
            items.append(InputItem(source=source, kind="special", path=path, error=problem))
        else:
            items.append(InputItem(source=source, kind=_kind_of(path), path=path))

    for arg in arguments:
        path = Path(arg).expanduser()
        if path.is_dir():
            found = _folder_items(path, recursive)
            if not found:
                items.append(InputItem(source=arg, kind="folder", error="the folder holds no images or videos "
                                       f"(suffixes {', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))})"))  # fmt: skip
            for p in found:
                add(p, str(p))
        elif path.is_file() or os.path.lexists(path):  # FIFOs, devices, broken links: reported by add()
            add(path, arg)
        elif glob.has_magic(arg):
            matches = sorted(Path(m) for m in glob.glob(str(path), recursive=True))
            files = [m for m in matches if not m.is_dir() and _is_media_name(m)]
            if not files:
                items.append(InputItem(source=arg, kind="glob", error="the pattern matches no images or videos"))
            for p in files:
                add(p, str(p))
        else:
            items.append(InputItem(source=arg, kind="missing", error="no such file or folder"))
    return items
