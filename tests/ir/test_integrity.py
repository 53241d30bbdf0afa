"""Integrity of ``ir.save``/``ir.load`` and the file helpers (issue 14, items 2-4, 6).

Faults are injected into the real ``save``/``load``: a rename that fails part way, a
writer that raises, a sidecar replaced or pointed elsewhere.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import ir
from ir.ops import io, nn
from ir.serialize import (
    CompanionFileError,
    atomic_write,
    digest,
    read_companion,
    sidecar_path,
    write_files,
)


def spikeforge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compiler.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def graph(seed: int) -> ir.Graph:
    rng = np.random.default_rng(seed)
    g = ir.Graph("g")
    g.add("x", io.Input(shape=(6,)))
    g.add("fc", nn.Linear(weight=rng.normal(size=(5, 6)).astype(np.float32)), ["x"])
    g.add("y", io.Output(), ["fc"])
    return g


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _private_npz(path: Path) -> None:
    secret = np.arange(30, dtype=np.float32).reshape(5, 6)
    np.savez(path, **{"fc.weight": secret})


def _naming(tmp_path: Path, sidecar: str) -> Path:
    text = ir.to_text(graph(0), sidecar=sidecar, blobs={}, inline_limit=0)
    path = tmp_path / "steal.sfir"
    path.write_text(text, encoding="utf-8")
    return path


# -- item 2: paths inside files are confined --------------------------------------------


@pytest.mark.parametrize("name", ["/tmp/private.npz", "../x.npz", "sub/x.npz", ".."])
def test_sidecar_outside_the_folder_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / "d").mkdir()
    _private_npz(tmp_path / "x.npz")
    path = _naming(tmp_path / "d", name)
    with pytest.raises(ir.ParseError) as info:
        ir.load(path)
    assert info.value.line == 2  # the sidecar header
    assert repr(name) in info.value.detail
    assert "bare file name" in info.value.detail


def test_opt_does_not_copy_a_private_file_into_its_output(tmp_path: Path) -> None:
    _private_npz(tmp_path / "private.npz")
    (tmp_path / "d").mkdir()
    path = _naming(tmp_path / "d", str(tmp_path / "private.npz"))
    out = tmp_path / "d" / "out.sfir"
    done = spikeforge("opt", str(path), "--inline-limit", "100", "-o", str(out))
    assert done.returncode == 1, done.stderr
    assert "must be a bare file name" in done.stderr
    assert not out.exists()


@pytest.fixture
def alarm() -> Iterator[None]:
    """Fail (instead of hanging) when a call blocks for more than 10 s."""

    def timeout(signum: int, frame: object) -> None:
        raise TimeoutError("blocked for 10 s")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(10)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_sidecar_that_is_a_fifo_is_refused_without_waiting(
    tmp_path: Path, alarm: None
) -> None:
    os.mkfifo(tmp_path / "steal.sfir.npz")
    path = _naming(tmp_path, "steal.sfir.npz")
    with pytest.raises(ir.ParseError, match="is not a regular file"):
        ir.load(path)


def test_a_sidecar_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    _private_npz(tmp_path / "private.npz")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "steal.sfir.npz").symlink_to(tmp_path / "private.npz")
    path = _naming(tmp_path / "d", "steal.sfir.npz")
    with pytest.raises(ir.ParseError, match="is a symbolic link"):
        ir.load(path)


def test_read_companion_names_both_files(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"data")
    owner = tmp_path / "config.json"
    assert read_companion(owner, "a.bin", sha256=digest(b"data")) == b"data"
    for bad in ("/etc/passwd", "../a.bin", "", 3, None):
        with pytest.raises(CompanionFileError, match=r"bare file name") as info:
            read_companion(owner, bad)
        assert str(owner) in str(info.value)
    with pytest.raises(CompanionFileError) as mismatch:
        read_companion(owner, "a.bin", sha256=digest(b"other"))
    assert str(tmp_path / "a.bin") in str(mismatch.value)
    assert str(owner) in str(mismatch.value)


# -- item 3: text and sidecar are never a silent mix ------------------------------------


def test_crash_between_the_renames_is_detected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "net.sfir"
    ir.save(graph(1), path, inline_limit=0)
    real_replace = os.replace
    calls: list[str] = []

    def crash_after_the_first(src: str, dst: str) -> None:
        calls.append(str(dst))
        if len(calls) > 1:
            raise KeyboardInterrupt  # killed between the sidecar and the text
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_after_the_first)
    with pytest.raises(KeyboardInterrupt):
        ir.save(graph(2), path, inline_limit=0)
    monkeypatch.undo()
    assert calls == [str(sidecar_path(path)), str(path)]
    assert _files(tmp_path) == ["net.sfir", "net.sfir.npz"]  # temporaries removed
    # Old text, new sidecar: an error naming both, not graph 1's text with graph 2's
    # weights.
    with pytest.raises(ir.ParseError) as info:
        ir.load(path)
    assert str(sidecar_path(path)) in info.value.detail
    assert f"does not match what {path} records" in info.value.detail


def test_failed_text_write_keeps_the_old_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "net.sfir"
    ir.save(graph(1), path, inline_limit=0)
    before = {name: (tmp_path / name).read_bytes() for name in _files(tmp_path)}
    real_fsync = os.fsync
    calls: list[int] = []

    def disk_full_on_the_second_file(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", disk_full_on_the_second_file)
    with pytest.raises(OSError, match="No space left"):
        ir.save(graph(2), path, inline_limit=0)
    monkeypatch.undo()
    assert {name: (tmp_path / name).read_bytes() for name in _files(tmp_path)} == before
    assert ir.load(path).is_equivalent(graph(1))


def test_a_replaced_sidecar_is_detected(tmp_path: Path) -> None:
    ir.save(graph(1), tmp_path / "a.sfir", inline_limit=0)
    ir.save(graph(2), tmp_path / "b.sfir", inline_limit=0)
    os.replace(tmp_path / "b.sfir.npz", tmp_path / "a.sfir.npz")
    with pytest.raises(ir.ParseError, match="were not written together"):
        ir.load(tmp_path / "a.sfir")


def test_files_without_a_digest_still_load(tmp_path: Path) -> None:
    # What spikeforge wrote before digests: sidecar "<stem>.npz", no sha256.
    np.savez(tmp_path / "old.npz", **{"fc.weight": graph(3).op("fc").weight})  # type: ignore[attr-defined]
    _naming(tmp_path, "old.npz").rename(tmp_path / "old.sfir")
    assert ir.load(tmp_path / "old.sfir").is_equivalent(graph(3))


# -- item 4: sidecars cannot collide ----------------------------------------------------


def test_two_files_with_one_stem_keep_their_own_weights(tmp_path: Path) -> None:
    ir.save(graph(1), tmp_path / "a.sfir", inline_limit=0)
    ir.save(graph(2), tmp_path / "a.txt", inline_limit=0)
    assert ir.load(tmp_path / "a.sfir").is_equivalent(graph(1))
    assert ir.load(tmp_path / "a.txt").is_equivalent(graph(2))


def test_a_text_file_named_like_a_sidecar_is_refused(tmp_path: Path) -> None:
    ir.save(graph(1), tmp_path / "model.sfir", inline_limit=0)
    with pytest.raises(ValueError, match=r"may not be named \*\.npz"):
        ir.save(graph(2), tmp_path / "model.sfir.npz")
    assert ir.load(tmp_path / "model.sfir").is_equivalent(graph(1))


def test_opt_to_an_npz_name_leaves_the_input_intact(tmp_path: Path) -> None:
    src = tmp_path / "model.sfir"
    ir.save(graph(1), src, inline_limit=0)
    before = {name: (tmp_path / name).read_bytes() for name in _files(tmp_path)}
    for out in ("model.npz", "model.sfir.npz"):
        done = spikeforge("opt", str(src), "-o", str(tmp_path / out))
        assert done.returncode == 1, done.stderr
        assert "the extension of sidecar files" in done.stderr
    assert {name: (tmp_path / name).read_bytes() for name in _files(tmp_path)} == before


# -- item 6: modes follow the umask; an overwrite keeps the mode ------------------------


@pytest.fixture
def umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_new_files_follow_the_umask(
    tmp_path: Path, umask: None, mask: int, mode: int
) -> None:
    os.umask(mask)
    atomic_write(tmp_path / "a.bin", b"x")
    ir.save(graph(1), tmp_path / "g.sfir", inline_limit=0)
    for name in ("a.bin", "g.sfir", "g.sfir.npz"):
        assert _mode(tmp_path / name) == mode, name


def test_an_overwritten_file_keeps_its_mode(tmp_path: Path, umask: None) -> None:
    path = tmp_path / "g.sfir"
    ir.save(graph(1), path, inline_limit=0)
    path.chmod(0o640)
    sidecar_path(path).chmod(0o604)
    ir.save(graph(2), path, inline_limit=0)
    assert _mode(path) == 0o640
    assert _mode(sidecar_path(path)) == 0o604
    write_files([(tmp_path / "g.sfir", b"y")])
    assert _mode(path) == 0o640


def test_nir_files_follow_the_umask_and_keep_their_mode(
    tmp_path: Path, umask: None
) -> None:
    from frontends.nir import write_nir

    path = tmp_path / "g.nir"
    write_nir(graph(1), path)
    assert _mode(path) == 0o644
    path.chmod(0o640)
    write_nir(graph(2), path)
    assert _mode(path) == 0o640
