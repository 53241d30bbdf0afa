"""Device mismatch: each chip instance draws its own per-neuron parameter deviations.

Model (reference ``dynapse2.md`` §3, Rockpool's frozen mismatch prototype): every
parameter ``theta`` of every neuron is perturbed once, multiplicatively, with an
independent standard-normal draw ``epsilon``:

.. math::

    \\theta' = \\theta \\, \\max(1 + \\sigma \\varepsilon,\\ f_{min}),
    \\qquad \\varepsilon \\sim \\mathcal N(0, 1)\\ \\text{i.i.d. per chip, neuron, field}

``sigma`` is the relative standard deviation. Its default, 10 %, is Rockpool's
``mismatch_generator`` default ``percent_deviation = 0.30`` read as a 3-sigma bound
(``sigma_rule = 3``, so ``sigma = 0.30 / 3``; reference §3);
:func:`relative_std_from_percent` converts the other way of stating it (Rockpool's
tests construct ``DynapSim(percent_mismatch=0.05)``, i.e. ``sigma`` = 1.7 %).

What is perturbed (reference §3, ``frozen_mismatch_prototype``): all bias currents and
all layout constants (capacitances, ``i0``, ``kappa_n``, ``kappa_p``, ``u_t``,
``v_th``), i.e. every :class:`DynapseParams` field by default. Weights are not: they
are the compiler's output, resampled separately if wanted (reference §3,
``dynamic_mismatch_prototype``). :func:`draw_chips` can keep the mismatch to some
fields (``fields``) of some neurons (``neurons``), the rest nominal: the same chips,
to ask which deviations cost accuracy (``bench/retune.py --tables attribution``).

**Seeding.** A chip is named by an integer seed. Each (chip seed, field) pair has its
own NumPy ``Generator`` on ``SeedSequence(chip_seed, spawn_key=(crc32(field),))``, so a
chip's draw depends only on its seed, the field and the neuron count: the same
``(params, chip seed)`` always gives the same chip, however many chips are drawn
together and in which order. :func:`chip_seeds` derives a population's chip seeds from
one seed, prefix-stably (the first ``k`` of ``n`` chips are the ``k`` chips).

**Clipping.** ``1 + sigma epsilon`` is clipped below at ``f_min =`` :data:`MIN_FACTOR`
(1 %) so every current and constant stays strictly positive, as the equations need
(they divide by and take logarithms of currents). At the default ``sigma`` the clip
needs a 9.9-sigma draw, so it never acts in practice; it matters only for ``sigma``
above about 0.2, where it slightly narrows the distribution's lower tail.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from backends.dynapse.params import DynapseParams, ParamValue

__all__ = [
    "DEFAULT_RELATIVE_STD",
    "MIN_FACTOR",
    "relative_std_from_percent",
    "chip_seeds",
    "mismatch_factors",
    "draw_chip",
    "draw_chips",
]

DEFAULT_RELATIVE_STD = 0.30 / 3.0
"""Default relative standard deviation, 10 %: Rockpool's 30 % as a 3-sigma bound (§3)."""
MIN_FACTOR = 0.01
"""Lower clip of the multiplicative factor ``1 + sigma epsilon`` (keeps values > 0)."""


def relative_std_from_percent(
    percent_deviation: float, sigma_rule: float = 3.0
) -> float:
    """Rockpool's convention: ``sigma = percent_deviation / sigma_rule`` (reference §3).

    ``percent_deviation`` is a fraction (0.30 for "30 %"), read as a
    ``sigma_rule``-sigma bound.
    """
    _check_fraction("percent_deviation", percent_deviation)
    if not (math.isfinite(sigma_rule) and sigma_rule > 0):
        raise ValueError(f"sigma_rule must be finite and > 0; got {sigma_rule!r}")
    return percent_deviation / sigma_rule


def chip_seeds(population_seed: int, n_chips: int) -> list[int]:
    """Seeds of chips ``0 .. n_chips - 1`` of a population; chip ``k``'s seed does not
    depend on ``n_chips``.

    Chip ``k`` gets the first 63-bit word of ``SeedSequence(population_seed,
    spawn_key=(k,))``, NumPy's own child-sequence derivation.
    """
    if n_chips < 0:
        raise ValueError(f"n_chips must be >= 0; got {n_chips}")
    return [
        int(
            np.random.SeedSequence(population_seed, spawn_key=(k,)).generate_state(
                1, np.uint64
            )[0]
            >> np.uint64(1)
        )
        for k in range(n_chips)
    ]


def mismatch_factors(
    seed: int, field: str, n_neurons: int, relative_std: float = DEFAULT_RELATIVE_STD
) -> np.ndarray:
    """The ``(n_neurons,)`` factors ``max(1 + sigma epsilon, MIN_FACTOR)`` of one field
    of the chip named ``seed``."""
    stream = np.random.SeedSequence(seed, spawn_key=(zlib.crc32(field.encode()),))
    eps = np.random.default_rng(stream).standard_normal(n_neurons)
    return np.maximum(1.0 + relative_std * eps, MIN_FACTOR)


