"""The ``allocate-cores`` pass: neuron-level expansion, meta, behaviour, CLI picture."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import compiler
import ir
from compiler.allocation import from_graph
from compiler.passes.allocate_cores import measured_rates
from ir.ops.io import Input, Output
from ir.ops.nn import Conv2d
from ir.ops.snn import LIF

# The dynapse2 pipeline adapts subtract resets and LIF synapses (adapt-dynapse) and
# warns; these tests are about other things (tests/backends/dynapse/test_adapt.py).
pytestmark = pytest.mark.filterwarnings(
    "ignore::backends.dynapse.adapt.DynapseAdapterWarning"
)


def lif(shape: tuple[int, ...], tau: float = 0.02) -> LIF:
    return LIF(
        tau=np.full(shape, tau, np.float32),
        r=np.ones(shape, np.float32),
        v_leak=np.zeros(shape, np.float32),
        v_threshold=np.ones(shape, np.float32),
        reset="subtract",
    )


def conv_net(seed: int) -> ir.Graph:
    """(2, 8, 8) spikes -> conv 4x3x3 (stride 1, pad 1) -> LIF -> conv 3x3x3 stride 2
    groups 1 -> LIF -> output."""
    rng = np.random.default_rng(seed)
    g = ir.Graph("conv", dt=1e-3)
    g.add("x", Input(shape=(2, 8, 8)))
    w1 = rng.normal(0.6, 0.5, (4, 2, 3, 3)).astype(np.float32)
    w1[0, 1, 0, 0] = 0  # a zero weight is no synapse
    g.add("c1", Conv2d(weight=w1, padding=(1, 1)), ["x"])
    g.add("l1", lif((4, 8, 8)), ["c1"])
    w2 = rng.normal(0.4, 0.5, (3, 4, 3, 3)).astype(np.float32)
    g.add("c2", Conv2d(weight=w2, stride=(2, 2)), ["l1"])
    g.add("l2", lif((3, 3, 3), tau=0.01), ["c2"])
    g.add("y", Output(), ["l2"])
    return compiler.run_pipeline(g, "infer-shapes")


def conv_pattern(op: Conv2d, in_shape: tuple[int, ...]) -> set[tuple[int, int]]:
    """Brute force: which input drives which output, by convolving one-hot inputs."""
    n_in = int(np.prod(in_shape))
    eye = torch.eye(n_in).reshape(n_in, *in_shape)
    out = torch.nn.functional.conv2d(
        eye, torch.tensor(np.asarray(op.weight)), stride=op.stride,
        padding=op.padding, dilation=op.dilation, groups=op.groups,
    )  # fmt: skip
    rows, cols = np.nonzero(out.reshape(n_in, -1).numpy())
    return set(zip(rows.tolist(), cols.tolist(), strict=True))


def test_conv_synapses_match_a_brute_force_expansion() -> None:
    graph = conv_net(0)
    net = from_graph(graph)
    assert net.layers == (("l1", 256), ("l2", 27))
    assert net.n_inputs == 128
    inputs = set(zip(net.input_src.tolist(), net.input_dst.tolist(), strict=True))  # type: ignore[union-attr]
    assert inputs == conv_pattern(graph.op("c1"), (2, 8, 8))  # type: ignore[arg-type]
    pairs = set(zip(net.src.tolist(), (net.dst - 256).tolist(), strict=True))
    assert pairs == conv_pattern(graph.op("c2"), (4, 8, 8))  # type: ignore[arg-type]


def test_pass_writes_placement_and_keeps_behaviour() -> None:
    graph = conv_net(1)
    placed = compiler.run_pipeline(graph, "allocate-cores{target=dynapse2}")
    assert placed.meta("l1")["placement"].shape == (256, 3)
    assert placed.meta("l2")["placement"].shape == (27, 3)
    summary = dict(placed.meta("x")["allocation"])
    assert (
        summary["cores_used"] == summary["cores_lower_bound"] == 2
    )  # 256 + 27, 2 taus
    text = ir.to_text(placed)
    back = ir.parse(text)
    assert ir.to_text(back) == text
    np.testing.assert_array_equal(
        back.meta("l1")["placement"], placed.meta("l1")["placement"]
    )
    x = (
        torch.rand((2, 30, 2, 8, 8), generator=torch.Generator().manual_seed(0)) < 0.3
    ).float()
    assert torch.equal(ir.interpret(graph, x), ir.interpret(placed, x))


def test_rates_come_from_the_interpreter() -> None:
    graph = conv_net(2)
    x = (np.random.default_rng(0).random((3, 20, 2, 8, 8)) < 0.4).astype(np.float32)
    rates = measured_rates(graph, x)
    _, record = ir.interpret(graph, torch.from_numpy(x), record=True)
    expected = record["l1"]["output"].sum(1).mean(0).reshape(-1).numpy()
    np.testing.assert_allclose(rates["l1"], expected)
    assert rates["l1"].sum() > 0
    placed = compiler.run_pipeline(
        graph, "allocate-cores{target=dynapse2}", calibration=x
    )
    assert "placement" in placed.meta("l2")
    with pytest.raises(compiler.PassError, match=r"must be \(N, T, 2, 8, 8\)"):
        compiler.run_pipeline(graph, "allocate-cores", calibration=x[:, 0])


def test_more_chips_than_the_target_declares() -> None:
    from compiler.passes.allocate_cores import core_model_of

    assert core_model_of("dynapse2").chips == 1
    placed = compiler.run_pipeline(
        conv_net(0), "allocate-cores{target=dynapse2 chips=5}"
    )
    assert dict(placed.meta("x")["allocation"])["chips_used"] == 1  # 2 cores: one chip
    with pytest.raises(compiler.PipelineError, match="option chips must be >= 0"):
        compiler.run_pipeline(conv_net(0), "allocate-cores{chips=-1}")


def test_targets_without_cores_are_named() -> None:
    with pytest.raises(
        compiler.PassError, match="target 'xylo-audio2' declares no core model"
    ):
        compiler.run_pipeline(conv_net(0), "allocate-cores{target=xylo-audio2}")


def test_cli_draws_the_placement(tmp_path: Path) -> None:
    from tests.backends.dynapse.test_lower import chain

    ir.save(chain(0), tmp_path / "net.sfir")
    done = subprocess.run(
        [sys.executable, "-m", "compiler.cli", "compile", str(tmp_path / "net.sfir"),
         "-t", "dynapse2", "-o", str(tmp_path / "build"),
         "--plot-placement", str(tmp_path / "cores.png")],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.png.*"))  # no temporary left behind
