"""DynapSim-style parameter sets in and out of the Dynap-SE2 emulator.

Rockpool's ``DynapSim`` simulator (reference ``dynapse2.md`` §2) and its mapper
(§5.1) describe a network by a flat dict: per-neuron currents in amperes with
capitalised names (``Itau_mem``, ``Igain_syn``, ``Io``, ...), layout constants
(``C_mem``, ``kappa_n``, ``Ut``, ``Vth``, ...), dimensionless signed weights
``weights_in`` ``(Nin, N)`` and ``weights_rec`` ``(N, N)`` (``w_rec`` as the
simulator names its recurrent matrix) that the current scale ``Iscale`` (amperes)
turns into weight currents, and ``dt``. Rockpool's converter writes 0 for currents
that are off (the AHP and the NMDA gate, §5.1).

``from_dynapsim`` maps such a dict onto this package's names: one
``DynapseParams`` (``Itau_syn`` / ``Igain_syn`` / ``C_syn`` go to every dendrite
type, as Rockpool's config export copies them, §5.2) and weight currents on the
emulator's synapse axis (``|w| Iscale`` on AMPA for ``w > 0``, GABA for ``w < 0``,
the dendrites Rockpool emits). ``to_dynapsim`` is the inverse (the signed sum
``AMPA + NMDA - GABA - SHUNT`` over ``Iscale``, the AMPA fields as the single
synapse). Run the result with ``mode="dynapsim"`` to get Rockpool's released model
(§2.4's simplifications), or ``mode="dynapse2"`` for the four-dendrite chip.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from backends.dynapse.decode import DecodedNetwork
from backends.dynapse.emulator import DynapseEmulator, Mode
from backends.dynapse.mismatch import DEFAULT_RELATIVE_STD, draw_chip
from backends.dynapse.params import SYNAPSE_TYPES, DynapseParams

__all__ = [
    "DYNAPSIM_CONSTANTS",
    "DYNAPSIM_CURRENTS",
    "from_dynapsim",
    "to_dynapsim",
    "dynapsim_emulator",
]

DYNAPSIM_CURRENTS: Mapping[str, tuple[str, ...]] = {
    "Idc": ("idc",),
    "If_nmda": ("if_nmda",),
    "Igain_ahp": ("igain_ahp",),
    "Igain_mem": ("igain_mem",),
    "Igain_syn": tuple(f"igain_{s}" for s in SYNAPSE_TYPES),
    "Ipulse_ahp": ("ipulse_ahp",),
    "Ipulse": ("ipulse",),
    "Iref": ("iref",),
    "Ispkthr": ("ispkthr",),
    "Itau_ahp": ("itau_ahp",),
    "Itau_mem": ("itau_mem",),
    "Itau_syn": tuple(f"itau_{s}" for s in SYNAPSE_TYPES),
    "Iw_ahp": ("iw_ahp",),
}
"""DynapSim current (A, per neuron) -> ``DynapseParams`` field(s) (reference §3)."""

DYNAPSIM_CONSTANTS: Mapping[str, tuple[str, ...]] = {
    "C_ahp": ("c_ahp",),
    "C_syn": tuple(f"c_{s}" for s in SYNAPSE_TYPES),
    "C_pulse_ahp": ("c_pulse_ahp",),
    "C_pulse": ("c_pulse",),
    "C_ref": ("c_ref",),
    "C_mem": ("c_mem",),
    "Io": ("i0",),
    "kappa_n": ("kappa_n",),
    "kappa_p": ("kappa_p",),
    "Ut": ("u_t",),
    "Vth": ("v_th",),
}
"""DynapSim layout constant -> ``DynapseParams`` field(s) (reference §3)."""

_WEIGHTS_REC = ("weights_rec", "w_rec")


def _values(name: str, value: Any, n: int | None) -> np.ndarray:
    try:
        arr = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"DynapSim parameter {name!r} is not numeric") from None
    if arr.ndim > 1 or (arr.ndim == 1 and n is not None and arr.shape[0] != n):
        raise ValueError(
            f"DynapSim parameter {name!r} has shape {arr.shape}; expected a scalar "
            f"or ({n},) (one value per neuron)"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"DynapSim parameter {name!r} is not finite")
    return arr


def _scalar(name: str, value: Any) -> float:
    """A scalar given as a number or a one-element array (Rockpool's ``(1,)``)."""
    arr = np.asarray(value, np.float64)
    if arr.size != 1:
        raise ValueError(f"DynapSim {name!r} must be one number, got shape {arr.shape}")
    return float(arr.reshape(-1)[0])


def from_dynapsim(spec: Mapping[str, Any]) -> DecodedNetwork:
    """The network a DynapSim-style dict describes (module docstring).

    Keys: ``weights_in`` (required), ``weights_rec`` or ``w_rec``, ``Iscale``
    (default 1e-8 A), ``dt`` (default 1 ms), and any of ``DYNAPSIM_CURRENTS`` and
    ``DYNAPSIM_CONSTANTS`` (missing ones keep ``DynapseParams``' defaults, which
    are DynapSim's). Zero AHP, NMDA-gate and DC currents mean off and are kept
    as 0 (``DynapseParams`` accepts them; the emulator floors leaks and gains at
    ``I_0`` as DynapSim does).

    Raises:
        ValueError: an unknown key (listing the known ones), a bad shape or value,
            naming the key.
    """
    known = {
        *DYNAPSIM_CURRENTS,
        *DYNAPSIM_CONSTANTS,
        "weights_in",
        *_WEIGHTS_REC,
        "Iscale",
        "dt",
    }
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ValueError(
            f"unknown DynapSim parameter(s) {unknown}; known: {sorted(known)}"
        )
    if "weights_in" not in spec:
        raise ValueError("a DynapSim spec needs 'weights_in' (Nin, N)")
    w_in = np.asarray(spec["weights_in"], np.float64)
    if w_in.ndim != 2 or not np.all(np.isfinite(w_in)):
        raise ValueError(
            f"DynapSim 'weights_in' must be a finite (Nin, N) matrix, got shape "
            f"{w_in.shape}"
        )
    n = int(w_in.shape[1])
    rec_keys = [k for k in _WEIGHTS_REC if k in spec]
    if len(rec_keys) > 1:
        raise ValueError("give 'weights_rec' or 'w_rec', not both")
    w_rec = np.zeros((n, n))
    if rec_keys:
        w_rec = np.asarray(spec[rec_keys[0]], np.float64)
        if w_rec.shape != (n, n) or not np.all(np.isfinite(w_rec)):
            raise ValueError(
                f"DynapSim {rec_keys[0]!r} must be a finite ({n}, {n}) matrix, got "
                f"shape {w_rec.shape}"
            )
    i_scale = _scalar("Iscale", spec.get("Iscale", 1e-8))
    dt = _scalar("dt", spec.get("dt", 1e-3))
    for name, number in (("Iscale", i_scale), ("dt", dt)):
        if not (np.isfinite(number) and number > 0):
            raise ValueError(f"DynapSim {name!r} must be > 0, got {number!r}")
    fields: dict[str, Any] = {}
    for table in (DYNAPSIM_CURRENTS, DYNAPSIM_CONSTANTS):
        for name, targets in table.items():
            if name not in spec:
                continue
            arr = _values(name, spec[name], n)
            if np.any(arr < 0):
                raise ValueError(f"DynapSim {name!r} must be >= 0, got {arr.min()!r}")
            value: Any = float(arr) if arr.ndim == 0 else arr
            for target in targets:
                fields[target] = value
    try:
        params = DynapseParams(**fields)
    except ValueError as err:
        raise ValueError(f"DynapSim spec: {err}") from None
    return DecodedNetwork(
        params=params,
        weights_in=_split(w_in, i_scale),
        weights_rec=_split(w_rec, i_scale),
        index_of={},
        names=[""] * n,
        dt=dt,
    )


def _split(w: np.ndarray, i_scale: float) -> np.ndarray:
    """Signed dimensionless weights -> currents on AMPA (+) and GABA (-)."""
    out = np.zeros((*w.shape, len(SYNAPSE_TYPES)))
    out[..., SYNAPSE_TYPES.index("ampa")] = np.where(w > 0, w, 0.0) * i_scale
    out[..., SYNAPSE_TYPES.index("gaba")] = np.where(w < 0, -w, 0.0) * i_scale
    return out


def _signed(w: np.ndarray, i_scale: float) -> np.ndarray:
    a, m, g, s = (w[..., SYNAPSE_TYPES.index(t)] for t in SYNAPSE_TYPES)
    return (a + m - g - s) / i_scale


def to_dynapsim(net: DecodedNetwork, *, i_scale: float = 1e-8) -> dict[str, Any]:
    """A DynapSim-style dict of ``net`` (``from_dynapsim``'s inverse; e.g. of
    ``decode.decode(config)``): per-neuron currents ``(N,)``, layout constants,
    signed ``weights_in`` / ``weights_rec`` in units of ``i_scale``, ``Iscale``,
    ``dt``. The single synapse takes the AMPA fields.

    Raises:
        ValueError: per-chip ``(C, N)`` parameters (export one chip).
    """
    if not (np.isfinite(i_scale) and i_scale > 0):
        raise ValueError(f"i_scale must be a positive current, got {i_scale!r}")
    n = net.n_neurons
    out: dict[str, Any] = {}
    for table, per_neuron in ((DYNAPSIM_CURRENTS, True), (DYNAPSIM_CONSTANTS, False)):
        for name, targets in table.items():
            value = getattr(net.params, targets[0])
            if hasattr(value, "detach"):
                value = value.detach().cpu().numpy()
            arr = np.asarray(value, np.float64)
            if arr.ndim > 1:
                raise ValueError(
                    f"DynapseParams.{targets[0]} has shape {arr.shape}; to_dynapsim "
                    "exports one chip ((N,) or scalar parameters)"
                )
            out[name] = np.broadcast_to(arr, (n,)).copy() if per_neuron else float(arr)
    out["weights_in"] = _signed(np.asarray(net.weights_in), i_scale)
    out["weights_rec"] = _signed(np.asarray(net.weights_rec), i_scale)
    out["Iscale"] = float(i_scale)
    out["dt"] = float(net.dt)
    return out


def dynapsim_emulator(
    spec: Mapping[str, Any],
    *,
    mode: Mode = "dynapsim",
    seed: int | None = None,
    relative_std: float = DEFAULT_RELATIVE_STD,
) -> DynapseEmulator:
    """An emulator of a DynapSim-style dict (``seed=None``: no mismatch)."""
    net = from_dynapsim(spec)
    params = net.params
    if seed is not None:
        params = draw_chip(params, net.n_neurons, seed, relative_std=relative_std)
    rec = net.weights_rec if net.weights_rec.any() else None
    return DynapseEmulator(params, net.weights_in, rec, dt=net.dt, mode=mode)
