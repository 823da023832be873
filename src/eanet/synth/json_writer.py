"""Streaming JSON writers for the InterHand2.6M release files, with bounded memory.

The release's annotation files are single JSON documents:

* ``_data.json``: ``{"images": [...], "annotations": [...]}`` (COCO), written by :class:`CocoJsonWriter`;
* ``_joint_3d.json`` and ``_MANO_NeuralAnnot.json``: ``{capture: {frame: value}}``, written by
  :class:`NestedJsonWriter`;
* ``_camera.json``: small (one entry per capture and camera), written in one go by :func:`write_json`.

Every writer writes to ``<name>.partial`` and renames the file into place on :meth:`close`, so an interrupted run
never leaves a truncated file under the real name. Output is compact (no spaces) and deterministic: the same values
in the same order give the same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

__all__ = ["CocoJsonWriter", "NestedJsonWriter", "write_json", "dumps"]


def dumps(value: Any) -> str:
    """Compact, deterministic JSON text (keys in insertion order, no NaN allowed)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Write one JSON document atomically (``.partial`` then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(dumps(value), encoding="utf-8")
    os.replace(tmp, path)


class CocoJsonWriter:
    """Streams a COCO ``{"images": [...], "annotations": [...]}`` document.

    Images go straight to the output; annotations go to a side file that is appended when the writer closes, so
    memory does not grow with the dataset.

    Args:
        path: the final ``.json`` path.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(self.path.name + ".partial")
        self._ann_tmp = self.path.with_name(self.path.name + ".annotations.partial")
        self._out = self._tmp.open("w", encoding="utf-8")
        self._ann = self._ann_tmp.open("w+", encoding="utf-8")
        self._out.write('{"images":[')
        self.num_images = 0
        self.num_annotations = 0
        self._closed = False

    def add_image(self, image: dict) -> None:
        self._out.write(("," if self.num_images else "") + dumps(image))
        self.num_images += 1

    def add_annotation(self, annotation: dict) -> None:
        self._ann.write(("," if self.num_annotations else "") + dumps(annotation))
        self.num_annotations += 1

    def close(self) -> None:
        """Finish the document and move it into place."""
        if self._closed:
            return
        self._out.write('],"annotations":[')
        self._ann.seek(0)
        shutil.copyfileobj(self._ann, self._out)
        self._out.write("]}")
        self._out.close()
        self._ann.close()
        self._ann_tmp.unlink()
        os.replace(self._tmp, self.path)
        self._closed = True

    def abort(self) -> None:
        """Close and delete the partial files (after an error)."""
        for f in (self._out, self._ann):
            if not f.closed:
                f.close()
        for p in (self._tmp, self._ann_tmp):
            p.unlink(missing_ok=True)
        self._closed = True


class NestedJsonWriter:
    """Streams ``{outer: {inner: value}}`` where all entries of one ``outer`` key are added consecutively.

    This is the shape of ``_joint_3d.json`` and ``_MANO_NeuralAnnot.json`` (``{capture: {frame: ...}}``). Keys are
    written as strings, as in the release.

    Args:
        path: the final ``.json`` path.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(self.path.name + ".partial")
        self._out = self._tmp.open("w", encoding="utf-8")
        self._out.write("{")
        self._outer: str | None = None
        self._seen_outer: set[str] = set()
        self._inner_count = 0
        self._closed = False

    def add(self, outer: int | str, inner: int | str, value: Any) -> None:
        outer, inner = str(outer), str(inner)
        if outer != self._outer:
            if outer in self._seen_outer:
                raise ValueError(f"entries of key {outer!r} must be added consecutively; it was already closed")
            if self._outer is not None:
                self._out.write("},")
            self._out.write(dumps(outer) + ":{")
            self._outer = outer
            self._seen_outer.add(outer)
            self._inner_count = 0
        self._out.write(("," if self._inner_count else "") + dumps(inner) + ":" + dumps(value))
        self._inner_count += 1

    def close(self) -> None:
        if self._closed:
            return
        self._out.write("}}" if self._outer is not None else "}")
        self._out.close()
        os.replace(self._tmp, self.path)
        self._closed = True

    def abort(self) -> None:
        if not self._out.closed:
            self._out.close()
        self._tmp.unlink(missing_ok=True)
        self._closed = True
