"""Compact, memory-mapped index of an InterHand2.6M split's four annotation files.

``json.load`` of the train annotations and one Python dict per annotation cost the official loader about 100 GB of
RAM on two GPUs (InterHand2.6M issue #60). The index is built once per split by a streaming conversion
(:func:`eanet.data.jsonstream.iter_json_items`: bounded memory, C-speed decoding) into a directory of ``.npy``
arrays, which datasets open with ``mmap_mode="r"`` on first use: a data-loader worker maps the files and touches only
the rows it reads, so its memory does not grow with the dataset, and pages are shared between workers.

Layout of an index directory::

    header.json                 schema version, source fingerprints, row counts, string table, per-array CRC32
    images/{id,width,height,capture,subject,seq,camera,frame_idx,file_offsets,file_blob}.npy
    annotations/{id,image_id,bbox,joint_valid,hand_type,hand_type_valid,image_row,joints_row,mano_row,camera_row}.npy
    joints/{capture,frame_idx,world_coord,joint_valid,hand_type,seq}.npy
    mano/{capture,frame_idx,pose,shape,trans,valid}.npy
    cameras/{capture,camera,campos,camrot,focal,princpt}.npy
    derived/                    caches computed from the index by readers (e.g. the filtered sample list)

The arrays hold the release's numbers as they are in the JSON (millimetres, release joint order, world frame):
floats as float32, validity flags as uint8, strings (sequence names, camera names) interned as int32 ids into
``header["strings"]``, hand types as 0 right / 1 left / 2 interacting (255 unknown). ``*_row`` columns link an
annotation to its image, 3D joints, hand-model parameters and camera (-1: the release has none). Conversion to the
project's conventions happens in :mod:`eanet.data.release`, not here.

Staleness and corruption: the header records each source file's size, modification time, a SHA-256 of its whole
content and one of samples of it (first and last MiB plus 64 blocks spread over the file). :func:`open_index`
compares sizes and the sampled digests (a few milliseconds; a copied-back or touched file is not rebuilt for its
mtime) and rebuilds (with a log line) when a source changed, and when the index is missing, from another schema
version, truncated or has a bad header; when the sources are gone it raises a :class:`IndexCorruptError` that says
what to do. ``eanet index check`` compares the whole-content digests (any edit, whatever the file's mtime says) and
verifies every array's CRC32; ``--quick`` compares sizes and sampled digests only.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import resource
import shutil
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from eanet.data.jsonstream import JSONFormatError, iter_json_items
from eanet.data.npyfile import NpyAppender, read_npy_header
from eanet.data.release import HAND_TYPE_CODES, ReleasePaths
from eanet.errors import UserError
from eanet.fileio import file_sha256

__all__ = [
    "SCHEMA_VERSION",
    "TABLES",
    "AnnotationIndex",
    "IndexCorruptError",
    "build_index",
    "open_index",
    "check_index",
    "default_index_dir",
    "source_fingerprint",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
UNKNOWN_HAND_TYPE = 255
_FINGERPRINT_BYTES = 1 << 20
#: The sampled digest also reads this many blocks of ``_SAMPLE_BLOCK_BYTES`` spread evenly over the file.
_SAMPLE_BLOCKS = 64
_SAMPLE_BLOCK_BYTES = 4096

#: Columns of each table: name -> (dtype, row shape).
TABLES: dict[str, dict[str, tuple[str, tuple[int, ...]]]] = {
    "images": {
        "id": ("<i8", ()),
        "width": ("<i4", ()),
        "height": ("<i4", ()),
        "capture": ("<i4", ()),
        "subject": ("<i4", ()),
        "seq": ("<i4", ()),
        "camera": ("<i4", ()),
        "frame_idx": ("<i4", ()),
        "file_offsets": ("<i8", ()),  # rows + 1 entries: file name i is file_blob[off[i]:off[i+1]] (UTF-8)
        "file_blob": ("|u1", ()),
    },
    "annotations": {
        "id": ("<i8", ()),
        "image_id": ("<i8", ()),
        "bbox": ("<f4", (4,)),
        "joint_valid": ("|u1", (42,)),
        "hand_type": ("|u1", ()),
        "hand_type_valid": ("|u1", ()),
        "image_row": ("<i4", ()),
        "joints_row": ("<i4", ()),
        "mano_row": ("<i4", ()),
        "camera_row": ("<i4", ()),
    },
    "joints": {
        "capture": ("<i4", ()),
        "frame_idx": ("<i4", ()),
        "world_coord": ("<f4", (42, 3)),
        "joint_valid": ("|u1", (42,)),
        "hand_type": ("|u1", ()),
        "seq": ("<i4", ()),
    },
    "mano": {
        "capture": ("<i4", ()),
        "frame_idx": ("<i4", ()),
        "pose": ("<f4", (2, 48)),
        "shape": ("<f4", (2, 10)),
        "trans": ("<f4", (2, 3)),
        "valid": ("|u1", (2,)),
    },
    "cameras": {
        "capture": ("<i4", ()),
        "camera": ("<i4", ()),
        "campos": ("<f4", (3,)),
        "camrot": ("<f4", (3, 3)),
        "focal": ("<f4", (2,)),
        "princpt": ("<f4", (2,)),
    },
}


class IndexCorruptError(UserError):
    """The annotation index is unusable and cannot be rebuilt (e.g. the source JSON files are gone)."""


# ----------------------------------------------------------------------------------------------------------------
# fingerprints and locations


def source_fingerprint(path: Path, with_hash: bool = True, full_hash: bool = False) -> dict[str, Any]:
    """Size, mtime and SHA-256 digests of a file.

    ``with_hash`` adds ``sha256_head_tail`` (first and last MiB) and ``sha256_sampled`` (those plus
    ``_SAMPLE_BLOCKS`` blocks spread evenly over the file: a few milliseconds, catches re-downloads, other releases
    and most edits); ``full_hash`` adds ``sha256`` of the whole content (reads the file once, ~1 GB/s).
    """
    st = path.stat()
    out: dict[str, Any] = {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if with_hash:
        head_tail = hashlib.sha256()
        sampled = hashlib.sha256(f"{st.st_size}|".encode())
        with path.open("rb") as f:
            head = f.read(_FINGERPRINT_BYTES)
            head_tail.update(head)
            sampled.update(head)
            for k in range(_SAMPLE_BLOCKS):
                f.seek(st.st_size * k // _SAMPLE_BLOCKS)
                sampled.update(f.read(_SAMPLE_BLOCK_BYTES))
            if st.st_size > 2 * _FINGERPRINT_BYTES:
                f.seek(st.st_size - _FINGERPRINT_BYTES)
                tail = f.read(_FINGERPRINT_BYTES)
                head_tail.update(tail)
                sampled.update(tail)
        out["sha256_head_tail"] = head_tail.hexdigest()
        out["sha256_sampled"] = sampled.hexdigest()
    if full_hash:
        out["sha256"] = file_sha256(path)
    return out


def default_index_dir(paths: ReleasePaths, cache_dir: str | Path | None = None) -> Path:
    """``<cache_dir>/<split>-<hash of the annotation folder>``, or ``annotations/<split>/.eanet_index`` when no cache
    directory is configured and that folder is writable, else ``~/.cache/eanet/index/...``."""
    ann_dir = paths.data.parent.resolve()
    tag = f"{paths.split}-{hashlib.sha1(str(ann_dir).encode()).hexdigest()[:12]}"
    if cache_dir is not None:
        return Path(cache_dir) / tag
    if os.access(ann_dir, os.W_OK):
        return ann_dir / ".eanet_index"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "eanet" / "index" / tag


# ----------------------------------------------------------------------------------------------------------------
# the index


class _Table:
    """Lazily memory-mapped columns of one table; picklable (workers re-open the files)."""

    def __init__(self, directory: Path, name: str):
        self.directory = directory
        self.name = name
        self._columns: dict[str, np.ndarray] = {}

    def __getitem__(self, column: str) -> np.ndarray:
        arr = self._columns.get(column)
        if arr is None:
            if column not in TABLES[self.name]:
                raise KeyError(f"index table {self.name!r} has no column {column!r}")
            # A plain ndarray view of the map (the map stays alive as its base): np.memmap's per-index overhead
            # is several microseconds, paid ~30 times per sample.
            arr = np.load(self.directory / self.name / f"{column}.npy", mmap_mode="r").view(np.ndarray)
            self._columns[column] = arr
        return arr

    def __len__(self) -> int:
        return int(self["id" if "id" in TABLES[self.name] else "capture"].shape[0])

    def __getstate__(self) -> dict:
        return {"directory": self.directory, "name": self.name}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["directory"], state["name"])


class AnnotationIndex:
    """An opened index directory. Columns are memory-mapped on first access: ``index.annotations["joint_valid"]``.

    Attributes:
        directory: the index directory.
        header: the parsed ``header.json``.
        strings: the interned string table (sequence and camera names).
    """

    def __init__(self, directory: str | Path, header: dict[str, Any]):
        self.directory = Path(directory)
        self.header = header
        self.strings: list[str] = header["strings"]
        self.images = _Table(self.directory, "images")
        self.annotations = _Table(self.directory, "annotations")
        self.joints = _Table(self.directory, "joints")
        self.mano = _Table(self.directory, "mano")
        self.cameras = _Table(self.directory, "cameras")

    @property
    def num_annotations(self) -> int:
        return int(self.header["counts"]["annotations"])

    def file_name(self, image_row: int) -> str:
        off = self.images["file_offsets"]
        return bytes(self.images["file_blob"][int(off[image_row]) : int(off[image_row + 1])]).decode("utf-8")

    def derived_dir(self) -> Path:
        path = self.directory / "derived"
        path.mkdir(exist_ok=True)
        return path

    @classmethod
    def open(cls, directory: str | Path) -> AnnotationIndex:
        """Open without checking the sources (see :func:`open_index` for the checked route)."""
        directory = Path(directory)
        header = _read_header(directory)
        problems = _quick_problems(directory, header)
        if problems:
            raise IndexCorruptError(f"annotation index {directory} is corrupt: {'; '.join(problems)}")
        return cls(directory, header)


def _read_header(directory: Path) -> dict[str, Any]:
    try:
        header = json.loads((directory / "header.json").read_text())
    except FileNotFoundError:
        raise IndexCorruptError(f"{directory} holds no annotation index (header.json is missing)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise IndexCorruptError(f"{directory}/header.json is not valid JSON ({err})") from None
    if not isinstance(header, dict) or header.get("schema_version") != SCHEMA_VERSION:
        found = header.get("schema_version") if isinstance(header, dict) else None
        raise IndexCorruptError(f"{directory} has index schema {found}, this version reads {SCHEMA_VERSION}")
    return header


def _quick_problems(directory: Path, header: dict[str, Any]) -> list[str]:
    """Missing or truncated arrays, and arrays whose npy header disagrees with ``header.json`` (stat + tiny reads)."""
    problems = []
    columns = header.get("columns", {})
    for table, cols in TABLES.items():
        for col, (dtype, _) in cols.items():
            key = f"{table}/{col}"
            meta = columns.get(key)
            path = directory / table / f"{col}.npy"
            if meta is None:
                problems.append(f"{key} is not listed in header.json")
                continue
            try:
                found_dtype, shape, offset = read_npy_header(path)
            except (OSError, ValueError, SyntaxError) as err:
                problems.append(f"{key}: {err}")
                continue
            expected = offset + int(np.prod(meta["shape"], dtype=np.int64)) * np.dtype(dtype).itemsize
            size = path.stat().st_size
            if list(shape) != list(meta["shape"]) or found_dtype != np.dtype(dtype) or size != expected:
                problems.append(f"{key}: shape {shape} / {size} bytes, expected {tuple(meta['shape'])} / {expected}")
    return problems


def check_index(directory: str | Path, full: bool = True) -> list[str]:
    """Problems found in an index directory (empty list: fine). ``full`` also verifies every array's CRC32."""
    directory = Path(directory)
    try:
        header = _read_header(directory)
    except IndexCorruptError as err:
        return [str(err)]
    problems = _quick_problems(directory, header)
    if full and not problems:
        for key, meta in header["columns"].items():
            if _crc32(directory / f"{key}.npy") != meta["crc32"]:
                problems.append(f"{key}: CRC32 mismatch (the file was modified or damaged)")
    return problems


