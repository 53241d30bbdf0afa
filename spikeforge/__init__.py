"""spikeforge: one name to import for the public API.

A thin facade over the four packages (``ir``, ``frontends``, ``compiler``,
``backends``); it owns no logic. Names are imported on first use (PEP 562), so
``import spikeforge`` is cheap and pulls in PyTorch only when a name that needs it is
used::

    import spikeforge

    graph = spikeforge.from_module(model, example_input)
    result = spikeforge.compile(graph, target="xylo-audio2", calibration=x)
    spikeforge.save(result.graph, "model.sfir")

Public names (``__all__``), by group:

* building: ``from_module``, ``from_nir``, ``compile``, ``run_pipeline``,
  ``get_target``;
* graphs: ``load``, ``save``, ``interpret``;
* ``__version__``; the submodule ``spikeforge.plot`` (rasters, traces).

Everything else is in the four packages. ``python -m spikeforge`` is the
``spikeforge`` command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ir.lazy import lazy_attributes

if TYPE_CHECKING:
    from backends import get_target
    from compiler import compile, run_pipeline
    from frontends.nir import from_nir
    from frontends.pytorch import from_module
    from ir import interpret, load, save

__all__ = [
    "__version__",
    "compile",
    "run_pipeline",
    "load",
    "save",
    "interpret",
    "get_target",
    "from_module",
    "from_nir",
]

#: public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "compile": "compiler.api",
    "run_pipeline": "compiler.api",
    "load": "ir.serialize",
    "save": "ir.serialize",
    "interpret": "ir.interpreter",
    "get_target": "backends.base",
    "from_module": "frontends.pytorch",
    "from_nir": "frontends.nir",
}


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("spikeforge")
    except metadata.PackageNotFoundError:
        return "0+unknown"


_exported, __dir__ = lazy_attributes(globals(), _EXPORTS, submodules=("plot",))


def __getattr__(name: str) -> Any:
    if name != "__version__":
        return _exported(name)  # the submodule too: spikeforge.plot.raster(...)
    globals()[name] = version = _version()  # the next access is a plain lookup
    return version
