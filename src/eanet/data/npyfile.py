"""Append rows to a ``.npy`` file whose length is not known in advance (bounded memory), and read its header.

The file is written with a fixed-size header that is rewritten with the final shape on :meth:`NpyAppender.close`, so a
half-written array (a crash during an index build) has a header that disagrees with the file size and is detected.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

__all__ = ["NpyAppender", "read_npy_header", "npy_data_offset"]

_MAGIC = b"\x93NUMPY\x01\x00"
_HEADER_LEN = 128  # total bytes before the data: magic (8) + length (2) + dict text padded with spaces + "\n"


def _header_bytes(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)})
    body_len = _HEADER_LEN - len(_MAGIC) - 2
    if len(text) + 1 > body_len:
        raise ValueError(f"npy header too long for shape {shape}")
    text = text.ljust(body_len - 1) + "\n"
    return _MAGIC + body_len.to_bytes(2, "little") + text.encode("latin1")


class NpyAppender:
    """Write a C-ordered ``(N, *row_shape)`` array row block by row block.

    Args:
        path: destination ``.npy`` file.
        dtype: element type.
        row_shape: shape of one row.
        block_rows: rows buffered in memory before they are written.
    """

    def __init__(self, path: str | Path, dtype: np.dtype | str, row_shape: tuple[int, ...] = (), block_rows: int = 65536):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.row_shape = tuple(row_shape)
        self.block_rows = block_rows
        self.rows = 0
        self._pending: list = []
        self._file = self.path.open("wb")
        self._file.write(_header_bytes(self.dtype, (0, *self.row_shape)))

    def append(self, row) -> None:
        """Buffer one row (anything ``np.asarray`` turns into ``row_shape``)."""
        self._pending.append(row)
        if len(self._pending) >= self.block_rows:
            self.flush()

    def extend(self, rows: np.ndarray) -> None:
        """Write a block of rows at once."""
        self.flush()
        block = np.ascontiguousarray(rows, dtype=self.dtype)
        if block.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path.name}: rows of shape {block.shape[1:]}, expected {self.row_shape}")
        self._file.write(block.tobytes())
        self.rows += block.shape[0]

    def flush(self) -> None:
        if not self._pending:
            return
        block = np.asarray(self._pending, dtype=self.dtype)
        self._pending = []
        if block.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path.name}: rows of shape {block.shape[1:]}, expected {self.row_shape}")
        self._file.write(np.ascontiguousarray(block).tobytes())
        self.rows += block.shape[0]

    def close(self) -> int:
        """Write what is buffered, fix the header, close; returns the number of rows."""
        self.flush()
        self._file.seek(0)
        self._file.write(_header_bytes(self.dtype, (self.rows, *self.row_shape)))
        self._file.close()
        return self.rows

    def abort(self) -> None:
        self._file.close()


def read_npy_header(path: str | Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """``(dtype, shape, data_offset)`` of a ``.npy`` file (version 1 or 2 headers), without reading the data."""
    with Path(path).open("rb") as f:
        magic = f.read(8)
        if magic[:6] != b"\x93NUMPY":
            raise ValueError(f"{path} is not a .npy file")
        major = magic[6]
        length = int.from_bytes(f.read(2 if major == 1 else 4), "little")
        header = ast.literal_eval(f.read(length).decode("latin1"))
        offset = 8 + (2 if major == 1 else 4) + length
    if header.get("fortran_order"):
        raise ValueError(f"{path}: Fortran-ordered arrays are not used by the index")
    return np.dtype(header["descr"]), tuple(header["shape"]), offset


def npy_data_offset(path: str | Path) -> int:
    return read_npy_header(path)[2]