def _crc32(path: Path) -> int:
    crc = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            crc = zlib.crc32(chunk, crc)
    return crc


def _stale_sources(header: dict[str, Any], paths: ReleasePaths, full: bool = False) -> list[str]:
    """The source files that differ from when the index was built, each as ``"<file name> (<what differs>)"``.

    Sizes first; then the content, whatever the modification time says (a file copied back, or edited with its
    mtime restored, keeps a stale index otherwise): ``full`` compares the whole-content SHA-256 (``eanet index
    check``), else the sampled one (every dataset open). Indexes of older versions recorded neither: their sources
    are compared by the head-and-tail digest when the mtime changed, and a full check reports that it cannot verify
    them.
    """
    from concurrent.futures import ThreadPoolExecutor

    sources = header.get("sources", {})
    stale: dict[str, str] = {}
    to_hash: dict[str, Path] = {}
    for kind, path in paths.annotation_files().items():
        old = sources.get(kind)
        if old is None:
            stale[kind] = f"{path.name} (not recorded in the index)"
        elif not path.is_file():
            stale[kind] = f"{path.name} (missing)"
        elif (size := path.stat().st_size) != old.get("size"):
            stale[kind] = f"{path.name} (size {size:,} bytes, {old.get('size'):,} when the index was built)"
        elif full and "sha256" not in old:
            stale[kind] = (
                f"{path.name} (the index was built by an older eanet without content digests: it cannot be verified)"
            )
        elif full or "sha256_sampled" in old or path.stat().st_mtime_ns != old.get("mtime_ns"):
            to_hash[kind] = path
    if to_hash:
        # One thread per file: hashlib releases the GIL, so a full check reads the files side by side.
        with ThreadPoolExecutor(max_workers=len(to_hash)) as pool:
            digests = pool.map(lambda p: source_fingerprint(p, full_hash=full), to_hash.values())
            now = dict(zip(to_hash, digests, strict=True))
        for kind, fingerprint in now.items():
            old = sources[kind]
            key = "sha256" if full else ("sha256_sampled" if "sha256_sampled" in old else "sha256_head_tail")
            if fingerprint[key] != old.get(key):
                same_time = " and modification time" if fingerprint["mtime_ns"] == old.get("mtime_ns") else ""
                stale[kind] = f"{to_hash[kind].name} (same size{same_time}, different content)"
    return [stale[kind] for kind in paths.annotation_files() if kind in stale]


