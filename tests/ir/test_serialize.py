"""``ir.save`` / ``ir.load``: the text file, the ``.npz`` sidecar, atomic writes."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

import ir
from ir.ops import io, nn, snn
from ir.serialize import DEFAULT_INLINE_LIMIT, atomic_write, digest, sidecar_path


def _weights(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def mlp(n_in: int = 3, n_hidden: int = 4) -> ir.Graph:
    g = ir.Graph("mlp", dt=1e-3)
    g.add("x", io.Input(shape=(n_in,)))
    g.add("fc1", nn.Linear(weight=_weights(n_hidden, n_in)), ["x"])
    g.add(
        "lif",
        snn.LIF(
            tau=np.full(n_hidden, 0.02, np.float32),
            r=np.float32(1),
            v_leak=np.float32(0),
            v_threshold=np.float32(1),
        ),
        ["fc1"],
    )
    g.add(
        "fc2",
        nn.Affine(weight=_weights(2, n_hidden, seed=1), bias=[0.5, -0.5]),
        ["lif"],
    )
    g.add("y", io.Output(), ["fc2"])
    return g


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _old_format(path: Path) -> None:
    """Save ``mlp()`` as spikeforge wrote it before digests: ``sidecar "<stem>.npz"``."""
    ir.save(mlp(), path, inline_limit=0)
    old = path.with_suffix(".npz")
    sidecar_path(path).rename(old)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = f'sidecar "{old.name}"\n'
    path.write_text("".join(lines), encoding="utf-8")


def test_small_graph_is_one_text_file(tmp_path: Path) -> None:
    g = mlp()
    path = tmp_path / "net.sfir"
    ir.save(g, path)
    assert _files(tmp_path) == ["net.sfir"]
    assert path.read_text(encoding="utf-8") == ir.to_text(g)
    assert "sidecar" not in path.read_text(encoding="utf-8")
    assert ir.load(path).is_equivalent(g)


def test_big_arrays_go_to_the_sidecar(tmp_path: Path) -> None:
    g = mlp()
    path = tmp_path / "net.sfir"
    ir.save(g, path, inline_limit=4)
    assert _files(tmp_path) == ["net.sfir", "net.sfir.npz"]
    text = path.read_text(encoding="utf-8")
    sha = digest((tmp_path / "net.sfir.npz").read_bytes())
    assert text.splitlines()[:2] == ["sfir 1", f'sidecar "net.sfir.npz" sha256 "{sha}"']
    # fc1.weight (12) and fc2.weight (8) exceed 4 elements; lif.tau (4) and the
    # bias (2) stay inline.
    assert 'weight = blob<f32[4,3]> "fc1.weight"' in text
    assert (
        'weight = blob<f32[2,4]> "fc2.weight", bias = tensor<f32[2]>[0.5, -0.5]' in text
    )
    assert "tau = tensor<f32[4]>[0.02, 0.02, 0.02, 0.02]" in text
    with np.load(tmp_path / "net.sfir.npz") as npz:
        assert sorted(npz.files) == ["fc1.weight", "fc2.weight"]
        assert npz["fc1.weight"].tobytes() == g.op("fc1").weight.tobytes()  # type: ignore[attr-defined]
    loaded = ir.load(path)
    assert loaded.is_equivalent(g)
    assert not loaded.op("fc1").weight.flags.writeable  # type: ignore[attr-defined]


def test_inline_limit_is_a_strict_bound(tmp_path: Path) -> None:
    ir.save(mlp(), tmp_path / "a.sfir", inline_limit=12)  # fc1.weight has 12
    assert _files(tmp_path) == ["a.sfir"]
    ir.save(mlp(), tmp_path / "b.sfir", inline_limit=11)
    assert "b.sfir.npz" in _files(tmp_path)


def test_default_inline_limit(tmp_path: Path) -> None:
    assert DEFAULT_INLINE_LIMIT == 4096
    ir.save(mlp(n_in=64, n_hidden=64), tmp_path / "at.sfir")  # 4096 elements: inline
    assert _files(tmp_path) == ["at.sfir"]
    ir.save(mlp(n_in=65, n_hidden=64), tmp_path / "over.sfir")
    assert "over.sfir.npz" in _files(tmp_path)


def test_a_million_weights_make_a_small_text_file(tmp_path: Path) -> None:
    g = ir.Graph("big")
    g.add("x", io.Input(shape=(1000,)))
    g.add("fc", nn.Linear(weight=_weights(1000, 1000)), ["x"])
    g.add("y", io.Output(), ["fc"])
    path = tmp_path / "big.sfir"
    ir.save(g, path)
    assert path.stat().st_size < 500
    assert (tmp_path / "big.sfir.npz").stat().st_size >= 4_000_000
    loaded = ir.load(path)
    assert loaded.is_equivalent(g)


def test_sidecar_is_named_after_the_whole_file_name(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "model.v2.sfir"
    ir.save(mlp(), path, inline_limit=0)
    assert _files(tmp_path / "sub") == ["model.v2.sfir", "model.v2.sfir.npz"]
    assert 'sidecar "model.v2.sfir.npz"' in path.read_text(encoding="utf-8")
    assert ir.load(path).is_equivalent(mlp())


def test_node_names_that_need_quoting_are_valid_blob_keys(tmp_path: Path) -> None:
    g = ir.Graph()
    g.add("x", io.Input(shape=(3,)))
    name = 'layer "3".1/conv ü'
    g.add(name, nn.Linear(weight=_weights(2, 3)), ["x"])
    g.add("y", io.Output(), [name])
    ir.save(g, tmp_path / "q.sfir", inline_limit=0)
    assert ir.load(tmp_path / "q.sfir").is_equivalent(g)


def test_load_reads_a_sidecar_moved_with_its_file(tmp_path: Path) -> None:
    ir.save(mlp(), tmp_path / "a" / "net.sfir", inline_limit=0)
    (tmp_path / "a").rename(tmp_path / "b")
    assert ir.load(tmp_path / "b" / "net.sfir").is_equivalent(mlp())


def test_load_accepts_str_paths(tmp_path: Path) -> None:
    ir.save(mlp(), str(tmp_path / "net.sfir"), inline_limit=0)
    assert ir.load(str(tmp_path / "net.sfir")).is_equivalent(mlp())


# -- errors ----------------------------------------------------------------------------


def test_load_of_a_missing_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.sfir"
    with pytest.raises(ir.ParseError) as info:
        ir.load(path)
    assert info.value.source_name == str(path)
    assert str(info.value).startswith(f"{path}: cannot read file: ")
    assert (info.value.line, info.value.column) == (None, None)


def test_load_of_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.sfir"
    path.write_bytes(b"sfir 1\n\xff\xfe")
    with pytest.raises(ir.ParseError, match=r"latin1\.sfir: cannot read file: "):
        ir.load(path)


def test_load_errors_name_the_file_and_position(tmp_path: Path) -> None:
    path = tmp_path / "bad.sfir"
    path.write_text(
        ir.to_text(mlp()).replace("nn.linear", "nn.lineer"), encoding="utf-8"
    )
    with pytest.raises(ir.ParseError) as info:
        ir.load(path)
    assert str(info.value).startswith(f"{path}:4:10: unknown op 'nn.lineer'")


def test_load_with_the_sidecar_removed(tmp_path: Path) -> None:
    ir.save(mlp(), tmp_path / "net.sfir", inline_limit=0)
    (tmp_path / "net.sfir.npz").unlink()
    with pytest.raises(ir.ParseError) as info:
        ir.load(tmp_path / "net.sfir")
    assert info.value.detail.startswith("cannot read sidecar 'net.sfir.npz': ")
    assert info.value.line == 5  # the first blob: fc1's weight


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip"])
def test_load_with_a_damaged_sidecar(tmp_path: Path, damage: str) -> None:
    ir.save(mlp(), tmp_path / "net.sfir", inline_limit=0)
    npz = tmp_path / "net.sfir.npz"
    data = bytearray(npz.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = bytearray(b"not a zip file at all")
    else:
        data[len(data) // 4] ^= 0xFF  # inside the first member's data: a CRC error
    npz.write_bytes(bytes(data))
    with pytest.raises(ir.ParseError, match=r"cannot read sidecar 'net\.sfir\.npz'"):
        ir.load(tmp_path / "net.sfir")


def test_load_refuses_pickled_arrays_in_the_sidecar(tmp_path: Path) -> None:
    _old_format(tmp_path / "net.sfir")  # no digest to stop it before np.load
    arrays = dict(np.load(tmp_path / "net.npz"))
    arrays["fc1.weight"] = np.array([{"evil": 1}], dtype=object)
    np.savez(tmp_path / "net.npz", **arrays)
    with pytest.raises(
        ir.ParseError, match=r"cannot read sidecar 'net\.npz': .*allow_pickle"
    ):
        ir.load(tmp_path / "net.sfir")


# -- atomic writes ---------------------------------------------------------------------


def test_save_overwrites_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "net.sfir"
    ir.save(mlp(), path, inline_limit=0)
    ir.save(mlp(n_hidden=5), path, inline_limit=0)
    assert _files(tmp_path) == ["net.sfir", "net.sfir.npz"]
    assert ir.load(path).is_equivalent(mlp(n_hidden=5))


def test_failed_rename_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "net.sfir"
    ir.save(mlp(), path)
    before = path.read_bytes()

    def refuse(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        ir.save(mlp(n_hidden=5), path)
    assert path.read_bytes() == before
    assert _files(tmp_path) == ["net.sfir"]


def test_failed_sidecar_write_keeps_both_old_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "net.sfir"
    ir.save(mlp(), path, inline_limit=0)
    before = {name: (tmp_path / name).read_bytes() for name in _files(tmp_path)}

    def broken_write(*args: object, **kwargs: object) -> None:
        raise zipfile.LargeZipFile("too big")

    monkeypatch.setattr(np.lib.format, "write_array", broken_write)
    with pytest.raises(zipfile.LargeZipFile):
        ir.save(mlp(n_hidden=5), path, inline_limit=0)
    # The sidecar is written first, so the text never names blobs that are not there.
    assert {name: (tmp_path / name).read_bytes() for name in _files(tmp_path)} == before
    assert ir.load(path).is_equivalent(mlp())


def test_atomic_write_with_a_failing_writer(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    atomic_write(path, b"old")

    def writer(handle: object) -> None:
        handle.write(b"partial")  # type: ignore[attr-defined]
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        atomic_write(path, writer)
    assert path.read_bytes() == b"old"
    assert _files(tmp_path) == ["data.bin"]


def test_atomic_write_creates_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "data.bin"
    atomic_write(path, lambda handle: handle.write(b"new"))
    assert path.read_bytes() == b"new"
    assert _files(path.parent) == ["data.bin"]


def test_interrupt_during_save_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ir.save(mlp(), tmp_path / "net.sfir", inline_limit=0)
    assert _files(tmp_path) == []


def test_save_is_byte_deterministic(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    g = ir.Graph("det")
    g.add("x", io.Input(shape=(80,)))
    g.add("a", nn.Linear(weight=rng.normal(size=(80, 80)).astype(np.float32)), ["x"])
    g.add("b", nn.Linear(weight=rng.normal(size=(80, 80)).astype(np.float32)), ["a"])
    g.add("y", io.Output(), ["b"])
    first, second = tmp_path / "one" / "m.sfir", tmp_path / "two" / "m.sfir"
    ir.save(g, first, inline_limit=100)
    ir.save(g, second, inline_limit=100)
    assert first.read_bytes() == second.read_bytes()
    assert sidecar_path(first).read_bytes() == sidecar_path(second).read_bytes()
    with np.load(sidecar_path(first)) as npz:
        assert sorted(npz.files) == ["a.weight", "b.weight"]
    # No wall-clock time in the archive (np.savez would stamp the current time).
    with zipfile.ZipFile(sidecar_path(first)) as archive:
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
