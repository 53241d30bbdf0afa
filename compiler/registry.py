"""The pass registry: an explicit table of built-in passes plus the targets' passes.

Built-in passes are imported lazily from ``PASSES`` (name -> ``module:Class``). A target
(built in or a plugin under the entry-point group ``spikeforge.targets``) contributes
its own passes through its ``passes`` mapping, so ``quantize-xylo`` is found as soon
as the Xylo target is installed. A test checks that every key equals the pass's name.
"""

from __future__ import annotations

import importlib

from compiler.pass_base import Pass

__all__ = ["PASSES", "available_passes", "get_pass"]

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


def _target_passes() -> dict[str, type[Pass]]:
    from backends import available_targets, get_target

    found: dict[str, type[Pass]] = {}
    for target_name in available_targets():
        for name, cls in get_target(target_name).passes.items():
            if name in PASSES or (name in found and found[name] is not cls):
                raise ValueError(
                    f"target '{target_name}' registers pass '{name}', "
                    "which already exists"
                )
            found[name] = cls
    return found


def get_pass(name: str) -> type[Pass]:
    """The pass class registered as ``name``.

    Raises:
        KeyError: no such pass.
    """
    if name in PASSES:
        return _load(PASSES[name])
    return _target_passes()[name]


def available_passes() -> dict[str, type[Pass]]:
    """Every registered pass by name, sorted."""
    found = {name: _load(path) for name, path in PASSES.items()}
    found.update(_target_passes())
    return dict(sorted(found.items()))
