"""Reading and writing ``.sfir`` files, with big arrays in a sidecar ``.npz``.

``save`` writes arrays with more than ``inline_limit`` elements to a sidecar named
after the whole file name (``model.sfir`` -> ``model.sfir.npz``, so two graphs saved
side by side never share one) and references them by key. The text records the
sidecar's SHA-256; ``load`` checks it, so text and sidecar from two different saves (a
crash between the two renames) are an error naming both files, never a silent mix.

The file helpers here are the project's one way to write and read outputs:

* ``write_files`` stages every file of one output (a graph and its sidecar, a build
  folder) as temporary files first and renames them into place only when all were
  written, the file that names the others last; a failed write leaves the old files
  untouched and no temporary file behind. ``atomic_write`` is the one-file case.
* New files get the mode ``0o666 & ~umask``; an overwritten file keeps its mode.
* ``read_companion`` reads a file that another file names (a sidecar, a build's
  arrays): a bare file name in the same folder, a regular file (a FIFO, a device or a
  symbolic link is refused, never waited on or followed), and, when a digest is
  recorded, the same bytes as were written (``digest``).
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ir.errors import ParseError
from ir.graph import Graph
from ir.parser import Sidecar, parse
from ir.printer import to_text

__all__ = [
    "DEFAULT_INLINE_LIMIT",
    "CompanionFileError",
    "atomic_write",
    "check_save_path",
    "digest",
    "install_file",
    "load",
    "read_companion",
    "render",
    "save",
    "sidecar_path",
    "write_files",
    "write_npz",
]

DEFAULT_INLINE_LIMIT = 4096
"""Arrays with more elements than this go to the sidecar by default."""

SIDECAR_SUFFIX = ".npz"

Content = bytes | Callable[[BinaryIO], None]
"""What a file gets: its bytes, or a function that writes them to a binary file."""


class CompanionFileError(OSError):
    """A file named by another file is unsafe, unreadable or not the one written."""


def digest(data: bytes) -> str:
    """The hex SHA-256 of ``data``, as recorded for a companion file."""
    return hashlib.sha256(data).hexdigest()


def _umask() -> int:
    # /proc tells the umask without changing it (os.umask would, for every thread).
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(target: Path) -> int:
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


def install_file(tmp: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Rename the finished temporary file ``tmp`` onto ``target``.

    ``tmp`` first gets the mode ``target`` should have: the existing file's mode when
    it is overwritten, else ``0o666 & ~umask`` (``mkstemp`` creates files ``0600``).
    """
    os.chmod(tmp, _mode_for(Path(target)))
    os.replace(tmp, target)


def write_files(files: Sequence[tuple[str | os.PathLike[str], Content]]) -> None:
    """Write several files as one output: all of them, or (on failure) none.

    Every file is written to a temporary file beside it and synced first; only then
    are they renamed into place, in the order given, so put the file that names the
    others (and records their digests) last. A failure while writing leaves every old
    file as it was and removes the temporary files.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in files:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
            )
            staged.append((tmp, target))
            with os.fdopen(fd, "wb") as handle:
                if callable(data):
                    data(handle)
                else:
                    handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        for tmp, target in staged:
            install_file(tmp, target)
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike[str], data: Content) -> None:
    """Write ``data`` (bytes, or a function that writes to a binary file) atomically."""
    write_files([(path, data)])


def read_companion(
    owner: str | os.PathLike[str], name: object, *, sha256: str | None = None
) -> bytes:
    """The bytes of the file ``name`` that file ``owner`` names, checked.

    ``name`` must be a bare file name in ``owner``'s folder and a regular file; when
    ``sha256`` is given, the bytes must have that digest.

    Raises:
        CompanionFileError: an unsafe name, a file that is not regular, a read error
            or a digest mismatch; the message names both files.
    """
    source = Path(owner)
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
    ):
        raise CompanionFileError(
            f"{source} names the file {name!r}; it must be a bare file name in the "
            "same folder (no folder part, no '..')"
        )
    return _read_regular(source.parent / name, f"{source} records", sha256)


def _read_regular(path: Path, recorder: str, sha256: str | None) -> bytes:
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer. O_NOFOLLOW: a
        # symbolic link (say, unpacked from an archive) could point anywhere.
        fd = os.open(path, flags)
    except OSError as err:
        if path.is_symlink():
            raise CompanionFileError(
                f"{path} is a symbolic link; a file named by another file must be a "
                "regular file in the same folder"
            ) from None
        raise CompanionFileError(f"{path}: {err.strerror or err}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CompanionFileError(f"{path} is not a regular file")
        os.set_blocking(fd, True)
        data = handle.read()
    if sha256 is not None and digest(data) != sha256:
        raise CompanionFileError(
            f"{path} does not match what {recorder}: sha256 {sha256[:16]}..., the "
            f"file has {digest(data)[:16]}...; the two files were not written "
            "together (an interrupted write, or one replaced by hand): write them "
            "again"
        )
    return data


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """The sidecar ``save`` writes for ``path``: the full file name plus ``.npz``."""
    target = Path(path)
    return target.with_name(target.name + SIDECAR_SUFFIX)


def check_save_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a ``Path``, if ``save`` may write a graph there.

    Raises:
        ValueError: ``path`` ends in ``.npz``, the sidecars' extension (the text could
            overwrite another file's sidecar).
    """
    target = Path(path)
    if target.name.lower().endswith(SIDECAR_SUFFIX):
        raise ValueError(
            f"{target}: a .sfir file may not be named *{SIDECAR_SUFFIX}, the "
            "extension of sidecar files (it could overwrite one); use .sfir"
        )
    return target


