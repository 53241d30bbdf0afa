"""Small float SNN graphs for the Xylo lowering and target tests."""

from __future__ import annotations

import numpy as np

import ir
from ir.ops.io import Input, Output
from ir.ops.nn import Affine, Linear
from ir.ops.snn import LIF, CubaLIF


def lif(n: int, tau: float, max_spikes: int) -> LIF:
    return LIF(
        tau=np.full(n, tau, np.float32),
        r=np.ones(n, np.float32),
        v_leak=np.zeros(n, np.float32),
        v_threshold=np.ones(n, np.float32),
        reset="subtract",
        max_spikes=max_spikes,
    )


def cubalif(n: int, tau_syn: float, tau_mem: float, max_spikes: int) -> CubaLIF:
    return CubaLIF(
        tau_syn=np.full(n, tau_syn, np.float32),
        tau_mem=np.full(n, tau_mem, np.float32),
        r=np.ones(n, np.float32),
        v_leak=np.full(n, 0.2, np.float32),
        v_threshold=np.ones(n, np.float32),
        reset="subtract",
        max_spikes=max_spikes,
    )


def dense(
    rng: np.random.Generator, shape: tuple[int, int], std: float, mean: float
) -> np.ndarray:
    return (rng.standard_normal(shape) * std + mean).astype(np.float32)


def lif_graph(seed: int) -> ir.Graph:
    """4 inputs -> 8 hidden LIF -> 3 output LIF (dt = 1 ms)."""
    rng = np.random.default_rng(seed)
    g = ir.Graph("lif", dt=1e-3)
    g.add("x", Input(shape=(4,)))
    g.add("fc1", Linear(weight=dense(rng, (8, 4), 8, 4)), ["x"])
    g.add("lif1", lif(8, 0.02, 31), ["fc1"])
    g.add("fc2", Linear(weight=dense(rng, (3, 8), 6, 3)), ["lif1"])
    g.add("lif2", lif(3, 0.01, 1), ["fc2"])
    g.add("y", Output(), ["lif2"])
    return g


def cuba_graph(seed: int) -> ir.Graph:
    """5 inputs -> affine -> 10 recurrent CubaLIF -> 6 CubaLIF -> 2 output CubaLIF."""
    rng = np.random.default_rng(seed)
    g = ir.Graph("cuba", dt=1e-3)
    g.add("x", Input(shape=(5,)))
    g.add(
        "fc1",
        Affine(weight=dense(rng, (10, 5), 8, 4), bias=np.full(10, 0.5, np.float32)),
        ["x"],
    )
    g.add("h1", cubalif(10, 0.005, 0.02, 31), ["fc1"])
    g.add("rec1", Linear(weight=dense(rng, (10, 10), 1, 0)), ["h1"])
    g.connect("rec1", "h1", recurrent=True)
    g.add("fc2", Linear(weight=dense(rng, (6, 10), 3, 1)), ["h1"])
    g.add("h2", cubalif(6, 0.005, 0.02, 31), ["fc2"])
    g.add("fc3", Linear(weight=dense(rng, (2, 6), 3, 2)), ["h2"])
    g.add("o", cubalif(2, 0.003, 0.01, 1), ["fc3"])
    g.add("y", Output(), ["o"])
    return g


def raster(seed: int, n_in: int, steps: int = 300, batch: int = 4) -> np.ndarray:
    """Sparse event counts 0..2, ``(batch, steps, n_in)``."""
    rng = np.random.default_rng(100 + seed)
    shape = (batch, steps, n_in)
    return rng.integers(0, 3, shape) * (rng.random(shape) < 0.3)


def on_chip(events: np.ndarray, n_inputs: int = 16) -> np.ndarray:
    """Pad a raster to the chip's input channels."""
    return np.pad(events, ((0, 0), (0, 0), (0, n_inputs - events.shape[2])))
