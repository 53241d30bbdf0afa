"""The ``nn`` dialect: ANN layers, on feature shapes without batch or time.

Shapes follow PyTorch: dense layers act on the last dimension, convolutions and pooling
take ``(C, L)`` or ``(C, H, W)``. Every op is stateless: it is applied to all time steps
at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ir.errors import VerifyError
from ir.op import FloatTensor, Op, Params, Shape, register_op
from ir.ops.checks import check_broadcast, check_finite, check_no_nan

__all__ = [
    "Add",
    "Affine",
    "AvgPool2d",
    "BatchNorm",
    "Clip",
    "Conv1d",
    "Conv2d",
    "Flatten",
    "Linear",
    "MaxPool2d",
    "ReLU",
    "Scale",
    "SumPool2d",
]


def _pair(field: str, value: tuple[int, ...]) -> tuple[int, int]:
    if len(value) == 1:
        return (value[0], value[0])
    if len(value) != 2:
        raise VerifyError(f"{field} must have 1 or 2 entries, got {value}")
    return (value[0], value[1])


def _conv_out(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _last_dim(inputs: Mapping[str, Shape], want: int, what: str) -> Shape:
    shape = inputs["input"]
    if len(shape) == 0 or shape[-1] != want:
        raise VerifyError(f"input shape {shape} must end in {want} ({what})")
    return shape


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class Linear(Op):
    """Dense layer without bias on the last dimension.

    .. math:: y = W x

    IR: ``%fc = nn.linear(%x) {weight = tensor<f32[2,3]>[1, 0, 0, 0, 1, 0]}``
    """

    name = "nn.linear"

    weight: FloatTensor
    """Weights ``(out, in)``."""

    def verify_(self) -> None:
        if self.weight.ndim != 2:
            raise VerifyError(
                f"weight must be 2-D (out, in), got shape {self.weight.shape}"
            )
        check_finite("weight", self.weight)

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        shape = _last_dim(inputs, self.weight.shape[1], "weight's in features")
        return (*shape[:-1], self.weight.shape[0])

    def apply(self, p: Params, x: torch.Tensor) -> torch.Tensor:
        return x @ p["weight"].T


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class Affine(Op):
    """Dense layer with bias on the last dimension.

    .. math:: y = W x + b

    IR: ``%fc = nn.affine(%x) {weight = tensor<f32[1,2]>[1, 1], bias = tensor<f32[1]>[0.5]}``
    """

    name = "nn.affine"

    weight: FloatTensor
    """Weights ``(out, in)``."""
    bias: FloatTensor
    """Bias ``(out,)``."""

    def verify_(self) -> None:
        if self.weight.ndim != 2:
            raise VerifyError(
                f"weight must be 2-D (out, in), got shape {self.weight.shape}"
            )
        if self.bias.shape != (self.weight.shape[0],):
            raise VerifyError(
                f"bias shape {self.bias.shape} must be ({self.weight.shape[0]},)"
            )
        check_finite("weight", self.weight)
        check_finite("bias", self.bias)

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        shape = _last_dim(inputs, self.weight.shape[1], "weight's in features")
        return (*shape[:-1], self.weight.shape[0])

    def apply(self, p: Params, x: torch.Tensor) -> torch.Tensor:
        return x @ p["weight"].T + p["bias"]


def _verify_conv(op: Conv1d | Conv2d, rank: int) -> None:
    w = op.weight
    if w.ndim != rank + 2:
        raise VerifyError(f"weight must be {rank + 2}-D, got shape {w.shape}")
    if op.groups < 1 or w.shape[0] % op.groups:
        raise VerifyError(f"groups={op.groups} must divide out channels {w.shape[0]}")
    if op.bias is not None and op.bias.shape != (w.shape[0],):
        raise VerifyError(f"bias shape {op.bias.shape} must be ({w.shape[0]},)")
    check_finite("weight", w)
    check_finite("bias", op.bias)


def _conv_shape(op: Conv1d | Conv2d, shape: Shape, spatial: int) -> list[int]:
    if len(shape) != spatial + 1:
        raise VerifyError(
            f"input shape {shape} must be (C, {'L' if spatial == 1 else 'H, W'})"
        )
    cin = op.weight.shape[1] * op.groups
    if shape[0] != cin:
        raise VerifyError(f"input has {shape[0]} channels, weight expects {cin}")
    return list(shape[1:])


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class Conv1d(Op):
    """1-D convolution (PyTorch semantics) on ``(C_in, L)``.

    .. math:: y[c, l] = b[c] + \\sum_{k, j} W[c, k, j]\\, x[k, s l + d j - p]

    IR: ``%c = nn.conv1d(%x) {weight = tensor<f32[1,1,2]>[1, 1], bias = none, stride = 1,
    padding = 0, dilation = 1, groups = 1}``
    """

    name = "nn.conv1d"

    weight: FloatTensor
    """Weights ``(C_out, C_in / groups, K)``."""
    bias: FloatTensor | None = None
    """Bias ``(C_out,)`` or none."""
    stride: int = 1
    padding: int = 0
    """Zero padding on both ends."""
    dilation: int = 1
    groups: int = 1

    def verify_(self) -> None:
        _verify_conv(self, 1)
        if self.stride < 1 or self.dilation < 1 or self.padding < 0:
            raise VerifyError("stride and dilation must be >= 1 and padding >= 0")

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        (length,) = _conv_shape(self, inputs["input"], 1)
        k = self.weight.shape[2]
        out = _conv_out(length, k, self.stride, self.padding, self.dilation)
        if out < 1:
            raise VerifyError(f"kernel {k} does not fit input length {length}")
        return (self.weight.shape[0], out)

    def apply(self, p: Params, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(
            x,
            p["weight"],
            p["bias"],
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class Conv2d(Op):
    """2-D convolution (PyTorch semantics) on ``(C_in, H, W)``.

    .. math:: y[c, i, j] = b[c] + \\sum_{k, u, v} W[c, k, u, v]\\,
        x[k, s_0 i + d_0 u - p_0, s_1 j + d_1 v - p_1]

    IR: ``%c = nn.conv2d(%x) {weight = tensor<f32[1,1,1,1]>[2], bias = none,
    stride = (1, 1), padding = (0, 0), dilation = (1, 1), groups = 1}``
    """

    name = "nn.conv2d"

    weight: FloatTensor
    """Weights ``(C_out, C_in / groups, K_h, K_w)``."""
    bias: FloatTensor | None = None
    """Bias ``(C_out,)`` or none."""
    stride: tuple[int, ...] = (1, 1)
    padding: tuple[int, ...] = (0, 0)
    """Zero padding (rows, columns) on both sides."""
    dilation: tuple[int, ...] = (1, 1)
    groups: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        for field in ("stride", "padding", "dilation"):
            object.__setattr__(self, field, _pair(field, getattr(self, field)))

    def verify_(self) -> None:
        _verify_conv(self, 2)
        if min(self.stride + self.dilation) < 1 or min(self.padding) < 0:
            raise VerifyError("stride and dilation must be >= 1 and padding >= 0")

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        h, w = _conv_shape(self, inputs["input"], 2)
        kh, kw = self.weight.shape[2:]
        oh = _conv_out(h, kh, self.stride[0], self.padding[0], self.dilation[0])
        ow = _conv_out(w, kw, self.stride[1], self.padding[1], self.dilation[1])
        if oh < 1 or ow < 1:
            raise VerifyError(f"kernel {(kh, kw)} does not fit input {(h, w)}")
        return (self.weight.shape[0], oh, ow)

    def apply(self, p: Params, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(
            x,
            p["weight"],
            p["bias"],
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )


@dataclass(frozen=True, kw_only=True, eq=False)
class _Pool2d(Op):
    kernel_size: tuple[int, ...]
    """Window (rows, columns)."""
    stride: tuple[int, ...] | None = None
    """Step (rows, columns); none means the kernel size."""
    padding: tuple[int, ...] = (0, 0)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "kernel_size", _pair("kernel_size", self.kernel_size))
        stride = self.kernel_size if self.stride is None else self.stride
        object.__setattr__(self, "stride", _pair("stride", stride))
        object.__setattr__(self, "padding", _pair("padding", self.padding))

    @property
    def strides(self) -> tuple[int, int]:
        assert self.stride is not None  # set in __post_init__
        return (self.stride[0], self.stride[1])

    def verify_(self) -> None:
        if min(self.kernel_size + self.strides) < 1 or min(self.padding) < 0:
            raise VerifyError("kernel_size and stride must be >= 1 and padding >= 0")
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size, strict=True)):
            raise VerifyError(
                f"padding {self.padding} must be at most half of kernel {self.kernel_size}"
            )

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        shape = inputs["input"]
        if len(shape) != 3:
            raise VerifyError(f"input shape {shape} must be (C, H, W)")
        out = [
            _conv_out(n, k, s, p, 1)
            for n, k, s, p in zip(
                shape[1:], self.kernel_size, self.strides, self.padding, strict=True
            )
        ]
        if min(out) < 1:
            raise VerifyError(
                f"window {self.kernel_size} does not fit input {shape[1:]}"
            )
        return (shape[0], *out)

    def _window_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Mean over each window, the zero padding counted."""
        return F.avg_pool2d(
            x, self.kernel_size, self.strides, self.padding, count_include_pad=True
        )


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class SumPool2d(_Pool2d):
    """Sum over each window (zero padding).

    .. math:: y[c, i, j] = \\sum_{u, v} x[c, s_0 i + u - p_0, s_1 j + v - p_1]

    IR: ``%p = nn.sumpool2d(%x) {kernel_size = (2, 2), stride = (2, 2), padding = (0, 0)}``
    """

    name = "nn.sumpool2d"

    def apply(self, p: Params, x: torch.Tensor) -> torch.Tensor:
        return self._window_mean(x) * (self.kernel_size[0] * self.kernel_size[1])


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class AvgPool2d(_Pool2d):
    """Mean over each window, padding counted (NIR: sum pooling scaled by 1/area).

    .. math:: y = \\frac{1}{k_0 k_1} \\mathrm{sumpool}(x)

    IR: ``%p = nn.avgpool2d(%x) {kernel_size = (2, 2), stride = (2, 2), padding = (0, 0)}``
    """

    name = "nn.avgpool2d"

    def apply(self, p: Params, x: torch.Tensor) -> torch.Tensor:
        return self._window_mean(x)


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class MaxPool2d(_Pool2d):
    """Maximum over each window (padding is -inf, as in PyTorch).

    .. math:: y[c, i, j] = \\max_{u, v} x[c, s_0 i + u - p_0, s_1 j + v - p_1]

    IR: ``%p = nn.maxpool2d(%x) {kernel_size = (2, 2), stride = (2, 2), padding = (0, 0)}``
    """

    name = "nn.maxpool2d"

    def apply(self, p: Params, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, self.kernel_size, self.strides, self.padding)


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class Flatten(Op):
    """Merge feature dimensions ``start_dim..end_dim`` (batch and time excluded).

    IR: ``%f = nn.flatten(%x) {start_dim = 0, end_dim = -1}``
    """

    name = "nn.flatten"

    start_dim: int = 0
    end_dim: int = -1

    def dims(self, rank: int) -> tuple[int, int]:
        """The first and last merged feature dims (non-negative) for a given rank."""
        start = self.start_dim + rank if self.start_dim < 0 else self.start_dim
        end = self.end_dim + rank if self.end_dim < 0 else self.end_dim
        if not 0 <= start <= end < rank:
            raise VerifyError(
                f"dims {self.start_dim}..{self.end_dim} are out of range for rank {rank}"
            )
        return start, end

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        shape = inputs["input"]
        start, end = self.dims(len(shape))
        return (*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :])

    def apply(self, p: Params, x: torch.Tensor) -> torch.Tensor:
        start, end = self.dims(x.ndim - 1)
        return x.flatten(start + 1, end + 1)


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class ReLU(Op):
    """Rectified linear unit.

    .. math:: y = \\max(x, 0)

    IR: ``%r = nn.relu(%fc) {}``
    """

    name = "nn.relu"

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return inputs["input"]

    def apply(self, p: Params, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class BatchNorm(Op):
    """Batch normalization in inference mode over the channel (first feature) dim.

    Covers PyTorch's BatchNorm1d (``(C,)`` or ``(C, L)``) and BatchNorm2d (``(C, H, W)``).

    .. math:: y = \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}}\\, \\gamma + \\beta

    IR: ``%bn = nn.batchnorm(%c) {mean = ..., var = ..., weight = ..., bias = ...,
    eps = 1e-05}``
    """

    name = "nn.batchnorm"

    mean: FloatTensor
    """Running mean ``(C,)``."""
    var: FloatTensor
    """Running variance ``(C,)``."""
    weight: FloatTensor
    """Scale gamma ``(C,)``."""
    bias: FloatTensor
    """Shift beta ``(C,)``."""
    eps: float = 1e-5

    def verify_(self) -> None:
        for field in ("mean", "var", "weight", "bias"):
            arr = getattr(self, field)
            if arr.shape != self.mean.shape or arr.ndim != 1:
                raise VerifyError(f"{field} has shape {arr.shape}; all must be (C,)")
            check_finite(field, arr)
        if np.any(self.var < 0) or self.eps < 0:
            raise VerifyError("var and eps must be >= 0")

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        shape = inputs["input"]
        if not shape or shape[0] != self.mean.shape[0]:
            raise VerifyError(
                f"input {shape} must have {self.mean.shape[0]} channels first"
            )
        return shape

    def apply(self, p: Params, x: torch.Tensor) -> torch.Tensor:
        view = (-1,) + (1,) * (x.ndim - 2)
        inv = p["weight"] / torch.sqrt(p["var"] + self.eps)
        return (x - p["mean"].view(view)) * inv.view(view) + p["bias"].view(view)


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class Add(Op):
    """Sum of every edge into it (residual connections, fan-in).

    Every op sums its fan-in; ``nn.add`` makes the sum a node of its own, as a
    residual ``x + f(x)`` reads in the source model.

    IR: ``%sum = nn.add(%x, %branch) {}``
    """

    name = "nn.add"

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return inputs["input"]

    def apply(self, p: Params, x: torch.Tensor) -> torch.Tensor:
        return x


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class Scale(Op):
    """Elementwise scaling, broadcast over the feature shape (NumPy rules).

    .. math:: y = x \\odot s

    IR: ``%s = nn.scale(%x) {scale = tensor<f32[]>[0.25]}``
    """

    name = "nn.scale"

    scale: FloatTensor

    def verify_(self) -> None:
        check_finite("scale", self.scale)

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        check_broadcast("scale", self.scale, inputs["input"], what="input")
        return inputs["input"]

    def apply(self, p: Params, x: torch.Tensor) -> torch.Tensor:
        return x * p["scale"]


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class Clip(Op):
    """Clipped, optionally quantized activation (QCFS, Bu et al. ICLR 2022).

    With ``levels = 0`` it is a ReLU clipped at ``threshold``; with ``levels = L > 0``
    it is the quantization-clip-floor-shift activation. The floor has a
    straight-through gradient.

    .. math::
        y = \\frac{\\lambda}{L}\\,\\mathrm{clip}\\left(\\left\\lfloor
            \\frac{x L}{\\lambda} + \\varphi \\right\\rfloor, 0, L\\right)
        \\quad\\text{or}\\quad y = \\mathrm{clip}(x, 0, \\lambda)\\ (L = 0)

    IR: ``%q = nn.clip(%fc) {threshold = tensor<f32[]>[1.5], levels = 8, shift = 0.5}``
    """

    name = "nn.clip"

    threshold: FloatTensor
    """Clip level lambda, broadcast over the features."""
    levels: int = 0
    """Quantization steps L; 0 means no quantization."""
    shift: float = 0.5
    """Shift phi added before the floor (QCFS uses 1/2)."""

    def verify_(self) -> None:
        check_no_nan("threshold", self.threshold)
        if np.any(self.threshold <= 0):
            raise VerifyError("threshold must be > 0")
        if self.levels < 0:
            raise VerifyError(f"levels must be >= 0, got {self.levels}")

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        check_broadcast("threshold", self.threshold, inputs["input"], what="input")
        return inputs["input"]

    def apply(self, p: Params, x: torch.Tensor) -> torch.Tensor:
        lam = p["threshold"]
        if self.levels == 0:
            return torch.minimum(torch.relu(x), lam)
        z = x * self.levels / lam + self.shift
        z = z + (torch.floor(z) - z).detach()
        return torch.clamp(z, 0, self.levels) * lam / self.levels
