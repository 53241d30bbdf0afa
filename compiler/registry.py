"""The pass registry: an explicit table of built-in passes, plugins, and the targets'.

Built-in passes are imported lazily from ``PASSES`` (name -> ``module:Class``). Two
kinds of installed packages add passes:

* a standalone pass, under the entry-point group ``spikeforge.passes``
  (``name = "module:Class"``, a :class:`compiler.Pass` subclass whose ``name`` is
  ``name``);
* a target (built in, or a plugin under ``spikeforge.targets``) contributes its own
  passes through its ``passes`` mapping, so ``quantize-xylo`` is found as soon as the
  Xylo target is installed.

An installed pass or target that fails to load, or that takes a name already taken,
is reported once (``ir.plugins.PluginWarning``) and skipped. A test checks that
every key equals the pass's name. This module imports no pass until one is asked for.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from compiler.pass_base import Pass

__all__ = ["ENTRY_POINT_GROUP", "PASSES", "available_passes", "get_pass"]

ENTRY_POINT_GROUP = "spikeforge.passes"

PASSES: dict[str, str] = {
    "allocate-cores": "compiler.passes.allocate_cores:AllocateCoresPass",
    "ann-to-snn": "compiler.passes.ann_to_snn:AnnToSnnPass",
    "calibrate-chip": "compiler.passes.calibrate_chip:CalibrateChipPass",
    "calibrate-snn": "compiler.passes.calibrate_snn:CalibrateSnnPass",
    "canonicalize": "compiler.passes.canonicalize:CanonicalizePass",
    "dce": "compiler.passes.dce:DeadCodeEliminationPass",
    "expand-conv": "compiler.passes.expand_conv:ExpandConvPass",
    "fold-bn": "compiler.passes.fold_bn:FoldBatchNormPass",
    "fold-recurrent-bias": (
        "compiler.passes.fold_recurrent_bias:FoldRecurrentBiasPass"
    ),
    "infer-shapes": "compiler.passes.infer_shapes:InferShapesPass",
    "replicate": "compiler.passes.replicate:ReplicatePass",
    "retune": "compiler.passes.retune:RetunePass",
}


def _load(path: str) -> type[Pass]:
    module, _, attr = path.partition(":")
    cls: type[Pass] = getattr(importlib.import_module(module), attr)
    return cls


def _plugin_passes() -> dict[str, type[Pass]]:
    """The passes of the ``spikeforge.passes`` entry points that load."""
    eps = [
        ep
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
        if PASSES.get(ep.name) != ep.value  # not spikeforge's own declaration
    ]
    if not eps:
        return {}
    from compiler.pass_base import Pass
    from ir.plugins import report_broken

    values: dict[str, set[str]] = {}
    for ep in eps:
        values.setdefault(ep.name, set()).add(ep.value)
    found: dict[str, type[Pass]] = {}
    for ep in sorted(eps, key=lambda e: e.name):
        if ep.name in PASSES:
            report_broken(ep, f"pass '{ep.name}' is built in ({PASSES[ep.name]})")
            continue
        if len(values[ep.name]) > 1:
            others = ", ".join(sorted(values[ep.name]))
            report_broken(
                ep, f"pass '{ep.name}' is registered more than once ({others})"
            )
            continue
        try:
            cls = ep.load()
        except Exception as err:  # a plugin's import may raise anything
            report_broken(ep, f"cannot be loaded: {type(err).__name__}: {err}")
            continue
        if not (isinstance(cls, type) and issubclass(cls, Pass)):
            report_broken(ep, f"{ep.value} is not a compiler.Pass subclass")
        elif cls.name != ep.name:
            report_broken(ep, f"the pass calls itself '{cls.name}', not '{ep.name}'")
        else:
            found[ep.name] = cls
    return found


def _target_passes(taken: set[str]) -> dict[str, type[Pass]]:
    """The passes targets contribute; a plugin target's clash is reported, skipped."""
    from backends.base import TargetError, is_built_in, loaded_targets

    found: dict[str, type[Pass]] = {}
    for target_name, target in loaded_targets().items():
        for name, cls in target.passes.items():
            if name not in taken and found.get(name, cls) is cls:
                found[name] = cls
                continue
            problem = (
                f"target '{target_name}' registers pass '{name}', which already exists"
            )
            if is_built_in(target_name):
                raise TargetError(problem)
            from ir.plugins import report_broken

            for ep in metadata.entry_points(group="spikeforge.targets"):
                if ep.name == target_name:
                    report_broken(ep, problem)
    return found


def get_pass(name: str) -> type[Pass]:
    """The pass class registered as ``name``.

    Raises:
        KeyError: no such pass.
    """
    if name in PASSES:
        return _load(PASSES[name])
    plugins = _plugin_passes()
    if name in plugins:
        return plugins[name]
    return _target_passes(set(PASSES) | set(plugins))[name]


def available_passes() -> dict[str, type[Pass]]:
    """Every registered pass by name, sorted."""
    found = {name: _load(path) for name, path in PASSES.items()}
    found.update(_plugin_passes())
    found.update(_target_passes(set(found)))
    return dict(sorted(found.items()))