@contextlib.contextmanager
def _build_lock(directory: Path) -> Iterator[None]:
    """Serialise builds of one index across processes (e.g. the ranks of a distributed run)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    with (directory.parent / f".{directory.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def open_index(
    paths: ReleasePaths,
    directory: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
    rebuild: str = "auto",
) -> AnnotationIndex:
    """Open a split's index, building or rebuilding it when needed.

    Args:
        paths: the split's release files (:func:`eanet.data.release.release_paths`).
        directory: index directory; default :func:`default_index_dir`.
        cache_dir: parent directory for indexes (``data.index_cache_dir``).
        rebuild: ``"auto"`` (build when missing, stale or corrupt), ``"never"`` (raise instead) or ``"always"``.
    """
    directory = Path(directory) if directory is not None else default_index_dir(paths, cache_dir)
    sources_present = all(p.is_file() for p in paths.annotation_files().values())

    def reason_to_build() -> str | None:
        if rebuild == "always":
            return "a rebuild was requested"
        try:
            header = _read_header(directory)
        except IndexCorruptError as err:
            return str(err)
        problems = _quick_problems(directory, header)
        if problems:
            return f"it is corrupt ({'; '.join(problems[:3])})"
        if sources_present:
            stale = _stale_sources(header, paths)
            if stale:
                return f"the source file(s) {'; '.join(stale)} changed since it was built"
        return None

    reason = reason_to_build()
    if reason is None:
        return AnnotationIndex(directory, _read_header(directory))
    if rebuild == "never" or not sources_present:
        missing = [str(p) for p in paths.annotation_files().values() if not p.is_file()]
        what = f"the source files are missing ({', '.join(missing)})" if missing else "rebuilding is disabled"
        raise IndexCorruptError(
            f"the annotation index {directory} cannot be used: {reason}; and {what}. Restore the InterHand2.6M "
            f"annotation files and run `eanet index build --root {paths.root} --split {paths.split}`."
        )
    with _build_lock(directory):
        reason = reason_to_build() if rebuild != "always" else reason
        if reason is not None:
            logger.info("building the annotation index %s because %s", directory, reason)
            build_index(paths, directory)
    return AnnotationIndex(directory, _read_header(directory))


# ----------------------------------------------------------------------------------------------------------------
# building


class _Strings:
    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        i = self.ids.get(text)
        if i is None:
            i = self.ids[text] = len(self.ids)
        return i

    def table(self) -> list[str]:
        return list(self.ids)


class _BlobAppender:
    def __init__(self, directory: Path):
        self.blob = NpyAppender(directory / "file_blob.npy", "|u1")
        self.offsets = NpyAppender(directory / "file_offsets.npy", "<i8")
        self.offsets.append(0)
        self.total = 0
        self.buffer = bytearray()

    def append(self, text: str) -> None:
        data = text.encode("utf-8")
        self.buffer += data
        self.total += len(data)
        self.offsets.append(self.total)
        if len(self.buffer) >= 1 << 22:
            self.blob.extend(np.frombuffer(bytes(self.buffer), dtype=np.uint8))
            self.buffer = bytearray()

    def close(self) -> None:
        if self.buffer:
            self.blob.extend(np.frombuffer(bytes(self.buffer), dtype=np.uint8))
        self.blob.close()
        self.offsets.close()


def _appenders(directory: Path, table: str, skip: tuple[str, ...] = ()) -> dict[str, NpyAppender]:
    (directory / table).mkdir(parents=True, exist_ok=True)
    return {
        col: NpyAppender(directory / table / f"{col}.npy", dtype, shape)
        for col, (dtype, shape) in TABLES[table].items()
        if col not in skip
    }


def _item_error(path: Path, where: str, err: Exception) -> JSONFormatError:
    what = f"missing key {err}" if isinstance(err, KeyError) else str(err)
    return JSONFormatError(
        f"{path}: {where}: {what}. The file does not follow the InterHand2.6M v1.0 release "
        "format; docs/synthetic.md lists the fields each file must have."
    )


def _check_len(value: Any, n: int, name: str) -> Any:
    if len(value) != n:
        raise ValueError(f"{name!r} has {len(value)} entries, expected {n}")
    return value


def _parse_data(path: Path, directory: Path, strings: _Strings) -> tuple[int, int]:
    img = _appenders(directory, "images", skip=("file_offsets", "file_blob"))
    names = _BlobAppender(directory / "images")
    ann = _appenders(directory, "annotations", skip=("image_row", "joints_row", "mano_row", "camera_row"))
    for key, item in iter_json_items(path, 2):
        section, i = key
        try:
            if section == "images":
                img["id"].append(item["id"])
                img["width"].append(item["width"])
                img["height"].append(item["height"])
                img["capture"].append(item["capture"])
                img["subject"].append(item.get("subject", -1))
                img["seq"].append(strings(item["seq_name"]))
                img["camera"].append(strings(str(item["camera"])))
                img["frame_idx"].append(item["frame_idx"])
                names.append(item["file_name"])
            elif section == "annotations":
                ann["id"].append(item["id"])
                ann["image_id"].append(item["image_id"])
                ann["bbox"].append(_check_len(item["bbox"], 4, "bbox"))
                ann["joint_valid"].append(_check_len(item["joint_valid"], 42, "joint_valid"))
                ann["hand_type"].append(HAND_TYPE_CODES.get(item["hand_type"], UNKNOWN_HAND_TYPE))
                ann["hand_type_valid"].append(item.get("hand_type_valid", 0))
        except (KeyError, TypeError, ValueError) as err:
            ident = item.get("id") if isinstance(item, dict) else None
            raise _item_error(path, f"{section}[{i}] (id {ident})", err) from None
    counts = [a.close() for a in img.values()][0], [a.close() for a in ann.values()][0]
    names.close()
    return counts


def _parse_cameras(path: Path, directory: Path, strings: _Strings) -> int:
    cam = _appenders(directory, "cameras")
    for (capture,), item in iter_json_items(path, 1):
        try:
            cap = int(capture)
            for name, campos in item["campos"].items():
                cam["capture"].append(cap)
                cam["camera"].append(strings(str(name)))
                cam["campos"].append(_check_len(campos, 3, "campos"))
                cam["camrot"].append(item["camrot"][name])
                cam["focal"].append(_check_len(item["focal"][name], 2, "focal"))
                cam["princpt"].append(_check_len(item["princpt"][name], 2, "princpt"))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise _item_error(path, f"capture {capture!r}", err) from None
    return [a.close() for a in cam.values()][0]


def _parse_joints(path: Path, directory: Path, strings: _Strings) -> int:
    jt = _appenders(directory, "joints")
    for (capture, frame), item in iter_json_items(path, 2):
        try:
            if not isinstance(item, dict):
                raise ValueError(
                    "expected {'world_coord', 'joint_valid', 'hand_type', 'seq'} (v1.0); a bare list is the v0.0 format"
                )
            jt["capture"].append(int(capture))
            jt["frame_idx"].append(int(frame))
            jt["world_coord"].append(_check_len(item["world_coord"], 42, "world_coord"))
            jt["joint_valid"].append(_check_len(item["joint_valid"], 42, "joint_valid"))
            jt["hand_type"].append(HAND_TYPE_CODES.get(item.get("hand_type"), UNKNOWN_HAND_TYPE))
            jt["seq"].append(strings(item["seq"]) if "seq" in item else -1)
        except (KeyError, TypeError, ValueError) as err:
            raise _item_error(path, f"capture {capture!r} frame {frame!r}", err) from None
    return [a.close() for a in jt.values()][0]


_ZERO_HAND = {"pose": [0.0] * 48, "shape": [0.0] * 10, "trans": [0.0] * 3}


def _parse_mano(path: Path, directory: Path) -> int:
    mn = _appenders(directory, "mano")
    for (capture, frame), item in iter_json_items(path, 2):
        try:
            item = item or {}
            hands = [item.get("right"), item.get("left")]
            mn["capture"].append(int(capture))
            mn["frame_idx"].append(int(frame))
            mn["valid"].append([h is not None for h in hands])
            hands = [h if h is not None else _ZERO_HAND for h in hands]
            mn["pose"].append([_check_len(h["pose"], 48, "pose") for h in hands])
            mn["shape"].append([_check_len(h["shape"], 10, "shape") for h in hands])
            mn["trans"].append([_check_len(h["trans"], 3, "trans") for h in hands])
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise _item_error(path, f"capture {capture!r} frame {frame!r}", err) from None
    return [a.close() for a in mn.values()][0]


def _lookup(sorted_keys: np.ndarray, order: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Row of each query key in the unsorted table (``-1`` when absent)."""
    if sorted_keys.size == 0:
        return np.full(queries.shape, -1, dtype=np.int32)
    pos = np.clip(np.searchsorted(sorted_keys, queries), 0, sorted_keys.size - 1)
    found = sorted_keys[pos] == queries
    return np.where(found, order[pos], -1).astype(np.int32)


