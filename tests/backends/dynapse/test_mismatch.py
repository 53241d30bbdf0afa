"""Mismatch draws: statistics, determinism by seed, independence of population size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backends.dynapse import (
    DEFAULT_RELATIVE_STD,
    DynapseParams,
    chip_seeds,
    draw_chip,
    draw_chips,
)
from backends.dynapse.mismatch import MIN_FACTOR, relative_std_from_percent


def relative_deviation(chip: DynapseParams, nominal: DynapseParams, name: str):
    return np.asarray(getattr(chip, name)) / getattr(nominal, name) - 1.0


def test_default_is_rockpools_thirty_percent_as_three_sigma() -> None:
    assert DEFAULT_RELATIVE_STD == pytest.approx(0.10)
    assert relative_std_from_percent(0.30) == pytest.approx(0.10)
    assert relative_std_from_percent(0.05, sigma_rule=1.0) == pytest.approx(0.05)


@pytest.mark.parametrize("sigma", [0.10, 0.03])
@pytest.mark.parametrize("name", ["itau_mem", "igain_ampa", "c_ref", "kappa_n"])
def test_relative_deviation_has_the_requested_std(sigma: float, name: str) -> None:
    n = 20_000
    nominal = DynapseParams()
    chip = draw_chip(nominal, n, seed=7, relative_std=sigma)
    dev = relative_deviation(chip, nominal, name)
    # Standard errors: sigma / sqrt(n) for the mean, sigma / sqrt(2 n) for the std.
    assert abs(dev.mean()) < 5 * sigma / np.sqrt(n)
    assert abs(dev.std(ddof=1) - sigma) < 5 * sigma / np.sqrt(2 * n)


def test_every_field_is_perturbed_independently() -> None:
    nominal = DynapseParams()
    chip = draw_chip(nominal, 5000, seed=3)
    devs = np.stack([relative_deviation(chip, nominal, n) for n in nominal.names()])
    assert np.all(np.abs(devs).max(axis=1) > 0.1)
    corr = np.corrcoef(devs)
    off_diagonal = corr[~np.eye(len(devs), dtype=bool)]
    assert np.abs(off_diagonal).max() < 5 / np.sqrt(5000)


def test_same_seed_same_chip_other_seed_other_chip() -> None:
    nominal = DynapseParams()
    a = draw_chip(nominal, 64, seed=11)
    b = draw_chip(nominal, 64, seed=11)
    c = draw_chip(nominal, 64, seed=12)
    for name in nominal.names():
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert not np.array_equal(getattr(a, name), getattr(c, name))


def test_chip_k_does_not_depend_on_the_population_size() -> None:
    assert chip_seeds(5, 3) == chip_seeds(5, 8)[:3]
    assert len(set(chip_seeds(5, 8))) == 8
    nominal = DynapseParams()
    small = draw_chips(nominal, 32, chip_seeds(5, 2))
    large = draw_chips(nominal, 32, chip_seeds(5, 6))
    for name in nominal.names():
        np.testing.assert_array_equal(getattr(small, name), getattr(large, name)[:2])


def test_population_rows_are_the_single_chip_draws() -> None:
    nominal = DynapseParams(itau_mem=np.linspace(4e-12, 6e-12, 16))
    seeds = [4, 99, 123456789]
    chips = draw_chips(nominal, 16, seeds, relative_std=0.2)
    for k, seed in enumerate(seeds):
        single = draw_chip(nominal, 16, seed, relative_std=0.2)
        for name in nominal.names():
            assert getattr(chips, name).shape == (3, 16)
            np.testing.assert_array_equal(
                getattr(chips, name)[k], getattr(single, name)
            )


def test_fields_option_perturbs_only_those() -> None:
    nominal = DynapseParams()
    chip = draw_chip(nominal, 100, seed=1, fields=["itau_mem"])
    assert np.std(chip.itau_mem) > 0
    np.testing.assert_array_equal(chip.igain_mem, np.full(100, nominal.igain_mem))
    with pytest.raises(ValueError, match=r"unknown parameter field\(s\) \['tau'\]"):
        draw_chip(nominal, 10, seed=1, fields=["tau"])


def test_neurons_option_keeps_the_full_chips_values_there_only() -> None:
    nominal = DynapseParams(itau_mem=torch.tensor(5e-12, dtype=torch.float64))
    full = draw_chips(nominal, 6, [3, 4], relative_std=0.2)
    part = draw_chips(
        nominal,
        6,
        [3, 4],
        relative_std=0.2,
        fields=["itau_mem", "ispkthr"],
        neurons=[1, 4],
    )
    for name in ("itau_mem", "ispkthr"):
        got, want = np.asarray(getattr(part, name)), np.asarray(getattr(full, name))
        np.testing.assert_array_equal(got[:, [1, 4]], want[:, [1, 4]])
        np.testing.assert_array_equal(
            got[:, [0, 2, 3, 5]], np.full((2, 4), float(getattr(nominal, name)))
        )
        assert not np.array_equal(got[:, [1, 4]], got[:, [0, 2]])
    np.testing.assert_array_equal(part.igain_mem, np.full((2, 6), nominal.igain_mem))
    assert isinstance(part.itau_mem, torch.Tensor)
    with pytest.raises(ValueError, match="neuron index 6 out of range: the chip has 6"):
        draw_chips(nominal, 6, [3], neurons=[0, 6])


def test_large_deviation_is_clipped_positive() -> None:
    nominal = DynapseParams()
    chip = draw_chip(nominal, 4000, seed=2, relative_std=2.0)
    factors = np.asarray(chip.iref) / nominal.iref
    assert factors.min() == pytest.approx(MIN_FACTOR)
    assert np.all(factors > 0)
    # The chip is a valid parameter set (every current stays > 0).
    assert isinstance(chip, DynapseParams)


def test_zero_deviation_is_the_nominal_chip() -> None:
    nominal = DynapseParams()
    chip = draw_chip(nominal, 8, seed=3, relative_std=0.0)
    for name in nominal.names():
        np.testing.assert_array_equal(
            getattr(chip, name), np.full(8, getattr(nominal, name))
        )


def test_tensor_fields_stay_differentiable() -> None:
    itau = torch.tensor(5e-12, dtype=torch.float64, requires_grad=True)
    chip = draw_chip(DynapseParams(itau_mem=itau), 10, seed=0)
    assert isinstance(chip.itau_mem, torch.Tensor)
    chip.itau_mem.sum().backward()
    assert itau.grad is not None
    assert itau.grad.item() == pytest.approx(10.0, rel=0.5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: draw_chip(p, 0, seed=1), "n_neurons must be >= 1"),
        (lambda p: draw_chip(p, 4, seed=-1), "chip seed must be >= 0"),
        (lambda p: draw_chip(p, 4, seed=1, relative_std=-0.1), "relative_std must"),
        (lambda p: draw_chips(p, 4, []), "at least one chip"),
        (
            lambda p: draw_chip(p.replace(itau_mem=np.ones(3) * 1e-12), 4, seed=1),
            r"DynapseParams.itau_mem has shape \(3,\)",
        ),
        (lambda p: relative_std_from_percent(0.3, sigma_rule=0), "sigma_rule"),
        (lambda p: chip_seeds(0, -1), "n_chips must be >= 0"),
    ],
)
def test_bad_input_raises_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(DynapseParams())
