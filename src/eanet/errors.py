"""Exceptions whose message is meant for the user: the CLI prints them without a traceback and exits with 2.

Every message says what is wrong and what to do about it.
"""

from __future__ import annotations


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
