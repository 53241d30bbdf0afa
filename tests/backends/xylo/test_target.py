"""The Xylo targets: protocol, registry table, save/load, emulator vs float graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ir
from backends.base import Target, TargetError
from backends.xylo import VARIANTS, XyloConfig
from backends.xylo.lower import hop_delay
from backends.xylo.target import TARGETS, XYLO_AUDIO2, XyloTarget
from tests.backends.xylo.snn_graphs import lif_graph, on_chip, raster


def test_registry_keys_are_names() -> None:
    assert set(TARGETS) == set(VARIANTS)
    for name, target in TARGETS.items():
        assert target.name == name
        as_object: object = target  # XyloEmulator.run names its argument raster
        assert isinstance(as_object, Target)
        assert target.limits == VARIANTS[name].limits
        assert target.default_pipeline == (
            f"canonicalize,dce,infer-shapes,expand-conv{{target={name}}},"
            "fold-recurrent-bias,"
            f"adapt-xylo{{variant={name}}},quantize-xylo{{variant={name}}},"
            "allocate-xylo"
        )
        assert set(target.passes) == {"adapt-xylo", "quantize-xylo", "allocate-xylo"}
        for key, cls in target.passes.items():
            assert cls.name == key
        assert VARIANTS[name].part_number in target.description


@pytest.mark.parametrize("seed", range(3))
def test_emulator_tracks_float_graph(seed: int) -> None:
    """4 inputs, 8 hidden LIF, 3 output LIF; seeded weights and events.

    Exact equality is not expected (int8 weights, dash-fitted decays, the one-step
    synapse smear of snn.lif). The chip lags the float graph by one step (one
    hidden layer). Observed: relative L1 error of the per-neuron spike counts
    0.011-0.037, per-step output agreement 0.77-0.89. Asserted: < 0.08 and > 0.7.
    """
    graph = lif_graph(seed)
    target = XYLO_AUDIO2
    config = target.lower(graph)
    assert isinstance(config, XyloConfig)
    assert config.validate() == []
    events = raster(seed, 4)
    delay = hop_delay(graph)
    assert delay == 1
    chip = target.emulator(config, seed=seed).run(on_chip(events))[:, delay:, :3]
    ref = ir.interpret(graph, events.astype(np.float32)).numpy()[:, :-delay]
    counts_chip, counts_ref = chip.sum(1), ref.sum(1)
    assert counts_ref.sum() > 100
    assert np.abs(counts_chip - counts_ref).sum() / counts_ref.sum() < 0.08
    assert (chip == ref).mean() > 0.7
    # The unused readout channels stay silent.
    assert target.emulator(config).run(on_chip(events))[:, :, 3:].sum() == 0


def test_save_load_round_trip(tmp_path: Path) -> None:
    config = XYLO_AUDIO2.lower(lif_graph(0))
    config.save(tmp_path / "cfg")
    back = XYLO_AUDIO2.load_config(tmp_path / "cfg")
    assert back.neuron_map == config.neuron_map
    assert np.array_equal(back.weights_in, config.weights_in)
    events = on_chip(raster(0, 4, steps=50))
    assert np.array_equal(
        XYLO_AUDIO2.emulator(back).run(events), XYLO_AUDIO2.emulator(config).run(events)
    )
    with pytest.raises(TargetError, match="xylo-audio2"):
        TARGETS["xylo-v1"].load_config(tmp_path / "cfg")


def test_emulator_rejects_other_configs() -> None:
    with pytest.raises(TargetError):
        XyloTarget.for_variant(VARIANTS["xylo-imu"]).emulator(
            XYLO_AUDIO2.lower(lif_graph(0))
        )
    with pytest.raises(TargetError):
        XYLO_AUDIO2.emulator(object())


def test_compile_report_lists_resources_and_clock() -> None:
    import compiler
    from backends.xylo.cost import estimate_cycles

    result = compiler.compile(lif_graph(0), target="xylo-audio2")
    resources = result.report.resources
    assert resources["hidden neurons"] == "8 / 1000"
    assert resources["output neurons"] == "3 / 8"
    assert resources["input channels"] == "4 / 16"
    cost = estimate_cycles(result.config)
    assert resources["cycles per step (worst case)"] == f"{cost.cycles_per_step:,.0f}"
    assert resources["min clock for real time"].startswith(
        f"{cost.min_clock_hz / 1e6:.2f} MHz"
    )
    text = str(result.report)
    assert "resources:" in text
    assert "max recurrent fan-out" in text


def test_cli_compiles_and_runs_a_xylo_build(tmp_path: Path) -> None:
    """The build runs on the graph's own input (4 channels, 0/1 floats) and gives
    the graph's 3 outputs aligned with the float graph; --raw keeps the chip's I/O."""
    import subprocess
    import sys

    ir.save(lif_graph(0), tmp_path / "lif.sfir")
    events = raster(0, 4)
    np.save(tmp_path / "events.npy", events.astype(np.float32))
    np.save(tmp_path / "chip.npy", on_chip(events))
    cli = [sys.executable, "-m", "compiler.cli"]
    build = tmp_path / "build"

    def spikeforge(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, *args], capture_output=True, text=True, timeout=120
        )

    done = spikeforge("compile", str(tmp_path / "lif.sfir"), "-t", "xylo-audio2",
                      "-o", str(build))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "hidden neurons" in done.stdout
    assert "fidelity  ideal chip vs float graph: count corr" in done.stdout
    chip = XYLO_AUDIO2.emulator(XYLO_AUDIO2.lower(lif_graph(0)))
    delay = hop_delay(lif_graph(0))
    padded = np.pad(on_chip(events), ((0, 0), (0, delay), (0, 0)))
    runs = {
        (): chip.run(padded)[:, delay:, :3],
        ("--no-align",): chip.run(on_chip(events))[:, :, :3],
    }
    for flags, expected in runs.items():
        out = tmp_path / "out.npy"
        ran = spikeforge("run", str(build), "--input", str(tmp_path / "events.npy"),
                         "-o", str(out), *flags)  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        assert np.array_equal(np.load(out), expected), flags
    raw = spikeforge("run", str(build), "--input", str(tmp_path / "chip.npy"),
                     "-o", str(tmp_path / "raw.npy"), "--raw")  # fmt: skip
    assert raw.returncode == 0, raw.stderr
    assert np.array_equal(np.load(tmp_path / "raw.npy"), chip.run(on_chip(events)))
    wrong = spikeforge("run", str(build), "--input", str(tmp_path / "chip.npy"))
    assert wrong.returncode == 1
    assert "must be (batch, time, 4), got shape (4, 300, 16)" in wrong.stderr
    assert "--raw" in wrong.stderr
