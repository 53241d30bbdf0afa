"""Decode a Dynap-SE2 configuration back into an emulator: what the chips would run.

``decode`` reads only what a ``DynapseConfig`` writes to the hardware (reference
``shared/reference/dynapse2.md`` §1) and rebuilds the network from it, so a compiled
configuration can be checked against the graph it came from, and a population of
mismatched chips simulated from it:

* **Biases.** Neuron ``k`` of ``config.neurons`` is emulator neuron ``k``. Each
  ``DynapseParams`` current ``f`` is its core's code for the samna bias
  ``translate.BIAS_NAMES[f]`` decoded by that bias's generator,
  ``translate.generator_of(f).current_of(coarse, fine)`` (amperes). A bias the core
  does not list keeps ``DynapseParams``' default value (a configuration that leaves a
  bias out says nothing about it; the default is the design value). Layout constants
  (capacitances, ``kappa``, ``U_T``, ``V_th``, ``I_0``) are always the defaults.
* **Weights.** A CAM entry ``(tag, dendrite, mask)`` of a neuron at ``(chip, core)``
  listens to every event with ``tag`` that arrives at that core: from an input channel
  whose ``input_tags`` entry is ``tag`` and whose ``input_routes`` cover the core, or
  from a neuron with an SRAM entry ``(chip, core_mask, tag)`` whose mask covers it.
  Its weight current is ``I_w = sum_k bit_k(mask) Iw_k`` with ``Iw_0..Iw_3`` the
  *target* core's base weights (``biasgen.BASE_WEIGHT.current_of``), on the synapse
  axis of the dendrite in ``params.SYNAPSE_TYPES`` order. Entries for the same
  ``(source, target, dendrite)`` add up.

NOTE: decoding follows the hardware, not ``DynapseConfig.validate``: when two sources
send one tag to a core (which ``validate`` reports, since the core cannot tell them
apart), the CAM entry matches both and both get the weight; a source that reaches a
core through two routing entries delivers two events there, so its weight counts
twice. A CAM tag that no source sends to the neuron's core has no meaning and raises.

``emulator`` and ``population`` wrap the decoded network in a ``DynapseEmulator`` for
one chip (ideal, or with the mismatch of the chip named by ``seed``) or for ``C`` chips
at once (``(C, N)`` parameters from ``mismatch.draw_chips``; ``run`` returns
``(C, B, T, N)`` spikes, row ``c`` the chip ``seeds[c]``). ``output_order`` gives the
emulator columns of one graph layer's neurons, from ``config.neuron_map``;
``output_columns`` those of the network's output layers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from backends.dynapse.biasgen import BASE_WEIGHT, BiasGenerator
from backends.dynapse.config import DENDRITES, MASK_BITS, DynapseConfig
from backends.dynapse.emulator import DynapseEmulator, Mode, WeightShapes
from backends.dynapse.mismatch import DEFAULT_RELATIVE_STD, draw_chip, draw_chips
from backends.dynapse.params import SYNAPSE_TYPES, DynapseParams
from backends.dynapse.translate import BIAS_NAMES, generator_of

__all__ = [
    "DecodedNetwork",
    "decode",
    "emulator",
    "output_columns",
    "output_order",
    "population",
]

SYNAPSE_AXIS: Mapping[str, int] = {d: SYNAPSE_TYPES.index(d.lower()) for d in DENDRITES}
"""CAM dendrite name -> index on the emulator's synapse axis (``SYNAPSE_TYPES``)."""

_NOMINAL = DynapseParams()
"""The defaults a bias missing from a core keeps."""

Location = tuple[int, int, int]
"""A neuron's ``(chip, core, slot)``."""


