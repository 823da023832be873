"""Exceptions whose message is meant for the user: the CLI prints them without a traceback and exits with 2.

Every message says what is wrong and what to do about it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

#: What to do about a checkpoint or exported file whose recorded metadata is damaged.
DAMAGED_FILE_REMEDY = "the file was damaged or edited; download or copy it again from where it came from"


class UserError(Exception):
    """Base class of errors caused by input, files or configuration, not by a bug."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or directory the user must provide is not where we looked."""


class InvalidInputError(UserError, ValueError):
    """An argument, tensor or file has the wrong shape, type or content."""


class UnsafeFileError(UserError):
    """A file asks to run code or import something it must not (e.g. a crafted pickle)."""


class CheckpointMismatchError(UserError):
    """A checkpoint does not fit the architecture or hand model it is loaded into."""


def describe_key_mismatch(
    missing: Sequence[str], unexpected: Sequence[str], wrong_shapes: Sequence[str], *, keys: str = "keys", limit: int = 8
) -> str:
    """The one wording, in every :class:`CheckpointMismatchError`, of weights that do not fit a model:
    ``missing keys 2: a, b; unexpected keys 1: c; wrong shapes 1: d (4,) (expected (3,))``.

    Each list is sorted and cut to ``limit`` entries, followed by how many more there are. ``keys`` names the key
    space (``"official keys"`` when the names are the official release's).
    """

    def listing(label: str, items: Sequence[str]) -> str:
        items = sorted(items)
        more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
        return f"{label} {len(items)}: {', '.join(items[:limit])}{more}"

    parts = [
        listing(label, items)
        for label, items in ((f"missing {keys}", missing), (f"unexpected {keys}", unexpected), ("wrong shapes", wrong_shapes))
        if items
    ]
    return "; ".join(parts)


def state_shape_mismatch(expected: Mapping[str, Sequence[int]], given: Mapping[str, Sequence[int]]) -> str:
    """:func:`describe_key_mismatch` of a state dict's shapes (``given``) against a model's (``expected``); ``""``
    when every key is there with its shape and there are no others."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    wrong = [
        f"{k} {tuple(given[k])} (expected {tuple(expected[k])})"
        for k in expected
        if k in given and tuple(given[k]) != tuple(expected[k])
    ]
    return describe_key_mismatch(missing, unexpected, wrong)


class DiskFullError(UserError, OSError):
    """A write failed because the file system holding the file is full (or the user's quota is spent)."""


def disk_full_cause(err: BaseException) -> OSError | None:
    """The "no space left" / "quota exceeded" :class:`OSError` behind ``err``, or None.

    Looks through ``err``'s cause and context chain: ``torch.save`` to a file object reports a failed write as a
    ``RuntimeError`` ("unexpected pos ...") whose context is the ``OSError(ENOSPC)`` raised by the file's ``write``.
    """
    import errno

    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return current
        current = current.__cause__ or current.__context__
    return None