def render(
    graph: Graph,
    path: str | os.PathLike[str],
    *,
    inline_limit: int = DEFAULT_INLINE_LIMIT,
) -> list[tuple[Path, bytes]]:
    """The files ``save`` writes for ``graph`` at ``path``: sidecar (if any), text.

    Raises:
        ValueError: ``path`` ends in ``.npz``, the sidecars' extension.
    """
    target = check_save_path(path)
    sidecar = sidecar_path(target)
    blobs: dict[str, np.ndarray] = {}
    packed: list[bytes] = []

    def sidecar_digest(arrays: Mapping[str, np.ndarray]) -> str:
        buffer = io.BytesIO()
        write_npz(buffer, arrays)
        packed.append(buffer.getvalue())
        return digest(packed[0])

    text = to_text(
        graph,
        sidecar=sidecar.name,
        blobs=blobs,
        inline_limit=inline_limit,
        sidecar_digest=sidecar_digest,
    )
    files = [(sidecar, packed[0])] if packed else []
    return [*files, (target, text.encode("utf-8"))]


def save(
    graph: Graph,
    path: str | os.PathLike[str],
    *,
    inline_limit: int = DEFAULT_INLINE_LIMIT,
) -> None:
    """Write ``graph`` to ``path``, big arrays to ``<path>.npz`` beside it.

    Both files are written as one output (``write_files``): a failure leaves the old
    ones; the text, renamed last, records the sidecar's SHA-256.

    Raises:
        ValueError: ``path`` ends in ``.npz``.
    """
    write_files(render(graph, path, inline_limit=inline_limit))


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
        ParseError: bad syntax, a missing file or sidecar, a sidecar that is not a bare
            name in the same folder or does not match the digest the text records, or
            an invalid graph; the message names the file, line and column.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ParseError(f"cannot read file: {err}", source_name=str(source)) from None
    cache: dict[str, np.lib.npyio.NpzFile] = {}

    def resolve(sidecar: Sidecar, key: str) -> np.ndarray:
        # The parser passes the sidecar named in the file's header.
        try:
            if "file" not in cache:
                data = read_companion(source, sidecar.name, sha256=sidecar.sha256)
                npz = np.load(io.BytesIO(data), allow_pickle=False)
                if not isinstance(npz, np.lib.npyio.NpzFile):
                    raise ValueError("a single .npy array, not an .npz archive")
                cache["file"] = npz
            arr = cache["file"][key]
        except CompanionFileError:
            raise
        except EOFError:
            raise OSError(
                f"{source.parent / sidecar.name}: the file is empty"
            ) from None
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise OSError(f"{source.parent / sidecar.name}: {err}") from None
        arr.flags.writeable = False
        return arr

    try:
        return parse(text, source_name=str(source), blobs=resolve)
    finally:
        for npz in cache.values():
            npz.close()
