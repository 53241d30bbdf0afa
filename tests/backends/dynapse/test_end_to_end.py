"""Digits on Dynap-SE2 (``examples/dynapse_digits.py``) and the current-scale choice."""

from __future__ import annotations

import numpy as np
import pytest

from backends.dynapse.calibrate import choose_i_scale
from examples.dynapse_digits import run
from tests.backends.dynapse.test_lower import chain

# The dynapse2 pipeline adapts subtract resets and LIF synapses (adapt-dynapse) and
# warns; these tests are about other things (tests/backends/dynapse/test_adapt.py).
pytestmark = pytest.mark.filterwarnings(
    "ignore::backends.dynapse.adapt.DynapseAdapterWarning"
)


def test_choose_i_scale_keeps_the_best_agreement() -> None:
    graph = chain(0)
    rng = np.random.default_rng(0)
    spikes = (rng.random((6, 80, 12)) < 0.2).astype(np.float32)
    best, table = choose_i_scale(graph, spikes, candidates=(1e-9, 1e-8, 1e-7))
    assert set(table) == {1e-9, 1e-8, 1e-7}
    assert best in table
    assert all(0.0 <= v <= 1.0 for v in table.values())


@pytest.mark.filterwarnings("ignore::compiler.fidelity.FidelityWarning")
def test_digits_on_ideal_and_mismatched_chips() -> None:
    # Shorter than the demo (fewer epochs, steps and chips) to keep the test quick.
    # The compile's fidelity check runs on random spikes and may warn on this short
    # training; the accuracies below on the digits themselves are what is checked.
    r = run(epochs=15, steps=100, chips=3, retune_epochs=0)
    assert r.ann > 0.9
    assert r.snn > 0.85
    # The ideal chip is close to the float SNN; mismatch costs accuracy.
    assert r.chip > r.snn - 0.15
    assert r.chips_min <= r.chips_mean <= 1.0
    assert r.report.resources["chips used"] == "1 / 1"
