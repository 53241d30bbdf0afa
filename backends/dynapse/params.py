"""Dynap-SE2 neuron and synapse parameters: the current-mode circuit biases as data.

Every analog block of a Dynap-SE2 neuron is set by subthreshold bias currents
(amperes) and fixed layout constants (capacitances in farads, ``kappa``, thermal
voltage ``U_T`` and pulse threshold ``V_th`` in volts). Reference ``dynapse2.md`` §2.1
relates them to time constants and pulse widths:

.. math::

    \\tau = \\frac{U_T C}{\\kappa I_\\tau}, \\qquad
    t_{pulse} = \\frac{V_{th} C_{pulse}}{I_{pulse}}, \\qquad
    t_{ref} = \\frac{V_{th} C_{ref}}{I_{ref}}, \\qquad
    \\kappa = \\frac{\\kappa_n + \\kappa_p}{2}

The defaults are Rockpool's design values (reference §2.3): ``tau_mem`` 20 ms, every
synapse 10 ms, AHP 50 ms, gain ratios ``I_gain / I_tau`` of 4 (membrane), 100
(synapses) and 1 (AHP), ``t_pulse`` 10 us, ``t_pulse_ahp`` 1 us, ``t_ref`` 1 ms,
``I_spkthr`` 100 nA, and DC, NMDA threshold and AHP weight at ``I_0`` (effectively
off). Currents are derived from those with the equations above, so ``itau_mem`` is
5.319 pA and ``itau_ampa`` 86.88 pA as in the reference.

Each field holds a float, a per-neuron array ``(N,)`` or a per-chip array ``(C, N)``
(NumPy or torch; a torch tensor may require grad so a retuning pass can train biases).
The hardware shares every bias within a 256-neuron core (reference §1); per-neuron
values model mismatch (``backends.dynapse.mismatch``) or simulator-level freedom.

    >>> p = DynapseParams()
    >>> round(p.tau("mem") * 1e3, 6)
    20.0
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import torch

__all__ = [
    "SYNAPSE_TYPES",
    "KAPPA_N",
    "KAPPA_P",
    "KAPPA",
    "U_T",
    "V_TH",
    "I_0",
    "ParamValue",
    "DynapseParams",
    "tau_from_current",
    "current_from_tau",
    "duration_from_current",
    "current_from_duration",
    "params_from_lif",
]

SYNAPSE_TYPES: tuple[str, ...] = ("ampa", "nmda", "gaba", "shunt")
"""The four dendrite types, in the order of the emulator's weight axis.

