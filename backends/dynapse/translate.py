"""SNN neuron parameters to Dynap-SE2 bias currents on the bias generator's grid.

A Dynap-SE2 core shares every bias current among its 256 neurons (reference
``dynapse2.md`` §1), so a layer translates to one parameter set per distinct
``(tau_mem, tau_syn, v_threshold, bias)``: the neurons of one *parameter group* can
share a core, others cannot. Each group's currents come from ``params_from_lif``
(Rockpool's heuristic, §5.1: ``I_tau = U_T C / (kappa tau)``, gains 4x and 100x the
leaks, ``I_spkthr = v_threshold i_scale``, ``I_dc = bias i_scale``), then every bias
current is snapped to the nearest (coarse, fine) code of its generator
(``backends/dynapse/biasgen.py``), which is what the chip can hold. The time constants
of the snapped currents match the source within the grid's resolution there
(``tau`` is inversely proportional to ``I_tau``, so its relative error is the snap's).

``BIAS_NAMES`` maps each ``DynapseParams`` current to its samna bias name; the
transistor type (last letter) picks the generator, with the reference's scale factor
where it gives one (``biasgen.SCALE_FACTORS``) and 1 elsewhere.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from backends.dynapse.biasgen import SCALE_FACTORS, BiasGenerator, for_bias
from backends.dynapse.params import DynapseParams, params_from_lif

__all__ = [
    "BIAS_NAMES",
    "ParameterGroup",
    "generator_of",
    "parameter_groups",
    "snap_params",
]

BIAS_NAMES: Mapping[str, str] = {
    "itau_mem": "SOIF_LEAK_N",
    "igain_mem": "SOIF_GAIN_N",
    "ispkthr": "SOIF_SPKTHR_P",
    "iref": "SOIF_REFR_N",
    "ipulse": "SYPD_EXT_N",
    "idc": "SOIF_DC_P",
    "itau_ahp": "SOAD_TAU_P",
    "igain_ahp": "SOAD_GAIN_P",
    "ipulse_ahp": "SOAD_PWTAU_N",
    "iw_ahp": "SOAD_W_N",
    "itau_ampa": "DEAM_ETAU_P",
    "igain_ampa": "DEAM_EGAIN_P",
    "itau_nmda": "DENM_ETAU_P",
    "igain_nmda": "DENM_EGAIN_P",
    "itau_gaba": "DEGA_ITAU_P",
    "igain_gaba": "DEGA_IGAIN_P",
    "itau_shunt": "DESC_ITAU_P",
    "igain_shunt": "DESC_IGAIN_P",
    "if_nmda": "DENM_NMREV_N",
}
"""``DynapseParams`` current -> samna bias name (reference §1, params.py docstrings)."""


def generator_of(field: str) -> BiasGenerator:
    """The bias generator of a ``DynapseParams`` current."""
    name = BIAS_NAMES[field]
    return for_bias(name, None if name in SCALE_FACTORS else 1.0)


@dataclass(frozen=True, kw_only=True, eq=False)
class ParameterGroup:
    """Neurons of one layer that share every parameter, translated and snapped.

    Attributes:
        neurons: indices (in the layer) of the group's neurons.
        params: the snapped currents (scalars) and the layout constants.
        codes: samna bias name -> ``(coarse, fine)``.
        source: the float parameters ``(tau_mem, tau_syn, v_threshold, bias)``
            (``tau_syn`` NaN for a neuron without a synapse filter).
    """

    neurons: np.ndarray
    params: DynapseParams
    codes: Mapping[str, tuple[int, int]]
    source: tuple[float, float, float, float]


def snap_params(
    params: DynapseParams,
) -> tuple[DynapseParams, dict[str, tuple[int, int]]]:
    """Snap every bias current of scalar ``params`` to its generator's grid.

    Raises:
        ValueError: a current outside its generator's range, naming the bias.
    """
    changes: dict[str, float] = {}
    codes: dict[str, tuple[int, int]] = {}
    for field, bias in BIAS_NAMES.items():
        value = float(np.asarray(getattr(params, field)))
        coarse, fine, current = generator_of(field).snap(value, bias)
        changes[field] = float(current)
        codes[bias] = (int(coarse), int(fine))
    return dataclasses.replace(params, **changes), codes


def parameter_groups(
    tau_mem: np.ndarray,
    tau_syn: np.ndarray | None,
    v_threshold: np.ndarray,
    bias: np.ndarray,
    *,
    i_scale: float = 1e-8,
    t_ref: float | None = None,
    layer: str = "layer",
) -> list[ParameterGroup]:
    """Group a layer's neurons by their parameters and translate each group.

    Arrays broadcast to the layer's neurons (``tau_mem``'s length sets ``n``).
    ``t_ref`` is the refractory period in seconds (default: ``params_from_lif``'s).
    Groups are ordered by their first neuron, so the result is deterministic.

    Raises:
        ValueError: a parameter the chip cannot take (naming the layer and neuron).
    """
    n = int(np.size(tau_mem))
    cols = [
        np.broadcast_to(np.asarray(v, np.float64), (n,))
        for v in (
            tau_mem,
            np.full(n, np.nan) if tau_syn is None else tau_syn,
            v_threshold,
            bias,
        )
    ]
    table = np.stack(cols, axis=1)
    for j, (tm, ts, th, b) in enumerate(table):
        if not (tm > 0 and th > 0 and b >= 0 and (tau_syn is None or ts > 0)):
            raise ValueError(
                f"layer '{layer}' neuron {j}: tau_mem {tm:g}, tau_syn {ts:g}, "
                f"v_threshold {th:g}, bias {b:g}; Dynap-SE2 needs positive time "
                "constants and threshold and a bias >= 0 (a DC current)"
            )
    # NaN (no synapse filter) is not equal to itself: key it as None.
    keys = [tuple(None if np.isnan(v) else v for v in row.tolist()) for row in table]
    first: dict[tuple[float | None, ...], list[int]] = {}
    for j, key in enumerate(keys):
        first.setdefault(key, []).append(j)
    groups = []
    for key, members in first.items():
        tm, th, b = float(key[0] or 0.0), float(key[2] or 0.0), float(key[3] or 0.0)
        ts = None if key[1] is None else float(key[1])
        raw = (
            params_from_lif(tm, ts, v_threshold=th, bias=b, i_scale=i_scale)
            if t_ref is None
            else params_from_lif(
                tm, ts, v_threshold=th, bias=b, i_scale=i_scale, t_ref=t_ref
            )
        )
        try:
            snapped, codes = snap_params(raw)
        except ValueError as err:
            raise ValueError(f"layer '{layer}' neuron {members[0]}: {err}") from None
        groups.append(
            ParameterGroup(
                neurons=np.asarray(members, np.int64),
                params=snapped,
                codes=codes,
                source=(tm, np.nan if ts is None else ts, th, b),
            )
        )
    return groups
