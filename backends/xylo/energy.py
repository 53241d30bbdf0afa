"""The Xylo chips' published energy figures and the events a run causes.

SynSense publishes whole-application power for Xylo, not energy per event: Bos &
Muir 2024 (arXiv:2406.15112, abstract and results) measured 291 uW dynamic inference
power and 6.6 uJ per inference for one keyword-spotting network on Xylo Audio 2;
that network's event counts are not published, so no per-event figure can be derived
from it. The per-event figures are therefore :data:`~backends.energy.NO_FIGURE` (pass
your own: ``spikeforge compile --energy-figure synaptic_event=...``). The idle
(static) power is published for two variants (below).

Activity (``activity``): the bit-exact emulator's recording counts input events,
hidden spikes and output spikes; a synaptic event is one event (an input event
counts as many events as its count, up to 15) reaching one nonzero weight (input,
recurrent or readout); a neuron update is one hidden or readout neuron advanced by one
step (Xylo updates every configured neuron every step: reference xylo.md section 7).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from backends.energy import NO_FIGURE, Activity, EnergyModel, Published
from backends.xylo.config import XyloConfig
from backends.xylo.emulator import XyloEmulator

__all__ = ["ENERGY_MODELS", "activity"]

_NO_EVENT_FIGURE = Published(
    None,
    f"{NO_FIGURE}: SynSense publishes application power only (Bos & Muir 2024, "
    "arXiv:2406.15112: 291 uW, 6.6 uJ/inference for one KWS network)",
)
_NO_STATIC = Published(None, f"{NO_FIGURE} for this variant's idle power")


def _model(chip: str, static: Published) -> EnergyModel:
    return EnergyModel(
        chip=chip,
        per_event={
            "synaptic_event": _NO_EVENT_FIGURE,
            "neuron_update": _NO_EVENT_FIGURE,
        },
        static_power=static,
    )


ENERGY_MODELS: Mapping[str, EnergyModel] = {
    "xylo-audio2": _model(
        "Xylo Audio 2",
        # NOTE: Bos & Muir 2022, "Sub-mW neuromorphic SNN audio processing
        # applications with Rockpool and Xylo": 219 uW idle and
        # 93 uW dynamic for an ambient-audio network, as quoted by
        # open-neuromorphic.org (Xylo hardware page); a secondary source, hence
        # approximate.
        Published(
            219e-6,
            "Bos & Muir 2022 ('Sub-mW neuromorphic SNN audio processing ... Xylo'), "
            "idle power 219 uW, as quoted by open-neuromorphic.org",
            approximate=True,
        ),
    ),
    "xylo-imu": _model(
        "Xylo IMU",
        # NOTE: Rockpool documentation, docs/devices/xylo-imu/xylo-imu-intro.ipynb:
        # SNN core plus IMU interface ~188 uW idle at 6.25 MHz on the HDK (a vendor
        # notebook measurement, rounded).
        Published(
            188e-6,
            "Rockpool docs, xylo-imu-intro notebook: ~188 uW idle (SNN + IMU-IF, "
            "6.25 MHz, HDK)",
            approximate=True,
        ),
    ),
    "xylo-audio3": _model("Xylo Audio 3", _NO_STATIC),
    "xylo-v1": _model("Xylo v1", _NO_STATIC),
}
"""The energy model of each Xylo variant, by target name."""


def activity(config: XyloConfig, raster: np.ndarray) -> Activity:
    """Events per inference of ``config`` on ``raster`` ``(batch, time, Nin)``
    integer event counts (the mean over the batch)."""
    x = np.asarray(raster)
    if x.ndim == 2:
        x = x[None]
    emulator = XyloEmulator(config, seed=0)
    out, states = emulator.run(x, record=True)
    x = np.minimum(x, 15).astype(np.int64)
    batch, steps = x.shape[0], x.shape[1]
    w_in = np.asarray(config.weights_in)
    w_rec = np.asarray(config.weights_rec)
    w_out = np.asarray(config.weights_out)
    fan_in = np.count_nonzero(w_in.reshape(w_in.shape[0], -1), axis=1)
    fan_hid = np.count_nonzero(w_rec.reshape(w_rec.shape[0], -1), axis=1)
    fan_hid = fan_hid + np.count_nonzero(w_out, axis=1)
    inputs = x.sum(axis=(0, 1))[: fan_in.size]
    hidden = np.asarray(states["Spikes"], np.int64).sum(axis=(0, 1))
    synaptic = float(inputs @ fan_in[: inputs.size] + hidden @ fan_hid)
    spikes = float(hidden.sum() + np.asarray(out).sum())
    # the configured neurons (the neuron map's, else the weight shapes')
    kinds = [entry[0] for entry in config.neuron_map.values()]
    neurons = (kinds.count("hidden") or config.n_hidden) + (
        kinds.count("output") or int(w_out.shape[1])
    )
    return Activity(
        events={
            "synaptic_event": synaptic / batch,
            "spike": spikes / batch,
            "neuron_update": float(neurons * steps),
        },
        seconds=steps * float(config.dt),
        samples=batch,
        steps=steps,
        detail={
            "input events": float(inputs.sum()) / batch,
            "hidden spikes": float(hidden.sum()) / batch,
        },
    )