AMPA and NMDA are excitatory, GABA and SHUNT inhibitory (reference §1, CAM entry)."""

ParamValue = float | np.ndarray | torch.Tensor
"""A parameter: scalar, per neuron ``(N,)`` or per chip and neuron ``(C, N)``."""

KAPPA_N = 0.75
"""Subthreshold slope factor of n-type transistors (reference §2.3)."""
KAPPA_P = 0.66
"""Subthreshold slope factor of p-type transistors (reference §2.3)."""
KAPPA = (KAPPA_N + KAPPA_P) / 2
"""Mean slope factor used by every equation, 0.705 (reference §2.1)."""
U_T = 25e-3
"""Thermal voltage, volts (reference §2.3)."""
V_TH = 0.7
"""Pulse-extender / refractory threshold voltage, volts (reference §2.3)."""
I_0 = 0.5e-12
"""Dark (leakage) current, amperes: the floor of every current (reference §2.1, §2.3)."""

# Design values behind the default currents (reference §2.3).
_TAU_MEM = 20e-3
_TAU_SYN = 10e-3
_TAU_AHP = 50e-3
_T_PULSE = 10e-6
_T_PULSE_AHP = 1e-6
_T_REF = 1e-3
_GAIN_MEM = 4.0
_GAIN_SYN = 100.0
_GAIN_AHP = 1.0
_C: dict[str, float] = {  # capacitances, F: the defaults of the c_<name> fields
    "mem": 3e-12,
    "ampa": 24.5e-12,
    "nmda": 25e-12,
    "gaba": 25e-12,
    "shunt": 24.5e-12,
    "ahp": 40e-12,
    "pulse": 0.5e-12,
    "pulse_ahp": 0.5e-12,
    "ref": 1.5e-12,
}


def tau_from_current(
    i_tau: ParamValue, c: ParamValue, kappa: ParamValue = KAPPA, u_t: ParamValue = U_T
) -> Any:
    """Time constant (seconds) of a DPI or membrane leak: ``tau = U_T C / (kappa I_tau)``.

    Args:
        i_tau: leak bias current, amperes.
        c: capacitance of the block, farads.
        kappa: subthreshold slope factor (mean of n and p types).
        u_t: thermal voltage, volts.
    """
    return u_t * c / (kappa * i_tau)


def current_from_tau(
    tau: ParamValue, c: ParamValue, kappa: ParamValue = KAPPA, u_t: ParamValue = U_T
) -> Any:
    """Leak bias current (amperes) giving time constant ``tau`` (seconds).

    The inverse of :func:`tau_from_current`: ``I_tau = U_T C / (kappa tau)``.
    """
    return u_t * c / (kappa * tau)


def duration_from_current(i: ParamValue, c: ParamValue, v_th: ParamValue = V_TH) -> Any:
    """Pulse width or refractory period (seconds): ``t = V_th C / I``.

    A capacitor ``C`` charged by ``I`` reaches ``V_th`` after ``t`` (reference §2.1:
    ``t_pulse``, ``t_pulse_ahp`` and ``t_ref``).
    """
    return v_th * c / i


def current_from_duration(t: ParamValue, c: ParamValue, v_th: ParamValue = V_TH) -> Any:
    """Bias current (amperes) giving pulse width or refractory period ``t`` (seconds)."""
    return v_th * c / t


# Default currents, derived from the design values above (reference §2.3).
_ITAU_MEM = current_from_tau(_TAU_MEM, _C["mem"])
_IREF = current_from_duration(_T_REF, _C["ref"])
_IPULSE = current_from_duration(_T_PULSE, _C["pulse"])
_ITAU_AHP = current_from_tau(_TAU_AHP, _C["ahp"])
_IPULSE_AHP = current_from_duration(_T_PULSE_AHP, _C["pulse_ahp"])
_ITAU_SYN = {syn: current_from_tau(_TAU_SYN, _C[syn]) for syn in SYNAPSE_TYPES}

# Currents that may be zero: they add to a state rather than set a rate or a scale,
# or (the AHP's) act only through a nonzero AHP weight; Rockpool's converter writes 0
# for "off" (reference §5.1). The emulator floors every I_tau and I_gain at I_0.
_NONNEGATIVE = frozenset(
    {"idc", "iw_ahp", "if_nmda", "itau_ahp", "igain_ahp", "ipulse_ahp"}
)


@dataclass(frozen=True, kw_only=True, eq=False)
class DynapseParams:
    """The bias currents and layout constants of Dynap-SE2 neurons (reference §2).

    Currents in amperes, capacitances in farads, voltages in volts. Names follow
    Rockpool's simulator (``Itau_mem`` -> ``itau_mem``), whose samna bias names are
    listed in reference §1 (``itau_mem`` is ``SOIF_LEAK_N``, ``ispkthr`` is
    ``SOIF_SPKTHR_P``, ...). Dendrite currents come per type (AMPA, NMDA, GABA,
    SHUNT), as on the chip; Rockpool's released simulator has a single
    ``Itau_syn``/``Igain_syn`` pair, which the emulator's ``dynapsim`` mode reads
    from the AMPA fields.

    Every field is a float, an ``(N,)`` array or a ``(C, N)`` array; all currents
    must be finite and positive (``idc``, ``if_nmda`` and the AHP currents may be
    zero: off), and so must every layout constant.
    """

    # --- soma (membrane) ---------------------------------------------------------
    itau_mem: ParamValue = _ITAU_MEM
    """Membrane leak, A (SOIF_LEAK_N): ``tau_mem = U_T C_mem / (kappa itau_mem)``."""
    igain_mem: ParamValue = _GAIN_MEM * _ITAU_MEM
    """Membrane gain, A (SOIF_GAIN_N); ``igain_mem / itau_mem`` scales the input."""
    ispkthr: ParamValue = 100e-9
    """Spike threshold on the membrane current, A (SOIF_SPKTHR_P)."""
    iref: ParamValue = _IREF
    """Refractory current, A (SOIF_REFR_N): ``t_ref = V_th C_ref / iref``."""
    ipulse: ParamValue = _IPULSE
    """Synaptic pulse-extender current, A (SYPD_EXT_N): ``t_pulse = V_th C_pulse / ipulse``."""
    idc: ParamValue = I_0
    """Constant DC input to the membrane, A (SOIF_DC_P); ``I_0`` is effectively off."""

    # --- AHP (spike-frequency adaptation) -----------------------------------------
    itau_ahp: ParamValue = _ITAU_AHP
    """AHP leak, A (SOAD_TAU_P): ``tau_ahp = U_T C_ahp / (kappa itau_ahp)``."""
    igain_ahp: ParamValue = _GAIN_AHP * _ITAU_AHP
    """AHP gain, A (SOAD_GAIN_P)."""
    ipulse_ahp: ParamValue = _IPULSE_AHP
    """AHP pulse current, A (SOAD_PWTAU_N): ``t_pulse_ahp = V_th C_pulse_ahp / ipulse_ahp``."""
    iw_ahp: ParamValue = I_0
    """AHP weight (jump per output spike), A (SOAD_W_N); ``I_0`` is effectively off."""

    # --- dendrites (DPI synapses) -------------------------------------------------
    itau_ampa: ParamValue = _ITAU_SYN["ampa"]
    """AMPA leak, A (DEAM_ETAU_P)."""
    igain_ampa: ParamValue = _GAIN_SYN * _ITAU_SYN["ampa"]
    """AMPA gain, A (DEAM_EGAIN_P)."""
    itau_nmda: ParamValue = _ITAU_SYN["nmda"]
    """NMDA leak, A (DENM_ETAU_P)."""
    igain_nmda: ParamValue = _GAIN_SYN * _ITAU_SYN["nmda"]
    """NMDA gain, A (DENM_EGAIN_P)."""
    itau_gaba: ParamValue = _ITAU_SYN["gaba"]
    """GABA leak, A (DEGA_ITAU_P)."""
    igain_gaba: ParamValue = _GAIN_SYN * _ITAU_SYN["gaba"]
    """GABA gain, A (DEGA_IGAIN_P)."""
    itau_shunt: ParamValue = _ITAU_SYN["shunt"]
    """SHUNT leak, A (DESC_ITAU_P)."""
    igain_shunt: ParamValue = _GAIN_SYN * _ITAU_SYN["shunt"]
    """SHUNT gain, A (DESC_IGAIN_P)."""
    if_nmda: ParamValue = I_0
    """NMDA gating threshold, A (DENM_NMREV_N): ``I_nmda / (1 + if_nmda / I_mem)``."""

    # --- layout constants -----------------------------------------------------------
    c_mem: ParamValue = _C["mem"]
    """Membrane capacitance, F (3 pF)."""
    c_ampa: ParamValue = _C["ampa"]
    """AMPA capacitance, F (24.5 pF)."""
    c_nmda: ParamValue = _C["nmda"]
    """NMDA capacitance, F (25 pF)."""
    c_gaba: ParamValue = _C["gaba"]
    """GABA capacitance, F (25 pF)."""
    c_shunt: ParamValue = _C["shunt"]
    """SHUNT capacitance, F (24.5 pF)."""
    c_ahp: ParamValue = _C["ahp"]
    """AHP capacitance, F (40 pF)."""
    c_pulse: ParamValue = _C["pulse"]
    """Synaptic pulse-extender capacitance, F (0.5 pF)."""
    c_pulse_ahp: ParamValue = _C["pulse_ahp"]
    """AHP pulse-extender capacitance, F (0.5 pF)."""
    c_ref: ParamValue = _C["ref"]
    """Refractory capacitance, F (1.5 pF)."""
    i0: ParamValue = I_0
    """Dark current, A (0.5 pA): floor of every current, reset value of ``I_mem``."""
    kappa_n: ParamValue = KAPPA_N
    """Subthreshold slope factor, n-type (0.75)."""
    kappa_p: ParamValue = KAPPA_P
    """Subthreshold slope factor, p-type (0.66)."""
    u_t: ParamValue = U_T
    """Thermal voltage, V (25 mV)."""
    v_th: ParamValue = V_TH
    """Pulse-extender and refractory threshold voltage, V (0.7 V)."""

    def __post_init__(self) -> None:
        for name in self.names():
            _check_values(
                f"DynapseParams.{name}",
                getattr(self, name),
                allow_zero=name in _NONNEGATIVE,
            )

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Field names, in declaration order."""
        return tuple(f.name for f in fields(cls))

    def replace(self, **changes: ParamValue) -> DynapseParams:
        """A copy with some fields changed (validated like the constructor)."""
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise ValueError(
                f"unknown DynapseParams field(s) {unknown}; valid: {list(self.names())}"
            )
        return replace(self, **changes)

    @property
    def kappa(self) -> Any:
        """Mean subthreshold slope factor ``(kappa_n + kappa_p) / 2``."""
        return (self.kappa_n + self.kappa_p) / 2

    def tau(self, block: str) -> Any:
        """Time constant (seconds) of ``block``: ``mem``, ``ahp`` or a synapse type.

        ``tau = U_T C / (kappa I_tau)`` with the block's capacitance and leak current.
        """
        blocks = ("mem", "ahp", *SYNAPSE_TYPES)
        if block not in blocks:
            raise ValueError(f"unknown block {block!r}; valid: {list(blocks)}")
        return tau_from_current(
            getattr(self, f"itau_{block}"),
            getattr(self, f"c_{block}"),
            self.kappa,
            self.u_t,
        )

    @property
    def t_pulse(self) -> Any:
        """Synaptic pulse width, seconds: ``V_th C_pulse / ipulse``."""
        return duration_from_current(self.ipulse, self.c_pulse, self.v_th)

    @property
    def t_pulse_ahp(self) -> Any:
        """AHP pulse width, seconds: ``V_th C_pulse_ahp / ipulse_ahp``."""
        return duration_from_current(self.ipulse_ahp, self.c_pulse_ahp, self.v_th)

    @property
    def t_ref(self) -> Any:
        """Refractory period, seconds: ``V_th C_ref / iref``."""
        return duration_from_current(self.iref, self.c_ref, self.v_th)


