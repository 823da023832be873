"""Exceptions whose message is meant for the user: the CLI prints them without a traceback and exits with 2.

Every message says what is wrong and what to do about it.
"""

from __future__ import annotations

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