@dataclass(frozen=True, kw_only=True, eq=False)
class DecodedNetwork(WeightShapes):
    """A configuration as the emulator runs it (see the module docstring).

    Attributes:
        params: nominal (mismatch-free) currents, every current field ``(N,)`` in the
            order of ``config.neurons``; layout constants scalar.
        weights_in: input weight currents ``(n_inputs, N, 4)``, amperes.
        weights_rec: recurrent weight currents ``(N, N, 4)`` (source, target,
            synapse type), amperes.
        index_of: ``(chip, core, slot)`` -> emulator neuron index.
        names: ``"layer:index"`` of each emulator neuron, ``""`` when not in
            ``config.neuron_map``.
        dt: time step, seconds.
    """

    params: DynapseParams
    weights_in: np.ndarray
    weights_rec: np.ndarray
    index_of: Mapping[Location, int]
    names: list[str]
    dt: float


def decode(config: DynapseConfig) -> DecodedNetwork:
    """The network a configuration programs (biases, weights, neuron names).

    ``n_inputs`` is one more than the largest input channel in ``input_tags`` or
    ``input_routes`` (0 without any).

    Raises:
        ValueError: a neuron on a core missing from ``config.cores`` or a slot used
            twice, a core configured twice or with an unknown bias or bad code, an
            unknown dendrite or mask, an input route without a tag, a
            ``neuron_map`` entry naming no configured neuron, or a CAM tag that no
            source sends to its neuron's core (naming the neuron and the tag).
    """
    index_of = _index_of(config)
    n = len(config.neurons)
    core_at = {(cc.chip, cc.core): i for i, cc in enumerate(config.cores)}
    if len(core_at) != len(config.cores):
        raise ValueError("decode: a core is configured twice in config.cores")
    for nc in config.neurons:
        if (nc.chip, nc.core) not in core_at:
            raise ValueError(
                f"decode: neuron at {nc.at}: its core (chip {nc.chip}, core "
                f"{nc.core}) has no entry in config.cores (no biases)"
            )
    core_of_neuron = np.array(
        [core_at[(nc.chip, nc.core)] for nc in config.neurons], np.int64
    )
    params = DynapseParams(
        **{field: _core_currents(config, field)[core_of_neuron] for field in BIAS_NAMES}
    )
    weights_in, weights_rec = _weights(config, index_of, core_at, n)
    names = [""] * n
    for key, at in config.neuron_map.items():
        where = _location(at)
        if where not in index_of:
            raise ValueError(
                f"decode: neuron_map[{key!r}] = {at!r} is not a configured neuron"
            )
        names[index_of[where]] = str(key)
    return DecodedNetwork(
        params=params,
        weights_in=weights_in,
        weights_rec=weights_rec,
        index_of=index_of,
        names=names,
        dt=config.dt,
    )


def emulator(
    config: DynapseConfig,
    *,
    seed: int | None = 0,
    relative_std: float = DEFAULT_RELATIVE_STD,
    mode: Mode = "dynapse2",
    substeps: int = 1,
) -> DynapseEmulator:
    """An emulator of one chip running ``config``.

    Args:
        config: the configuration.
        seed: the chip: ``None`` is the ideal chip (no mismatch), an int >= 0 names
            one chip instance (``mismatch.draw_chip``); the same ``(config, seed)``
            is always the same chip.
        relative_std: mismatch standard deviation, relative (default 10 %).
        mode: the emulator's neuron model.
        substeps: integration steps per ``config.dt``.
    """
    net = decode(config)
    params = net.params
    if seed is not None:
        params = draw_chip(params, net.n_neurons, seed, relative_std=relative_std)
    return _emulator(net, params, mode, substeps)


def population(
    config: DynapseConfig,
    seeds: Sequence[int],
    *,
    relative_std: float = DEFAULT_RELATIVE_STD,
    mode: Mode = "dynapse2",
    substeps: int = 1,
    fields: Iterable[str] | None = None,
    neurons: Sequence[int] | np.ndarray | None = None,
) -> DynapseEmulator:
    """An emulator of the chips named by ``seeds`` running ``config``, all at once.

    Parameters are ``(C, N)`` with ``C = len(seeds)``; chip ``c`` is exactly
    ``emulator(config, seed=seeds[c])``'s chip, and ``run`` returns its spikes at
    ``[c]`` of ``(C, B, T, N)``. ``fields`` and ``neurons`` (emulator indices, e.g.
    ``output_columns(config)``) keep the mismatch to those parameters of those
    neurons, the rest nominal (``mismatch.draw_chips``).
    """
    net = decode(config)
    params = draw_chips(
        net.params,
        net.n_neurons,
        seeds,
        relative_std=relative_std,
        fields=fields,
        neurons=neurons,
    )
    return _emulator(net, params, mode, substeps)


