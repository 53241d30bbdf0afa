"""Regenerate ``examples/tiny_rsnn.sfir``, the bundled example model (seeded).

A recurrent SNN: 4 input channels -> 8 LIF neurons with recurrent weights -> 3 leaky
integrator readouts. It carries two things a pipeline cleans up: a gain (``nn.scale``)
after the input weights, which ``canonicalize`` folds into them, and a probe layer that
feeds no output, which ``dce`` removes.

    python examples/build_tiny_rsnn.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import ir
from ir.ops import io, nn, snn


def build() -> ir.Graph:
    """The example graph (same bytes every time)."""
    rng = np.random.default_rng(7)

    def weights(out: int, inp: int, scale: float) -> np.ndarray:
        return np.round(rng.normal(0, scale, (out, inp)), 3).astype(np.float32)

    g = ir.Graph("tiny_rsnn", dt=1e-3)
    g.add("x", io.Input(shape=(4,)))
    g.add("w_in", nn.Linear(weight=weights(8, 4, 1.0)), ["x"])
    g.add("gain", nn.Scale(scale=np.float32(2.0)), ["w_in"])
    g.add(
        "lif",
        snn.LIF(
            tau=np.float32(0.02),
            r=np.float32(20.0),  # tau / dt: a step's input moves v by about r(1-a) = 1
            v_leak=np.float32(0.0),
            v_threshold=np.float32(1.0),
            reset="subtract",
        ),
        ["gain"],
    )
    g.add("w_rec", nn.Linear(weight=weights(8, 8, 0.3)), ["lif"])
    g.connect("w_rec", "lif", recurrent=True)
    g.add("w_out", nn.Linear(weight=weights(3, 8, 1.0)), ["lif"])
    readout = snn.LI(tau=np.float32(0.05), r=np.float32(50.0), v_leak=np.float32(0.0))
    g.add("readout", readout, ["w_out"])
    g.add("y", io.Output(), ["readout"])
    g.add("probe", nn.Linear(weight=weights(2, 8, 1.0)), ["lif"])
    return g


if __name__ == "__main__":
    path = Path(__file__).with_name("tiny_rsnn.sfir")
    header = "// Bundled example (regenerate: python examples/build_tiny_rsnn.py).\n"
    path.write_text(header + ir.to_text(build()))
    print(f"wrote {path}")
