"""Reading NIR: :func:`from_nir` checks a ``.nir`` file (or takes a
``nir.NIRGraph``), flattens it (:mod:`frontends.nir.flatten`), picks the convention
(given, from spikeforge's metadata, or detected: :mod:`frontends.nir.conventions`),
builds each node's op (:mod:`frontends.nir.nodes`), marks the recurrent edges and
verifies the result. Exporter quirks that the numbers show are tolerated here with a
:class:`NIRImportWarning`; variants the file does not record are assumed with a
:class:`ConventionWarning` naming the argument that settles them."""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypedDict

import networkx as nx
import numpy as np

import ir
from frontends.errors import FrontendError
from frontends.nir.common import (
    META_PREFIX,
    NEURONS,
    PORTS,
    ConventionWarning,
    Flat,
    Neuron,
    NIRImportWarning,
    as_str,
    f64,
    nir_module,
    node_meta,
    show,
)
from frontends.nir.conventions import CONVENTIONS, NORSE_TAU_MODES, detect, norse
from frontends.nir.conventions.base import Convention
from frontends.nir.flatten import close_cycles, contract, flatten
from frontends.nir.nodes import (
    BUILDERS,
    Context,
    broadcast_params,
    declared_input,
)
from ir.ops import snn

if TYPE_CHECKING:  # Python 3.11's typing.Unpack; annotations only
    from typing_extensions import Unpack

__all__ = ["V_MIN_CHOICES", "ImportInfo", "NIROptions", "from_nir", "from_nir_info"]

_COLLAPSED = 1e-3
"""Per-step decay below which a time constant has collapsed (``tau < dt / 6.9``)."""


@dataclass(frozen=True)
class ImportInfo:
    """What :func:`from_nir_info` used, and where each choice came from.

    Attributes:
        convention: the convention's name.
        convention_from: ``"given"``, ``"metadata"`` (spikeforge's own file),
            ``"detected"`` or ``"default"`` (no neurons: ``exact``).
        dt: the graph's step (seconds), or ``None``.
        dt_from: ``"given"``, ``"metadata"``, ``"detected"``, ``"recovered"`` (from
            the neurons' numbers), ``"convention"`` or ``"none"``.
        resets: spiking neurons per reset mode, e.g. ``{"subtract": 2}``.
        reset_from: ``"given"``, ``"metadata"`` or ``"convention"``.
        norse_tau: the Norse time-constant mode (``None`` for other conventions).
        norse_tau_from: ``"given"`` or ``"detected"`` (``None`` when not Norse).
    """

    convention: str
    convention_from: str
    dt: float | None
    dt_from: str
    resets: Mapping[str, int]
    reset_from: str
    norse_tau: str | None = None
    norse_tau_from: str | None = None

    def describe(self) -> str:
        """One line: ``convention norse (given), norse_tau true (detected), ...``."""
        parts = [f"convention {self.convention} ({self.convention_from})"]
        if self.norse_tau is not None:
            parts.append(f"norse_tau {self.norse_tau} ({self.norse_tau_from})")
        dt = "none" if self.dt is None else f"{self.dt:g} s"
        parts.append(f"dt {dt} ({self.dt_from})")
        if self.resets:
            modes = ", ".join(f"{m} x{n}" for m, n in sorted(self.resets.items()))
            parts.append(f"reset {modes} ({self.reset_from})")
        return ", ".join(parts)


V_MIN_CHOICES = ("none", "-threshold")
"""Named ``v_min=`` values: no floor, or each neuron's ``-v_threshold``."""


class NIROptions(TypedDict, total=False):
    """The keywords of :func:`from_nir` (and ``frontends.import_file`` for a
    ``.nir``), as :func:`from_nir_info` declares them, each ``None`` by default."""

    dt: float | None
    reset: str | None
    convention: str | None
    norse_tau: str | None
    reset_delay: bool | None
    v_min: float | str | None


