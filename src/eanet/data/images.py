"""Reading dataset images, telling a missing file from a corrupt or truncated one.

``cv2.imread`` returns ``None`` for both missing and undecodable files, and it silently decodes a truncated JPEG
(libjpeg fills the rest with grey and only prints "Premature end of JPEG file"). A two-day training run must skip
such a sample and report it, so reading goes through :func:`read_image`, which raises :class:`ImageReadError` with a
reason.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

__all__ = ["ImageReadError", "read_image", "ImageFileCheck", "check_image_files"]

_JPEG_SOI = b"\xff\xd8"
_JPEG_EOI = b"\xff\xd9"
_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"IEND\xaeB`\x82"


class ImageReadError(OSError):
    """An image could not be used. ``reason`` is ``missing``, ``unreadable``, ``truncated`` or ``corrupt``."""

    def __init__(self, path: str | Path, reason: str, detail: str = ""):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}{': ' + detail if detail else ''}")


def read_image(path: str | Path) -> np.ndarray:
    """Read an image as ``(H, W, 3)`` uint8 **RGB** (the official ``load_img`` order).

    Raises:
        ImageReadError: the file is missing, unreadable, truncated (JPEG without its end marker, PNG without
            ``IEND``) or does not decode.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ImageReadError(path, "missing") from None
    except OSError as err:
        raise ImageReadError(path, "unreadable", str(err)) from None
    if data[:2] == _JPEG_SOI:
        # Some writers pad after the end-of-image marker; anything else after it is still a complete image.
        if _JPEG_EOI not in data[-64:]:
            raise ImageReadError(path, "truncated", "the JPEG end-of-image marker is missing")
    elif data[:8] == _PNG_SIG and _PNG_IEND not in data[-64:]:
        raise ImageReadError(path, "truncated", "the PNG IEND chunk is missing")
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None or img.ndim != 3 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ImageReadError(path, "corrupt", "the file does not decode as an image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@dataclass
class ImageFileCheck:
    """What :func:`check_image_files` found: counts by problem and the first few bad paths."""

    #: Files looked at.
    checked: int = 0
    #: ``problem -> count`` for ``missing``, ``empty`` (0 bytes), ``not a regular file`` and ``unreadable``.
    problems: dict[str, int] = field(default_factory=dict)
    #: ``(path, problem)`` of the first bad files, in the order checked.
    examples: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def bad(self) -> int:
        return sum(self.problems.values())

    def summary(self) -> str:
        """``"3 of 120 image files ... (2 missing, 1 empty); first: a.jpg (missing), ..."``; empty when all is well."""
        if not self.bad:
            return ""
        counts = ", ".join(f"{n} {problem}" for problem, n in sorted(self.problems.items()))
        shown = ", ".join(f"{path} ({problem})" for path, problem in self.examples)
        more = f", ... ({self.bad - len(self.examples)} more)" if self.bad > len(self.examples) else ""
        return f"{self.bad:,} of {self.checked:,} image files cannot be used ({counts}); first: {shown}{more}"


def check_image_files(paths: Iterable[str | os.PathLike], max_examples: int = 10) -> ImageFileCheck:
    """Check that every path is a non-empty regular file, with one ``stat`` each (no reading, no decoding).

    This catches what a partial download or copy leaves behind (missing files, 0-byte files) in seconds for a
    million images, before a run starts; truncated or corrupt contents are only found when an image is decoded
    (:func:`read_image`).
    """
    report = ImageFileCheck()
    t0 = time.perf_counter()
    for path in paths:
        report.checked += 1
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            problem = "missing"
        except OSError:
            problem = "unreadable"
        else:
            if not stat.S_ISREG(st.st_mode):
                problem = "not a regular file"
            elif st.st_size == 0:
                problem = "empty"
            else:
                continue
        report.problems[problem] = report.problems.get(problem, 0) + 1
        if len(report.examples) < max_examples:
            report.examples.append((str(path), problem))
    report.seconds = time.perf_counter() - t0
    return report
