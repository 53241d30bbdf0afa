"""DynapSim-style parameter dicts into and out of the Dynap-SE2 emulator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import compiler
from backends.dynapse import decode
from backends.dynapse.dynapsim import dynapsim_emulator, from_dynapsim, to_dynapsim
from backends.dynapse.emulator import DynapseEmulator
from backends.dynapse.params import DynapseParams
from tests.backends.dynapse.test_lower import chain

pytestmark = pytest.mark.filterwarnings(
    "ignore::backends.dynapse.adapt.DynapseAdapterWarning"
)

N_IN, N = 4, 3
FIXTURE = (
    Path(__file__).resolve().parents[2] / "fixtures" / "dynapsim" / "dynapsim_rec.npz"
)


def spec() -> dict[str, object]:
    """A DynapSim-style dict with the documented names (reference dynapse2.md §2.3,
    §3, §5.1): per-neuron currents, the converter's zero AHP and NMDA currents,
    signed weights in units of Iscale."""
    rng = np.random.default_rng(0)
    return {
        "Itau_mem": np.array([5.3e-12, 6e-12, 4.5e-12]),
        "Igain_mem": np.array([21.3e-12, 24e-12, 18e-12]),
        "Ispkthr": np.full(N, 1e-9),
        "Iref": np.full(N, 1.05e-9),
        "Ipulse": np.full(N, 35e-9),
        "Idc": np.array([0.0, 2e-12, 0.0]),
        "Itau_syn": np.full(N, 86.9e-12),
        "Igain_syn": np.full(N, 8.69e-9),
        "Itau_ahp": np.zeros(N),
        "Igain_ahp": np.zeros(N),
        "Ipulse_ahp": np.zeros(N),
        "Iw_ahp": np.zeros(N),
        "If_nmda": np.zeros(N),
        "C_mem": 3e-12,
        "C_syn": 25e-12,
        "Io": 0.5e-12,
        "kappa_n": 0.75,
        "kappa_p": 0.66,
        "Ut": 25e-3,
        "Vth": 0.7,
        "weights_in": rng.normal(0.6, 0.5, (N_IN, N)),
        "w_rec": np.array([[0.0, 0.5, -0.4], [-0.3, 0.0, 0.2], [0.4, -0.6, 0.0]]),
        "Iscale": 1e-8,
        "dt": 1e-3,
    }


def by_hand(d: dict[str, object]) -> DynapseEmulator:
    """The same network built field by field (the mapping written out here)."""
    f = {k: np.asarray(v, np.float64) for k, v in d.items()}
    syn = {}
    for t in ("ampa", "nmda", "gaba", "shunt"):
        syn[f"itau_{t}"] = f["Itau_syn"]
        syn[f"igain_{t}"] = f["Igain_syn"]
        syn[f"c_{t}"] = float(f["C_syn"])
    params = DynapseParams(
        itau_mem=f["Itau_mem"],
        igain_mem=f["Igain_mem"],
        ispkthr=f["Ispkthr"],
        iref=f["Iref"],
        ipulse=f["Ipulse"],
        idc=f["Idc"],
        itau_ahp=f["Itau_ahp"],
        igain_ahp=f["Igain_ahp"],
        ipulse_ahp=f["Ipulse_ahp"],
        iw_ahp=f["Iw_ahp"],
        if_nmda=f["If_nmda"],
        c_mem=float(f["C_mem"]),
        i0=float(f["Io"]),
        kappa_n=float(f["kappa_n"]),
        kappa_p=float(f["kappa_p"]),
        u_t=float(f["Ut"]),
        v_th=float(f["Vth"]),
        **syn,
    )

    def currents(w: np.ndarray) -> np.ndarray:
        out = np.zeros((*w.shape, 4))
        out[..., 0] = np.clip(w, 0, None) * 1e-8  # AMPA
        out[..., 2] = np.clip(-w, 0, None) * 1e-8  # GABA
        return out

    return DynapseEmulator(
        params,
        currents(f["weights_in"]),
        currents(f["w_rec"]),
        dt=1e-3,
        mode="dynapsim",
    )


def raster() -> torch.Tensor:
    rng = np.random.default_rng(1)
    return torch.from_numpy((rng.random((2, 300, N_IN)) < 0.2).astype(np.float32))


def test_dict_runs_as_the_network_it_names() -> None:
    x = raster()
    got = dynapsim_emulator(spec()).run(x, record=True)
    want = by_hand(spec()).run(x, record=True)
    assert (
        got.spikes.sum() > 20
    )  # the network is active, the comparison means something
    torch.testing.assert_close(got.spikes, want.spikes, rtol=0, atol=0)
    torch.testing.assert_close(got.imem, want.imem, rtol=0, atol=0)


def test_zero_ahp_currents_mean_off() -> None:
    """Rockpool's converter writes 0 AHP currents; they run as an AHP that never
    charges (same spikes as leaving the AHP keys out with a zero weight)."""
    x = raster()
    zero = dynapsim_emulator(spec()).run(x).spikes
    d = spec()
    for key in ("Itau_ahp", "Igain_ahp", "Ipulse_ahp"):
        del d[key]
    default = dynapsim_emulator(d).run(x).spikes
    torch.testing.assert_close(zero, default, rtol=0, atol=0)
    DynapseParams(itau_ahp=0.0, igain_ahp=0.0, ipulse_ahp=0.0, iw_ahp=0.0)


def test_export_inverts_import() -> None:
    d = spec()
    back = to_dynapsim(from_dynapsim(d), i_scale=1e-8)
    for key, value in d.items():
        name = "weights_rec" if key == "w_rec" else key
        np.testing.assert_allclose(
            np.broadcast_to(back[name], np.shape(value)), value, rtol=1e-12
        )


def test_a_compiled_config_exports_and_runs_the_same() -> None:
    """decode(config) -> DynapSim dict -> emulator: nearly the same ideal chip (the
    lowering gives every dendrite one time constant; the single synapse takes the
    AMPA currents, which on the grid differ from GABA's by a snap, so a few bins
    differ)."""
    result = compiler.compile(chain(0), target="dynapse2", fidelity=False)
    x = (np.random.default_rng(2).random((2, 120, 12)) < 0.3).astype(np.float32)
    want = decode.emulator(result.config, seed=None).run(torch.from_numpy(x)).spikes
    d = to_dynapsim(decode.decode(result.config), i_scale=1e-9)
    got = dynapsim_emulator(d, mode="dynapse2").run(torch.from_numpy(x)).spikes
    assert want.sum() > 0
    assert float((got != want).float().mean()) < 0.03
    assert abs(float(got.sum()) - float(want.sum())) < 0.05 * float(want.sum())


def test_bad_specs_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"unknown DynapSim parameter\(s\) \['Itau'\]"):
        from_dynapsim({**spec(), "Itau": 1e-12})
    with pytest.raises(ValueError, match=r"'Itau_mem' has shape \(2,\)"):
        from_dynapsim({**spec(), "Itau_mem": np.ones(2) * 1e-12})
    with pytest.raises(ValueError, match="needs 'weights_in'"):
        from_dynapsim({"Itau_mem": 1e-12})
    with pytest.raises(ValueError, match="'Ispkthr' must be >= 0"):
        from_dynapsim({**spec(), "Ispkthr": -1.0})
    with pytest.raises(ValueError, match=r"'w_rec' must be a finite \(3, 3\)"):
        from_dynapsim({**spec(), "w_rec": np.ones((2, 2))})


def test_a_dict_written_by_rockpools_dynapsim_runs_bin_for_bin() -> None:
    """``tests/fixtures/make_dynapsim_fixture.py``: Rockpool 3.1's own DynapSim
    (recurrent, zero AHP/NMDA currents, per-neuron layout constants, ``(1,)``
    Iscale and dt) and its output spikes; our dynapsim mode gives every count."""
    data = np.load(FIXTURE)
    d = {k.removeprefix("spec_"): data[k] for k in data.files if k.startswith("spec_")}
    got = dynapsim_emulator(d).run(torch.from_numpy(data["input"])).spikes[0]
    want = data["output"][:, 0]
    assert want.sum() > 100
    np.testing.assert_array_equal(got.numpy(), want)
