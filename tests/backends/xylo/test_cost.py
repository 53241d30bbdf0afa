"""The cycle model against the reference's worked examples (§7)."""

from __future__ import annotations

import numpy as np
import pytest

from backends.xylo import XyloConfig
from backends.xylo.cost import estimate_cycles


def full(variant: str, fanout: int, n_ien: int | None = None) -> XyloConfig:
    spec = XyloConfig.from_registers(variant).spec
    nhid = spec.n_hidden
    w_rec = np.zeros((nhid, nhid), np.int8)
    for src in range(nhid):
        w_rec[src, (src + 1 + np.arange(fanout)) % nhid] = 1
    ien = n_ien or nhid
    return XyloConfig.from_registers(
        variant,
        weights_in=np.ones((16, ien), np.int8),
        weights_rec=w_rec,
        weights_out=np.ones((ien, spec.n_outputs), np.int8),
    )


def test_audio2_worked_examples() -> None:
    cfg = full("xylo-audio2", 32)
    worst = estimate_cycles(cfg)
    assert worst.cycles_per_step == pytest.approx(370_112)
    assert worst.cycles_per_step / 50e6 == pytest.approx(7.4e-3, rel=0.01)
    assert worst.min_clock_hz == pytest.approx(370_112 * 1.2 / 1e-3)
    sparse = estimate_cycles(cfg, p_in=0.1, p_h=0.05)
    assert sparse.cycles_per_step == pytest.approx(4.2e4, rel=0.02)


def test_imu_worked_example() -> None:
    assert estimate_cycles(full("xylo-imu", 64, 128)).cycles_per_step == pytest.approx(
        258_496
    )


def test_activity_from_a_raster() -> None:
    cfg = full("xylo-audio2", 32)
    silent = estimate_cycles(cfg, np.zeros((5, 16), np.int64))
    assert silent.cycles_per_step == 16 + 1000 * 3 + 1000 * 19 + 96
