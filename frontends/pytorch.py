"""PyTorch to ``ir.Graph`` and back, through ``torch.fx``.

:func:`from_module` traces a model symbolically (so residual adds, branches and
functional calls work, not only ``nn.Sequential``), runs it once on the example input
to learn every tensor's shape (``ShapeProp``), and emits one IR node per supported layer
or call. Node names are the modules' qualified paths (``layer3.1.conv2``) and the fx
names of calls (``add``, ``flatten``); the input is named after ``forward``'s argument;
outputs are ``output`` (or ``output_0``, ``output_1``, ... for a tuple).

:func:`to_module` goes the other way for ANN graphs: it builds real torch layers from
the IR parameters, so a converted graph can be compared with the original model.

Supported modules (``SUPPORTED_MODULES``): Linear, Conv1d, Conv2d, BatchNorm1d,
BatchNorm2d, ReLU, ReLU6, AvgPool2d, MaxPool2d, AdaptiveAvgPool2d (divisible sizes),
Flatten, and Dropout / Identity, which vanish. Supported calls (``SUPPORTED_CALLS``):
residual adds, multiplication and division by a constant, ``relu``, ``flatten``,
``view`` / ``reshape`` that flatten, functional dropout in eval mode, and the shape
queries (``size``, ``shape``, ``dim``) that feed a reshape.
"""

from __future__ import annotations

import math
import numbers
import operator
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.fx.node import map_aggregate
from torch.fx.passes.shape_prop import TensorMetadata, _extract_tensor_metadata

import ir
from frontends.errors import FrontendError
from ir.graph import natural_key
from ir.ops import io
from ir.ops import nn as irnn

__all__ = [
    "SUPPORTED_CALLS",
    "SUPPORTED_MODULES",
    "IRModule",
    "from_module",
    "to_module",
]

Shape = tuple[int, ...]


# -- from_module ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Site:
    """Where a layer or call sits in the model, and the shapes it sees (batch first).

    Attributes:
        where: the module's qualified path, or the call and its enclosing module.
        in_shape: shape of the first tensor argument.
        out_shape: shape of the result.
        dtype: NumPy dtype of the result (op parameters are made in it).
    """

    where: str
    in_shape: Shape
    out_shape: Shape
    dtype: np.dtype[Any]


def _array(t: torch.Tensor) -> np.ndarray:
    """Copy a parameter exactly: same dtype, same bits."""
    return np.array(t.detach().cpu().numpy(), copy=True)


def _np_dtype(dtype: torch.dtype) -> np.dtype[Any]:
    return torch.empty(0, dtype=dtype).numpy().dtype


def _type_name(obj: object) -> str:
    cls = type(obj)
    if getattr(nn, cls.__name__, None) is cls:
        return f"torch.nn.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _ints(value: int | Sequence[int], rank: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * rank
    return tuple(int(v) for v in value)


def _check_floor_mode(site: _Site, what: str, out_hw: Shape) -> None:
    # NOTE: ceil_mode only changes the result when it adds a window; when the traced
    # output has the floor-mode size, the windows (and divisors) are the same.
    if tuple(site.out_shape[-2:]) != out_hw:
        raise FrontendError(
            f"{site.where} ({what}): ceil_mode=True adds a partial window here "
            f"(output {site.out_shape[-2:]} instead of {out_hw}); the IR pools in "
            "floor mode only"
        )


