"""CNNs on Dynap-SE2: ``expand-conv`` in the default pipeline, through to the chip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import compiler
import ir
from backends.dynapse import decode
from backends.dynapse.lower import DEFAULT_I_SCALE
from backends.dynapse.target import DYNAPSE2
from backends.graph_io import GraphIOError
from ir.ops.io import Input, Output
from ir.ops.nn import Conv2d, Flatten, Linear, SumPool2d
from ir.ops.snn import IF

# The expanded CNN uses ann-to-snn's subtract reset and IF neurons, which the chip
# only approximates (adapt-dynapse says so once per compile); the agreement is
# measured here, against bounds of these tests' own.
pytestmark = [
    pytest.mark.filterwarnings("ignore::backends.dynapse.adapt.DynapseAdapterWarning"),
    pytest.mark.filterwarnings("ignore::compiler.fidelity.FidelityWarning"),
]


def if_layer(threshold: float) -> IF:
    return IF(
        r=np.full((), 1000.0, np.float32),
        v_threshold=np.full((), threshold, np.float32),
        reset="subtract",
    )


def tiny_cnn(seed: int) -> ir.Graph:
    """(1, 6, 6) spikes -> conv 4x3x3 -> IF (4, 4, 4) -> sum pool 2 -> flatten ->
    linear 16 -> 3 IF: the pooling folds into a 64-input dense layer, the CAM size."""
    rng = np.random.default_rng(seed)
    g = ir.Graph("cnn", dt=1e-3)
    g.add("x", Input(shape=(1, 6, 6)))
    w1 = (rng.standard_normal((4, 1, 3, 3)) * 0.5 + 0.6).astype(np.float32)
    g.add("conv1", Conv2d(weight=w1), ["x"])
    g.add("h", if_layer(4.0), ["conv1"])
    g.add("pool", SumPool2d(kernel_size=(2, 2)), ["h"])
    g.add("flat", Flatten(), ["pool"])
    w2 = (rng.standard_normal((3, 16)) * 0.3 + 0.2).astype(np.float32)
    g.add("fc", Linear(weight=w2), ["flat"])
    g.add("o", if_layer(12.0), ["fc"])
    g.add("y", Output(), ["o"])
    return g


def window_pattern(n_in: int = 6, k: int = 3, channels: int = 4) -> np.ndarray:
    """Independent reference: ``(channels * m * m, n_in * n_in)`` 0/1, which input
    pixel each conv neuron sees (a k x k window, stride 1, no padding)."""
    m = n_in - k + 1
    pattern = np.zeros((channels * m * m, n_in * n_in), bool)
    for c in range(channels):
        for i in range(m):
            for j in range(m):
                for u in range(k):
                    for v in range(k):
                        pattern[c * m * m + i * m + j, (i + u) * n_in + j + v] = True
    return pattern


def test_tiny_cnn_reaches_the_chip_with_the_expanded_weights() -> None:
    # A fixed current scale, so the realised weights below are known in amperes.
    pipeline = DYNAPSE2.default_pipeline.replace(
        "quantize-dynapse", f"quantize-dynapse{{i-scale={DEFAULT_I_SCALE!r}}}"
    )
    result = compiler.compile(tiny_cnn(0), target="dynapse2", pipeline=pipeline)
    graph = result.graph
    assert result.report.resources["max CAM entries per neuron"].endswith("/ 64")
    assert graph.meta("fc")["expanded_from"] == (
        "nn.sumpool2d 'pool'",
        "nn.flatten 'flat'",
        "nn.linear 'fc'",
    )
    # The realised weights keep the conv's window (quantization may drop a weight,
    # never add one), and the chip holds exactly them: |w| i_scale on AMPA (w > 0)
    # or GABA (w < 0), in the config's neuron order.
    w1 = np.asarray(graph.op("conv1").weight, np.float64)  # type: ignore[attr-defined]
    assert w1.shape == (64, 36)
    assert not np.any(w1[~window_pattern()])
    assert np.count_nonzero(w1) > 0.8 * window_pattern().sum()
    net = decode.decode(result.config)
    order = decode.output_order(result.config, "h")
    got = net.weights_in[:, order]
    want = np.abs(w1.T) * DEFAULT_I_SCALE
    np.testing.assert_allclose(np.where(w1.T > 0, got[..., 0], got[..., 2]), want)
    w2 = np.asarray(graph.op("fc").weight, np.float64)  # type: ignore[attr-defined]
    out = decode.output_order(result.config, "o")
    rec = net.weights_rec[np.ix_(order, out)]
    np.testing.assert_allclose(
        rec[..., 0] + rec[..., 2], np.abs(w2.T) * DEFAULT_I_SCALE
    )

    # The ideal chip's conv layer follows the interpreter on the compiled graph
    # (the analog neuron has its own gain, so compare spike counts by correlation).
    x = (np.random.default_rng(1).random((8, 150, 36)) < 0.1).astype(np.float32)
    _, record = ir.interpret(graph, torch.from_numpy(x), record=True)
    run = decode.emulator(result.config, seed=None).run(torch.from_numpy(x))
    chip = run.spikes[0].numpy()[..., order].sum(1)
    float_counts = record["h"]["output"].numpy().sum(1)
    assert float_counts.sum() > 0
    assert chip.sum() > 0
    assert np.corrcoef(chip.ravel(), float_counts.ravel())[0, 1] > 0.8
    assert DYNAPSE2.emulator(result.config, seed=None).run(x).shape == (8, 150, 3)


def test_digits_cnn_example() -> None:
    # Shorter than the demo (fewer epochs and steps) to keep the test quick.
    from examples.cnn_dynapse import run

    r = run(epochs=10, steps=100)
    assert r.layers == (("relu1", 144), ("relu2", 32), ("output.spiking", 10))
    assert r.report.resources["max CAM entries per neuron"] == "64 / 64"
    assert r.ann > 0.75
    assert r.snn > r.ann - 0.15
    assert r.chip > 0.2  # chance is 0.1; the analog translation costs the rest


def test_a_cnn_build_takes_the_graphs_own_input_shape() -> None:
    """The build records the input as the user feeds it, (1, 6, 6), not the flat
    64 channels expand-conv made: calibration of that shape feeds the fidelity
    check, and the build runs on it (its flattening is the chip's channel order)."""
    graph = tiny_cnn(0)
    x = (np.random.default_rng(4).random((4, 50, 1, 6, 6)) < 0.3).astype(np.float32)
    result = compiler.compile(graph, target="dynapse2", calibration=x)
    assert result.config.io.inputs[0].shape == (1, 6, 6)
    assert result.report.fidelity is not None  # measured, on the calibration spikes
    assert result.report.fidelity.source == "calibration"
    out = result.emulator().run(x)
    assert tuple(out.shape) == (4, 50, 3)
    with pytest.raises(GraphIOError, match=r"must be \(batch, time, 1, 6, 6\)"):
        result.emulator().run(x.reshape(4, 50, 36))
