"""The exporter-convention registry the NIR reader consults."""

from __future__ import annotations

import numpy as np

from frontends.nir import CONVENTIONS
from frontends.nir.common import Neuron
from frontends.nir.conventions import detect


class _LIF:
    """A stand-in NIR LIF node (the fields detection reads)."""

    def __init__(self, tau: float, r: float) -> None:
        self.tau = np.array([tau], np.float32)
        self.r = np.array([r], np.float32)
        self.v_leak = np.zeros(1, np.float32)


def test_every_key_is_its_conventions_name() -> None:
    assert list(CONVENTIONS) == ["exact", "snntorch", "rockpool", "sinabs", "norse"]
    for key, conv in CONVENTIONS.items():
        assert conv.name == key


def test_detection_consults_each_conventions_hook() -> None:
    # snnTorch writes r = tau / 1e-4 for its fixed step.
    snntorch = [
        Neuron("a", "LIF", _LIF(2e-3, 20.0)),
        Neuron("b", "LIF", _LIF(5e-3, 50.0)),
    ]
    assert detect(snntorch, None) == ("snntorch", 1e-4)
    # Rockpool writes r = tau exp(-dt / tau) / dt; two time constants pin dt.
    dt = 1e-3
    rockpool = [
        Neuron(str(tau), "LIF", _LIF(tau, tau * np.exp(-dt / tau) / dt))
        for tau in (0.02, 0.05)
    ]
    name, found = detect(rockpool, None)
    assert name == "rockpool"
    assert found == dt
