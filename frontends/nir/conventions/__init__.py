"""Exporter conventions: how each framework discretised NIR's ODEs before writing
them, one module per framework, and the table the reader consults.

Adding an exporter is adding a file: write ``conventions/<name>.py`` defining
``CONVENTION = Convention(name, leak, synapse, integrate, reset=..., ...)`` (see
:class:`~frontends.nir.conventions.base.Convention`: the parameter mappings, the
framework's defaults and the optional ``recover_dt``, ``detect`` and ``warn_losses``
hooks), with its equations and sources in the module docstring, a fixture in
``tests/fixtures/`` checked against the framework's own simulation, and one line in
:data:`CONVENTIONS` below (its order is the ``convention=`` choices' order in messages
and the order ``detect`` hooks are tried in).
"""

from __future__ import annotations

from frontends.errors import FrontendError
from frontends.nir.common import Neuron, show
from frontends.nir.conventions import exact, norse, rockpool, sinabs, snntorch
from frontends.nir.conventions.base import Convention
from frontends.nir.conventions.norse import NORSE_TAU_MODES

__all__ = ["CONVENTIONS", "NORSE_TAU_MODES", "Convention", "detect"]

CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        exact.CONVENTION,
        snntorch.CONVENTION,
        rockpool.CONVENTION,
        sinabs.CONVENTION,
        norse.CONVENTION,
    )
}
"""The exporters spikeforge knows, by ``convention=`` name."""


def detect(neurons: list[Neuron], dt: float | None) -> tuple[str, float | None]:
    """The convention the numbers make certain, else a FrontendError saying why not."""
    for conv in CONVENTIONS.values():
        found = None if conv.detect is None else conv.detect(neurons, dt)
        if found is not None:
            return conv.name, found
    first = neurons[0]
    if first.kind in ("I", "IF"):
        what = f"r={show(first.node.r)}"
    else:
        what = f"tau={show(first.tau())}, r={show(first.node.r)}"
    raise FrontendError(
        f"node '{first.name}' ({first.kind}): {what} do not say how the exporter "
        "discretized time (NIR stores no time step); pass convention= (one of "
        f"{', '.join(CONVENTIONS)}), with dt= for 'exact', and reset= if the "
        "exporter's default reset is not the one used"
    )
