"""Plugins: what spikeforge finds through entry points, and what it does when one breaks.

Three entry-point groups extend spikeforge without changing it:

* ``spikeforge.dialects``: ``name = "module"``, a module that registers ops;
* ``spikeforge.targets``: ``name = "module:TARGET"``, a ``backends.Target``;
* ``spikeforge.passes``: ``name = "module:Class"``, a ``compiler.Pass`` subclass.

A plugin that fails to load (its import raises, the object is not what the group
holds, its name clashes with another) is reported once per process as a
:class:`PluginWarning` naming the entry point and its package, and skipped: one broken
package must not break spikeforge for everything else installed beside it.
"""

from __future__ import annotations

import warnings
from importlib import metadata

__all__ = ["PluginWarning", "entry_points", "origin", "report_broken"]

_REPORTED: set[tuple[str, str, str]] = set()


class PluginWarning(UserWarning):
    """An installed plugin could not be loaded and was skipped."""


def entry_points(group: str) -> list[metadata.EntryPoint]:
    """The entry points of ``group`` on ``sys.path``, sorted by name."""
    return sorted(metadata.entry_points(group=group), key=lambda e: e.name)


def origin(ep: metadata.EntryPoint) -> str:
    """Where an entry point comes from, for messages: its group, name and package."""
    dist = getattr(ep, "dist", None)
    package = f"package {dist.name} {dist.version}" if dist else "an installed package"
    return f"entry point '{ep.name} = {ep.value}' ({ep.group}) of {package}"


def report_broken(ep: metadata.EntryPoint, problem: str) -> None:
    """Warn (once per process and entry point) that ``ep`` is skipped, and why."""
    key = (ep.group, ep.name, ep.value)
    if key in _REPORTED:
        return
    _REPORTED.add(key)
    warnings.warn(
        f"plugin skipped: {origin(ep)}: {problem}", PluginWarning, stacklevel=3
    )
