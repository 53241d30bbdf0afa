"""Cycle model of the Xylo SNN core (reference §7, rockpool's ``power_cycles_model``).

Worst-case master-clock cycles per time step::

    Nin*(p_in*N_IEN*3.5 + 1) + Nhid*(7*F*p_h + 3) + N_OEN*p_h*(1 + 8*Nout)
    + Nhid*(19 + 2*max(p_h, a_t*a_s) + 3*max(p_h*a_t, a_t*a_s) + p_h
            + max(p_h, a_t)*a_s)
    + 12*Nout

p_in, p_h: fraction of (step, channel) bins with at least one event (1.0 = worst
case); F: mean nonzero count per row of the recurrent syn-1 weights; a_t, a_s: mean
alias-target and alias-source counts per hidden neuron. N_IEN and N_OEN are all hidden
neurons on unwindowed variants, else the nonzero input columns / output rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backends.xylo.config import XyloConfig
from backends.xylo.emulator import XyloEmulator

__all__ = ["CLOCK_MARGIN", "CycleEstimate", "activity", "estimate_cycles"]

CLOCK_MARGIN = 0.2
"""Safety margin of rockpool's ``est_clock_freq``: clock = cycles * (1 + margin) / dt."""


@dataclass(frozen=True)
class CycleEstimate:
    """Cycles per time step and the slowest master clock (Hz) that keeps up at ``dt``."""

    cycles_per_step: float
    min_clock_hz: float


def activity(config: XyloConfig, raster: np.ndarray) -> tuple[float, float]:
    """``(p_in, p_h)``: fraction of input and hidden bins with an event, from a run."""
    x = np.asarray(raster)
    _, states = XyloEmulator(config, check_limits=False).run(x, record=True)
    return float((x > 0).mean()), float((states["Spikes"] > 0).mean())


def estimate_cycles(
    config: XyloConfig,
    raster: np.ndarray | None = None,
    *,
    p_in: float = 1.0,
    p_h: float = 1.0,
    margin: float = CLOCK_MARGIN,
) -> CycleEstimate:
    """Cycles per step for ``config``; with a ``raster``, p_in and p_h come from a run."""
    if raster is not None:
        p_in, p_h = activity(config, raster)
    spec = config.spec
    nin, nhid = config.weights_in.shape[:2]
    nout = config.weights_out.shape[1]
    if spec.input_window is None:
        n_ien = nhid
    else:
        n_ien = int(np.count_nonzero(np.any(config.weights_in != 0, axis=(0, 2))))
    if spec.output_window is None:
        n_oen = nhid
    else:
        n_oen = int(np.count_nonzero(np.any(config.weights_out != 0, axis=1)))
    fanout = float(np.count_nonzero(config.weights_rec[:, :, 0], axis=1).mean())
    aliases = np.asarray(config.aliases)
    a_t = float((aliases >= 0).mean())
    a_s = float(np.bincount(aliases[aliases >= 0], minlength=nhid).mean())
    cycles = (
        nin * (p_in * n_ien * 3.5 + 1)
        + nhid * (7 * fanout * p_h + 3)
        + n_oen * p_h * (1 + 8 * nout)
        + nhid
        * (
            19
            + 2 * max(p_h, a_t * a_s)
            + 3 * max(p_h * a_t, a_t * a_s)
            + p_h
            + max(p_h, a_t) * a_s
        )
        + 12 * nout
    )
    return CycleEstimate(cycles, cycles * (1 + margin) / config.dt)
