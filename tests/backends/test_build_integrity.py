"""Build folders: confined paths, all-or-nothing writes, limits from the target, modes.

Issue 14, items 2, 3, 5 and 6, for the targets' real ``save``/``load_config`` with
faults injected (a rename or a sync that fails part way).
"""

from __future__ import annotations

import json
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
from backends import TargetError, get_target
from backends.dynapse.config import ConfigError as DynapseConfigError
from backends.dynapse.config import DynapseConfig
from backends.dynapse.routing import DynapseSystem
from backends.dynapse.target import DYNAPSE2
from backends.xylo import ConfigError, XyloConfig
from ir.ops import io, nn
from tests.backends.dynapse.test_routing import place_in_order


def xylo(seed: int) -> XyloConfig:
    rng = np.random.default_rng(seed)
    return XyloConfig.from_registers(
        "xylo-audio2",
        weights_in=rng.integers(-127, 128, (16, 1000, 2)),
        weights_out=rng.integers(-127, 128, (1000, 8)),
    )


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in _files(folder)}


def _edit_json(path: Path, **changes: object) -> None:
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


def spikeforge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compiler.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def crash_on_rename(monkeypatch: pytest.MonkeyPatch, number: int) -> list[str]:
    """Make the ``number``-th ``os.replace`` raise, as a kill there would stop it."""
    real_replace = os.replace
    calls: list[str] = []

    def replace(src: str, dst: str) -> None:
        calls.append(Path(dst).name)
        if len(calls) == number:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    return calls


def disk_full_on_sync(monkeypatch: pytest.MonkeyPatch, number: int) -> None:
    real_fsync = os.fsync
    calls: list[int] = []

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == number:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


# -- item 2: names in build files are confined -----------------------------------------


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


@pytest.mark.parametrize("name", ["/tmp/registers.npz", "../registers.npz", 7])
def test_xylo_arrays_outside_the_folder_are_refused(
    tmp_path: Path, name: object
) -> None:
    xylo(0).save(tmp_path / "other")
    xylo(1).save(tmp_path / "build")
    _edit_json(tmp_path / "build" / "config.json", arrays=name, arrays_sha256=None)
    with pytest.raises(ConfigError, match="bare file name") as info:
        XyloConfig.load(tmp_path / "build")
    assert repr(name) in str(info.value)
    assert str(tmp_path / "build" / "config.json") in str(info.value)


def test_xylo_arrays_that_are_a_fifo_are_refused(tmp_path: Path, alarm: None) -> None:
    xylo(0).save(tmp_path)
    (tmp_path / "registers.npz").unlink()
    os.mkfifo(tmp_path / "registers.npz")
    with pytest.raises(ConfigError, match="not a regular file"):
        XyloConfig.load(tmp_path)


@pytest.mark.parametrize("name", ["/etc/hosts", "../graph.sfir"])
def test_reference_graph_outside_the_folder_is_refused(
    tmp_path: Path, name: str
) -> None:
    config = get_target("reference").lower(graph(0))
    config.save(tmp_path / "build")
    _edit_json(tmp_path / "build" / "config.json", graph=name, graph_sha256=None)
    with pytest.raises(TargetError, match="bare file name"):
        get_target("reference").load_config(tmp_path / "build")


# -- item 3: a build is the old one or the new one, never a mix ------------------------


def graph(seed: int) -> ir.Graph:
    rng = np.random.default_rng(seed)
    g = ir.Graph("g")
    g.add("x", io.Input(shape=(80,)))
    weight = rng.normal(size=(80, 80)).astype(np.float32)  # 6,400 > inline limit
    g.add("fc", nn.Linear(weight=weight), ["x"])
    g.add("y", io.Output(), ["fc"])
    return g