def _check_values(label: str, value: Any, *, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` naming ``label`` (and the element) unless all values are
    finite and positive (or zero, with ``allow_zero``)."""
    if isinstance(value, torch.Tensor):
        arr = value.detach().cpu().double().numpy()
    else:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{label} is not numeric: {value!r}") from exc
    if arr.ndim > 2:
        raise ValueError(
            f"{label} has shape {arr.shape}; expected a scalar, (N,) or (C, N)"
        )
    ok = np.isfinite(arr) & (arr >= 0 if allow_zero else arr > 0)
    if ok.all():
        return
    where = tuple(int(i) for i in np.argwhere(~ok)[0])
    at = "" if arr.ndim == 0 else f" at index {where}"
    need = "finite and >= 0" if allow_zero else "finite and > 0"
    raise ValueError(f"{label} must be {need}; got {float(arr[where])!r}{at}")


def params_from_lif(
    tau_mem: ParamValue,
    tau_syn: ParamValue | None = None,
    *,
    v_threshold: ParamValue = 1.0,
    bias: ParamValue = 0.0,
    i_scale: float = 1e-8,
    t_ref: ParamValue = _T_REF,
    t_pulse: ParamValue = _T_PULSE,
    base: DynapseParams | None = None,
) -> DynapseParams:
    """Translate LIF / CubaLIF parameters to Dynap-SE2 currents (reference §5.1 step 2).

    Rockpool's heuristic, which scales threshold and bias linearly into a nonlinear
    current-mode neuron (it is not an equivalence):

    * ``itau_mem = U_T C_mem / (kappa tau_mem)``, ``igain_mem = 4 itau_mem``;
    * each synapse type ``itau = U_T C_syn / (kappa tau_syn)`` with its own
      capacitance (so every type gets ``tau_syn``), ``igain = 100 itau``;
    * ``ispkthr = v_threshold i_scale``, ``idc = bias i_scale``;
    * ``ipulse = V_th C_pulse / t_pulse``, ``iref = V_th C_ref / t_ref``.

    Layout constants, and the AHP and NMDA currents, come from ``base`` (default
    :class:`DynapseParams`, where AHP and NMDA gating are at ``I_0``, effectively off;
    Rockpool writes 0 there, which differs by a sub-femtoampere AHP jump). Weights
    translate separately: a LIF weight ``w`` is a weight current ``w i_scale``.

    Args:
        tau_mem: membrane time constant(s), seconds.
        tau_syn: synaptic time constant(s), seconds; ``None`` keeps ``base``'s
            synapse currents (a plain LIF has no synaptic filter; the chip always has
            one).
        v_threshold: LIF threshold(s), dimensionless, > 0.
        bias: LIF bias(es), dimensionless, >= 0 (the DC input is a positive current).
        i_scale: amperes per unit of LIF weight, threshold and bias (Rockpool's
            ``Iscale``, default 10 nA).
        t_ref: refractory period(s), seconds.
        t_pulse: synaptic pulse width(s), seconds.
        base: parameters the translation starts from.
    """
    p = DynapseParams() if base is None else base
    for name, value in (
        ("tau_mem", tau_mem),
        ("tau_syn", tau_syn),
        ("v_threshold", v_threshold),
        ("t_ref", t_ref),
        ("t_pulse", t_pulse),
        ("i_scale", i_scale),
    ):
        if value is not None:
            _check_values(name, value)
    # NOTE: the chip's DC input (SOIF_DC_P) is a positive current (reference §1).
    _check_values("bias", bias, allow_zero=True)
    kappa = p.kappa
    itau_mem = current_from_tau(tau_mem, p.c_mem, kappa, p.u_t)
    changes: dict[str, ParamValue] = {
        "itau_mem": itau_mem,
        "igain_mem": _GAIN_MEM * itau_mem,
        "ispkthr": v_threshold * i_scale,
        "idc": bias * i_scale,
        "ipulse": current_from_duration(t_pulse, p.c_pulse, p.v_th),
        "iref": current_from_duration(t_ref, p.c_ref, p.v_th),
    }
    if tau_syn is not None:
        for syn in SYNAPSE_TYPES:
            itau = current_from_tau(tau_syn, getattr(p, f"c_{syn}"), kappa, p.u_t)
            changes[f"itau_{syn}"] = itau
            changes[f"igain_{syn}"] = _GAIN_SYN * itau
    return p.replace(**changes)
