"""Digits end to end on Xylo (``examples/xylo_digits.py``): ANN, float SNN, chip."""

from __future__ import annotations

from examples.xylo_digits import run


def test_digits_survive_conversion_and_the_chip() -> None:
    # A shorter training and window than the demo's, to keep the test quick.
    result = run("xylo-audio2", 8, epochs=15, timesteps=24)
    assert result.n_test > 300
    assert result.ann > 0.9
    # Conversion and integer lowering each cost little: rate coding over 24 steps,
    # then int8 weights, dash leaks and the chip's one-step hop delay.
    assert result.snn > result.ann - 0.05
    assert result.chip > result.snn - 0.03
    assert result.report.resources["hidden neurons"] == "64 / 1000"
    assert "quantization hidden" in result.report.resources
