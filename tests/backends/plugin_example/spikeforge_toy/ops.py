"""The ``toy`` dialect: one op, registered when the dialect is first needed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from ir import Op, Params, register_op


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class Gain(Op):
    """Multiply by a constant.

    IR: ``%g = toy.gain(%x) {factor = 2.0}``
    """

    name = "toy.gain"

    factor: float

    def infer_shape(self, inputs: Mapping[str, tuple[int, ...]]) -> tuple[int, ...]:
        return inputs["input"]

    def apply(self, p: Params, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor
