"""Reading and writing ``.sfir`` files, with big arrays in a sidecar ``.npz``.

``save`` writes arrays with more than ``inline_limit`` elements to ``<stem>.npz`` next
to the text file and references them by key; both files are written atomically
(temporary file in the same folder, then rename), the sidecar first, so a reader never
sees text that references a missing blob.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ir.errors import ParseError
from ir.graph import Graph
from ir.parser import parse
from ir.printer import to_text

__all__ = ["DEFAULT_INLINE_LIMIT", "atomic_write", "load", "save", "write_npz"]

DEFAULT_INLINE_LIMIT = 4096
"""Arrays with more elements than this go to the sidecar by default."""


def atomic_write(
    path: str | os.PathLike[str], data: bytes | Callable[[BinaryIO], None]
) -> None:
    """Write ``data`` (bytes, or a function that writes to a binary file) atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(
    graph: Graph,
    path: str | os.PathLike[str],
    *,
    inline_limit: int = DEFAULT_INLINE_LIMIT,
) -> None:
    """Write ``graph`` to ``path`` (``.sfir``), big arrays to ``<stem>.npz`` beside it."""
    target = Path(path)
    sidecar = target.with_suffix(".npz")
    blobs: dict[str, np.ndarray] = {}
    text = to_text(graph, sidecar=sidecar.name, blobs=blobs, inline_limit=inline_limit)
    if blobs:
        atomic_write(sidecar, lambda handle: write_npz(handle, blobs))
    atomic_write(target, text.encode("utf-8"))


def write_npz(handle: BinaryIO, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` as an ``.npz`` (what ``np.load`` reads), byte-deterministic.

    ``np.savez`` stamps each member with the current time; here members are sorted and
    dated 1980-01-01, so the same graph always gives the same sidecar bytes.
    """
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as archive:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(
                    member, np.asarray(arrays[key]), allow_pickle=False
                )


def load(path: str | os.PathLike[str]) -> Graph:
    """Read a ``.sfir`` file (and its sidecar, if it names one) and verify the graph.

    Raises:
        ParseError: bad syntax, a missing file or sidecar, or an invalid graph; the
            message names the file, line and column.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ParseError(f"cannot read file: {err}", source_name=str(source)) from None
    handles: list[BinaryIO] = []
    cache: dict[str, np.lib.npyio.NpzFile] = {}

    def resolve(sidecar: str, key: str) -> np.ndarray:
        # The parser passes the sidecar named in the file's header.
        path = source.parent / sidecar
        try:
            if "file" not in cache:
                # NOTE: the handle is ours to close; np.load leaks it on a bad zip.
                handles.append(path.open("rb"))
                npz = np.load(handles[-1], allow_pickle=False)
                if not isinstance(npz, np.lib.npyio.NpzFile):
                    raise ValueError("a single .npy array, not an .npz archive")
                cache["file"] = npz
            arr = cache["file"][key]
        except EOFError:
            raise OSError(f"{path}: the file is empty") from None
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise OSError(f"{path}: {err}") from None
        arr.flags.writeable = False
        return arr

    try:
        return parse(text, source_name=str(source), blobs=resolve)
    finally:
        for npz in cache.values():
            npz.close()
        for handle in handles:
            handle.close()