def _pool_geometry(
    m: nn.AvgPool2d | nn.MaxPool2d, site: _Site, what: str
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    kernel = _ints(m.kernel_size, 2)
    stride = _ints(m.stride if m.stride is not None else m.kernel_size, 2)
    padding = _ints(m.padding, 2)
    if m.ceil_mode:
        out_hw = tuple(
            (n + 2 * p - k) // s + 1
            for n, k, s, p in zip(
                site.in_shape[-2:], kernel, stride, padding, strict=True
            )
        )
        _check_floor_mode(site, what, out_hw)
    return kernel, stride, padding


def _linear(m: nn.Linear, site: _Site) -> ir.Op:
    bias: torch.Tensor | None = m.bias
    if bias is None:
        return irnn.Linear(weight=_array(m.weight))
    return irnn.Affine(weight=_array(m.weight), bias=_array(bias))


def _conv_padding(m: nn.Conv1d | nn.Conv2d, site: _Site, rank: int) -> tuple[int, ...]:
    what = type(m).__name__
    if m.padding_mode != "zeros":
        raise FrontendError(
            f"{site.where} ({what}) uses padding_mode={m.padding_mode!r}; only 'zeros' "
            "padding is supported"
        )
    if m.padding == "valid":
        return (0,) * rank
    if m.padding == "same":
        pads = []
        for k, d in zip(
            _ints(m.kernel_size, rank), _ints(m.dilation, rank), strict=True
        ):
            total = d * (k - 1)
            if total % 2:
                raise FrontendError(
                    f"{site.where} ({what}): padding='same' with kernel {k} and "
                    f"dilation {d} pads unevenly ({total} in all); the IR pads both "
                    "sides equally"
                )
            pads.append(total // 2)
        return tuple(pads)
    return _ints(m.padding, rank)  # type: ignore[arg-type]


def _conv1d(m: nn.Conv1d, site: _Site) -> ir.Op:
    return irnn.Conv1d(
        weight=_array(m.weight),
        bias=None if m.bias is None else _array(m.bias),
        stride=m.stride[0],
        padding=_conv_padding(m, site, 1)[0],
        dilation=m.dilation[0],
        groups=m.groups,
    )


def _conv2d(m: nn.Conv2d, site: _Site) -> ir.Op:
    return irnn.Conv2d(
        weight=_array(m.weight),
        bias=None if m.bias is None else _array(m.bias),
        stride=_ints(m.stride, 2),
        padding=_conv_padding(m, site, 2),
        dilation=_ints(m.dilation, 2),
        groups=m.groups,
    )


def _batchnorm(m: nn.BatchNorm1d | nn.BatchNorm2d, site: _Site) -> ir.Op:
    if m.running_mean is None or m.running_var is None:
        raise FrontendError(
            f"{site.where} ({type(m).__name__}) has no running statistics "
            "(track_running_stats=False): in eval mode it normalizes with each batch's "
            "own statistics, which a fixed layer cannot express"
        )
    mean, var = _array(m.running_mean), _array(m.running_var)
    weight = np.ones_like(mean) if m.weight is None else _array(m.weight)
    bias = np.zeros_like(mean) if m.bias is None else _array(m.bias)
    return irnn.BatchNorm(mean=mean, var=var, weight=weight, bias=bias, eps=m.eps)


def _relu(m: nn.Module, site: _Site) -> ir.Op:
    return irnn.ReLU()


def _relu6(m: nn.ReLU6, site: _Site) -> ir.Op:
    return irnn.Clip(threshold=np.asarray(6.0, dtype=site.dtype), levels=0)


def _avgpool2d(m: nn.AvgPool2d, site: _Site) -> ir.Op:
    kernel, stride, padding = _pool_geometry(m, site, "AvgPool2d")
    if m.divisor_override is not None:
        raise FrontendError(
            f"{site.where} (AvgPool2d) sets divisor_override={m.divisor_override}; the "
            "IR averages over the window area"
        )
    if not m.count_include_pad and any(padding):
        raise FrontendError(
            f"{site.where} (AvgPool2d): count_include_pad=False with padding {padding} "
            "divides border windows by fewer elements; the IR counts the padding"
        )
    return irnn.AvgPool2d(kernel_size=kernel, stride=stride, padding=padding)


def _maxpool2d(m: nn.MaxPool2d, site: _Site) -> ir.Op:
    if _ints(m.dilation, 2) != (1, 1):
        raise FrontendError(
            f"{site.where} (MaxPool2d) has dilation {m.dilation}; only 1 is supported"
        )
    if m.return_indices:
        raise FrontendError(f"{site.where} (MaxPool2d) returns indices; not supported")
    kernel, stride, padding = _pool_geometry(m, site, "MaxPool2d")
    return irnn.MaxPool2d(kernel_size=kernel, stride=stride, padding=padding)


def _adaptive_avgpool2d(m: nn.AdaptiveAvgPool2d, site: _Site) -> ir.Op:
    if len(site.in_shape) != 4:
        raise FrontendError(
            f"{site.where} (AdaptiveAvgPool2d) needs a (batch, C, H, W) input, got "
            f"{site.in_shape}"
        )
    (h, w), (oh, ow) = site.in_shape[2:], site.out_shape[2:]
    if h % oh or w % ow:
        raise FrontendError(
            f"{site.where} (AdaptiveAvgPool2d) maps {h}x{w} to {oh}x{ow}: its windows "
            "are equal (a plain average pool) only when the input size is divisible by "
            "the output size; change the output size or the input resolution"
        )
    kernel = (h // oh, w // ow)
    return irnn.AvgPool2d(kernel_size=kernel, stride=kernel, padding=(0, 0))


def _flatten_op(start: int, end: int, rank: int, where: str) -> ir.Op:
    """``nn.flatten`` for torch dims ``start..end`` of a rank-``rank`` (batched) tensor."""
    first = start if start >= 0 else rank + start
    last = end if end >= 0 else rank + end
    if first < 1 or last < first:
        raise FrontendError(
            f"{where}: flatten over dims {start}..{end} of a rank-{rank} tensor merges "
            "the batch dimension; flatten from dim 1 (e.g. torch.flatten(x, 1))"
        )
    # The IR counts feature dims (batch excluded); negative dims count from the end.
    return irnn.Flatten(
        start_dim=start - 1 if start >= 0 else start,
        end_dim=end - 1 if end >= 0 else end,
    )


def _flatten(m: nn.Flatten, site: _Site) -> ir.Op:
    return _flatten_op(m.start_dim, m.end_dim, len(site.in_shape), site.where)


def _passthrough(m: nn.Module, site: _Site) -> ir.Op | None:
    return None


ModuleRule = Callable[[Any, _Site], "ir.Op | None"]

#: Module types kept as leaves of the trace, each with the rule that makes its op
#: (``None``: the module vanishes and its users read its input).
SUPPORTED_MODULES: dict[type[nn.Module], ModuleRule] = {
    nn.AdaptiveAvgPool2d: _adaptive_avgpool2d,
    nn.AvgPool2d: _avgpool2d,
    nn.BatchNorm1d: _batchnorm,
    nn.BatchNorm2d: _batchnorm,
    nn.Conv1d: _conv1d,
    nn.Conv2d: _conv2d,
    nn.Dropout: _passthrough,
    nn.Dropout1d: _passthrough,
    nn.Dropout2d: _passthrough,
    nn.Flatten: _flatten,
    nn.Identity: _passthrough,
    nn.Linear: _linear,
    nn.MaxPool2d: _maxpool2d,
    nn.ReLU: _relu,
    nn.ReLU6: _relu6,
}


# -- calls ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Emit:
    """What a call becomes: ``op`` fed by ``sources``, or (``op is None``) an alias of
    its single source."""

    op: ir.Op | None
    sources: tuple[fx.Node, ...]


def _arg(node: fx.Node, index: int, name: str, default: Any = None) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _tensor_arg(node: fx.Node, index: int, name: str, site: _Site) -> fx.Node:
    value = _arg(node, index, name)
    if not isinstance(value, fx.Node) or not _is_tensor(value):
        raise FrontendError(f"{site.where}: argument '{name}' must be a tensor")
    return value


def _call_relu(node: fx.Node, site: _Site) -> _Emit:
    return _Emit(irnn.ReLU(), (_tensor_arg(node, 0, "input", site),))


def _call_flatten(node: fx.Node, site: _Site) -> _Emit:
    src = _tensor_arg(node, 0, "input", site)
    start, end = _arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1)
    return _Emit(_flatten_op(start, end, len(site.in_shape), site.where), (src,))


def _flatten_dims(src: Shape, dst: Shape) -> tuple[int, int] | None:
    """Torch dims ``start..end`` whose merging turns ``src`` into ``dst``, if any."""
    merged = len(src) - len(dst)
    if merged < 0 or not dst or dst[0] != src[0]:
        return None
    for start in range(1, len(dst)):
        end = start + merged
        if (
            src[:start] == dst[:start]
            and src[end + 1 :] == dst[start + 1 :]
            and math.prod(src[start : end + 1]) == dst[start]
        ):
            return start, end
    return None


def _call_reshape(node: fx.Node, site: _Site) -> _Emit:
    src = _tensor_arg(node, 0, "input", site)
    if site.in_shape == site.out_shape:
        return _Emit(None, (src,))
    dims = _flatten_dims(site.in_shape, site.out_shape)
    if dims is None:
        raise FrontendError(
            f"{site.where}: reshape {site.in_shape} -> {site.out_shape} (batch first) "
            "is not a flatten that keeps the batch dimension; only flattening "
            "reshapes such as x.view(x.size(0), -1) are supported"
        )
    return _Emit(_flatten_op(*dims, len(site.in_shape), site.where), (src,))


def _call_add(node: fx.Node, site: _Site) -> _Emit:
    a, b = _arg(node, 0, "input"), _arg(node, 1, "other")
    if _arg(node, 2, "alpha", 1) != 1:
        raise FrontendError(f"{site.where}: add with alpha != 1 is not supported")
    tensors = [v for v in (a, b) if isinstance(v, fx.Node) and _is_tensor(v)]
    if len(tensors) != 2:
        raise FrontendError(
            f"{site.where}: only the sum of two tensors is supported, got {a!r} and "
            f"{b!r} (adding a constant needs a bias the IR has no op for)"
        )
    shapes = [_shape(t) for t in tensors]
    if shapes[0] != shapes[1]:
        raise FrontendError(
            f"{site.where}: the add broadcasts {shapes[0]} with {shapes[1]}; only "
            "tensors of equal shape can be added"
        )
    return _Emit(irnn.Add(), (a, b))


def _constant_factor(node: fx.Node, site: _Site, *, divide: bool) -> _Emit:
    a, b = _arg(node, 0, "input"), _arg(node, 1, "other")
    if divide and _arg(node, 2, "rounding_mode") is not None:
        raise FrontendError(
            f"{site.where}: division with a rounding_mode is not supported"
        )
    pairs = [(a, b)] if divide else [(a, b), (b, a)]
    for tensor, factor in pairs:
        number = _number(factor)
        if isinstance(tensor, fx.Node) and _is_tensor(tensor) and number is not None:
            value = 1.0 / number if divide else number
            scale = np.asarray(value, dtype=site.dtype)
            return _Emit(irnn.Scale(scale=scale), (tensor,))
    what = "division" if divide else "multiplication"
    raise FrontendError(
        f"{site.where}: only {what} of a tensor by a constant number is supported "
        f"(got {a!r} and {b!r})"
    )


def _number(value: object) -> float | None:
    """``value`` as a float if it is a real number (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def _call_mul(node: fx.Node, site: _Site) -> _Emit:
    return _constant_factor(node, site, divide=False)


def _call_div(node: fx.Node, site: _Site) -> _Emit:
    return _constant_factor(node, site, divide=True)


def _call_dropout(node: fx.Node, site: _Site) -> _Emit:
    if _arg(node, 2, "training", True):
        raise FrontendError(
            f"{site.where}: functional dropout with training=True drops at random even "
            "in eval mode; pass training=self.training"
        )
    return _Emit(None, (_tensor_arg(node, 0, "input", site),))


def _call_identity(node: fx.Node, site: _Site) -> _Emit:
    return _Emit(None, (_tensor_arg(node, 0, "input", site),))


CallRule = Callable[[fx.Node, _Site], _Emit]

_FUNCTIONS: dict[Callable[..., Any], CallRule] = {
    F.dropout: _call_dropout,
    F.dropout1d: _call_dropout,
    F.dropout2d: _call_dropout,
    F.relu: _call_relu,
    operator.add: _call_add,
    operator.iadd: _call_add,
    operator.mul: _call_mul,
    operator.imul: _call_mul,
    operator.truediv: _call_div,
    torch.add: _call_add,
    torch.div: _call_div,
    torch.flatten: _call_flatten,
    torch.mul: _call_mul,
    torch.relu: _call_relu,
    torch.reshape: _call_reshape,
}

_METHODS: dict[str, CallRule] = {
    "add": _call_add,
    "add_": _call_add,
    "contiguous": _call_identity,
    "div": _call_div,
    "flatten": _call_flatten,
    "mul": _call_mul,
    "relu": _call_relu,
    "relu_": _call_relu,
    "reshape": _call_reshape,
    "view": _call_reshape,
}

#: Shape queries: they make no IR node, and may only feed a reshape's arguments.
_SHAPE_METHODS = frozenset({"size", "dim"})


def _callable_name(target: Any) -> str:
    if isinstance(target, str):
        return f"Tensor.{target}"
    module = getattr(target, "__module__", None) or "torch"
    module = {"_operator": "operator"}.get(module, module)
    return f"{module}.{getattr(target, '__name__', repr(target))}"


#: Every call the importer understands, as named in error messages.
SUPPORTED_CALLS: tuple[str, ...] = tuple(
    sorted(
        {_callable_name(f) for f in _FUNCTIONS}
        | {f"Tensor.{m}" for m in _METHODS}
        | {f"Tensor.{m}" for m in _SHAPE_METHODS}
        | {"Tensor.shape"}
    )
)


# -- tracing -------------------------------------------------------------------------


class _Tracer(fx.Tracer):
    """Keeps supported modules, and every other ``torch.nn`` layer, as leaves.

    Unsupported ``torch.nn`` layers stay leaves so the error can name their qualified
    path; user-defined modules (containers, residual blocks) are traced through. Exact
    type matches only: a subclass may override ``forward``.
    """

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if type(m) in SUPPORTED_MODULES:
            return True
        return super().is_leaf_module(m, module_qualified_name)


def _is_tensor(node: fx.Node) -> bool:
    return isinstance(node.meta.get("tensor_meta"), TensorMetadata)


def _shape(node: fx.Node) -> Shape:
    return tuple(int(d) for d in node.meta["tensor_meta"].shape)


def _enclosing(node: fx.Node, root: nn.Module) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return f"the forward of {type(root).__name__}"
    path, (_, cls) = next(reversed(stack.items()))
    return f"'{path}' ({getattr(cls, '__name__', cls)})"


def _trace(model: nn.Module, example_input: torch.Tensor) -> fx.GraphModule:
    tracer = _Tracer()
    try:
        graph = tracer.trace(model)
    except Exception as err:  # tracing runs arbitrary user code
        raise FrontendError(
            f"torch.fx cannot trace {type(model).__name__}: {err}. Data-dependent "
            "control flow (if/for on tensor values) has no static graph; move it out "
            "of forward or make it depend on constants only"
        ) from err
    gm = fx.GraphModule(tracer.root, graph, type(model).__name__)
    try:
        with torch.no_grad():
            _ShapeProp(gm).run(example_input)
    except Exception as err:  # runs the user's model
        cause: BaseException = err
        while cause.__cause__ is not None:
            cause = cause.__cause__
        raise FrontendError(
            f"running {type(model).__name__} on the example input of shape "
            f"{tuple(example_input.shape)} failed: {type(cause).__name__}: {cause}"
        ) from err
    return gm


class _ShapeProp(fx.Interpreter):
    """Records each node's ``tensor_meta`` (as ``torch.fx``'s ``ShapeProp``).

    NOTE: ``ShapeProp`` prints the full traceback of a failing node to stderr before
    re-raising; here the failure is only raised, and the caller turns it into one
    ``FrontendError`` line.
    """

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.extra_traceback = False

    def run_node(self, n: fx.Node) -> Any:
        result = super().run_node(n)
        found = False

        def extract(obj: Any) -> Any:
            nonlocal found
            if isinstance(obj, torch.Tensor):
                found = True
                return _extract_tensor_metadata(obj)
            return obj

        meta = map_aggregate(result, extract)
        if found:
            n.meta["tensor_meta"] = meta
        n.meta["type"] = type(result)
        return result


class _Importer:
    """Walks the traced fx graph in order and builds the IR graph."""

    def __init__(self, gm: fx.GraphModule, model: nn.Module, graph: ir.Graph) -> None:
        self.gm = gm
        self.model = model
        self.graph = graph
        self.modules = dict(gm.named_modules())
        self.values: dict[fx.Node, str] = {}
        self.reserved: set[str] = set()

    def name(self, base: str) -> str:
        name, k = base, 0
        while name in self.graph or name in self.reserved:
            k += 1
            name = f"{base}_{k}"
        return name

    def source(self, node: fx.Node, user: str) -> str:
        if node not in self.values:
            raise FrontendError(
                f"{user} reads '{node.name}', which is not a tensor the IR can hold"
            )
        return self.values[node]

    def run(self) -> None:
        placeholders = [n for n in self.gm.graph.nodes if n.op == "placeholder"]
        extra = [n.target for n in placeholders[1:] if n.users]
        if not placeholders or extra:
            raise FrontendError(
                f"{type(self.model).__name__}.forward must take one tensor input; it "
                f"also uses {', '.join(map(str, extra))}"
            )
        for node in self.gm.graph.nodes:
            if node.op == "output":
                self.output(node)
            elif node.op == "placeholder":
                if node is placeholders[0]:
                    self.input(node)
            elif node.op == "call_module":
                self.call_module(node)
            elif node.op in ("call_function", "call_method"):
                self.call(node)
            elif node.op == "get_attr":
                if _is_tensor(node):
                    raise FrontendError(
                        f"forward reads the tensor attribute '{node.target}' directly "
                        f"(fx node '{node.name}' in {_enclosing(node, self.model)}); "
                        "only the parameters of supported modules are imported"
                    )
            else:  # pragma: no cover - fx has no other opcodes
                raise FrontendError(f"unknown fx opcode {node.op!r}")

    def input(self, node: fx.Node) -> None:
        shape = _shape(node)
        if len(shape) < 2:
            raise FrontendError(
                f"the example input must be (batch, *features), got shape {shape}"
            )
        self.values[node] = self.graph.add(str(node.target), io.Input(shape=shape[1:]))

    def output(self, node: fx.Node) -> None:
        result = node.args[0]
        outs = list(result) if isinstance(result, (tuple, list)) else [result]
        names = (
            ["output"]
            if not isinstance(result, (tuple, list))
            else [f"output_{i}" for i in range(len(outs))]
        )
        for name, out in zip(names, outs, strict=True):
            if not isinstance(out, fx.Node):
                raise FrontendError(
                    f"{type(self.model).__name__}.forward returns {out!r}; outputs "
                    "must be tensors (or a tuple of tensors)"
                )
            src = self.source(out, f"output '{name}'")
            self.graph.add(name, io.Output(), [src])

    def site(self, node: fx.Node, where: str) -> _Site:
        first = next((a for a in node.all_input_nodes if _is_tensor(a)), None)
        return _Site(
            where=where,
            in_shape=_shape(first) if first is not None else (),
            out_shape=_shape(node),
            dtype=_np_dtype(node.meta["tensor_meta"].dtype),
        )

    def emit(self, node: fx.Node, base: str, where: str, emit: _Emit) -> None:
        if emit.op is None:
            (src,) = emit.sources
            self.values[node] = self.source(src, where)
            return
        srcs = [self.source(s, where) for s in emit.sources]
        op = emit.op
        if len(srcs) == 2 and srcs[0] == srcs[1]:
            # x + x: nodes are joined by at most one edge, so it is x scaled by 2.
            op, srcs = (
                irnn.Scale(scale=np.asarray(2.0, dtype=_np_dtype_of(node))),
                srcs[:1],
            )
        self.values[node] = self.graph.add(self.name(base), op, srcs)

    def call_module(self, node: fx.Node) -> None:
        path = str(node.target)
        module = self.modules[path]
        rule = SUPPORTED_MODULES.get(type(module))
        if rule is None:
            supported = ", ".join(sorted(t.__name__ for t in SUPPORTED_MODULES))
            raise FrontendError(
                f"unsupported module '{path}' ({_type_name(module)}); supported "
                f"modules: {supported}"
            )
        if len(node.args) != 1 or node.kwargs or not isinstance(node.args[0], fx.Node):
            raise FrontendError(
                f"{path} ({type(module).__name__}) must be called with one tensor"
            )
        site = self.site(node, path)
        try:
            op = rule(module, site)
        except ir.VerifyError as err:
            raise FrontendError(f"{path} ({type(module).__name__}): {err}") from err
        self.emit(node, path, path, _Emit(op, (node.args[0],)))

    def call(self, node: fx.Node) -> None:
        what = _callable_name(node.target)
        if not _is_tensor(node):
            if self.is_shape_query(node):
                return
            self.unsupported_call(node, what)
        if node.op == "call_method":
            rule = _METHODS.get(str(node.target))
        else:
            rule = _FUNCTIONS.get(node.target)  # type: ignore[arg-type]
        if rule is None:
            self.unsupported_call(node, what)
        where = f"{what} (fx node '{node.name}' in {_enclosing(node, self.model)})"
        try:
            emit = rule(node, self.site(node, where))
        except ir.VerifyError as err:
            raise FrontendError(f"{where}: {err}") from err
        self.emit(node, node.name, where, emit)

    def is_shape_query(self, node: fx.Node) -> bool:
        if node.op == "call_method":
            return node.target in _SHAPE_METHODS
        if node.target is getattr:
            return node.args[1] == "shape"
        if node.target is operator.getitem:
            src = node.args[0]
            return isinstance(src, fx.Node) and not _is_tensor(src)
        return False

    def unsupported_call(self, node: fx.Node, what: str) -> NoReturn:
        raise FrontendError(
            f"unsupported call {what} (fx node '{node.name}' in "
            f"{_enclosing(node, self.model)}); supported calls: "
            f"{', '.join(SUPPORTED_CALLS)}"
        )


def _np_dtype_of(node: fx.Node) -> np.dtype[Any]:
    return _np_dtype(node.meta["tensor_meta"].dtype)


def _check_shapes(importer: _Importer) -> None:
    """Every IR node must have the shape its fx node had (batch dropped)."""
    shapes = importer.graph.shapes()
    for node, name in importer.values.items():
        traced = _shape(node)[1:]
        if shapes[name] != traced:  # pragma: no cover - a frontend bug if it fires
            raise FrontendError(
                f"internal error: node '{name}' has IR shape {shapes[name]} but the "
                f"traced tensor '{node.name}' has {traced}"
            )


def from_module(
    model: nn.Module, example_input: torch.Tensor, *, name: str | None = None
) -> ir.Graph:
    """Convert a PyTorch ANN into a verified ``ir.Graph`` with ``dt`` unset.

    Args:
        model: the network; traced with ``torch.fx`` in eval mode (a model in
            training mode is switched to eval for the trace and back, with a
            warning).
        example_input: a ``(batch, *features)`` tensor; it fixes the input shape
            (batch dropped) and resolves reshapes and adaptive pooling.
        name: the graph's name; defaults to the model's class name.

    Returns:
        The graph: one ``io.input`` named after ``forward``'s argument, one node per
        layer or call (named by qualified path or fx name), one ``io.output`` per
        result. Parameters are copied bit for bit in their own dtype.

    Raises:
        FrontendError: an unsupported module (by qualified path, type and the
            supported list) or call, a model ``torch.fx`` cannot trace or run on
            ``example_input``, or float16/bfloat16 parameters.
    """
    narrow = sorted(
        {str(p.dtype) for p in model.parameters()}
        & {str(torch.float16), str(torch.bfloat16)}
    )
    if narrow:
        raise FrontendError(
            f"{type(model).__name__} has {', '.join(narrow)} parameters; the IR holds "
            "float32 and float64: convert the model with model.float() first"
        )
    modes = {m: m.training for m in model.modules()}
    if any(modes.values()):
        warnings.warn(
            f"{type(model).__name__} is in training mode; it is traced in eval mode "
            "(running BatchNorm statistics, no dropout) and switched back afterwards",
            UserWarning,
            stacklevel=2,
        )
        model.eval()
    try:
        gm = _trace(model, example_input)
        graph = ir.Graph(name or type(model).__name__)
        importer = _Importer(gm, model, graph)
        outputs = gm.graph.output_node().args[0]
        if isinstance(outputs, (tuple, list)):
            importer.reserved = {f"output_{i}" for i in range(len(outputs))}
        else:
            importer.reserved = {"output"}
        importer.run()
    finally:
        for module, training in modes.items():
            module.training = training
    try:
        ir.verify(graph)
    except ir.VerifyError as err:
        raise FrontendError(f"the imported graph does not verify: {err}") from err
    _check_shapes(importer)
    return graph


# -- to_module -----------------------------------------------------------------------


def _param(arr: np.ndarray) -> nn.Parameter:
    return nn.Parameter(torch.from_numpy(np.array(arr, copy=True)))


def _buffer(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(arr, copy=True))


class _Scale(nn.Module):
    """``y = x * scale`` (``nn.scale``), the scale broadcast over the features."""

    scale: torch.Tensor

    def __init__(self, scale: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("scale", _buffer(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class _SumPool2d(nn.Module):
    """Sum over each window (``nn.sumpool2d``)."""

    def __init__(self, op: irnn.SumPool2d) -> None:
        super().__init__()
        self.op = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.op.kernel_size
        pooled = F.avg_pool2d(
            x, k, self.op.strides, self.op.padding, count_include_pad=True
        )
        return pooled * (k[0] * k[1])


class _Clip(nn.Module):
    """Clipped (optionally quantized) activation (``nn.clip``)."""

    threshold: torch.Tensor

    def __init__(self, op: irnn.Clip) -> None:
        super().__init__()
        self.levels = op.levels
        self.shift = op.shift
        self.register_buffer("threshold", _buffer(op.threshold))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lam = self.threshold
        if self.levels == 0:
            return torch.minimum(torch.relu(x), lam)
        z = torch.floor(x * self.levels / lam + self.shift)
        return torch.clamp(z, 0, self.levels) * lam / self.levels


def _dense(op: irnn.Linear | irnn.Affine, shape: Shape) -> nn.Module:
    out_f, in_f = op.weight.shape
    layer = nn.Linear(in_f, out_f, bias=isinstance(op, irnn.Affine))
    layer.weight = _param(op.weight)
    if isinstance(op, irnn.Affine):
        layer.bias = _param(op.bias)
    return layer


def _conv(op: irnn.Conv1d | irnn.Conv2d, shape: Shape) -> nn.Module:
    cls: Any = nn.Conv1d if isinstance(op, irnn.Conv1d) else nn.Conv2d
    out_c, in_per_group, *kernel = op.weight.shape
    layer = cls(
        in_per_group * op.groups,
        out_c,
        tuple(kernel),
        stride=op.stride,
        padding=op.padding,
        dilation=op.dilation,
        groups=op.groups,
        bias=op.bias is not None,
    )
    layer.weight = _param(op.weight)
    if op.bias is not None:
        layer.bias = _param(op.bias)
    return layer


def _bn(op: irnn.BatchNorm, shape: Shape) -> nn.Module:
    cls = {1: nn.BatchNorm1d, 2: nn.BatchNorm1d, 3: nn.BatchNorm2d}.get(
        len(shape), nn.BatchNorm3d
    )
    layer = cls(op.mean.shape[0], eps=op.eps)
    layer.weight = _param(op.weight)
    layer.bias = _param(op.bias)
    layer.running_mean = _buffer(op.mean)
    layer.running_var = _buffer(op.var)
    return layer.eval()


def _pool(op: irnn.AvgPool2d | irnn.MaxPool2d, shape: Shape) -> nn.Module:
    kernel, stride, padding = _pair(op.kernel_size), op.strides, _pair(op.padding)
    if isinstance(op, irnn.MaxPool2d):
        return nn.MaxPool2d(kernel, stride, padding)
    return nn.AvgPool2d(kernel, stride, padding, count_include_pad=True)


def _pair(value: tuple[int, ...]) -> tuple[int, int]:
    return (value[0], value[1])


def _unflatten(op: irnn.Flatten, shape: Shape) -> nn.Module:
    def torch_dim(d: int) -> int:
        return d + 1 if d >= 0 else d

    return nn.Flatten(torch_dim(op.start_dim), torch_dim(op.end_dim))


LayerRule = Callable[[Any, Shape], nn.Module]

#: For each ANN op, how to build the torch layer (given the op's input shape).
_LAYERS: dict[type[ir.Op], LayerRule] = {
    irnn.Add: lambda op, shape: nn.Identity(),
    irnn.Affine: _dense,
    irnn.AvgPool2d: _pool,
    irnn.BatchNorm: _bn,
    irnn.Clip: lambda op, shape: _Clip(op),
    irnn.Conv1d: _conv,
    irnn.Conv2d: _conv,
    irnn.Flatten: _unflatten,
    irnn.Linear: _dense,
    irnn.MaxPool2d: _pool,
    irnn.ReLU: lambda op, shape: nn.ReLU(),
    irnn.Scale: lambda op, shape: _Scale(op.scale),
    irnn.SumPool2d: lambda op, shape: _SumPool2d(op),
}


class IRModule(nn.Module):
    """An ANN ``ir.Graph`` run by torch layers, node by node in topological order.

    ``forward`` takes one ``(batch, *features)`` tensor per ``io.input`` (in the
    graph's input order) and returns the output, or a tuple of outputs ordered by
    name (``output_0``, ``output_1``, ...). Layers live in ``layers`` under their node
    names (dots become ``_``, as ``ModuleDict`` keys cannot hold dots).
    """

    def __init__(self, graph: ir.Graph) -> None:
        super().__init__()
        ir.verify(graph)
        self.graph_name = graph.name
        self.layers = nn.ModuleDict()
        self.input_names = graph.inputs()
        self.output_names = sorted(graph.outputs(), key=natural_key)
        #: (node, layer key or None for io nodes, source nodes) in topological order.
        self.plan: list[tuple[str, str | None, list[str]]] = []
        shapes = graph.shapes()
        for name in graph.topo_order():
            op = graph.op(name)
            edges = graph.in_edges(name)
            if any(e.recurrent for e in edges):
                raise FrontendError(
                    f"node '{name}' has a recurrent input; to_module builds "
                    "feed-forward ANN graphs only"
                )
            sources = [e.src for e in edges]
            if isinstance(op, (io.Input, io.Output)):
                self.plan.append((name, None, sources))
                continue
            rule = _LAYERS.get(type(op))
            if rule is None:
                raise FrontendError(
                    f"node '{name}' runs {op.name}, which has no torch layer; "
                    "to_module converts ANN graphs (io and nn ops) only"
                )
            in_shape = shapes[sources[0]] if sources else ()
            key = self._key(name)
            self.layers[key] = rule(op, in_shape)
            self.plan.append((name, key, sources))

    def _key(self, name: str) -> str:
        base = key = name.replace(".", "_") or "_"
        k = 0
        while key in self.layers:
            k += 1
            key = f"{base}_{k}"
        return key

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if len(inputs) != len(self.input_names):
            raise FrontendError(
                f"@{self.graph_name} takes {len(self.input_names)} input(s) "
                f"({', '.join(self.input_names)}), got {len(inputs)}"
            )
        values: dict[str, torch.Tensor] = dict(
            zip(self.input_names, inputs, strict=True)
        )
        for name, key, sources in self.plan:
            if name in values:
                continue
            x = values[sources[0]]
            for src in sources[1:]:
                x = x + values[src]  # several edges into a port are summed
            values[name] = x if key is None else self.layers[key](x)
        outs = tuple(values[name] for name in self.output_names)
        return outs[0] if len(outs) == 1 else outs


def to_module(graph: ir.Graph) -> IRModule:
    """Build a torch module that computes what the ANN ``graph`` computes.

    Args:
        graph: a verified graph of ``io`` and ``nn`` ops (no ``dt`` needed).

    Returns:
        An :class:`IRModule` in eval mode; its forward takes ``(batch, *features)``
        per input, like the model the graph was imported from.

    Raises:
        FrontendError: a node runs an op with no torch layer (any ``snn`` op), named.
    """
    return IRModule(graph).eval()
