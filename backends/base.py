"""The ``Target`` protocol and the target registry.

A target is an object (usually a frozen dataclass instance) that declares its
hardware as data (``limits``), names the pipeline that prepares a graph for it
(``default_pipeline``), contributes its own passes (``passes``), lowers a graph to a
hardware configuration and builds an emulator that runs a configuration.

Built-in targets are listed in ``TARGETS`` (name -> ``module:attribute``, imported
lazily). Third-party targets are discovered through the entry-point group
``spikeforge.targets``: a package declares::

    [project.entry-points."spikeforge.targets"]
    mychip = "mychip.target:TARGET"

and nothing in this repository changes. A name registered twice is an error.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from compiler.pass_base import Pass
    from ir import Graph

__all__ = [
    "ENTRY_POINT_GROUP",
    "TARGETS",
    "Emulator",
    "HardwareConfig",
    "Target",
    "TargetError",
    "available_targets",
    "get_target",
    "graph_emulator",
    "is_built_in",
    "loaded_targets",
]

ENTRY_POINT_GROUP = "spikeforge.targets"

TARGETS: dict[str, str] = {
    "reference": "backends.reference:TARGET",
    "dynapse2": "backends.dynapse.target:DYNAPSE2",
    "xylo-audio2": "backends.xylo.target:XYLO_AUDIO2",
    "xylo-audio3": "backends.xylo.target:XYLO_AUDIO3",
    "xylo-imu": "backends.xylo.target:XYLO_IMU",
    "xylo-v1": "backends.xylo.target:XYLO_V1",
}


class TargetError(Exception):
    """An unknown target, a broken plugin, or a name registered twice."""


@runtime_checkable
class HardwareConfig(Protocol):
    """A target's configuration artifact."""

    target: str

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the configuration (atomically) to ``path`` (a folder).

        The folder's ``config.json`` names the target under ``"target"``, which is how
        ``spikeforge run FOLDER`` finds the target that reads it back.
        """
        ...


@runtime_checkable
class Emulator(Protocol):
    """Runs a configuration."""

    def run(self, inputs: Any, /) -> Any:
        """Run on ``inputs`` ``(batch, time, channels)``; return the outputs."""
        ...


@runtime_checkable
class Target(Protocol):
    """A compilation target.

    Attributes:
        name: registry key (kebab-case), e.g. ``xylo-audio2``.
        description: one line for ``spikeforge targets``.
        limits: hardware limits as data (``max_hidden_neurons``, ``weight_bits``...).
        default_pipeline: the pipeline string ``compile`` runs before ``lower``.
        passes: the target's own passes by name (may be empty).
    """

    name: str
    description: str
    limits: Mapping[str, int | float]
    default_pipeline: str
    passes: Mapping[str, type[Pass]]

    def lower(self, graph: Graph) -> HardwareConfig:
        """Turn a graph prepared by ``default_pipeline`` into a configuration."""
        ...

    def load_config(self, path: str | os.PathLike[str]) -> HardwareConfig:
        """Read a configuration saved by ``HardwareConfig.save`` and validate it."""
        ...

    def emulator(self, config: HardwareConfig, *, seed: int = 0) -> Emulator:
        """The chip emulator running ``config`` on the chip's own I/O (every input
        and output channel, the chip's timing); ``seed`` picks the chip instance."""
        ...

    # Optional: ``report(config) -> Mapping[str, object]``, the resources a
    # configuration uses against each limit; ``compiler.compile`` adds it to its report.
    #
    # Optional: ``graph_emulator(config, *, chip=None) -> Emulator`` whose
    # ``run(inputs, *, steps=None, align=True)`` takes the compiled graph's inputs and
    # returns its outputs, as ``ir.interpret`` does (``backends.graph_io``);
    # ``chip=None`` is the ideal chip, ``chip=k`` the sampled chip ``k``. Builds are
    # run through it (``spikeforge run build/``, ``CompileResult.emulator``), and
    # ``compiler.compile`` measures its fidelity to the float graph with it.


def graph_emulator(
    target: Target, config: HardwareConfig, *, chip: int | None = None
) -> Emulator:
    """``target.graph_emulator(config, chip=chip)``; a target without one (a plugin
    written before it existed) gets its ``emulator(config, seed=chip or 0)``, whose
    I/O is whatever that target defines."""
    method = getattr(target, "graph_emulator", None)
    if method is None:
        return target.emulator(config, seed=0 if chip is None else chip)
    emulator: Emulator = method(config, chip=chip)
    return emulator


def _table() -> dict[str, tuple[str, str]]:
    """name -> (import path, where it was declared).

    An installed target that takes a built-in name, or a name another installed
    package also takes, is reported (``ir.plugins.PluginWarning``) and left out.
    """
    table = {name: (path, "built in") for name, path in TARGETS.items()}
    found: dict[str, list[metadata.EntryPoint]] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if TARGETS.get(ep.name) == ep.value:
            continue  # spikeforge's own declaration of a built-in target
        found.setdefault(ep.name, []).append(ep)
    if not found:
        return table
    from ir.plugins import origin, report_broken

    for name, eps in sorted(found.items()):
        values = sorted({ep.value for ep in eps})
        if name in TARGETS:
            for ep in eps:
                report_broken(ep, f"target '{name}' is built in ({TARGETS[name]})")
        elif len(values) > 1:
            for ep in eps:
                report_broken(
                    ep,
                    f"target '{name}' is registered more than once "
                    f"({', '.join(values)}); none of them is used",
                )
        else:
            table[name] = (eps[0].value, origin(eps[0]))
    return table


def is_built_in(name: str) -> bool:
    """Whether ``name`` is one of spikeforge's own targets."""
    return name in TARGETS


def loaded_targets() -> dict[str, Target]:
    """Every target that loads, by name, sorted.

    An installed (plugin) target that fails to load is reported once
    (``ir.plugins.PluginWarning``) and left out; a built-in one raises.
    """
    table = _table()
    targets: dict[str, Target] = {}
    for name in sorted(table):
        if name in TARGETS:
            targets[name] = get_target(name)
            continue
        target, problem = _resolve(name, table[name][0])
        if target is not None:
            targets[name] = target
            continue
        from ir.plugins import report_broken

        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == name:
                report_broken(ep, f"target '{name}' {problem}")
    return targets


def available_targets() -> list[str]:
    """Names of every built-in and installed target, sorted."""
    return sorted(_table())


def get_target(name: str) -> Target:
    """The target registered as ``name``.

    Raises:
        TargetError: unknown name (the message lists the known ones), an import
            failure, or an object whose ``name`` differs from its registry key.
    """
    table = _table()
    if name not in table:
        raise TargetError(
            f"unknown target '{name}'; available targets: {', '.join(sorted(table))}"
        )
    path, where = table[name]
    target, problem = _resolve(name, path)
    if target is None:
        raise TargetError(f"target '{name}' ({where}, {path}) {problem}")
    return target


def _resolve(name: str, path: str) -> tuple[Target | None, str]:
    """The target at ``path`` (``module:attribute``), or ``None`` and what is wrong."""
    module, _, attr = path.partition(":")
    try:
        obj: Any = getattr(importlib.import_module(module), attr)
        target = obj() if isinstance(obj, type) else obj
    except Exception as err:  # a plugin's import may raise anything
        return None, f"cannot be loaded: {type(err).__name__}: {err}"
    if getattr(target, "name", None) != name:
        return None, f"calls itself '{getattr(target, 'name', None)}', not '{name}'"
    if not isinstance(target, Target):
        return None, "does not implement the Target protocol"
    return target, ""
