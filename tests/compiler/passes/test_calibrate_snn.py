"""The ``calibrate-snn`` pass: bias and potential correction recover accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import ir
from compiler import PipelineError, run_pipeline
from frontends import pytorch
from ir.ops import snn


@pytest.fixture(scope="module")
def converted() -> tuple[ir.Graph, torch.Tensor, torch.Tensor, torch.Tensor]:
    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    x, y = x[order], y[order]
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
    )
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(15):
        for i in range(0, 1250, 64):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(
                model(x[i : i + 64]), y[i : i + 64]
            )
            loss.backward()
            opt.step()
    graph = pytorch.from_module(model.eval(), x[:2])
    snn_graph = run_pipeline(graph, "ann-to-snn{timesteps=4}", calibration=x[:512])
    return snn_graph, x[:512], x[1250:], y[1250:]


def rate_error(
    graph: ir.Graph, layer: str, x: torch.Tensor, ideal: torch.Tensor
) -> float:
    _, rec = ir.interpret(graph, x[:, None], steps=4, record=True)
    return float((rec[layer]["output"].mean(1) - ideal).mean(0).abs().mean())


def test_calibration_shrinks_the_rate_error_and_keeps_the_structure(converted) -> None:
    snn_graph, calib, xte, yte = converted
    out = run_pipeline(snn_graph, "calibrate-snn{timesteps=4}", calibration=calib)
    ir.verify(out)
    assert sorted(out.nodes()) == sorted(snn_graph.nodes())
    (layer,) = [n for n in out.nodes() if isinstance(out.op(n), snn.IF)]
    # The ideal rate of the hidden layer: relu(z) / theta, clipped at one spike a step.
    theta = float(snn_graph.op(layer).v_threshold)
    (src,) = snn_graph.producers(layer)
    _, rec = ir.interpret(snn_graph, calib[:, None], steps=1, record=True)
    ideal = torch.clamp(torch.relu(rec[src]["output"][:, 0]) / theta, max=1.0)
    before = rate_error(snn_graph, layer, calib, ideal)
    after = rate_error(out, layer, calib, ideal)
    assert after < 0.5 * before
    # The correction moved the bias and the initial potential, nothing else.
    assert not np.array_equal(out.op(src).bias, snn_graph.op(src).bias)
    assert np.any(out.op(layer).v_init != 0)
    acc = [
        (ir.interpret(g, xte[:, None], steps=4)[:, -1].argmax(-1) == yte).float().mean()
        for g in (snn_graph, out)
    ]
    assert acc[1] >= acc[0] - 0.01


def test_input_graph_untouched_and_errors(converted) -> None:
    snn_graph, calib, *_ = converted
    before = ir.to_text(snn_graph)
    run_pipeline(snn_graph, "calibrate-snn{timesteps=4 samples=32}", calibration=calib)
    assert ir.to_text(snn_graph) == before
    with pytest.raises(PipelineError, match="option samples must be >= 1, got 0"):
        run_pipeline(snn_graph, "calibrate-snn{samples=0}", calibration=calib)
    with pytest.raises(Exception, match=r"input 'calibration' must be \(N, 64\)"):
        run_pipeline(snn_graph, "calibrate-snn", calibration=calib[:, :10])
    g = ir.parse(
        "sfir 1\ngraph @g {dt = none} {\n  %x = io.input() {shape = (64)}\n"
        "  %y = io.output(%x) {}\n}\n"
    )
    with pytest.raises(
        Exception, match=r"found no snn\.if layers; run ann-to-snn first"
    ):
        run_pipeline(g, "calibrate-snn", calibration=calib)
