"""The Xylo hardware configuration: register arrays under the reference's names.

A ``XyloConfig`` is what the Xylo target lowers a graph to and what
``XyloEmulator`` runs. ``validate`` lists every violation of the variant's limits
(``backends/xylo/variants.py``); ``save``/``load`` write and read a folder holding
``config.json`` (scalars, the neuron map) and ``registers.npz`` (the arrays),
byte-deterministically.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backends.graph_io import (
    GraphIO,
    InputPort,
    OutputPort,
    checked_with_saved_io,
)
from backends.jsonfile import read_json_object
from backends.problems import problem_list
from backends.xylo.variants import VARIANTS, XyloVariant
from ir.serialize import (
    CompanionFileError,
    digest,
    read_companion,
    write_files,
    write_npz,
)

__all__ = ["CONFIG_FORMAT", "CONFIG_VERSION", "ConfigError", "XyloConfig"]

CONFIG_FORMAT = "spikeforge-xylo-config"
CONFIG_VERSION = 2
"""Version 2 adds ``"io"`` (the graph's I/O, ``backends.graph_io``); version 1 files
still load, their I/O derived from the neuron map."""

READ_VERSIONS = (1, CONFIG_VERSION)

ARRAY_NAMES = (
    "weights_in",
    "weights_rec",
    "weights_out",
    "dash_mem",
    "dash_syn",
    "dash_syn_2",
    "dash_mem_out",
    "dash_syn_out",
    "threshold",
    "threshold_out",
    "bias",
    "bias_out",
    "aliases",
)
SHIFT_NAMES = ("weight_shift_in", "weight_shift_rec", "weight_shift_out")
NEURON_KINDS = ("input", "hidden", "output")

# Register dtype of each array; values that do not fit stay int64 so that
# ``validate`` can report them instead of a silent wrap.
_DTYPES: dict[str, type[np.integer[Any]]] = {
    "weights_in": np.int8,
    "weights_rec": np.int8,
    "weights_out": np.int8,
    "dash_mem": np.uint8,
    "dash_syn": np.uint8,
    "dash_syn_2": np.uint8,
    "dash_mem_out": np.uint8,
    "dash_syn_out": np.uint8,
    "threshold": np.int16,
    "threshold_out": np.int16,
    "bias": np.int8,
    "bias_out": np.int8,
    "aliases": np.int32,
}


class ConfigError(ValueError):
    """An invalid or unreadable Xylo configuration; the message lists every problem."""


@dataclass(frozen=True, eq=False)
class XyloConfig:
    """Register-level configuration of one Xylo SNN core.

    Arrays (integers; ``Nin``/``Nout`` from the variant, ``nsyn`` 1 or 2, ``Nhid``
    the hidden neurons configured, ``1..variant.n_hidden``):
    ``weights_in (Nin, Nhid, nsyn)``, ``weights_rec (Nhid, Nhid, nsyn)`` (source,
    target, synapse), ``weights_out (Nhid, Nout)``; per hidden neuron ``dash_mem``,
    ``dash_syn``, ``dash_syn_2``, ``threshold``, ``bias``, ``aliases`` (alias target
    id, -1 for none); per output neuron ``dash_mem_out``, ``dash_syn_out``,
    ``threshold_out``, ``bias_out``. Effective weights are ``w << weight_shift_*``.
    ``dt`` is the time step in seconds; ``neuron_map`` maps a graph neuron name to
    ``[kind, hardware id]`` (kind: input, hidden or output). ``io`` is the graph's
    I/O (input names and shapes, output names and readout channels, hop delay) for
    running the build on the graph's own inputs; ``None`` for a configuration built
    from registers without a neuron map.

    NOTE: the configuration holds ``Nhid`` hidden neurons, not always the whole core,
    and the output window of XyloAudio 3 / XyloIMU is the last 128 of those ``Nhid``
    ids: XyloSim's ``from_specification`` reads the readout from ids
    ``[N - OEN, N)`` of the ``N`` neurons it is given (reference ``xylo.md`` §2,
    "Rockpool XyloSim wrappers"). So a single hidden layer of up to 128 neurons can
    both take input and feed the readout.
    """

    variant: str
    weights_in: np.ndarray
    weights_rec: np.ndarray
    weights_out: np.ndarray
    dash_mem: np.ndarray
    dash_syn: np.ndarray
    dash_syn_2: np.ndarray
    dash_mem_out: np.ndarray
    dash_syn_out: np.ndarray
    threshold: np.ndarray
    threshold_out: np.ndarray
    bias: np.ndarray
    bias_out: np.ndarray
    aliases: np.ndarray
    weight_shift_in: int = 0
    weight_shift_rec: int = 0
    weight_shift_out: int = 0
    dt: float = 1e-3
    neuron_map: Mapping[str, list[Any]] = field(default_factory=dict)
    io: GraphIO | None = None

    @property
    def target(self) -> str:
        """The target name (the variant), for the ``HardwareConfig`` protocol."""
        return self.variant

    @property
    def n_hidden(self) -> int:
        """Hidden neurons configured (ids ``0..n_hidden-1``), from ``weights_rec``."""
        shape = np.shape(self.weights_rec)
        return int(shape[0]) if len(shape) >= 1 else 0

    @property
    def spec(self) -> XyloVariant:
        """The variant's limits (raises ``ConfigError`` for an unknown variant)."""
        if self.variant not in VARIANTS:
            raise ConfigError(
                f"unknown Xylo variant '{self.variant}'; known: {', '.join(VARIANTS)}"
            )
        return VARIANTS[self.variant]

    @classmethod
    def from_registers(
        cls,
        variant: str,
        *,
        weight_shift_in: int = 0,
        weight_shift_rec: int = 0,
        weight_shift_out: int = 0,
        dt: float = 1e-3,
        neuron_map: Mapping[str, list[Any]] | None = None,
        **arrays: Any,
    ) -> XyloConfig:
        """Build a configuration, filling missing registers with defaults.

        Defaults: zero weights, biases and shifts; dash 1 (as rockpool's
        ``config_from_specification``); threshold 32767 (the largest valid one: a
        zero threshold is invalid); no aliases. ``weights_in``/``weights_rec`` may be
        2-D (one synapse); ``weights_in`` may cover only the input window and, on a
        windowed variant, ``weights_out`` may be ``(OEN, Nout)`` for the last ``OEN``
        hidden ids. Arrays are cast to their register dtypes when their values fit;
        ``validate`` reports those that do not.

        Rockpool-shaped registers are accepted too (its mapper's and
        ``XyloSim.from_specification``'s, reference ``xylo.md`` §3): fewer input
        channels (``weights_in`` rows) or output neurons (``weights_out`` columns and
        the ``*_out`` vectors) than the chip has, padded with unused channels and
        outputs (zero weights, default registers); ``aliases`` as a list per hidden
        neuron of alias targets (``[]`` none, ``[t]`` one; the chip holds one
        target, as Rockpool's ``config_from_specification`` uses only the first).

        Raises:
            ConfigError: unknown variant or register name, non-integer values, more
                inputs or outputs than the variant has, an alias list with more than
                one target (naming the neuron).
        """
        if variant not in VARIANTS:
            raise ConfigError(
                f"unknown Xylo variant '{variant}'; known: {', '.join(VARIANTS)}"
            )
        unknown = sorted(set(arrays) - set(ARRAY_NAMES))
        if unknown:
            raise ConfigError(
                f"unknown register(s) {', '.join(unknown)}; known: "
                f"{', '.join(ARRAY_NAMES + SHIFT_NAMES)}"
            )
        spec = VARIANTS[variant]
        if "aliases" in arrays:
            arrays = {**arrays, "aliases": _alias_targets(arrays["aliases"])}
        given = {name: _as_int(name, value) for name, value in arrays.items()}
        nin, nhid, nout = spec.n_inputs, _hidden_count(spec, given), spec.n_outputs
        _pad_channels(given, spec)
        defaults = {
            "weights_in": np.zeros((nin, nhid, spec.n_syn), np.int64),
            "weights_rec": np.zeros((nhid, nhid, spec.n_syn), np.int64),
            "weights_out": np.zeros((nhid, nout), np.int64),
            "dash_mem": np.ones(nhid, np.int64),
            "dash_syn": np.ones(nhid, np.int64),
            "dash_syn_2": np.ones(nhid, np.int64),
            "dash_mem_out": np.ones(nout, np.int64),
            "dash_syn_out": np.ones(nout, np.int64),
            "threshold": np.full(nhid, 32767, np.int64),
            "threshold_out": np.full(nout, 32767, np.int64),
            "bias": np.zeros(nhid, np.int64),
            "bias_out": np.zeros(nout, np.int64),
            "aliases": np.full(nhid, -1, np.int64),
        }
        regs = {**defaults, **given}
        for name in ("weights_in", "weights_rec"):
            if regs[name].ndim == 2:
                regs[name] = regs[name][:, :, None]
            arr = regs[name]
            if arr.ndim == 3 and arr.shape[2] < spec.n_syn:
                pad = np.zeros((*arr.shape[:2], spec.n_syn - arr.shape[2]), np.int64)
                regs[name] = np.concatenate([arr, pad], axis=2)
        w_in = regs["weights_in"]
        if w_in.ndim == 3 and w_in.shape[0] == nin and w_in.shape[1] < nhid:
            full = np.zeros((nin, nhid, w_in.shape[2]), np.int64)
            full[:, : w_in.shape[1]] = w_in
            regs["weights_in"] = full
        w_out = regs["weights_out"]
        if (
            spec.output_window is not None
            and w_out.ndim == 2
            and w_out.shape[0] < nhid
            and w_out.shape[1] == nout
        ):
            full = np.zeros((nhid, nout), np.int64)
            full[nhid - w_out.shape[0] :] = w_out
            regs["weights_out"] = full
        cast: dict[str, Any] = {
            name: _to_register(name, regs[name]) for name in ARRAY_NAMES
        }
        return cls(
            variant=variant,
            weight_shift_in=int(weight_shift_in),
            weight_shift_rec=int(weight_shift_rec),
            weight_shift_out=int(weight_shift_out),
            dt=float(dt),
            neuron_map=dict(neuron_map or {}),
            **cast,
        )

    @classmethod
    def from_rockpool(cls, variant: str, spec: Mapping[str, Any]) -> XyloConfig:
        """A configuration from a Rockpool Xylo specification dict (its mapper's
        output after quantization, or ``XyloSim.from_specification``'s arguments).

        ``mapped_graph`` is dropped (not a register), ``bias_hidden``
        (``config_from_specification``'s name) is read as ``bias``; the rest goes
        to :meth:`from_registers`, which takes Rockpool's shapes.

        Raises:
            ConfigError: as :meth:`from_registers`; both ``bias`` and
                ``bias_hidden`` given.
        """
        regs = {k: v for k, v in spec.items() if k != "mapped_graph"}
        if "bias_hidden" in regs:
            if "bias" in regs:
                raise ConfigError("give bias or bias_hidden, not both")
            regs["bias"] = regs.pop("bias_hidden")
        return cls.from_registers(variant, **regs)

    def to_rockpool(
        self, *, n_inputs: int | None = None, n_outputs: int | None = None
    ) -> dict[str, Any]:
        """The registers as a Rockpool Xylo specification dict (the keys of
        ``XyloSim.from_specification``): ``weights_in (Nin, N or IEN, nsyn)``,
        ``weights_out (N or OEN, Nout)`` (the input/output windows of windowed
        variants), ``aliases`` as a list of lists, shifts, ``dt``. ``n_inputs`` and
        ``n_outputs`` keep only the first channels and outputs (default all).
        """
        spec = self.spec
        nin = spec.n_inputs if n_inputs is None else int(n_inputs)
        nout = spec.n_outputs if n_outputs is None else int(n_outputs)
        if not (0 < nin <= spec.n_inputs and 0 < nout <= spec.n_outputs):
            raise ConfigError(
                f"to_rockpool: n_inputs {nin} / n_outputs {nout} outside 1.."
                f"{spec.n_inputs} / 1..{spec.n_outputs}"
            )
        w_in = np.asarray(self.weights_in)[:nin]
        if spec.input_window is not None:
            w_in = w_in[:, : spec.input_window]
        w_out = np.asarray(self.weights_out)[:, :nout]
        if spec.output_window is not None:
            w_out = w_out[-spec.output_window :]
        out: dict[str, Any] = {
            "weights_in": w_in.copy(),
            "weights_rec": np.asarray(self.weights_rec).copy(),
            "weights_out": w_out.copy(),
            "dash_mem": np.asarray(self.dash_mem).copy(),
            "dash_mem_out": np.asarray(self.dash_mem_out)[:nout].copy(),
            "dash_syn": np.asarray(self.dash_syn).copy(),
            "dash_syn_2": np.asarray(self.dash_syn_2).copy(),
            "dash_syn_out": np.asarray(self.dash_syn_out)[:nout].copy(),
            "threshold": np.asarray(self.threshold).copy(),
            "threshold_out": np.asarray(self.threshold_out)[:nout].copy(),
            "bias": np.asarray(self.bias).copy(),
            "bias_out": np.asarray(self.bias_out)[:nout].copy(),
            "weight_shift_in": int(self.weight_shift_in),
            "weight_shift_rec": int(self.weight_shift_rec),
            "weight_shift_out": int(self.weight_shift_out),
            "aliases": [[int(t)] if t >= 0 else [] for t in np.asarray(self.aliases)],
            "dt": float(self.dt),
        }
        return out

    def validate(self) -> list[str]:
        """Every violation of the variant's limits, as messages (empty: valid)."""
        if self.variant not in VARIANTS:
            return [
                f"unknown Xylo variant '{self.variant}'; known: {', '.join(VARIANTS)}"
            ]
        spec = VARIANTS[self.variant]
        nin, nhid, nout = spec.n_inputs, self.n_hidden, spec.n_outputs
        errors: list[str] = []
        if not 1 <= nhid <= spec.n_hidden:
            errors.append(
                f"weights_rec: {nhid} hidden neurons, {spec.name} has 1..{spec.n_hidden}"
            )
        shapes_ok: dict[str, bool] = {}
        for name in ARRAY_NAMES:
            arr = getattr(self, name)
            expected = _expected_shape(name, nin, nhid, nout)
            shape = tuple(np.shape(arr))
            if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "iu":
                errors.append(f"{name}: must be an integer array, got {_kind(arr)}")
                shapes_ok[name] = False
                continue
            if name in ("weights_in", "weights_rec"):
                ok = len(shape) == 3 and shape[:2] == expected and shape[2] in (1, 2)
                want = f"{(*expected, 'nsyn')} with nsyn 1 or 2"
            else:
                ok = shape == expected
                want = str(expected)
            shapes_ok[name] = ok
            if not ok:
                errors.append(f"{name}: shape {shape}, expected {want}")
        w_lo, w_hi = _signed(spec.weight_bits)
        b_lo, b_hi = _signed(spec.bias_bits)
        ranges: dict[str, tuple[int, int, str]] = {
            "weights_in": (w_lo, w_hi, f"int{spec.weight_bits}"),
            "weights_rec": (w_lo, w_hi, f"int{spec.weight_bits}"),
            "weights_out": (w_lo, w_hi, f"int{spec.weight_bits}"),
            "threshold": (1, _signed(spec.threshold_bits)[1], "threshold"),
            "threshold_out": (1, _signed(spec.threshold_bits)[1], "threshold"),
            "bias": (b_lo, b_hi, f"int{spec.bias_bits}"),
            "bias_out": (b_lo, b_hi, f"int{spec.bias_bits}"),
            "aliases": (-1, nhid - 1, "alias target (-1 = none)"),
        }
        for name in ("dash_mem", "dash_syn", "dash_syn_2", "dash_mem_out"):
            ranges[name] = (0, 2**spec.dash_bits - 1, f"{spec.dash_bits}-bit dash")
        ranges["dash_syn_out"] = ranges["dash_mem"]
        for name, (lo, hi, what) in ranges.items():
            if not shapes_ok[name]:
                continue
            errors.extend(_range_errors(name, getattr(self, name), lo, hi, what))
        if not spec.has_bias:
            for name in ("bias", "bias_out"):
                if shapes_ok[name] and np.any(getattr(self, name) != 0):
                    errors.append(
                        f"{name}: {spec.name} ({spec.part_number}) has no bias, "
                        "but it is nonzero"
                    )
        if shapes_ok["weights_in"] and spec.input_window is not None:
            outside = np.flatnonzero(
                np.any(self.weights_in[:, spec.input_window :] != 0, axis=(0, 2))
            )
            if outside.size:
                errors.append(
                    f"weights_in: input weights reach hidden ids outside the input "
                    f"window 0..{spec.input_window - 1}: "
                    f"{_ids(outside + spec.input_window)}"
                )
        if shapes_ok["weights_out"] and spec.output_window is not None:
            first = max(0, nhid - spec.output_window)
            outside = np.flatnonzero(np.any(self.weights_out[:first] != 0, axis=1))
            if outside.size:
                errors.append(
                    f"weights_out: readout weights leave hidden ids outside the "
                    f"output window {first}..{nhid - 1}: {_ids(outside)}"
                )
        if shapes_ok["weights_rec"]:
            fanout = np.count_nonzero(np.any(self.weights_rec != 0, axis=2), axis=1)
            if spec.max_fanout is not None and np.any(fanout > spec.max_fanout):
                over = np.flatnonzero(fanout > spec.max_fanout)
                errors.append(
                    f"weights_rec: recurrent fan-out over {spec.max_fanout} at "
                    f"source ids {_ids(over)} (largest {int(fanout.max())})"
                )
            total = int(fanout.sum())
            if spec.rec_weight_entries is not None and total > spec.rec_weight_entries:
                errors.append(
                    f"weights_rec: {total} recurrent weight entries, the recurrent "
                    f"weight RAM holds {spec.rec_weight_entries}"
                )
        if spec.n_syn == 1:
            for name in ("weights_in", "weights_rec"):
                arr = getattr(self, name)
                if shapes_ok[name] and arr.shape[2] > 1 and np.any(arr[:, :, 1:] != 0):
                    errors.append(
                        f"{name}: synapse 2 is used, but {spec.name} has one "
                        "synaptic state per neuron"
                    )
        for name in SHIFT_NAMES:
            value = getattr(self, name)
            if (
                not isinstance(value, (int, np.integer))
                or isinstance(value, bool)
                or not 0 <= value <= spec.max_weight_shift
            ):
                errors.append(
                    f"{name}: {value!r} is outside the safe range "
                    f"0..{spec.max_weight_shift} (larger shifts wrap int16)"
                )
        if not (
            isinstance(self.dt, (int, float))
            and not isinstance(self.dt, bool)
            and math.isfinite(self.dt)
        ) or (self.dt <= 0):
            errors.append(f"dt: {self.dt!r} must be a positive number of seconds")
        errors.extend(_neuron_map_errors(self.neuron_map, nin, nhid, nout))
        return errors

    def check(self) -> None:
        """Raise ``ConfigError`` listing every violation, if there is any."""
        errors = self.validate()
        if errors:
            raise ConfigError(problem_list(self.variant, errors))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``config.json`` and ``registers.npz`` into folder ``path``.

        Both files are written as one output (``ir.serialize.write_files``: both or,
        on a failure, neither), ``config.json`` last recording the SHA-256 of
        ``registers.npz``, and byte-for-byte the same for the same configuration.
        """
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {name: np.asarray(getattr(self, name)) for name in ARRAY_NAMES}
        buffer = io.BytesIO()
        write_npz(buffer, arrays)
        registers = buffer.getvalue()
        meta: dict[str, Any] = {
            "format": CONFIG_FORMAT,
            "version": CONFIG_VERSION,
            "target": self.variant,  # `spikeforge run build/` finds the target by it
            "variant": self.variant,
            "dt": self.dt,
            **{name: int(getattr(self, name)) for name in SHIFT_NAMES},
            "neuron_map": {
                str(k): [str(v[0]), int(v[1])]
                for k, v in sorted(self.neuron_map.items())
            },
            "arrays": "registers.npz",
            "arrays_sha256": digest(registers),
        }
        if self.io is not None:
            meta["io"] = self.io.to_json()
        write_files(
            [
                (folder / "registers.npz", registers),
                (folder / "config.json", (json.dumps(meta, indent=2) + "\n").encode()),
            ]
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> XyloConfig:
        """Read a folder written by :meth:`save` and validate it.

        Raises:
            ConfigError: a missing or malformed file, or an invalid configuration
                (the message lists every violation).
        """
        folder = Path(path)
        meta = read_json_object(folder / "config.json", error=ConfigError)
        if not isinstance(meta, dict) or meta.get("format") != CONFIG_FORMAT:
            raise ConfigError(
                f"{folder / 'config.json'}: not a {CONFIG_FORMAT} file "
                f"(format {meta.get('format') if isinstance(meta, dict) else None!r})"
            )
        if meta.get("version") not in READ_VERSIONS:
            raise ConfigError(
                f"{folder / 'config.json'}: version {meta.get('version')!r}, "
                f"this spikeforge reads versions "
                f"{', '.join(map(str, READ_VERSIONS))}"
            )
        arrays_name = meta.get("arrays", "registers.npz")
        blob = folder / str(arrays_name)
        sha256 = meta.get("arrays_sha256")  # absent in builds before digests
        try:
            data = read_companion(
                folder / "config.json",
                arrays_name,
                sha256=None if sha256 is None else str(sha256),
            )
            npz = np.load(io.BytesIO(data), allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise ConfigError(f"{blob}: a single .npy array, not an .npz archive")
            with npz:
                arrays: dict[str, Any] = {name: npz[name] for name in npz.files}
        except CompanionFileError as err:
            raise ConfigError(str(err)) from None
        except EOFError:
            raise ConfigError(f"{blob}: the file is empty") from None
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            if isinstance(err, ConfigError):
                raise
            raise ConfigError(f"{blob}: {err}") from None
        missing = [name for name in ARRAY_NAMES if name not in arrays]
        if missing:
            raise ConfigError(f"{blob}: missing register(s) {', '.join(missing)}")
        try:
            config = cls(
                variant=str(meta["variant"]),
                dt=meta["dt"],
                neuron_map={
                    str(k): list(v) for k, v in dict(meta["neuron_map"]).items()
                },
                **{name: meta[name] for name in SHIFT_NAMES},
                **{name: arrays[name] for name in ARRAY_NAMES},
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"{folder / 'config.json'}: bad field {err}") from None
        return checked_with_saved_io(
            config,
            meta,
            where=str(folder / "config.json"),
            legacy=lambda: io_from_neuron_map(config.neuron_map),
            error=ConfigError,
        )


def io_from_neuron_map(
    neuron_map: Mapping[str, Any],
    *,
    input_name: str | None = None,
    output_name: str | None = None,
) -> GraphIO | None:
    """The graph I/O a neuron map implies (``None`` without input or output entries).

    One input of the ``input`` entries' size (its name the input layer's, or
    ``input_name``), one output whose channels are the ``output`` entries' readout
    ids in index order (named ``output_name`` or the output layer's), and a hop
    delay of one step per hidden layer (``backends.xylo.lower.hop_delay``).
    """
    layers: dict[str, dict[str, dict[int, int]]] = {}
    for key, entry in neuron_map.items():
        name, _, index = str(key).rpartition(":")
        if not index.isdigit():
            return None
        kind = str(entry[0])
        layers.setdefault(kind, {}).setdefault(name, {})[int(index)] = int(entry[1])
    ins, outs = layers.get("input", {}), layers.get("output", {})
    if len(ins) != 1 or len(outs) != 1:
        return None
    (in_layer, in_ids), (out_layer, out_ids) = (
        next(iter(ins.items())),
        next(iter(outs.items())),
    )
    # NOTE: graph input channel i is chip channel i (``lower.config_from_graph``).
    if in_ids != {i: i for i in range(len(in_ids))} or sorted(out_ids) != list(
        range(len(out_ids))
    ):
        return None
    return GraphIO(
        inputs=(InputPort(input_name or in_layer, (len(in_ids),)),),
        outputs=(
            OutputPort(
                output_name or out_layer, tuple(out_ids[i] for i in range(len(out_ids)))
            ),
        ),
        hop_delay=len(layers.get("hidden", {})),
    )


def _alias_targets(aliases: Any) -> Any:
    """Rockpool's aliases (a list per hidden neuron of target ids) as the register
    (one target per neuron, -1 for none); anything else is returned unchanged."""
    if not isinstance(aliases, (list, tuple)) or not any(
        isinstance(a, (list, tuple)) for a in aliases
    ):
        return aliases
    out = []
    for i, targets in enumerate(aliases):
        if not isinstance(targets, (list, tuple)):
            out.append(targets)
            continue
        if len(targets) > 1:
            raise ConfigError(
                f"aliases: hidden neuron {i} has {len(targets)} alias targets "
                f"{list(targets)}; a Xylo neuron holds one"
            )
        out.append(targets[0] if targets else -1)
    return out


_OUT_DEFAULTS = {"dash_mem_out": 1, "dash_syn_out": 1, "threshold_out": 32767}


def _pad_channels(given: dict[str, np.ndarray], spec: XyloVariant) -> None:
    """Pad Rockpool-sized registers (fewer inputs or outputs than the variant has)
    with unused channels and output neurons, in place."""
    nin, nout = spec.n_inputs, spec.n_outputs
    w_in = given.get("weights_in")
    if w_in is not None and w_in.ndim >= 2 and w_in.shape[0] != nin:
        if w_in.shape[0] > nin:
            raise ConfigError(
                f"weights_in: {w_in.shape[0]} input channels; {spec.name} has {nin}"
            )
        pad = np.zeros((nin - w_in.shape[0], *w_in.shape[1:]), np.int64)
        given["weights_in"] = np.concatenate([w_in, pad])
    w_out = given.get("weights_out")
    if w_out is not None and w_out.ndim == 2 and w_out.shape[1] != nout:
        if w_out.shape[1] > nout:
            raise ConfigError(
                f"weights_out: {w_out.shape[1]} outputs; {spec.name} has {nout}"
            )
        pad = np.zeros((w_out.shape[0], nout - w_out.shape[1]), np.int64)
        given["weights_out"] = np.concatenate([w_out, pad], axis=1)
    for name in ("dash_mem_out", "dash_syn_out", "threshold_out", "bias_out"):
        arr = given.get(name)
        if arr is None or arr.ndim != 1 or arr.shape[0] == nout:
            continue
        if arr.shape[0] > nout:
            raise ConfigError(f"{name}: {arr.shape[0]} outputs; {spec.name} has {nout}")
        fill = np.full(nout - arr.shape[0], _OUT_DEFAULTS.get(name, 0), np.int64)
        given[name] = np.concatenate([arr, fill])


def _hidden_count(spec: XyloVariant, given: Mapping[str, np.ndarray]) -> int:
    """Hidden neurons of a configuration built from ``given`` registers.

    The first register that says: ``weights_rec``, a per-hidden-neuron array, or (on a
    variant without windows) ``weights_in``/``weights_out``; otherwise the whole core.
    """
    if "weights_rec" in given and given["weights_rec"].ndim >= 1:
        return int(given["weights_rec"].shape[0])
    for name in ("dash_mem", "dash_syn", "dash_syn_2", "threshold", "bias", "aliases"):
        if name in given and given[name].ndim == 1:
            return int(given[name].shape[0])
    if spec.input_window is None and given.get("weights_in", np.zeros(0)).ndim >= 2:
        return int(given["weights_in"].shape[1])
    if spec.output_window is None and given.get("weights_out", np.zeros(0)).ndim == 2:
        return int(given["weights_out"].shape[0])
    return spec.n_hidden


def _as_int(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64)
    if (
        arr.dtype.kind == "f"
        and np.all(np.isfinite(arr))
        and np.all(arr == np.round(arr))
    ):
        return arr.astype(np.int64)
    raise ConfigError(f"{name}: registers hold integers, got {_kind(arr)} values")


def _to_register(name: str, arr: np.ndarray) -> np.ndarray:
    dtype = np.dtype(_DTYPES[name])
    info = np.iinfo(dtype)
    if arr.size == 0 or (arr.min() >= info.min and arr.max() <= info.max):
        return arr.astype(dtype)
    return arr.astype(np.int64)


def _expected_shape(name: str, nin: int, nhid: int, nout: int) -> tuple[int, ...]:
    if name == "weights_in":
        return (nin, nhid)
    if name == "weights_rec":
        return (nhid, nhid)
    if name == "weights_out":
        return (nhid, nout)
    return (nout,) if name.endswith("_out") else (nhid,)


def _signed(bits: int) -> tuple[int, int]:
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _kind(arr: Any) -> str:
    return str(arr.dtype) if isinstance(arr, np.ndarray) else type(arr).__name__


def _ids(ids: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(int(i)) for i in ids[:limit])
    return shown + (f", ... ({ids.size} in all)" if ids.size > limit else "")


def _range_errors(name: str, arr: np.ndarray, lo: int, hi: int, what: str) -> list[str]:
    bad = np.argwhere((arr < lo) | (arr > hi))
    if not bad.size:
        return []
    first = tuple(int(i) for i in bad[0])
    index = first[0] if len(first) == 1 else first
    return [
        f"{name}: {len(bad)} value(s) outside {lo}..{hi} ({what}), first "
        f"{int(arr[tuple(bad[0])])} at {index}"
    ]


def _neuron_map_errors(
    neuron_map: Mapping[str, Any], nin: int, nhid: int, nout: int
) -> list[str]:
    sizes = dict(zip(NEURON_KINDS, (nin, nhid, nout), strict=True))
    errors = []
    for key, entry in neuron_map.items():
        ok = (
            isinstance(entry, (list, tuple))
            and len(entry) == 2
            and isinstance(entry[0], str)
            and entry[0] in sizes
            and isinstance(entry[1], (int, np.integer))
            and not isinstance(entry[1], bool)
            and 0 <= entry[1] < sizes[entry[0]]
        )
        if not ok:
            errors.append(
                f"neuron_map[{key!r}]: {entry!r} is not [kind, id] with kind in "
                f"{', '.join(NEURON_KINDS)} and id in range"
            )
    return errors
