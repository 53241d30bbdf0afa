"""The fidelity row of every compile: the ideal chip against the float graph."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import compiler
import ir
from backends import graph_emulator
from compiler.cli import main
from compiler.fidelity import (
    FidelityWarning,
    calibration_inputs,
    measure,
    probe_inputs,
    warn_if_low,
)
from tests.backends.dynapse.test_lower import chain
from tests.backends.xylo.snn_graphs import lif_graph

# dynapse2 builds of subtract-reset LIF chains: adapt-dynapse says what it
# changed (tests/backends/dynapse/test_adapt.py covers that); not the subject here.
pytestmark = pytest.mark.filterwarnings("ignore::compiler.errors.AdapterWarning")


@dataclass(frozen=True)
class Replay:
    """A stand-in chip: returns the given outputs, whatever the input."""

    outputs: torch.Tensor

    def run(self, inputs: Any) -> torch.Tensor:
        return self.outputs


def test_measures_against_known_outputs() -> None:
    graph = lif_graph(0)
    x = probe_inputs(graph)
    assert isinstance(x, np.ndarray)
    assert x.shape == (8, 100, 4)
    assert set(np.unique(x)) <= {0.0, 1.0}
    want = ir.interpret(graph, x)
    same = measure(graph, Replay(want), x, source="probe")
    assert same.count_correlation == pytest.approx(1.0)
    assert same.argmax_agreement == 1.0
    assert same.bin_agreement == 1.0
    assert same.problems() == []
    # Output neurons reversed: counts per neuron computed here independently.
    flipped = want.flip(-1)
    got = measure(graph, Replay(flipped), x, source="probe")
    a, b = want.sum(1).numpy().ravel(), flipped.sum(1).numpy().ravel()
    assert got.count_correlation == pytest.approx(np.corrcoef(a, b)[0, 1])
    fires = want.sum((1, 2)) > 0
    agree = want.sum(1).argmax(1) == flipped.sum(1).argmax(1)
    assert got.argmax_agreement == pytest.approx(agree[fires].float().mean().item())
    assert got.bin_agreement == pytest.approx((want == flipped).float().mean().item())
    silent = measure(graph, Replay(torch.zeros_like(want)), x, source="probe")
    assert silent.count_correlation is None
    assert silent.chip_spikes == 0
    with pytest.warns(FidelityWarning, match="count correlation undefined"):
        warn_if_low(silent, "xylo-audio2")


def test_every_xylo_compile_reports_its_fidelity() -> None:
    graph = lif_graph(0)
    result = compiler.compile(graph, target="xylo-audio2")
    fid = result.report.fidelity
    assert fid is not None
    assert fid.source.startswith("random spikes")
    assert fid.hop_delay == 1
    # The same numbers from the float graph and the build run here.
    x = probe_inputs(graph)
    again = measure(graph, graph_emulator(result.target, result.config), x, source="")
    assert fid.count_correlation == again.count_correlation
    assert fid.bin_agreement == again.bin_agreement
    assert fid.count_correlation is not None
    assert fid.count_correlation > 0.95
    assert fid.argmax_agreement == 1.0
    assert "fidelity  ideal chip vs float graph: count corr" in str(result.report)
    assert "LOW" not in str(result.report)


def test_calibration_spikes_are_the_inputs_when_they_fit() -> None:
    graph = lif_graph(1)
    rng = np.random.default_rng(2)
    x = (rng.random((20, 30, 4)) < 0.3).astype(np.float32)
    result = compiler.compile(graph, target="xylo-audio2", calibration=x)
    fid = result.report.fidelity
    assert fid is not None
    assert (fid.source, fid.samples, fid.steps) == ("calibration", 8, 30)
    assert calibration_inputs(graph, x[:, 0]) is None  # static samples: not spikes
    assert calibration_inputs(graph, x * 0.5) is None  # rates: not spikes


def test_low_fidelity_warns_and_can_be_skipped() -> None:
    with pytest.warns(FidelityWarning, match="fires no output spike") as caught:
        result = compiler.compile(chain(0), target="dynapse2")
    fidelity = [w for w in caught if issubclass(w.category, FidelityWarning)]
    assert "retune" in str(fidelity[0].message)
    assert "LOW" in str(result.report)
    assert compiler.FidelityWarning is FidelityWarning
    skipped = compiler.compile(chain(0), target="dynapse2", fidelity=False)
    assert skipped.report.fidelity is None
    assert "fidelity  not measured (fidelity=False)" in str(skipped.report)
    reference = compiler.compile(chain(0), target="reference")
    assert reference.report.fidelity is None


def test_cli_prints_the_warning_and_takes_no_fidelity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ir.save(chain(0), tmp_path / "g.sfir")
    args = ["compile", str(tmp_path / "g.sfir"), "-t", "dynapse2", "-o"]
    assert main([*args, str(tmp_path / "b1")]) == 0
    out = capsys.readouterr()
    assert "spikeforge: warning: the dynapse2 build disagrees" in out.err
    assert "fidelity  ideal chip vs float graph" in out.out
    assert main([*args, str(tmp_path / "b2"), "--no-fidelity"]) == 0
    out = capsys.readouterr()
    assert "disagrees with the float graph" not in out.err
    assert "not measured (fidelity=False)" in out.out
