"""Graph-shaped build I/O: builds run on the graph's inputs, return its outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import compiler
import ir
from backends import GraphIO, GraphIOError, graph_emulator
from backends.dynapse.config import ConfigError as DynapseConfigError
from backends.dynapse.lower import DEFAULT_I_SCALE
from backends.dynapse.target import DYNAPSE2
from backends.graph_io import InputPort, OutputPort
from backends.xylo.config import ConfigError, XyloConfig
from backends.xylo.target import XYLO_AUDIO2
from tests.backends.dynapse.test_lower import chain
from tests.backends.xylo.snn_graphs import cuba_graph, lif_graph, on_chip, raster

# dynapse2 builds of subtract-reset LIF chains: adapt-dynapse says what it
# changed (tests/backends/dynapse/test_adapt.py covers that); not the subject here.
pytestmark = pytest.mark.filterwarnings("ignore::compiler.errors.AdapterWarning")


def spikes(shape: tuple[int, ...], seed: int = 0, p: float = 0.2) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) < p).astype(np.float32)


def test_xylo_build_takes_the_graph_input_and_aligns_the_hop_delay() -> None:
    """cuba_graph: 5 inputs, 2 hidden layers (hop delay 2), 2 outputs; the chip has
    16 inputs and 8 readout channels. Reference: the raw chip on the padded raster,
    shifted by hand."""
    graph = cuba_graph(0)
    config = XYLO_AUDIO2.lower(graph)
    assert config.io == GraphIO(
        inputs=(InputPort("x", (5,)),),
        outputs=(OutputPort("y", (0, 1)),),
        hop_delay=2,
    )
    x = spikes((3, 60, 5))
    chip = XYLO_AUDIO2.emulator(config)
    raw = chip.run(on_chip(np.pad(x, ((0, 0), (0, 2), (0, 0))).astype(np.int64)))
    emu = XYLO_AUDIO2.graph_emulator(config)
    out = emu.run(x)
    assert isinstance(out, torch.Tensor)
    assert out.dtype == torch.float32
    assert out.shape == (3, 60, 2)
    np.testing.assert_array_equal(out.numpy(), raw[:, 2:, :2])
    late = emu.run(x, align=False)
    np.testing.assert_array_equal(late.numpy(), raw[:, :60, :2])
    # Integer counts and a torch tensor are the same input as 0/1 floats.
    np.testing.assert_array_equal(emu.run(torch.from_numpy(x)).numpy(), out.numpy())
    np.testing.assert_array_equal(emu.run(x.astype(np.int32)).numpy(), out.numpy())
    np.testing.assert_array_equal(emu.run({"x": x}).numpy(), out.numpy())
    assert emu.raw is not None
    assert emu.raw.run(on_chip(x.astype(int))).shape[2] == 8


def test_steps_hold_a_one_step_input_as_the_interpreter_does() -> None:
    graph = lif_graph(1)
    emu = XYLO_AUDIO2.graph_emulator(XYLO_AUDIO2.lower(graph))
    one = np.array([[[1.0, 0.0, 2.0, 1.0]]], np.float32)
    held = emu.run(one, steps=40)
    assert held.shape == (1, 40, 3)
    np.testing.assert_array_equal(
        held.numpy(), emu.run(np.repeat(one, 40, axis=1)).numpy()
    )
    assert ir.interpret(graph, one, steps=40).shape == held.shape
    with pytest.raises(GraphIOError, match="has 2 time steps; steps=40 needs 1 or 40"):
        emu.run(np.zeros((1, 2, 4)), steps=40)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.5, r"value 0\.5 at index \(1, 7, 2\) is not an event count"),
        (np.nan, r"value nan at index \(1, 7, 2\)"),
        (-1.0, r"value -1\.0 at index \(1, 7, 2\)"),
    ],
)
def test_non_counts_are_refused_naming_the_input_and_index(
    value: float, message: str
) -> None:
    emu = XYLO_AUDIO2.graph_emulator(XYLO_AUDIO2.lower(lif_graph(0)))
    x = spikes((2, 10, 4))
    x[1, 7, 2] = value
    with pytest.raises(GraphIOError, match="input 'x': " + message):
        emu.run(x)


def test_wrong_shapes_and_names_are_refused() -> None:
    emu = XYLO_AUDIO2.graph_emulator(XYLO_AUDIO2.lower(lif_graph(0)))
    with pytest.raises(GraphIOError, match=r"must be \(batch, time, 4\), got shape"):
        emu.run(np.zeros((2, 10, 5)))
    with pytest.raises(GraphIOError, match="chip's own channels"):
        emu.run(np.zeros((2, 10, 16)))
    with pytest.raises(GraphIOError, match="expected x; unknown z"):
        emu.run({"x": np.zeros((1, 3, 4)), "z": np.zeros((1, 3, 4))})


def test_dynapse_build_runs_the_ideal_chip_by_default() -> None:
    graph = chain(1)
    # A fixed current scale at which the chain's chips fire (the automatic one
    # matches its silent float graph, where every chip is silent alike).
    pipeline = DYNAPSE2.default_pipeline.replace(
        "quantize-dynapse", f"quantize-dynapse{{i-scale={DEFAULT_I_SCALE!r}}}"
    )
    with pytest.warns(compiler.FidelityWarning):  # the chain's float graph is silent
        result = compiler.compile(graph, target="dynapse2", pipeline=pipeline)
    config = result.config
    assert config.io is not None
    assert config.io.inputs == (InputPort("x", (12,)),)
    assert config.io.outputs == (OutputPort("y", (0, 1, 2, 3)),)
    assert config.io.hop_delay == 1  # h -> o
    x = spikes((2, 50, 12), seed=3)
    padded = np.pad(x, ((0, 0), (0, 1), (0, 0)))
    ideal = DYNAPSE2.emulator(config, seed=None).run(padded)[:, 1:]
    chip7 = DYNAPSE2.emulator(config, seed=7).run(padded)[:, 1:]
    assert not np.array_equal(ideal, chip7)
    np.testing.assert_array_equal(result.emulator().run(x).numpy(), ideal)
    np.testing.assert_array_equal(result.emulator(7).run(x).numpy(), chip7)
    np.testing.assert_array_equal(result.emulator(chip=7).run(x).numpy(), chip7)
    np.testing.assert_array_equal(
        graph_emulator(DYNAPSE2, config).run(x).numpy(), ideal
    )
    raw = result.emulator(seed=7, raw=True)
    np.testing.assert_array_equal(raw.run(x), DYNAPSE2.emulator(config, seed=7).run(x))
    with pytest.raises(compiler.CompileError, match="disagree"):
        result.emulator(1, chip=2)


def test_io_survives_save_and_load(tmp_path: Path) -> None:
    config = XYLO_AUDIO2.lower(cuba_graph(1))
    config.save(tmp_path / "x")
    assert json.loads((tmp_path / "x" / "config.json").read_text())["version"] == 2
    assert XYLO_AUDIO2.load_config(tmp_path / "x").io == config.io
    with pytest.warns(compiler.FidelityWarning):
        dyn = compiler.compile(chain(2), target="dynapse2").config
    dyn.save(tmp_path / "d")
    assert DYNAPSE2.load_config(tmp_path / "d").io == dyn.io


def test_version_1_builds_still_load_their_io_derived(tmp_path: Path) -> None:
    """A version-1 build (no "io") runs on the graph's input: the neuron map says
    the input width, the readout channels and the hidden layers."""
    graph = lif_graph(2)
    config = XYLO_AUDIO2.lower(graph)
    config.save(tmp_path / "x")
    path = tmp_path / "x" / "config.json"
    meta = json.loads(path.read_text())
    meta["version"] = 1
    del meta["io"]
    path.write_text(json.dumps(meta))
    old = XYLO_AUDIO2.load_config(tmp_path / "x")
    assert old.io is not None
    assert old.io.inputs == (InputPort("x", (4,)),)
    assert old.io.outputs[0].channels == (0, 1, 2)
    assert old.io.outputs[0].name == "lif2"  # the output layer: no io.output name
    assert old.io.hop_delay == 1
    x = raster(2, 4, steps=40)
    np.testing.assert_array_equal(
        XYLO_AUDIO2.graph_emulator(old).run(x).numpy(),
        XYLO_AUDIO2.graph_emulator(config).run(x).numpy(),
    )
    meta["version"] = 7
    path.write_text(json.dumps(meta))
    with pytest.raises(
        ConfigError, match="version 7, this spikeforge reads versions 1, 2"
    ):
        XyloConfig.load(tmp_path / "x")

    with pytest.warns(compiler.FidelityWarning):
        dyn = compiler.compile(chain(2), target="dynapse2").config
    dyn.save(tmp_path / "d")
    path = tmp_path / "d" / "config.json"
    meta = json.loads(path.read_text())
    meta["version"] = 1
    del meta["io"]
    path.write_text(json.dumps(meta))
    back = DYNAPSE2.load_config(tmp_path / "d")
    assert back.io is not None
    assert back.io.hop_delay == 1
    assert back.io.outputs[0].channels == (0, 1, 2, 3)


def test_malformed_io_is_a_config_error(tmp_path: Path) -> None:
    XYLO_AUDIO2.lower(lif_graph(0)).save(tmp_path / "x")
    path = tmp_path / "x" / "config.json"
    meta = json.loads(path.read_text())
    meta["io"]["hop_delay"] = -1
    path.write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match=r"config\.json: io: hop_delay -1"):
        XyloConfig.load(tmp_path / "x")
    with pytest.warns(compiler.FidelityWarning):
        compiler.compile(chain(2), target="dynapse2").config.save(tmp_path / "d")
    path = tmp_path / "d" / "config.json"
    meta = json.loads(path.read_text())
    meta["io"]["outputs"] = [{"name": "y", "channels": "0"}]
    path.write_text(json.dumps(meta))
    with pytest.raises(DynapseConfigError, match=r"io: outputs\[0\] needs"):
        DYNAPSE2.load_config(tmp_path / "d")


def test_a_register_built_config_has_no_io_and_says_so() -> None:
    config = XyloConfig.from_registers("xylo-audio2", weights_rec=np.zeros((4, 4)))
    assert config.io is None
    with pytest.raises(GraphIOError, match="records no graph I/O"):
        XYLO_AUDIO2.graph_emulator(config)


def test_cli_run_holds_steps_and_refuses_build_flags_on_graphs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from compiler.cli import main

    graph = lif_graph(3)
    config = XYLO_AUDIO2.lower(graph)
    config.save(tmp_path / "build")
    ir.save(graph, tmp_path / "g.sfir")
    one = np.array([[[1.0, 0.0, 1.0, 1.0]]], np.float32)
    np.save(tmp_path / "x.npy", one)
    args = ["run", str(tmp_path / "build"), "--input", str(tmp_path / "x.npy")]
    assert main([*args, "--steps", "30", "-o", str(tmp_path / "y.npy")]) == 0
    expected = XYLO_AUDIO2.graph_emulator(config).run(one, steps=30).numpy()
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)
    assert main([*args, "--chip", "1", "--seed", "2"]) == 1
    assert "--chip 1 and --seed 2 disagree" in capsys.readouterr().err
    graph_args = ["run", str(tmp_path / "g.sfir"), "--input", str(tmp_path / "x.npy")]
    assert main([*graph_args, "--no-align"]) == 1
    assert "only for a build folder" in capsys.readouterr().err
