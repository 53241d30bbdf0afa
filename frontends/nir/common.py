"""What every part of the NIR frontend shares: the warnings it emits, the metadata
key prefix of spikeforge's own files, the node kinds it knows, the flattened graph and
small value helpers. Depends on nothing else in the package."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from frontends.errors import FrontendError

__all__ = [
    "META_PREFIX",
    "NEURONS",
    "PORTS",
    "REL_TOL",
    "SPIKING",
    "Array",
    "ConventionWarning",
    "Flat",
    "NIRImportWarning",
    "Neuron",
    "as_str",
    "f64",
    "nir_module",
    "node_meta",
    "show",
]

Array = np.ndarray

META_PREFIX = "spikeforge_"
"""Prefix of the metadata keys ``to_nir`` writes for spikeforge's own re-import."""
REL_TOL = 1e-4
"""Relative tolerance when recognizing an exporter's numbers (float32 round-off)."""

NEURONS = ("I", "IF", "LI", "LIF", "CubaLI", "CubaLIF")
SPIKING = ("IF", "LIF", "CubaLIF")
PORTS = ("Input", "Output")


class NIRImportWarning(UserWarning):
    """An import that goes through but may differ from the exporter's network: an
    exporter quirk tolerated, or a time constant that collapsed to no memory."""


class ConventionWarning(UserWarning):
    """An import assumed what the file does not record (a reset variant, a floor)."""


@dataclass
class Neuron:
    """A NIR neuron node being imported, with its flat name."""

    name: str
    kind: str
    node: Any

    def tau(self) -> Array:
        return f64(getattr(self.node, "tau", getattr(self.node, "tau_mem", np.nan)))


@dataclass
class Flat:
    """A NIR graph with sub-graphs flattened: nodes by dotted name, plain edges."""

    nodes: dict[str, Any] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    passthrough: set[str] = field(default_factory=set)


def nir_module() -> ModuleType:
    """The ``nir`` package, imported only when a NIR graph is read or written."""
    try:
        import nir
    except ImportError as err:
        raise FrontendError(
            "the NIR frontend needs the 'nir' package: pip install spikeforge[nir]"
        ) from err
    return nir


def f64(x: Any) -> Array:
    return np.asarray(x, dtype=np.float64)


def node_meta(node: Any) -> dict[str, Any]:
    """A NIR node's (or graph's) metadata as a plain dict (empty when it has none)."""
    meta = getattr(node, "metadata", None)
    return dict(meta) if isinstance(meta, Mapping) else {}


def as_str(value: Any) -> str | None:
    """A metadata value as a string (HDF5 gives bytes or 0-d arrays), else ``None``."""
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return as_str(value.item())
    return value if isinstance(value, str) else None


def show(x: Any) -> str:
    """A parameter for a message: its first value, ``...`` when there are more."""
    flat = np.ravel(f64(x))
    return f"{flat[0]:.6g}" + (" ..." if flat.size > 1 else "")