def from_nir(
    source: str | os.PathLike[str] | Any, **options: Unpack[NIROptions]
) -> ir.Graph:
    """Import a NIR graph (a ``.nir`` file or a ``nir.NIRGraph``) as a verified graph.

    Args:
        source: path of a ``.nir`` file, or a ``nir.NIRGraph``.
        options: keywords (:class:`NIROptions`), each ``None`` by default:
        dt: time step in seconds; overrides the convention's (needed for ``exact``).
        reset: ``"zero"`` or ``"subtract"`` for every spiking neuron; ``None`` takes
            the exporter's (see the module docstring).
        convention: the exporter's discretization (:data:`CONVENTIONS`); ``None``
            detects it where the numbers make it certain.
        norse_tau: for ``convention="norse"`` (implied when given): ``"dt-scaled"``
            (Norse 1.1.0 wrote ``dt * tau``) or ``"true"`` (other Norse versions);
            ``None`` tells them apart by the numbers (:data:`NORSE_TAU_MODES`).
        reset_delay: snnTorch's ``reset_delay`` (convention ``snntorch`` only):
            ``True`` (its default) subtracts the threshold one step late, ``False``
            in the same step. ``None`` takes the default and warns, as the file does
            not say; no effect with ``reset="zero"`` (both are exact then).
        v_min: membrane floor of every spiking neuron (Sinabs' ``min_v_mem``): a
            number, ``"-threshold"`` (each neuron's ``-v_threshold``) or ``"none"``;
            ``None`` keeps what the file (spikeforge metadata) says, else no floor,
            with a warning under ``sinabs``, whose exporter drops ``min_v_mem``.

    Raises:
        FrontendError: an unreadable file, an unknown node type, a missing edge
            endpoint, mismatched shapes, or an ambiguous discretization; the message
            names the node (and the file) and the argument to pass.

    Warns:
        ConventionWarning: the convention assumed a variant the file does not record
            (snnTorch's reset mode and ``reset_delay``, Sinabs' ``min_v_mem``); the
            message names the argument that settles it.
        NIRImportWarning: an exporter quirk was tolerated (Rockpool's ``Output``
            type, its lost ``w_rec`` and bias), a true-tau Norse file had its ``dt``
            assumed, or a time constant collapsed to no memory (``tau << dt`` after
            the convention's mapping).
    """
    return from_nir_info(source, **options)[0]