def output_order(config: DynapseConfig, layer: str) -> np.ndarray:
    """Emulator neuron indices of ``layer``'s neurons, in index order.

    ``spikes[..., output_order(config, "out")]`` is layer ``out``'s raster, neuron
    ``i`` at column ``i``.

    Raises:
        ValueError: a layer with no neuron in ``config.neuron_map`` (listing the
            layers), a gap in its indices, or a neuron that is not configured.
    """
    index_of = _index_of(config)
    found: dict[int, int] = {}
    layers: set[str] = set()
    for key, at in config.neuron_map.items():
        name, _, index = str(key).rpartition(":")
        layers.add(name)
        if name != layer or not index.isdigit():
            continue
        where = _location(at)
        if where not in index_of:
            raise ValueError(
                f"output_order: neuron_map[{key!r}] = {at!r} is not a configured neuron"
            )
        found[int(index)] = index_of[where]
    if not found:
        raise ValueError(
            f"output_order: no neuron of layer {layer!r} in neuron_map; layers: "
            f"{sorted(layers)}"
        )
    missing = sorted(set(range(max(found) + 1)) - set(found))
    if missing:
        raise ValueError(
            f"output_order: layer {layer!r} maps {len(found)} neurons but not "
            f"index(es) {missing[:8]}; its raster would be misaligned"
        )
    return np.array([found[i] for i in range(len(found))], np.int64)


def output_columns(config: DynapseConfig) -> np.ndarray:
    """Emulator columns of the network's output: ``output_order`` of each layer of
    ``config.outputs``, concatenated.

    Raises:
        ValueError: a configuration that names no output layer.
    """
    if not config.outputs:
        raise ValueError("the configuration names no output layer")
    return np.concatenate([output_order(config, name) for name in config.outputs])


def _emulator(
    net: DecodedNetwork, params: DynapseParams, mode: Mode, substeps: int
) -> DynapseEmulator:
    # No recurrent entry at all: skip the recurrent delivery in every step.
    rec = net.weights_rec if net.weights_rec.any() else None
    return DynapseEmulator(
        params, net.weights_in, rec, dt=net.dt, substeps=substeps, mode=mode
    )


def _index_of(config: DynapseConfig) -> dict[Location, int]:
    index_of: dict[Location, int] = {}
    for k, nc in enumerate(config.neurons):
        if nc.at in index_of:
            raise ValueError(
                f"decode: neuron at {nc.at} is configured twice (neurons "
                f"{index_of[nc.at]} and {k})"
            )
        index_of[nc.at] = k
    return index_of


def _core_currents(config: DynapseConfig, field: str) -> np.ndarray:
    """Current of ``field`` per core of ``config.cores``, amperes ``(n_cores,)``."""
    bias = BIAS_NAMES[field]
    generator = generator_of(field)
    out = np.empty(len(config.cores))
    for i, cc in enumerate(config.cores):
        unknown = sorted(set(cc.biases) - set(BIAS_NAMES.values()))
        if unknown:
            raise ValueError(
                f"decode: chip {cc.chip} core {cc.core}: unknown bias(es) {unknown}; "
                f"known: {', '.join(BIAS_NAMES.values())}"
            )
        if bias not in cc.biases:
            out[i] = float(getattr(_NOMINAL, field))
            continue
        what = f"chip {cc.chip} core {cc.core} {bias}"
        out[i] = _current(generator, cc.biases[bias], what)
    return out


