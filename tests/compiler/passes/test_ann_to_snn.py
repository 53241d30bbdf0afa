"""The ``ann-to-snn`` pass: rate coding with IF neurons, normalization, units, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from sklearn.datasets import load_digits

import ir
from compiler import PipelineError, run_pipeline
from frontends import pytorch
from ir.ops import io, nn, snn


def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    x, y = x[order], y[order]
    return x[:1250], y[:1250], x[1250:], y[1250:]


def train(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int
) -> None:
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(epochs):
        for i in range(0, len(x), 64):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(
                model(x[i : i + 64]), y[i : i + 64]
            )
            loss.backward()
            opt.step()
    model.eval()


@pytest.fixture(scope="module")
def mlp() -> tuple[torch.nn.Module, ir.Graph, tuple[torch.Tensor, ...]]:
    xtr, ytr, xte, yte = digits()
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 10),
    )
    train(model, xtr, ytr, epochs=20)
    return model, pytorch.from_module(model, xtr[:4]), (xtr, ytr, xte, yte)


def single_relu(width: int = 5) -> ir.Graph:
    g = ir.Graph("relu")
    g.add("x", io.Input(shape=(width,)))
    g.add("relu", nn.ReLU(), ["x"])
    g.add("y", io.Output(), ["relu"])
    return g


@given(
    values=st.lists(st.floats(-2.0, 3.0, allow_nan=False), min_size=1, max_size=6),
    steps=st.integers(1, 64),
    theta=st.floats(0.25, 4.0),
)
def test_if_rate_approximates_relu_over_theta_within_one_over_t(
    values: list[float], steps: int, theta: float
) -> None:
    graph = single_relu(len(values))
    snn_graph = run_pipeline(
        graph, f"ann-to-snn{{timesteps={steps} normalization=none}}"
    )
    neuron = snn_graph.op("relu")
    assert isinstance(neuron, snn.IF)
    # Set the threshold directly: normalization=none gives 1.
    snn_graph.replace("relu", neuron.replace(v_threshold=np.float32(theta)))
    x = torch.tensor(values, dtype=torch.float64)[None, None]
    _, rec = ir.interpret(snn_graph, x, steps=steps, record=True)
    rate = rec["relu"]["output"][0].sum(0) / steps
    expected = torch.clamp(torch.relu(x[0, 0]) / theta, max=1.0)
    assert torch.all((rate - expected).abs() <= 1.0 / steps + 1e-9)


def test_conversion_is_exact_in_the_limit(mlp: tuple) -> None:
    model, graph, (xtr, _, xte, _) = mlp
    snn_graph = run_pipeline(
        graph,
        "ann-to-snn{timesteps=1024 normalization=max v-init=half}",
        calibration=xtr,
    )
    y = ir.interpret(snn_graph, xte[:, None], steps=1024)
    with torch.no_grad():
        ann = model(xte)
    assert torch.equal(y[:, -1].argmax(-1), ann.argmax(-1))
    # The readout is the mean over the steps: it estimates the ANN's logits.
    assert torch.allclose(y[:, -1], ann, atol=0.05)


def test_structure_units_and_readout(mlp: tuple) -> None:
    _, graph, (xtr, *_) = mlp
    out = run_pipeline(graph, "ann-to-snn{timesteps=16}", calibration=xtr[:256])
    ir.verify(out)
    ops = [out.op(n).name for n in out.topo_order()]
    assert ops.count("snn.if") == 2
    assert ops[-2:] == ["snn.integrator", "io.output"]
    assert "nn.relu" not in ops
    assert out.dt == 1e-3
    # The first IF's threshold is the 99.9th percentile of its positive activations.
    _, rec = ir.interpret(graph, xtr[:256, None], record=True)
    first = next(n for n in out.topo_order() if out.op(n).name == "snn.if")
    acts = rec[first]["output"].double().numpy()
    expected = np.percentile(acts[acts > 0], 99.9)
    assert float(out.op(first).v_threshold) == pytest.approx(expected, rel=1e-6)


def test_channel_thresholds_cnn_avgpool_and_clip() -> None:
    torch.manual_seed(1)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(4, 6, 3, padding=1, groups=2),
        torch.nn.ReLU6(),  # a clip activation: theta = 6, v_init = 3 (QCFS rule)
        torch.nn.Flatten(),
        torch.nn.Linear(6 * 4 * 4, 3),
    ).eval()
    with torch.no_grad():  # let the ReLU6 activations use its clip range, as trained
        model[3].weight.mul_(20.0)
    x = torch.rand(64, 1, 8, 8)
    graph = pytorch.from_module(model, x[:2])
    steps = 512
    out = run_pipeline(
        graph,
        f"ann-to-snn{{timesteps={steps} normalization=max thresholds=channel}}",
        calibration=x,
    )
    ops = {out.op(n).name for n in out.nodes()}
    assert "nn.sumpool2d" in ops
    assert "nn.avgpool2d" not in ops
    neurons = [out.op(n) for n in out.topo_order() if out.op(n).name == "snn.if"]
    assert neurons[0].v_threshold.shape == (4, 1, 1)  # one per channel
    assert float(np.max(neurons[1].v_threshold)) == 6.0
    assert float(np.max(neurons[1].v_init)) == 3.0
    with torch.no_grad():
        ann = model(x[:16])
    y = ir.interpret(out, x[:16, None], steps=steps)[:, -1]
    assert torch.allclose(y, ann, atol=0.05 * float(ann.abs().max()))


def test_residual_add_with_different_units() -> None:
    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Linear(6, 6)
            self.b = torch.nn.Linear(6, 6)
            self.head = torch.nn.Linear(6, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.relu(self.a(x))
            return self.head(torch.relu(self.b(h)) + h)

    torch.manual_seed(2)
    model = Block().eval()
    x = torch.rand(128, 6)
    graph = pytorch.from_module(model, x[:2])
    out = run_pipeline(
        graph, "ann-to-snn{timesteps=1024 normalization=max}", calibration=x
    )
    with torch.no_grad():
        ann = model(x[:32])
    y = ir.interpret(out, x[:32, None], steps=1024)[:, -1]
    assert torch.allclose(y, ann, atol=0.03 * float(ann.abs().max()))


def test_rate_encoding_and_spike_readout(mlp: tuple) -> None:
    _, graph, (xtr, _, xte, yte) = mlp
    rate = run_pipeline(
        graph, "ann-to-snn{timesteps=256 encoding=rate seed=3}", calibration=xtr[:256]
    )
    assert any(rate.op(n).name == "snn.rate_encode" for n in rate.nodes())
    y = ir.interpret(rate, xte[:200, None], steps=256)[:, -1]
    assert (y.argmax(-1) == yte[:200]).float().mean() > 0.9
    assert torch.equal(y, ir.interpret(rate, xte[:200, None], steps=256)[:, -1])
    spikes = run_pipeline(
        graph, "ann-to-snn{timesteps=256 readout=spikes}", calibration=xtr
    )
    counts = ir.interpret(spikes, xte[:200, None], steps=256)[:, -1]
    assert (counts.argmax(-1) == yte[:200]).float().mean() > 0.9


def test_spike_train_readout_and_multi_spike_hidden_neurons(mlp: tuple) -> None:
    _, graph, (xtr, _, xte, yte) = mlp
    train_graph = run_pipeline(
        graph,
        "ann-to-snn{timesteps=64 readout=spike-train max-spikes=31}",
        calibration=xtr,
    )
    (out,) = train_graph.outputs()
    (last,) = train_graph.producers(out)
    assert isinstance(train_graph.op(last), snn.IF)  # spikes straight to the output
    assert train_graph.op(last).max_spikes == 1
    hidden = [
        train_graph.op(n)
        for n in train_graph.nodes()
        if isinstance(train_graph.op(n), snn.IF) and n != last
    ]
    assert len(hidden) == 2
    assert all(op.max_spikes == 31 for op in hidden)
    spikes = ir.interpret(train_graph, xte[:200, None], steps=64)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    counts = spikes.sum(1)
    assert (counts.argmax(-1) == yte[:200]).float().mean() > 0.85


def test_passes_before_and_after_keep_meaning(mlp: tuple) -> None:
    _, graph, (xtr, *_) = mlp
    before = ir.to_text(graph)
    run_pipeline(graph, "ann-to-snn{timesteps=8}", calibration=xtr[:64])
    assert ir.to_text(graph) == before  # the input graph is untouched


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("timesteps=-3", "option timesteps must be >= 1, got -3"),
        ("percentile=100.5", r"option percentile must be in \(0, 100\], got 100.5"),
        (
            "normalization=l2",
            r"option 'normalization': expected str: max \| percentile \| none, got 'l2'",
        ),
        ("v-init=full", r"option 'v-init': expected str: zero \| half, got 'full'"),
        ("max-spikes=0", "option max_spikes must be >= 1, got 0"),
        (
            "readout=rate",
            r"option 'readout': expected str: integrate \| spikes \| spike-train",
        ),
    ],
)
def test_bad_options_name_the_option(options: str, message: str) -> None:
    with pytest.raises(PipelineError, match=message):
        run_pipeline(single_relu(), f"ann-to-snn{{{options}}}")


def test_bad_calibration_and_unsupported_graphs(tmp_path) -> None:
    graph = single_relu(5)
    with pytest.raises(
        Exception, match=r"input 'calibration' must be \(N, 5\) samples"
    ):
        run_pipeline(graph, "ann-to-snn", calibration=torch.zeros(10, 4))
    with pytest.raises(Exception, match="needs calibration data"):
        run_pipeline(graph, "ann-to-snn")
    np.save(tmp_path / "calib.npy", np.random.default_rng(0).random((20, 5)))
    from_file = run_pipeline(
        graph, "ann-to-snn", calibration=str(tmp_path / "calib.npy")
    )
    assert any(from_file.op(n).name == "snn.if" for n in from_file.nodes())
    pooled = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.MaxPool2d(2)).eval()
    g = pytorch.from_module(pooled, torch.rand(2, 1, 6, 6))
    with pytest.raises(Exception, match="max pooling has no rate-coded equivalent"):
        run_pipeline(g, "ann-to-snn{normalization=none}")
    bn = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3)).eval()
    g = pytorch.from_module(bn, torch.rand(2, 3))
    with pytest.raises(Exception, match="run fold-bn first"):
        run_pipeline(g, "ann-to-snn{normalization=none}")
