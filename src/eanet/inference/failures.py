"""Per-input failures of a prediction run, shared by images (:mod:`.runner`) and videos (:mod:`.video`).

A failure becomes a message for that input's entry and the other inputs go on: :func:`run_isolated` reruns a failed
batch one input at a time, :func:`failure_message` words any error for the user, and :class:`OutputWriteError` says
which outputs of an input were written before a write failed (e.g. the disk is full).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from eanet.errors import UserError
from eanet.fileio import is_disk_full
from eanet.inference.result import FailedPrediction

__all__ = ["OutputWriteError", "describe_write_error", "run_isolated", "failure_message", "strip_source_prefix"]

logger = logging.getLogger(__name__)


class OutputWriteError(UserError):
    """Some outputs of one input could not be written; ``written`` names the complete ones (name -> path)."""

    def __init__(self, message: str, written: dict[str, str]):
        super().__init__(message)
        self.written = dict(written)


def describe_write_error(err: OSError) -> str:
    """A short reason for a failed write, with what to do when the disk is full."""
    what = err.strerror or str(err)
    if is_disk_full(err):
        return f"{what}: the disk is full; free some space (or choose another --out) and run again"
    return what


def run_isolated(predictor, prepared: Sequence[Any], intrinsics: Any = None) -> list[Any]:
    """``predictor.run`` on a batch; when the batch fails, each input is run alone, so one input that breaks the
    network (or a batch too large for the device's memory) fails only itself.

    Returns:
        One :class:`~eanet.inference.result.ImagePrediction` or :class:`FailedPrediction` per input, in order.
    """
    try:
        return list(predictor.run(prepared, intrinsics=intrinsics))
    except Exception as err:  # noqa: BLE001 - isolated below
        if len(prepared) == 1:
            return [FailedPrediction(prepared[0].source, failure_message(err, prepared[0].source),
                                     prepared[0].frame_index)]  # fmt: skip
        logger.warning("a batch of %d inputs failed (%s: %s); running them one at a time", len(prepared),
                       type(err).__name__, err)  # fmt: skip
    return [result for item in prepared for result in run_isolated(predictor, [item], intrinsics)]


def failure_message(err: BaseException, source: str) -> str:
    """The message of one input's failure: a user error's own text, or the type and text of an unexpected error
    (its traceback goes to the log at DEBUG level)."""
    if isinstance(err, UserError):
        return strip_source_prefix(str(err), source)
    logger.debug("%s failed", source, exc_info=err)
    if isinstance(err, OSError):
        return strip_source_prefix(f"{describe_write_error(err)}" + (f": {err.filename}" if err.filename else ""), source)
    return f"unexpected error {type(err).__name__}: {err} (run `eanet -v predict ...` for the traceback)"


def strip_source_prefix(text: str, source: str) -> str:
    """``text`` without a leading ``"<source>: "`` (the entry already names its input)."""
    prefix = f"{source}: "
    return text[len(prefix) :] if text.startswith(prefix) else text