def from_nir_info(
    source: str | os.PathLike[str] | Any,
    *,
    dt: float | None = None,
    reset: str | None = None,
    convention: str | None = None,
    norse_tau: str | None = None,
    reset_delay: bool | None = None,
    v_min: float | str | None = None,
) -> tuple[ir.Graph, ImportInfo]:
    """:func:`from_nir`, also returning the convention, ``dt`` and reset it used."""
    if norse_tau is not None and norse_tau not in NORSE_TAU_MODES:
        raise FrontendError(
            f"unknown norse_tau {norse_tau!r}; choose one of "
            f"{', '.join(NORSE_TAU_MODES)}"
        )
    if norse_tau is not None and convention not in (None, "norse"):
        raise FrontendError(f"norse_tau= is for convention 'norse', not {convention!r}")
    if convention is not None and convention not in CONVENTIONS:
        raise FrontendError(
            f"unknown convention {convention!r}; choose one of {', '.join(CONVENTIONS)}"
        )
    if reset is not None and reset not in snn.RESET_MODES:
        raise FrontendError(
            f"unknown reset {reset!r}; choose one of {', '.join(snn.RESET_MODES)}"
        )
    if dt is not None and not (math.isfinite(dt) and dt > 0):
        raise FrontendError(f"dt must be a positive number of seconds, got {dt}")
    if reset_delay is not None and not isinstance(reset_delay, bool):
        raise FrontendError(f"reset_delay must be True or False, got {reset_delay!r}")
    floor = _floor_arg(v_min)
    nir = nir_module()
    if isinstance(source, nir.NIRGraph):
        where, graph = "NIR graph", source
    elif isinstance(source, (str, os.PathLike)):
        where, graph = str(source), _read(nir, Path(source))
    else:
        raise FrontendError(
            f"from_nir takes a .nir path or a nir.NIRGraph, got {type(source).__name__}"
        )
    try:
        importer = _Importer(
            nir,
            graph,
            dt=dt,
            reset=reset,
            convention=convention,
            norse_tau=norse_tau,
            reset_delay=reset_delay,
            v_min=floor,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", NIRImportWarning)
            result = importer.run()
    except FrontendError as err:
        raise FrontendError(f"{where}: {err}") from None
    except ir.VerifyError as err:
        raise FrontendError(f"{where}: {err}") from None
    for w in caught:  # re-issued with the file's name, from the caller's line
        if issubclass(w.category, NIRImportWarning):
            warnings.warn(f"{where}: {w.message}", NIRImportWarning, stacklevel=3)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result, importer.info(result)


def _floor_arg(v_min: float | str | None) -> float | str | None:
    """Check ``v_min=``: ``None``, a named choice, or a finite number."""
    if v_min is None or v_min in V_MIN_CHOICES:
        return v_min
    if isinstance(v_min, str) or isinstance(v_min, bool):
        raise FrontendError(
            f"unknown v_min {v_min!r}; pass a number or one of "
            f"{', '.join(V_MIN_CHOICES)}"
        )
    try:
        value = float(v_min)
    except (TypeError, ValueError):
        raise FrontendError(f"v_min must be a number, got {v_min!r}") from None
    if not math.isfinite(value):
        raise FrontendError(f"v_min must be finite, got {value}")
    return value


def _read(nir: ModuleType, path: Path) -> Any:
    if not path.is_file():
        raise FrontendError(f"{path}: no such file")
    _scan(nir, path)
    try:
        # Type checking is ours (after flattening); nir's rejects dotted sub-graph
        # edges and some exporters' files (snntorch #410), and nir >= 1.0.8 checks
        # nested sub-graphs even with type_check=False: build every level unchecked.
        return _read_unchecked(nir, path)
    except Exception as err:  # h5py/numpy/nir raise anything on a damaged file
        raise FrontendError(f"{path}: cannot read the NIR graph: {err}") from None


def _read_unchecked(nir: ModuleType, path: Path) -> Any:
    """``nir.read(path, type_check=False)`` that also skips nested graphs' checks."""
    import h5py

    to_node = getattr(nir, "dict2NIRNode", None)
    hdf2dict = getattr(getattr(nir, "serialization", None), "hdf2dict", None)
    checks = "type_check" in inspect.signature(nir.NIRGraph.__init__).parameters
    if to_node is None or hdf2dict is None or not checks:
        return nir.read(path)  # an older nir, which does not type-check
    with h5py.File(path, "r") as f:
        tree = hdf2dict(f["node"])

    def unchecked(node: dict[str, Any]) -> dict[str, Any]:
        if node.get("type") == "NIRGraph":
            node["type_check"] = False
            for child in node.get("nodes", {}).values():
                if isinstance(child, dict):
                    unchecked(child)
        return node

    return to_node(unchecked(tree))


def _scan(nir: ModuleType, path: Path) -> None:
    """Check the HDF5 layout and every node's type, naming the first bad node."""
    import h5py

    known = {*nir.ir.__all__} - {"NIRNode", "str2NIRNode", "dict2NIRNode"}
    try:
        with h5py.File(path, "r") as f:
            if "node" not in f or not isinstance(f["node"], h5py.Group):
                raise FrontendError(f"{path}: not a NIR file (no 'node' group)")
            _scan_node(nir, f["node"], "", known, path)
    except FrontendError:
        raise
    except Exception as err:
        raise FrontendError(
            f"{path}: not a readable NIR (HDF5) file, corrupt or truncated: {err}"
        ) from None


def _scan_node(
    nir: ModuleType, group: Any, name: str, known: set[str], path: Path
) -> None:
    label = f"node '{name}'" if name else "the top graph"
    if "type" not in group:
        raise FrontendError(f"{path}: {label} has no 'type'")
    kind = group["type"][()]
    kind = kind.decode("utf8") if isinstance(kind, bytes) else str(kind)
    if kind not in known:
        raise FrontendError(
            f"{path}: {label} has unknown NIR type '{kind}' "
            f"(known: {', '.join(sorted(known))})"
        )
    missing = sorted(_stored_fields(nir, kind) - set(group.keys()))
    if missing:
        raise FrontendError(
            f"{path}: {label} ({kind}) lacks field(s) {', '.join(missing)}"
        )
    if kind == "NIRGraph":
        for child, sub in group["nodes"].items():
            _scan_node(nir, sub, f"{name}.{child}" if name else child, known, path)


def _stored_fields(nir: ModuleType, kind: str) -> set[str]:
    """The datasets a node of ``kind`` must have in the file (``nir.write``'s layout)."""
    if kind in PORTS:
        return {"shape"}
    cls = getattr(nir, kind)
    # NOTE: input_type/output_type are derived (Flatten's is optional), and a conv's
    # input_shape may be absent.
    derived = {"input_type", "output_type", "metadata", "input_shape"}
    return {
        f.name
        for f in dataclasses.fields(cls)
        if f.init
        and f.name not in derived
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    }


class _Importer(Context):
    """One import: flatten, pick the convention, build ops, wire edges, verify."""

    def __init__(
        self,
        nir: ModuleType,
        graph: Any,
        *,
        dt: float | None,
        reset: str | None,
        convention: str | None,
        norse_tau: str | None = None,
        reset_delay: bool | None = None,
        v_min: float | str | None = None,
    ) -> None:
        super().__init__(reset=reset, reset_delay=reset_delay, v_min=v_min)
        self.nir = nir
        self.top = graph
        self.meta = node_meta(graph)
        self.dt_arg = dt
        self.convention_arg = convention
        if norse_tau is not None and convention is None:
            self.convention_arg = "norse"
        self.norse_tau_arg = norse_tau
        self.sources: dict[str, str | None] = {}

    def run(self) -> ir.Graph:
        flat = Flat()
        flatten(self.nir, self.top, "", flat, top=True)
        contract(flat)
        neurons = [
            Neuron(n, flat.kinds[n], flat.nodes[n])
            for n in flat.nodes
            if flat.kinds[n] in NEURONS
        ]
        conv, dt = self._convention(flat, neurons)
        self._input_quirk(flat)
        loops = nx.DiGraph(flat.edges)
        self.cyclic = {
            n
            for part in nx.strongly_connected_components(loops)
            if len(part) > 1
            for n in part
        }
        name = as_str(self.meta.get(META_PREFIX + "name"))
        graph = ir.Graph(name or "main", dt=dt)
        broadcast: dict[str, tuple[str, ...]] = {}
        for node_name, node in flat.nodes.items():
            kind = flat.kinds[node_name]
            op, fields = self._op(node_name, kind, node, conv, dt)
            graph.add(node_name, op)
            broadcast[node_name] = fields
        recurrent = self._recurrent(flat, graph)
        for src, dst in flat.edges:
            graph.connect(src, dst, recurrent=(src, dst) in recurrent)
        ir.verify(graph)
        self._check_declared_shapes(flat, graph)
        for node_name, fields in broadcast.items():
            if fields:
                graph.replace(node_name, broadcast_params(graph, node_name, fields))
        ir.verify(graph)
        _warn_collapsed(graph, flat)
        if conv.warn_losses is not None and _stored_convention(self.meta) is None:
            conv.warn_losses(graph, flat)
        for text in self.assumed.values():
            warnings.warn(text, ConventionWarning, stacklevel=3)
        return graph

    def info(self, graph: ir.Graph) -> ImportInfo:
        """What this import used (after :meth:`run`)."""
        resets: dict[str, int] = {}
        for name in graph.nodes():
            mode = getattr(graph.op(name), "reset", None)
            if isinstance(mode, str):
                resets[mode] = resets.get(mode, 0) + 1
        order = ("given", "metadata", "convention")
        reset_from = next((o for o in order if o in self.reset_from), "convention")
        return ImportInfo(
            convention=str(self.sources["convention"]),
            convention_from=str(self.sources["convention_from"]),
            dt=graph.dt,
            dt_from=str(self.sources["dt_from"]),
            resets=resets,
            reset_from=reset_from,
            norse_tau=self.sources.get("norse_tau"),
            norse_tau_from=self.sources.get("norse_tau_from"),
        )

    def _input_quirk(self, flat: Flat) -> None:
        """Drop leading 1-dims an exporter traced into a graph ``Input``.

        Rockpool's ``to_nir`` with its default sample ``zeros((1, n))`` (and any
        nirtorch export without ``ignore_dims``) writes ``Input [1, n]``. When every
        user of the input is a dense layer taking ``n`` features, the leading 1s are
        the sample's batch dim: the input is taken as ``(n,)``, with a warning.
        """
        for name, kind in flat.kinds.items():
            if kind != "Input":
                continue
            shape = flat.nodes[name].input_type.get("input")
            if shape is None or np.ndim(shape) != 1:
                continue
            try:
                raw = np.ravel(np.asarray(shape, dtype=np.float64))
            except (TypeError, ValueError):
                continue  # not numbers: the shape check names it
            if not np.all(np.isfinite(raw)) or np.any(raw != np.round(raw)):
                continue  # NaN or fractional: the shape check names it
            declared = tuple(int(d) for d in raw)
            if len(declared) < 2 or any(d != 1 for d in declared[:-1]):
                continue
            users = [d for s, d in flat.edges if s == name]
            dense = all(
                flat.kinds[u] in ("Affine", "Linear")
                and np.ndim(flat.nodes[u].weight) == 2
                and np.shape(flat.nodes[u].weight)[1] == declared[-1]
                for u in users
            )
            if not users or not dense:
                continue
            self.input_shapes[name] = declared[-1:]
            warnings.warn(
                f"Input '{name}' declares shape {declared}, but its users "
                f"({', '.join(repr(u) for u in users)}) take {declared[-1]} features: "
                "the leading 1s are the export sample's batch dim (Rockpool 3.1's "
                "to_nir default sample, or a nirtorch export without ignore_dims); "
                f"importing the input as ({declared[-1]},)",
                NIRImportWarning,
                stacklevel=2,
            )

    # -- convention and dt -----------------------------------------------------------
    def _convention(
        self, flat: Flat, neurons: list[Neuron]
    ) -> tuple[Convention, float | None]:
        stored = _stored_convention(self.meta)
        name = self.convention_arg or stored
        src = "given" if self.convention_arg else "metadata"
        meta_dt = self.meta.get(META_PREFIX + "dt")
        dt = self.dt_arg if self.dt_arg is not None else None
        dt_from = "given" if dt is not None else "none"
        if name is None and not neurons:
            name, src = "exact", "default"  # nothing to discretize
        if name is None:
            name, detected_dt = detect(neurons, self.dt_arg)
            src = "detected"
            if dt is None and detected_dt is not None:
                dt, dt_from = detected_dt, "detected"
        if name not in CONVENTIONS:
            raise FrontendError(f"metadata names unknown convention {name!r}")
        conv = CONVENTIONS[name]
        if dt is None and meta_dt is not None and name == stored:
            dt, dt_from = float(meta_dt), "metadata"
        if dt is None and conv.recover_dt is not None:
            dt = conv.recover_dt(neurons)
            dt_from = "recovered" if dt is not None else dt_from
        if dt is None and conv.dt is not None:
            dt, dt_from = conv.dt, "convention"
        if self.reset_delay_arg is not None and conv.reset_delay is None:
            raise FrontendError(
                f"reset_delay applies to convention 'snntorch' only, not '{name}'"
            )
        timed = [n for n in flat.nodes if flat.kinds[n] in (*NEURONS, "Delay")]
        if dt is None and timed:
            raise FrontendError(
                f"node '{timed[0]}' ({flat.kinds[timed[0]]}) needs a time step: pass "
                f"dt= (seconds) for convention '{name}'"
            )
        if self.norse_tau_arg is not None and name != "norse":
            raise FrontendError(f"norse_tau= is for convention 'norse', not {name!r}")
        self.sources.update(convention=name, convention_from=src, dt_from=dt_from)
        if name == "norse" and dt is not None:
            mode = self.norse_tau_arg or norse.tau_mode(neurons, dt)
            self.sources.update(
                norse_tau=mode,
                norse_tau_from="given" if self.norse_tau_arg else "detected",
            )
            if mode == "true":
                conv = norse.with_true_tau(conv, dt, dt_from == "convention")
        return conv, dt

    # -- ops -------------------------------------------------------------------------
    def _op(
        self, name: str, kind: str, node: Any, conv: Convention, dt: float | None
    ) -> tuple[ir.Op, tuple[str, ...]]:
        build = BUILDERS.get(kind)
        if build is None:
            raise FrontendError(f"node '{name}': NIR type '{kind}' is not supported")
        try:
            return build(self, name, node, conv, dt or 1.0)
        except ir.VerifyError as err:
            raise FrontendError(f"node '{name}' ({kind}): {err}") from None
        except (TypeError, ValueError, AttributeError, KeyError) as err:
            raise FrontendError(
                f"node '{name}' ({kind}): bad parameters: {err}"
            ) from None

    # -- edges -----------------------------------------------------------------------
    def _recurrent(self, flat: Flat, graph: ir.Graph) -> set[tuple[str, str]]:
        stored = as_str(self.meta.get(META_PREFIX + "recurrent_edges"))
        if stored is not None:
            try:
                marked = {(str(s), str(d)) for s, d in json.loads(stored)}
            except (ValueError, TypeError) as err:
                raise FrontendError(f"bad recurrent_edges metadata: {err}") from None
        else:
            marked = set()
        return close_cycles(flat, graph, marked)

    def _check_declared_shapes(self, flat: Flat, graph: ir.Graph) -> None:
        for name, node in flat.nodes.items():
            try:
                declared = declared_input(flat.kinds[name], node)
            except (TypeError, ValueError) as err:
                raise FrontendError(
                    f"node '{name}' ({flat.kinds[name]}): bad shape: {err}"
                ) from None
            if declared is None:
                continue
            fed = {graph.shape(e.src) for e in graph.in_edges(name)}
            if flat.kinds[name] == "Output" and _output_quirk(declared, fed):
                warnings.warn(
                    f"Output '{name}' declares type {declared} but its edge carries "
                    f"{next(iter(fed))}: Rockpool 3.1's to_nir (with nir <= 1.0.4) "
                    "writes the export sample's batch/time dims into the Output type; "
                    "using the edge's type",
                    NIRImportWarning,
                    stacklevel=2,
                )
                continue
            for shape in sorted(fed - {declared}):
                raise FrontendError(
                    f"node '{name}' ({flat.kinds[name]}) declares input shape "
                    f"{declared} but receives {shape}"
                )


def _stored_convention(meta: Mapping[str, Any]) -> str | None:
    """The convention spikeforge's own export recorded (``None``: a foreign file)."""
    return as_str(meta.get(META_PREFIX + "convention"))


def _output_quirk(declared: tuple[int, ...], fed: set[tuple[int, ...]]) -> bool:
    """Rockpool's bogus ``Output`` type: 3-D (batch, time, channels) where the edge
    is 1-D, ending in the edge's size or all ones (e.g. ``(8, 1, 4)``, ``(1, 1, 4)``,
    ``(1, 1, 1)`` for ``(4,)``)."""
    if len(fed) != 1:
        return False
    (shape,) = fed
    return (
        len(shape) == 1
        and len(declared) == 3
        and (declared[-1] == shape[0] or all(d == 1 for d in declared))
    )


def _warn_collapsed(graph: ir.Graph, flat: Flat) -> None:
    """Warn once where mapped time constants leave (almost) no memory per step."""
    dt = graph.dt
    if dt is None:
        return
    found = []
    for name in graph.nodes():
        op = graph.op(name)
        for field_name in ("tau", "tau_mem", "tau_syn"):
            tau = getattr(op, field_name, None)
            if not isinstance(tau, np.ndarray):
                continue
            low = np.exp(-dt / f64(tau)) < _COLLAPSED
            if not np.any(low):
                continue
            node = flat.nodes.get(name)
            written = getattr(node, field_name, None)
            if written is None and field_name == "tau":
                written = getattr(node, "tau_mem", None)
            was = "" if written is None else f", written {show(written)} s"
            found.append(
                f"'{name}'.{field_name} ({int(low.sum())}/{low.size} neurons{was})"
            )
    if found:
        warnings.warn(
            f"time constants collapse to no memory (per-step decay < {_COLLAPSED:g}, "
            f"tau < dt/{-math.log(_COLLAPSED):.1f} at dt = {dt:g} s): "
            f"{', '.join(found)}; check the convention, dt= and (Norse) norse_tau=",
            NIRImportWarning,
            stacklevel=2,
        )