def draw_chip(
    params: DynapseParams,
    n_neurons: int,
    seed: int,
    *,
    relative_std: float = DEFAULT_RELATIVE_STD,
    fields: Iterable[str] | None = None,
) -> DynapseParams:
    """One chip instance: ``params`` with per-neuron mismatch, every field ``(N,)``.

    Args:
        params: nominal parameters; each field a scalar or an ``(N,)`` array.
        n_neurons: neurons on the chip ``N``.
        seed: the chip's seed (see :func:`chip_seeds`).
        relative_std: relative standard deviation ``sigma`` (default 10 %, §3).
        fields: the fields to perturb; default all (currents and layout
            constants); the rest are broadcast to ``(N,)`` unchanged.

    Fields given as torch tensors stay tensors (the factor multiplies them, so a
    gradient reaches the nominal value); the others become float64 arrays.
    """
    chosen = _check_draw(n_neurons, [seed], relative_std, fields)
    changes: dict[str, ParamValue] = {}
    for name in params.names():
        value = _per_neuron(name, getattr(params, name), n_neurons)
        changes[name] = _drawn(value, name, seed, relative_std, chosen)
    return params.replace(**changes)


def draw_chips(
    params: DynapseParams,
    n_neurons: int,
    seeds: Sequence[int],
    *,
    relative_std: float = DEFAULT_RELATIVE_STD,
    fields: Iterable[str] | None = None,
    neurons: Sequence[int] | np.ndarray | None = None,
) -> DynapseParams:
    """A population of chips: every field ``(C, N)``, row ``k`` is
    ``draw_chip(params, n_neurons, seeds[k])`` exactly.

    ``seeds`` names the chips, e.g. ``chip_seeds(population_seed, C)``. ``fields``
    (default: all) and ``neurons`` (indices; default: all) restrict the mismatch,
    e.g. to ask which parameters of which layer cost accuracy: the chosen fields of
    the chosen neurons take exactly the full chip's values, every other value stays
    nominal.
    """
    if len(seeds) == 0:
        raise ValueError("seeds must name at least one chip")
    chosen = _check_draw(n_neurons, seeds, relative_std, fields)
    mask = _neuron_mask(neurons, n_neurons)
    # NOTE: the rows are draw_chip's values (the same operations), stacked without
    # building and validating a DynapseParams per chip: that cost retune's steps
    # (8 chips of 33 fields each) a third of their time, measured.
    stacked: dict[str, ParamValue] = {}
    for name in params.names():
        value = _per_neuron(name, getattr(params, name), n_neurons)
        rows = [_drawn(value, name, seed, relative_std, chosen) for seed in seeds]
        if mask is not None and name in chosen:
            rows = [_only(mask, row, value) for row in rows]
        if isinstance(value, torch.Tensor):
            stacked[name] = torch.stack(rows)
        else:
            stacked[name] = np.stack(rows)
    return params.replace(**stacked)


def _neuron_mask(
    neurons: Sequence[int] | np.ndarray | None, n_neurons: int
) -> np.ndarray | None:
    """``(n_neurons,)`` bool of the mismatched neurons (``None``: all), or
    ``ValueError`` naming an index out of range."""
    if neurons is None:
        return None
    index = np.asarray(neurons, dtype=np.int64).reshape(-1)
    bad = index[(index < 0) | (index >= n_neurons)]
    if bad.size:
        raise ValueError(
            f"neuron index {int(bad[0])} out of range: the chip has {n_neurons} neurons"
        )
    mask = np.zeros(n_neurons, dtype=bool)
    mask[index] = True
    return mask


def _only(mask: np.ndarray, drawn: Any, nominal: Any) -> Any:
    """``drawn`` where ``mask``, ``nominal`` elsewhere (a tensor stays a tensor)."""
    if isinstance(drawn, torch.Tensor):
        return torch.where(torch.as_tensor(mask), drawn, nominal)
    return np.where(mask, drawn, nominal)


def _check_draw(
    n_neurons: int,
    seeds: Sequence[int],
    relative_std: float,
    fields: Iterable[str] | None,
) -> frozenset[str]:
    """``ValueError`` for a draw's bad arguments; else the fields to perturb."""
    if n_neurons < 1:
        raise ValueError(f"n_neurons must be >= 1; got {n_neurons}")
    for seed in seeds:
        if seed < 0:
            raise ValueError(f"chip seed must be >= 0; got {seed}")
    _check_fraction("relative_std", relative_std)
    return _chosen_fields(fields)


def _drawn(
    value: Any, name: str, seed: int, relative_std: float, chosen: frozenset[str]
) -> Any:
    """One field of one chip: the ``(N,)`` nominal ``value`` times the chip's
    mismatch factors when ``name`` is among the ``chosen`` fields (a tensor stays a
    tensor, so a gradient reaches the nominal value), else ``value`` unchanged."""
    if name not in chosen:
        return value
    factor = mismatch_factors(seed, name, len(value), relative_std)
    if isinstance(value, torch.Tensor):
        return value * torch.as_tensor(factor, dtype=value.dtype)
    return value * factor


def _per_neuron(name: str, value: ParamValue, n_neurons: int) -> Any:
    """``value`` broadcast to ``(n_neurons,)``, or ``ValueError`` naming the field."""
    shape = tuple(value.shape) if isinstance(value, torch.Tensor | np.ndarray) else ()
    if shape not in ((), (1,), (n_neurons,)):
        raise ValueError(
            f"DynapseParams.{name} has shape {shape}; mismatch needs a scalar or "
            f"({n_neurons},) (one value per neuron of the nominal chip)"
        )
    if isinstance(value, torch.Tensor):
        return value.expand(n_neurons)
    return np.broadcast_to(np.asarray(value, np.float64), (n_neurons,))


def _chosen_fields(fields: Iterable[str] | None) -> frozenset[str]:
    valid = DynapseParams.names()
    if fields is None:
        return frozenset(valid)
    chosen = frozenset(fields)
    unknown = sorted(chosen - set(valid))
    if unknown:
        raise ValueError(f"unknown parameter field(s) {unknown}; valid: {list(valid)}")
    return chosen


def _check_fraction(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be finite and >= 0; got {value!r}")