def _current(generator: BiasGenerator, code: tuple[int, int], what: str) -> float:
    """The current of one ``(coarse, fine)`` code, amperes; ``ValueError`` naming
    ``what`` for a malformed code."""
    try:
        coarse, fine = code
        return float(generator.current_of(coarse, fine))
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"decode: {what}: bad (coarse, fine) code {code!r}: {err}"
        ) from None


def _location(at: Sequence[int]) -> Location:
    """A ``neuron_map`` value as a ``(chip, core, slot)`` key."""
    chip, core, slot = at
    return (int(chip), int(core), int(slot))


def _base_weights(config: DynapseConfig) -> np.ndarray:
    """``Iw_0..Iw_3`` per core of ``config.cores``, amperes ``(n_cores, 4)``."""
    out = np.empty((len(config.cores), MASK_BITS))
    for i, cc in enumerate(config.cores):
        what = f"chip {cc.chip} core {cc.core}"
        if len(cc.base_weights) != MASK_BITS:
            raise ValueError(
                f"decode: {what}: {len(cc.base_weights)} base weights, a core has "
                f"{MASK_BITS}"
            )
        for k, code in enumerate(cc.base_weights):
            out[i, k] = _current(BASE_WEIGHT, code, f"{what} base weight {k}")
    return out


def _weights(
    config: DynapseConfig,
    index_of: Mapping[Location, int],
    core_at: Mapping[tuple[int, int], int],
    n: int,
) -> tuple[np.ndarray, np.ndarray]:
    channels = set(config.input_tags) | set(config.input_routes)
    n_inputs = max(channels) + 1 if channels else 0
    cores = config.system.cores_per_chip
    # (chip, core, tag) -> sources whose events with that tag arrive there, one item
    # per delivery: ("in", channel) or ("rec", neuron index).
    arrivals: dict[tuple[int, int, int], list[tuple[str, int]]] = {}

    def route(source: tuple[str, int], chip: int, core_mask: int, tag: int) -> None:
        for core in range(cores):
            if core_mask >> core & 1:
                arrivals.setdefault((chip, core, tag), []).append(source)

    for channel, routes in config.input_routes.items():
        if channel not in config.input_tags:
            raise ValueError(f"decode: input channel {channel} has routes but no tag")
        for chip, core_mask in routes:
            route(("in", channel), chip, core_mask, config.input_tags[channel])
    for k, nc in enumerate(config.neurons):
        for chip, core_mask, tag in nc.sram:
            route(("rec", k), chip, core_mask, tag)

    base = _base_weights(config)
    bits = (np.arange(16)[:, None] >> np.arange(MASK_BITS)) & 1  # (16, 4)
    weights = {"in": np.zeros((n_inputs, n, 4)), "rec": np.zeros((n, n, 4))}
    for j, nc in enumerate(config.neurons):
        iw = bits @ base[core_at[(nc.chip, nc.core)]]  # current of each mask, (16,)
        for tag, dendrite, mask in nc.cam:
            if dendrite not in SYNAPSE_AXIS:
                raise ValueError(
                    f"decode: neuron at {nc.at}: unknown dendrite {dendrite!r}; "
                    f"known: {', '.join(DENDRITES)}"
                )
            if not (isinstance(mask, int) and 0 <= mask < 2**MASK_BITS):
                raise ValueError(
                    f"decode: neuron at {nc.at}: weight mask {mask!r} outside "
                    f"0..{2**MASK_BITS - 1}"
                )
            sources = arrivals.get((nc.chip, nc.core, tag))
            if not sources:
                raise ValueError(
                    f"decode: neuron at {nc.at} (chip, core, slot) listens to tag "
                    f"{tag} on {dendrite}, but no neuron or input channel sends tag "
                    f"{tag} to chip {nc.chip} core {nc.core}"
                )
            for kind, i in sources:
                weights[kind][i, j, SYNAPSE_AXIS[dendrite]] += iw[mask]
    return weights["in"], weights["rec"]
