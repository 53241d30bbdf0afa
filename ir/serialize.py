"""Reading and writing ``.sfir`` files, with big arrays in a sidecar ``.npz``.

``save`` writes arrays with more than ``inline_limit`` elements to ``<stem>.npz`` next
to the text file and references them by key; both files are written atomically
(temporary file in the same folder, then rename), the sidecar first, so a reader never
sees text that references a missing blob.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ir.errors import ParseError
from ir.graph import Graph
from ir.parser import parse
from ir.printer import to_text

__all__ = ["DEFAULT_INLINE_LIMIT", "atomic_write", "load", "save"]

DEFAULT_INLINE_LIMIT = 4096
"""Arrays with more elements than this go to the sidecar by default."""


def atomic_write(path: str | os.PathLike[str], data: bytes | Callable[[io.BufferedWriter], None]) -> None:
    """Write ``data`` (bytes, or a function that writes to a binary file) atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if callable(data):
                data(handle)  # type: ignore[arg-type]
            else:
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(
    graph: Graph, path: str | os.PathLike[str], *, inline_limit: int = DEFAULT_INLINE_LIMIT
) -> None:
    """Write ``graph`` to ``path`` (``.sfir``), big arrays to ``<stem>.npz`` beside it."""
    target = Path(path)
    sidecar = target.with_suffix(".npz")
    blobs: dict[str, np.ndarray] = {}
    text = to_text(graph, sidecar=sidecar.name, blobs=blobs, inline_limit=inline_limit)
    if blobs:
        atomic_write(sidecar, lambda handle: np.savez(handle, **blobs))  # type: ignore[arg-type]
    atomic_write(target, text.encode("utf-8"))


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
    cache: dict[str, np.lib.npyio.NpzFile] = {}

    def resolve(key: str) -> np.ndarray:
        if "file" not in cache:
            sidecar = _sidecar_name(text)
            if sidecar is None:
                raise OSError("the file names no sidecar")
            try:
                cache["file"] = np.load(source.parent / sidecar, allow_pickle=False)
            except (OSError, ValueError, zipfile.BadZipFile) as err:
                raise OSError(f"{source.parent / sidecar}: {err}") from None
        arr = cache["file"][key]
        arr.flags.writeable = False
        return arr

    try:
        return parse(text, source_name=str(source), blobs=resolve)
    finally:
        for npz in cache.values():
            npz.close()


def _sidecar_name(text: str) -> str | None:
    import json
    import re

    m = re.search(r'^\s*sidecar\s+("(?:[^"\\\n]|\\.)*")', text, re.MULTILINE)
    return json.loads(m.group(1)) if m else None
