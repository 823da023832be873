"""Writing files so that a reader never sees a partial one: a temporary file in the same folder, then a rename.

``os.replace`` is atomic on POSIX and Windows when both names are on the same file system (hence the same folder),
so a write that fails half-way (disk full, a kill, an exception in the writer) leaves either the previous complete
file or the new complete file, never a truncated one, and no temporary file behind. Training checkpoints, prediction
outputs (JSON, meshes, renders) and the web demo's downloads all go through :func:`atomic_write`.

:func:`file_sha256` fingerprints files (hand models, checkpoints, data). Only the standard library is imported here,
so every package can use it without importing torch.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "atomic_write_bytes", "fsync_dir", "is_disk_full", "file_sha256"]


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (hand-model files, checkpoints and data files alike)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(directory: str | Path) -> None:
    """Flush a folder's entries (the rename itself) to disk; a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[Any], None], *, durable: bool = True) -> Path:
    """Write a file atomically: ``write(fileobj)`` fills a temporary binary file next to ``path``, then a rename.

    Args:
        path: the final file (its folder is created).
        write: called with the open temporary file (binary mode).
        durable: also ``fsync`` the file and its folder, so the new file survives a power cut (checkpoints). Without
            it the write is still all-or-nothing for every process, which is what per-frame outputs need.

    Raises:
        OSError: from creating, writing, flushing or renaming (e.g. ``ENOSPC``); the temporary file is removed and
            an existing ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()  # a full disk is reported here or by close(), before the rename
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)
    return path


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new, exclusively created ``.<name>.<random>.tmp`` next to ``path``.

    Not ``tempfile.mkstemp``: it creates files with mode 0600, so every output would lose the permissions the user's
    umask gives a normally written file; ``os.open`` with 0666 lets the kernel apply the umask.
    """
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file next to {path}")


def atomic_write_bytes(path: str | Path, data: bytes | str, *, durable: bool = False) -> Path:
    """:func:`atomic_write` of ready bytes (``str`` is encoded as UTF-8)."""
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return atomic_write(path, lambda f: f.write(payload), durable=durable)


def is_disk_full(err: BaseException) -> bool:
    """Whether an error means the disk (or the user's quota) is full."""
    import errno

    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)