def test_xylo_crash_between_the_files_is_an_error_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    xylo(0).save(tmp_path)
    calls = crash_on_rename(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        xylo(1).save(tmp_path)
    monkeypatch.undo()
    assert calls == ["registers.npz", "config.json"]
    assert _files(tmp_path) == ["config.json", "registers.npz"]  # no temporaries
    with pytest.raises(ConfigError) as info:
        XyloConfig.load(tmp_path)
    assert str(tmp_path / "registers.npz") in str(info.value)
    assert str(tmp_path / "config.json") in str(info.value)
    np.save(tmp_path / "x.npy", np.zeros((1, 5, 16), np.int64))
    done = spikeforge("run", str(tmp_path), "--input", str(tmp_path / "x.npy"))
    assert done.returncode == 1
    assert "were not written together" in done.stderr


def test_xylo_disk_full_keeps_the_old_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    xylo(0).save(tmp_path)
    before = _snapshot(tmp_path)
    disk_full_on_sync(monkeypatch, 2)  # config.json, after registers.npz was written
    with pytest.raises(OSError, match="No space left"):
        xylo(1).save(tmp_path)
    monkeypatch.undo()
    assert _snapshot(tmp_path) == before
    back = XyloConfig.load(tmp_path)
    np.testing.assert_array_equal(back.weights_in, xylo(0).weights_in)


@pytest.mark.parametrize("crash_at", [2, 3])
def test_reference_crash_between_the_files_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_at: int
) -> None:
    target = get_target("reference")
    target.lower(graph(0)).save(tmp_path)
    calls = crash_on_rename(monkeypatch, crash_at)
    with pytest.raises(KeyboardInterrupt):
        target.lower(graph(1)).save(tmp_path)
    monkeypatch.undo()
    assert (
        calls[:crash_at] == ["graph.sfir.npz", "graph.sfir", "config.json"][:crash_at]
    )
    with pytest.raises((TargetError, ir.ParseError), match="not written together"):
        target.load_config(tmp_path)


def test_reference_disk_full_keeps_the_old_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = get_target("reference")
    target.lower(graph(0)).save(tmp_path)
    before = _snapshot(tmp_path)
    disk_full_on_sync(monkeypatch, 3)  # the last of the three files
    with pytest.raises(OSError, match="No space left"):
        target.lower(graph(1)).save(tmp_path)
    monkeypatch.undo()
    assert _snapshot(tmp_path) == before
    assert target.load_config(tmp_path).graph.is_equivalent(graph(0))


# -- item 5: Dynap-SE2 limits come from the target -------------------------------------


def test_dynapse_limits_in_the_file_must_be_the_targets(tmp_path: Path) -> None:
    system = DynapseSystem()
    n = 2
    p = place_in_order(
        n, np.zeros(n, int), np.zeros(0, int), np.zeros(0, int), system=system
    )
    config = DynapseConfig.from_placement(
        p,
        src=[0] * 100,
        dst=[1] * 100,
        dendrite=["AMPA"] * 100,
        mask=[1] * 100,
        neuron_names=["h:0", "h:1"],
        dt=1e-3,
    )
    # 100 CAM entries on neuron 1: over the 64 a Dynap-SE2 neuron has.
    assert any("100 CAM entries" in e for e in config.validate())
    (tmp_path / "config.json").write_text(
        config.to_json().replace('"cam_entries": 64', '"cam_entries": 1000')
    )
    assert '"cam_entries": 1000' in (tmp_path / "config.json").read_text()
    with pytest.raises(DynapseConfigError) as info:
        DYNAPSE2.load_config(tmp_path)
    message = str(info.value)
    assert "cam_entries" in message
    assert "1000" in message
    assert "64" in message


# -- item 6: modes ---------------------------------------------------------------------


@pytest.fixture
def umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_build_files_follow_the_umask_and_keep_their_mode(
    tmp_path: Path, umask: None
) -> None:
    xylo(0).save(tmp_path)
    for name in ("config.json", "registers.npz"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
    (tmp_path / "config.json").chmod(0o640)
    xylo(1).save(tmp_path)
    assert stat.S_IMODE((tmp_path / "config.json").stat().st_mode) == 0o640
