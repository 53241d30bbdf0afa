"""The emulator (both engines) and the scalar reference against the real XyloSim.

``tests/fixtures/xylo/xylosim_golden.npz`` was written by
``tests/fixtures/make_xylosim_golden.py`` with xylosim 0.1.3 (the C++ simulator
Rockpool's ``XyloSim`` wraps): small random register sets drawn mostly from the
registers' extremes (weights -128/-127/127 with shift 8, dashes 0/1/15, thresholds
1/32767, biases at the int16 rails, aliases) and directed cases that hold membranes
and currents on the int16 rails with dash 0. xylosim is not needed to run this.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backends.xylo import XyloConfig, XyloEmulator
from backends.xylo.config import ARRAY_NAMES, SHIFT_NAMES
from tests.backends.xylo.scalar_reference import scalar_run

FIXTURE = Path(__file__).parents[2] / "fixtures" / "xylo" / "xylosim_golden.npz"
REGISTERS = ARRAY_NAMES
SHIFTS = SHIFT_NAMES
STATES = ("Vmem", "Isyn", "Isyn2", "Spikes", "Vmem_out", "Isyn_out")

with np.load(FIXTURE) as _data:
    GOLDEN = {name: _data[name] for name in _data.files}
CASES = range(GOLDEN["raster"].shape[0])


def config(i: int) -> XyloConfig:
    return XyloConfig(
        variant="xylo-audio2",
        **{name: GOLDEN[name][i] for name in REGISTERS},
        **{name: int(GOLDEN[name][i]) for name in SHIFTS},
    )


def test_fixture_exercises_the_extremes() -> None:
    assert "xylosim 0.1.3" in str(GOLDEN["meta"])
    assert len(CASES) >= 40
    assert (GOLDEN["rec_Vmem"] == -32768).any()
    assert (GOLDEN["rec_Vmem"] == 32767).any()
    assert (GOLDEN["rec_Isyn"] == -32767).any()
    assert (GOLDEN["rec_Spikes"] == 31).any()
    assert {0, 15} <= set(GOLDEN["dash_mem"].ravel().tolist())
    assert {1, 32767} <= set(GOLDEN["threshold"].ravel().tolist())
    assert {-32768, 32767} <= set(GOLDEN["bias"].ravel().tolist())


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_emulator_matches_xylosim(engine: str) -> None:
    for i in CASES:
        emu = XyloEmulator(config(i), check_limits=False, engine=engine)
        spikes, states = emu.run(GOLDEN["raster"][i], record=True)
        np.testing.assert_array_equal(spikes, GOLDEN["rec_Spikes_out"][i], f"case {i}")
        for name in STATES:
            np.testing.assert_array_equal(
                states[name], GOLDEN[f"rec_{name}"][i], f"case {i}: {name}"
            )


def test_batched_lanes_match_xylosim() -> None:
    """Each case's samples repeated to a batch of 8 run as SIMD lanes."""
    for i in CASES:
        raster = np.tile(GOLDEN["raster"][i], (4, 1, 1))
        spikes = XyloEmulator(config(i), check_limits=False).run(raster)
        np.testing.assert_array_equal(
            spikes, np.tile(GOLDEN["rec_Spikes_out"][i], (4, 1, 1)), f"case {i}"
        )


def test_scalar_reference_matches_xylosim() -> None:
    for i in CASES[:12]:
        ref = scalar_run(config(i), GOLDEN["raster"][i][0])
        np.testing.assert_array_equal(ref["V"], GOLDEN["rec_Vmem"][i][0], f"case {i}")
        np.testing.assert_array_equal(ref["I1"], GOLDEN["rec_Isyn"][i][0])
        np.testing.assert_array_equal(ref["I2"], GOLDEN["rec_Isyn2"][i][0])
        np.testing.assert_array_equal(ref["out"], GOLDEN["rec_Spikes_out"][i][0])