def _frame_keys(capture: np.ndarray, frame: np.ndarray) -> np.ndarray:
    return (capture.astype(np.int64) << 32) | (frame.astype(np.int64) & 0xFFFFFFFF)


def _link(directory: Path, paths: ReleasePaths) -> None:
    """Write the annotations' ``*_row`` columns (chunked so memory stays bounded by a few columns)."""

    def load(table: str, col: str) -> np.ndarray:
        return np.load(directory / table / f"{col}.npy", mmap_mode="r")

    img_ids = np.asarray(load("images", "id"))
    img_order = np.argsort(img_ids, kind="stable")
    img_sorted = img_ids[img_order]
    if img_sorted.size > 1 and (np.diff(img_sorted) == 0).any():
        dup = img_sorted[1:][np.diff(img_sorted) == 0][0]
        raise JSONFormatError(f"{paths.data}: image id {dup} appears more than once")
    img_capture, img_frame, img_camera = load("images", "capture"), load("images", "frame_idx"), load("images", "camera")

    tables = {}
    for table in ("joints", "mano"):
        keys = _frame_keys(np.asarray(load(table, "capture")), np.asarray(load(table, "frame_idx")))
        order = np.argsort(keys, kind="stable")
        tables[table] = (keys[order], order)
    cam_keys = _frame_keys(np.asarray(load("cameras", "capture")), np.asarray(load("cameras", "camera")))
    cam_order = np.argsort(cam_keys, kind="stable")
    tables["cameras"] = (cam_keys[cam_order], cam_order)

    ann_image_id = load("annotations", "image_id")
    out = {name: NpyAppender(directory / "annotations" / f"{name}.npy", "<i4") for name in
           ("image_row", "joints_row", "mano_row", "camera_row")}  # fmt: skip
    step = 1 << 18
    for start in range(0, ann_image_id.shape[0], step):
        ids = np.asarray(ann_image_id[start : start + step])
        image_row = _lookup(img_sorted, img_order, ids)
        if (image_row < 0).any():
            bad = int(np.nonzero(image_row < 0)[0][0])
            raise JSONFormatError(
                f"{paths.data}: annotations[{start + bad}] refers to image id {int(ids[bad])}, which is not in "
                "'images'"
            )
        capture, frame, camera = img_capture[image_row], img_frame[image_row], img_camera[image_row]
        fkeys = _frame_keys(capture, frame)
        out["image_row"].extend(image_row)
        out["joints_row"].extend(_lookup(*tables["joints"], fkeys))
        out["mano_row"].extend(_lookup(*tables["mano"], fkeys))
        out["camera_row"].extend(_lookup(*tables["cameras"], _frame_keys(capture, camera)))
    for appender in out.values():
        appender.close()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build_index(paths: ReleasePaths, directory: str | Path) -> dict[str, Any]:
    """Convert a split's four JSON files into an index directory (atomically replacing an existing one).

    Returns:
        The header written to ``header.json`` (counts, timings, peak memory of this process).
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.with_name(f"{directory.name}.building-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        fingerprints = {kind: source_fingerprint(p, full_hash=True) for kind, p in paths.annotation_files().items()}
        strings = _Strings()
        t = time.perf_counter()
        num_images, num_annotations = _parse_data(paths.data, tmp, strings)
        timings["data"] = time.perf_counter() - t
        logger.info("indexed %s: %d images, %d annotations (%.1f s)", paths.data.name, num_images,
                    num_annotations, timings["data"])  # fmt: skip
        t = time.perf_counter()
        num_cameras = _parse_cameras(paths.camera, tmp, strings)
        timings["camera"] = time.perf_counter() - t
        t = time.perf_counter()
        num_joints = _parse_joints(paths.joint_3d, tmp, strings)
        timings["joint_3d"] = time.perf_counter() - t
        logger.info("indexed %s: %d frames (%.1f s)", paths.joint_3d.name, num_joints, timings["joint_3d"])
        t = time.perf_counter()
        num_mano = _parse_mano(paths.mano, tmp)
        timings["mano"] = time.perf_counter() - t
        logger.info("indexed %s: %d frames (%.1f s)", paths.mano.name, num_mano, timings["mano"])
        t = time.perf_counter()
        _link(tmp, paths)
        timings["link"] = time.perf_counter() - t

        columns = {}
        for table, cols in TABLES.items():
            for col in cols:
                path = tmp / table / f"{col}.npy"
                _, shape, _ = read_npy_header(path)
                columns[f"{table}/{col}"] = {"shape": list(shape), "crc32": _crc32(path)}
        header = {
            "schema_version": SCHEMA_VERSION,
            "split": paths.split,
            "root": str(paths.root),
            "sources": fingerprints,
            "counts": {
                "images": num_images,
                "annotations": num_annotations,
                "cameras": num_cameras,
                "joints": num_joints,
                "mano": num_mano,
            },
            "strings": strings.table(),
            "columns": columns,
            "build_seconds": round(time.perf_counter() - t0, 2),
            "build_timings": {k: round(v, 2) for k, v in timings.items()},
            "build_peak_rss_mb": round(_peak_rss_mb(), 1),
            "created_unix": time.time(),
        }
        (tmp / "header.json").write_text(json.dumps(header, indent=1))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = directory.with_name(f"{directory.name}.old-{os.getpid()}")
    if directory.exists():
        directory.rename(old)
    tmp.rename(directory)
    shutil.rmtree(old, ignore_errors=True)
    logger.info("annotation index %s built in %.1f s (peak RSS %.0f MB)", directory, header["build_seconds"],
                header["build_peak_rss_mb"])  # fmt: skip
    return header
