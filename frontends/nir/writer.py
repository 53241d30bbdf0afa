"""``ir.Graph`` to NIR under the ``exact`` convention (:func:`to_nir`,
:func:`write_nir`): NIR parameters are the IR's own, broadcast to each layer's shape;
what NIR cannot hold goes to ``spikeforge_*`` metadata for spikeforge's re-import."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import ir
from frontends.errors import FrontendError
from frontends.nir.common import META_PREFIX, SPIKING, Array, nir_module
from frontends.nir.nodes import BUILDERS
from ir.ops import io, nn, snn
from ir.serialize import install_file

__all__ = ["to_nir", "write_nir"]


def to_nir(graph: ir.Graph) -> Any:
    """Export ``graph`` as a ``nir.NIRGraph`` under the ``exact`` convention.

    NIR parameters are the IR's own (the IR's discretization is NIR's ODE stepped
    exactly), broadcast to each layer's shape. What NIR cannot hold goes to metadata
    for spikeforge's own re-import: the graph's ``dt``, name and recurrent edges, each
    neuron's reset mode, ``max_spikes``, ``v_subtract``, ``v_min``, ``refire_offset``
    and ``v_init``, a conv's missing bias, and
    ``nn.add`` (written as a unit ``Scale``). Re-importing the file with ``from_nir``
    gives a graph with identical interpreter outputs, and an ``is_equivalent`` one
    when every neuron parameter already has the layer's shape and no node has meta.

    Raises:
        FrontendError: an op with no NIR counterpart (named), or a graph that fails
            verification.
    """
    nir = nir_module()
    try:
        ir.verify(graph)
    except ir.VerifyError as err:
        raise FrontendError(f"cannot export graph @{graph.name}: {err}") from None
    nodes = {}
    for name in graph.nodes():
        op = graph.op(name)
        export = _EXPORTERS.get(op.name)
        if export is None:
            raise FrontendError(
                f"node '{name}': {op.name} has no NIR counterpart (NIR has "
                f"{', '.join(sorted(BUILDERS))}); lower it first"
            )
        if "/" in name:
            raise FrontendError(f"node '{name}': NIR (HDF5) names cannot hold '/'")
        nodes[name] = export(nir, graph, name, op)
    edges = [(e.src, e.dst) for e in graph.edges()]
    recurrent = [[e.src, e.dst] for e in graph.edges() if e.recurrent]
    metadata: dict[str, Any] = {
        META_PREFIX + "convention": "exact",
        META_PREFIX + "name": graph.name,
        META_PREFIX + "recurrent_edges": json.dumps(recurrent),
    }
    if graph.dt is not None:
        metadata[META_PREFIX + "dt"] = float(graph.dt)
    try:
        return nir.NIRGraph(
            nodes=nodes, edges=edges, metadata=metadata, type_check=False
        )
    except Exception as err:  # nir's own checks
        raise FrontendError(
            f"graph @{graph.name}: nir rejected the export: {err}"
        ) from None


def write_nir(graph: ir.Graph, path: str | os.PathLike[str]) -> None:
    """Write ``graph`` to ``path`` as a ``.nir`` file, atomically (temp file, rename).

    Raises:
        FrontendError: see :func:`to_nir`; or the file cannot be written.
    """
    nir = nir_module()
    nir_graph = to_nir(graph)
    target = Path(path)
    fd, tmp = tempfile.mkstemp(
        dir=target.parent if str(target.parent) else ".", suffix=".nir.tmp"
    )
    os.close(fd)
    try:
        nir.write(tmp, nir_graph)
        install_file(tmp, target)  # the mode a new (umask) or overwritten file keeps
    except Exception as err:
        Path(tmp).unlink(missing_ok=True)
        raise FrontendError(f"{target}: cannot write the NIR file: {err}") from None


def _full(graph: ir.Graph, name: str, value: Array) -> Array:
    return np.broadcast_to(value, graph.shape(name)).copy()


def _spiking_meta(g: ir.Graph, n: str, op: Any) -> dict[str, Any]:
    meta = {
        META_PREFIX + "reset": op.reset,
        META_PREFIX + "max_spikes": int(op.max_spikes),
        **_init_meta(op),
    }
    for name in ("v_subtract", "v_min", "refire_offset"):
        value = getattr(op, name, None)
        if value is not None:
            meta[META_PREFIX + name] = _full(g, n, value)
    return meta


def _init_meta(op: Any) -> dict[str, Any]:
    v_init = op.v_init
    if v_init.ndim == 0 and v_init.dtype == np.float32 and v_init == 0:
        return {}  # the op's default
    value = float(v_init) if v_init.ndim == 0 else np.array(v_init)
    return {META_PREFIX + "v_init": value}


def _shape_of(graph: ir.Graph, name: str) -> Array:
    return np.array(graph.shape(name), dtype=np.int64)


def _in_shape(graph: ir.Graph, name: str) -> tuple[int, ...]:
    (edge, *_) = [e for e in graph.in_edges(name) if not e.recurrent]
    return graph.shape(edge.src)


Exporter = Callable[[ModuleType, ir.Graph, str, Any], Any]


def _x_conv(nir: ModuleType, graph: ir.Graph, name: str, op: Any) -> Any:
    spatial = _in_shape(graph, name)[1:]
    bias = (
        op.bias
        if op.bias is not None
        else np.zeros(op.weight.shape[0], op.weight.dtype)
    )
    meta = {} if op.bias is not None else {META_PREFIX + "bias": 0}
    if op.name == nn.Conv1d.name:
        return nir.Conv1d(
            input_shape=int(spatial[0]),
            weight=np.array(op.weight),
            stride=op.stride,
            padding=op.padding,
            dilation=op.dilation,
            groups=op.groups,
            bias=np.array(bias),
            metadata=meta,
        )
    return nir.Conv2d(
        input_shape=tuple(int(d) for d in spatial),
        weight=np.array(op.weight),
        stride=tuple(op.stride),
        padding=tuple(op.padding),
        dilation=tuple(op.dilation),
        groups=op.groups,
        bias=np.array(bias),
        metadata=meta,
    )


def _x_pool(nir: ModuleType, graph: ir.Graph, name: str, op: Any) -> Any:
    cls = nir.SumPool2d if op.name == nn.SumPool2d.name else nir.AvgPool2d
    return cls(
        kernel_size=np.array(op.kernel_size),
        stride=np.array(op.strides),
        padding=np.array(op.padding),
    )


def _x_neuron(kind: str, params: tuple[str, ...]) -> Exporter:
    """The exporter of one neuron: NIR node ``kind`` with ``params`` broadcast."""

    def export(nir: ModuleType, g: ir.Graph, n: str, op: Any) -> Any:
        meta = _spiking_meta(g, n, op) if kind in SPIKING else _init_meta(op)
        arrays = {param: _full(g, n, getattr(op, param)) for param in params}
        return getattr(nir, kind)(**arrays, metadata=meta)

    return export


_NEURON_PARAMS: dict[type[ir.Op], tuple[str, tuple[str, ...]]] = {
    snn.Integrator: ("I", ("r",)),
    snn.IF: ("IF", ("r", "v_threshold", "v_reset")),
    snn.LI: ("LI", ("tau", "r", "v_leak")),
    snn.LIF: ("LIF", ("tau", "r", "v_leak", "v_threshold", "v_reset")),
    snn.CubaLI: ("CubaLI", ("tau_syn", "tau_mem", "r", "v_leak", "w_in")),
    snn.CubaLIF: (
        "CubaLIF",
        ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
    ),
}
"""IR neuron -> its NIR node and the parameters the node holds."""


_EXPORTERS: dict[str, Exporter] = {
    io.Input.name: lambda nir, g, n, op: nir.Input(
        input_type={"input": np.array(op.shape, dtype=np.int64)}
    ),
    io.Output.name: lambda nir, g, n, op: nir.Output(
        output_type={"output": _shape_of(g, n)}
    ),
    nn.Affine.name: lambda nir, g, n, op: nir.Affine(
        weight=np.array(op.weight), bias=np.array(op.bias)
    ),
    nn.Linear.name: lambda nir, g, n, op: nir.Linear(weight=np.array(op.weight)),
    nn.Scale.name: lambda nir, g, n, op: nir.Scale(scale=_full(g, n, op.scale)),
    nn.Add.name: lambda nir, g, n, op: nir.Scale(
        scale=np.ones(g.shape(n), np.float32),
        metadata={META_PREFIX + "op": nn.Add.name},
    ),
    nn.Conv1d.name: _x_conv,
    nn.Conv2d.name: _x_conv,
    nn.SumPool2d.name: _x_pool,
    nn.AvgPool2d.name: _x_pool,
    nn.Flatten.name: lambda nir, g, n, op: nir.Flatten(
        input_type={"input": np.array(_in_shape(g, n), dtype=np.int64)},
        start_dim=op.start_dim,
        end_dim=op.end_dim,
    ),
    snn.Delay.name: lambda nir, g, n, op: nir.Delay(delay=_full(g, n, op.delay)),
    snn.Threshold.name: lambda nir, g, n, op: nir.Threshold(
        threshold=_full(g, n, op.threshold)
    ),
    **{
        op.name: _x_neuron(kind, params)
        for op, (kind, params) in _NEURON_PARAMS.items()
    },
}
"""IR op name -> NIR node (the inverse of ``BUILDERS`` under ``exact``)."""
