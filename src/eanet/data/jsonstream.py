"""Streaming reader for large JSON files with bounded memory (InterHand2.6M's annotation files).

InterHand2.6M's train annotations are JSON documents of about a gigabyte; ``json.load`` of all four takes tens of
gigabytes per process (InterHand2.6M issue #60). :func:`iter_json_items` walks the containers above a chosen depth
with a small hand-written tokenizer and decodes each value *at* that depth with the standard library's C decoder
(``json.JSONDecoder.raw_decode``), so memory stays at one read chunk plus one item, and decoding runs at C speed.

Example: ``iter_json_items(path, depth=2)`` over ``{"images": [{...}, ...], "annotations": [...]}`` yields
``(("images", 0), {...})``, ``(("images", 1), {...})``, ...; over ``joint_3d.json``
(``{capture: {frame: {...}}}``) it yields ``((capture, frame), {...})``.

A malformed or truncated file raises :class:`JSONFormatError`, whose message names the file, the line, the column
and the character offset.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from eanet.errors import InvalidInputError

__all__ = ["JSONFormatError", "iter_json_items"]

_WS = re.compile(r"[ \t\n\r]*")
# A value that fails to decode this close to the end of the buffer may just be cut by the buffer: read more first.
_TAIL = 1 << 16


class JSONFormatError(InvalidInputError):
    """An annotation file is not valid JSON, or not shaped as expected; the message gives the position."""


class _Reader:
    def __init__(self, path: Path, chunk_chars: int, max_item_chars: int) -> None:
        self.path = path
        self.file = path.open("r", encoding="utf-8", newline="")
        self.chunk_chars = chunk_chars
        self.max_item_chars = max_item_chars
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.offset = 0  # characters of the file before buf[0]
        self.lines = 0  # newlines of the file before buf[0]

    def close(self) -> None:
        self.file.close()

    def fill(self, need: int = 1) -> bool:
        """Make sure ``need`` characters are available at ``pos`` (unless EOF). Returns False at EOF with none left."""
        while len(self.buf) - self.pos < need and not self.eof:
            if self.pos:
                dropped = self.buf[: self.pos]
                self.offset += len(dropped)
                self.lines += dropped.count("\n")
                self.buf = self.buf[self.pos :]
                self.pos = 0
            chunk = self.file.read(max(self.chunk_chars, need))
            if not chunk:
                self.eof = True
            self.buf += chunk
        return len(self.buf) - self.pos > 0

    def skip_ws(self) -> bool:
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return True
            if not self.fill():
                return False

    def error(self, message: str, pos: int | None = None) -> JSONFormatError:
        pos = self.pos if pos is None else pos
        line = self.lines + self.buf.count("\n", 0, pos) + 1
        col = pos - (self.buf.rfind("\n", 0, pos) + 1) + 1
        return JSONFormatError(
            f"{self.path}: line {line}, column {col} (character {self.offset + pos}): {message}. "
            "The file is malformed or truncated: check it, or download it again."
        )

    def peek(self, what: str) -> str:
        if not self.skip_ws():
            raise self.error(f"unexpected end of file, expected {what}")
        return self.buf[self.pos]

    def decode(self, decoder: json.JSONDecoder) -> Any:
        """Decode one JSON value at ``pos`` with the C decoder, reading more of the file while it is cut off."""
        while True:
            try:
                value, end = decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as err:
                near_end = err.pos >= len(self.buf) - _TAIL or err.msg.startswith("Unterminated string")
                if self.eof or not near_end:
                    raise self.error(err.msg, err.pos) from None
                have = len(self.buf) - self.pos
                if have >= self.max_item_chars:
                    raise self.error(f"a value longer than {self.max_item_chars} characters", self.pos) from None
                self.fill(min(2 * have + self.chunk_chars, self.max_item_chars))
                continue
            if end == len(self.buf) and not self.eof:
                # A number at the very end of the buffer may continue in the next chunk.
                self.fill(len(self.buf) - self.pos + self.chunk_chars)
                continue
            self.pos = end
            return value


def iter_json_items(
    path: str | Path,
    depth: int,
    *,
    chunk_chars: int = 1 << 22,
    max_item_chars: int = 1 << 28,
) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Yield ``(key_path, value)`` for every value at ``depth`` of a JSON document, in file order.

    Args:
        path: the JSON file.
        depth: 1 for the members of the top-level container, 2 for their members, ...; the containers above it must
            be objects or arrays (anything else is a :class:`JSONFormatError`).
        chunk_chars: characters read at a time.
        max_item_chars: the largest single value accepted (a guard against a file that is one huge value).

    Yields:
        ``key_path``: object keys (``str``) and array positions (``int``) from the top down, ``len == depth``;
        ``value``: the decoded value (``dict``, ``list``, ``str``, number, ``None``).
    """
    if depth < 1:
        raise ValueError("depth must be >= 1")
    path = Path(path)
    reader = _Reader(path, chunk_chars, max_item_chars)
    decoder = json.JSONDecoder()
    try:
        reader.fill()
        stack: list[list[Any]] = []  # [kind, key or index, count]
        first = reader.peek("a JSON object or array")
        if first not in "{[":
            raise reader.error("expected a JSON object or array at the top level")
        reader.pos += 1
        stack.append([first, None, 0])
        while stack:
            kind, _, count = stack[-1]
            close = "}" if kind == "{" else "]"
            c = reader.peek(f"{close!r} or a value")
            if c == close:
                reader.pos += 1
                stack.pop()
                if stack:
                    stack[-1][2] += 1
                continue
            if count:
                if c != ",":
                    raise reader.error(f"expected ',' or {close!r}")
                reader.pos += 1
                reader.peek("a value")
            if kind == "{":
                if reader.buf[reader.pos] != '"':
                    raise reader.error("expected an object key (a string)")
                key = reader.decode(decoder)
                if reader.peek("':'") != ":":
                    raise reader.error("expected ':' after an object key")
                reader.pos += 1
                reader.peek("a value")
            else:
                key = count
            stack[-1][1] = key
            if len(stack) == depth:
                value = reader.decode(decoder)
                yield tuple(s[1] for s in stack), value
                stack[-1][2] += 1
            else:
                c = reader.buf[reader.pos]
                if c not in "{[":
                    keys = "/".join(str(s[1]) for s in stack)
                    raise reader.error(f"expected an object or array at {keys!r}")
                reader.pos += 1
                stack.append([c, None, 0])
        if reader.skip_ws():
            raise reader.error("extra data after the JSON document")
    finally:
        reader.close()
