"""Energy figures for the ``dynapse2`` target and the events a run causes.

We found no published per-event energy or static power of DYNAP-SE2: Richter et al.
2024, "DYNAP-SE2: a scalable multi-core dynamic neuromorphic asynchronous spiking
neural network processor" (Neuromorphic Computing and Engineering) describe and
characterize the circuits; we found no energy per spike or per synaptic event in
it (check the paper before relying on this: a figure there would replace the
proxy below). The closest
published figures are those of its predecessor DYNAP-SE, built in the same 180 nm
process: Moradi, Qiao, Stefanini & Indiveri 2018, "A scalable multicore architecture
with heterogeneous memory structures for Dynamic Neuromorphic Asynchronous Processors
(DYNAPs)", IEEE TBioCAS 12(1):106-122, the table of energy per operation (1.8 V).
They are used here as a proxy for DYNAP-SE2 and marked approximate.

# NOTE: the two DYNAP-SE values (883 pJ to generate a spike, 324 pJ per synaptic
# event, i.e. one pulse-extender pulse into a synapse) are as commonly quoted from
# Moradi et al. 2018's table; they were not re-checked against the paper's PDF
# here. Routing (360 pJ to another core, more across chips, in the same table) is
# left out: the estimate has no per-hop model. Override them with your own
# (``spikeforge compile --energy-figure spike=...``).

Activity (``activity``): the emulator's spikes of every neuron; a synaptic event is
one input spike or neuron spike reaching one nonzero synapse (input or recurrent
weight, any of the four synapse types). Analog neurons integrate continuously: there
is no per-step neuron update to price.
"""

from __future__ import annotations

import numpy as np
import torch

from backends.dynapse.emulator import DynapseEmulator
from backends.energy import NO_FIGURE, Activity, EnergyModel, Published

__all__ = ["ENERGY_MODEL", "activity"]

_PROXY = "Moradi et al. 2018 (IEEE TBioCAS 12(1)), DYNAP-SE energy per operation table"

ENERGY_MODEL = EnergyModel(
    chip="DYNAP-SE2",
    per_event={
        "spike": Published(
            883e-12,
            f"{_PROXY}: spike generation 883 pJ (DYNAP-SE, proxy for SE2)",
            approximate=True,
        ),
        "synaptic_event": Published(
            324e-12,
            f"{_PROXY}: pulse extender per synaptic event 324 pJ (DYNAP-SE, proxy)",
            approximate=True,
        ),
    },
    static_power=Published(
        None,
        f"{NO_FIGURE}: none found in Richter et al. 2024 (DYNAP-SE2) or Moradi et "
        "al. 2018 (DYNAP-SE)",
    ),
    notes=("routing energy per hop not modelled",),
)
"""The ``dynapse2`` energy model (module docstring)."""


def activity(emulator: DynapseEmulator, raster: np.ndarray) -> Activity:
    """Events per inference of the chip ``emulator`` on ``raster`` ``(batch, time,
    Nin)`` input spikes (the mean over the batch)."""
    x = np.asarray(raster, np.float32)
    if x.ndim == 2:
        x = x[None]
    batch, steps = x.shape[0], x.shape[1]
    spikes = emulator.run(torch.from_numpy(x)).spikes[0].numpy()  # (B, T, N)
    w_in = np.asarray(emulator.weights_in)
    fan_in = np.count_nonzero(w_in.reshape(w_in.shape[0], -1), axis=1)
    per_neuron = spikes.sum(axis=(0, 1))
    synaptic = float(x.sum(axis=(0, 1)) @ fan_in)
    if emulator.weights_rec is not None:
        w_rec = np.asarray(emulator.weights_rec)
        synaptic += float(
            per_neuron @ np.count_nonzero(w_rec.reshape(w_rec.shape[0], -1), axis=1)
        )
    return Activity(
        events={
            "synaptic_event": synaptic / batch,
            "spike": float(per_neuron.sum()) / batch,
        },
        seconds=steps * float(emulator.dt),
        samples=batch,
        steps=steps,
        detail={"input events": float(x.sum()) / batch},
    )
