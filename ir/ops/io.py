"""The ``io`` dialect: where data enters and leaves a graph."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from ir.errors import VerifyError
from ir.op import Op, Params, Shape, register_op

__all__ = ["Input", "Output"]


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class Input(Op):
    """A graph input: a tensor ``(batch, time, *shape)`` supplied by the caller.

    IR: ``%x = io.input() {shape = (64)}``
    """

    name = "io.input"
    input_ports = ()

    shape: tuple[int, ...]
    """Feature shape (no batch or time dimension)."""

    def verify_(self) -> None:
        if any(d <= 0 for d in self.shape):
            raise VerifyError(f"shape {self.shape} has a dimension <= 0")

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return self.shape

    def apply(self, p: Params, x: torch.Tensor) -> torch.Tensor:
        return x


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class Output(Op):
    """A graph output: the sum of its inputs, returned to the caller.

    IR: ``%y = io.output(%fc2) {}``
    """

    name = "io.output"
    output_ports = ()

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return inputs["input"]

    def apply(self, p: Params, x: torch.Tensor) -> torch.Tensor:
        return x
