"""The Dynap-SE2 hardware configuration: biases per core, CAM and SRAM per neuron.

A ``DynapseConfig`` is what a Dynap-SE2 deployment writes to the chips
(``shared/reference/dynapse2.md`` §1, §5.2):

* per core ``(chip, core)``: every bias as a bias-generator code ``(coarse, fine)``
  (``coarse`` 0..5, ``fine`` 0..255, ``biasgen``) under its samna name
  (``SOIF_LEAK_N``...), and the 4 base weight currents ``Iw_0..Iw_3``
  (``SYAM_W0_P..SYAM_W3_P``) as codes;
* per neuron ``(chip, core, slot)``: its CAM entries ``(tag, dendrite, mask)`` -- the
  dendrite one of AMPA, NMDA, GABA, SHUNT and the mask 4 bits selecting the core's base
  weights -- and its SRAM entries ``(chip, core mask, tag)``;
* per external input channel its tag and destinations ``(chip, core mask)``;
* the graph-to-hardware neuron map ``"layer:index" -> [chip, core, slot]`` and ``dt``
  (seconds);
* the system's limits (``DynapseSystem``), which ``validate`` checks against.

``validate`` lists every violation, including two routing checks: every CAM entry's tag
must be sent to its core by some neuron or input channel, and no two sources may send
the same tag to one core (their synapses would be indistinguishable). ``save``/``load``
write and read one ``config.json`` (sorted keys, one core or neuron per line), atomically
and byte-deterministically; no array is big enough to need an ``.npz``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

from backends.dynapse.biasgen import N_COARSE, N_FINE
from backends.dynapse.routing import DynapseSystem, Placement
from backends.graph_io import (
    GraphIO,
    InputPort,
    OutputPort,
    checked_with_saved_io,
)
from backends.jsonfile import read_json_object
from backends.problems import problem_list
from ir.serialize import atomic_write

__all__ = [
    "BASE_WEIGHT_NAMES",
    "BIAS_NAMES",
    "CONFIG_FORMAT",
    "CONFIG_VERSION",
    "DENDRITES",
    "CamEntry",
    "ConfigError",
    "CoreConfig",
    "DynapseConfig",
    "NeuronConfig",
    "SramEntry",
]

CONFIG_FORMAT = "spikeforge-dynapse-config"
CONFIG_VERSION = 2
"""Version 2 adds ``"io"`` (the graph's I/O, ``backends.graph_io``); version 1 files
still load, their I/O derived from the neuron map and the input channels."""
READ_VERSIONS = (1, CONFIG_VERSION)
TARGET = "dynapse2"

DENDRITES = ("AMPA", "NMDA", "GABA", "SHUNT")
"""CAM dendrite (synapse) types; AMPA, NMDA excitatory, GABA, SHUNT inhibitory (§1)."""

MASK_BITS = 4
"""Bits of a CAM weight mask: one per base weight of the core (§1)."""

BASE_WEIGHT_NAMES = tuple(f"SYAM_W{k}_P" for k in range(MASK_BITS))
"""The samna names of the base weights ``Iw_0..Iw_3``, in mask-bit order (§1)."""

BIAS_NAMES = (
    "SOIF_DC_P",
    "SOIF_GAIN_N",
    "SOIF_LEAK_N",
    "SOIF_REFR_N",
    "SOIF_SPKTHR_P",
    "SYPD_EXT_N",
    "SOAD_GAIN_P",
    "SOAD_TAU_P",
    "SOAD_PWTAU_N",
    "SOAD_W_N",
    "DEAM_ETAU_P",
    "DEAM_EGAIN_P",
    "DENM_ETAU_P",
    "DENM_EGAIN_P",
    "DEGA_ITAU_P",
    "DEGA_IGAIN_P",
    "DESC_ITAU_P",
    "DESC_IGAIN_P",
    "DENM_NMREV_N",
)
"""Per-core biases by samna name, the reference's simulator-to-samna table (§1); the
base weights are kept apart (``BASE_WEIGHT_NAMES``)."""


class ConfigError(ValueError):
    """An invalid or unreadable Dynap-SE2 configuration; lists every problem."""


class CamEntry(NamedTuple):
    """One CAM (fan-in) entry: listen to ``tag`` on ``dendrite`` with weight ``mask``."""

    tag: int
    dendrite: str
    mask: int


class SramEntry(NamedTuple):
    """One SRAM (fan-out) entry: send with ``tag`` to the cores in ``core_mask`` of
    ``chip`` (bit ``k`` is core ``k``)."""

    chip: int
    core_mask: int
    tag: int


@dataclass(frozen=True, kw_only=True)
class CoreConfig:
    """One core's shared parameters.

    Attributes:
        chip, core: where.
        biases: samna bias name -> ``(coarse, fine)``.
        base_weights: ``Iw_0..Iw_3`` as ``(coarse, fine)``, mask bit ``k`` -> ``k``.
    """

    chip: int
    core: int
    biases: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    base_weights: tuple[tuple[int, int], ...] = ((0, 0),) * MASK_BITS


@dataclass(frozen=True, kw_only=True)
class NeuronConfig:
    """One neuron: its location, CAM entries and SRAM entries."""

    chip: int
    core: int
    slot: int
    cam: tuple[CamEntry, ...] = ()
    sram: tuple[SramEntry, ...] = ()

    @property
    def at(self) -> tuple[int, int, int]:
        return (self.chip, self.core, self.slot)


@dataclass(frozen=True, kw_only=True)
class DynapseConfig:
    """A Dynap-SE2 system configuration (see the module docstring).

    Attributes:
        system: the limits.
        cores: per configured core, its biases.
        neurons: per used neuron, its location, CAM and SRAM.
        input_tags: input channel -> tag.
        input_routes: input channel -> destinations ``(chip, core_mask)``.
        neuron_map: ``"layer:index"`` -> ``(chip, core, slot)``.
        outputs: the layers whose spikes are the network's output.
        output_copies: copies of each output neuron (``replicate`` pass): output
            channel ``c`` is the mean of the output layer's neurons ``j n + c``,
            ``j < output_copies`` (``n`` channels); 1: every neuron is a channel.
        dt: time step, seconds.
        io: the graph's I/O (input names and shapes, output names and columns of
            the output layers' spikes, hop delay), for running the build on the
            graph's own inputs; ``None`` when unknown.
    """

    system: DynapseSystem = field(default_factory=DynapseSystem)
    cores: tuple[CoreConfig, ...] = ()
    neurons: tuple[NeuronConfig, ...] = ()
    input_tags: Mapping[int, int] = field(default_factory=dict)
    input_routes: Mapping[int, tuple[tuple[int, int], ...]] = field(
        default_factory=dict
    )
    neuron_map: Mapping[str, tuple[int, int, int]] = field(default_factory=dict)
    dt: float = 1e-3
    outputs: tuple[str, ...] = ()
    """The graph's output layers (``neuron_map`` layer names), in output order."""
    io: GraphIO | None = None
    output_copies: int = 1
    """Population readout: copies averaged per output channel (``replicate``)."""

    @property
    def target(self) -> str:
        """The target name, for the ``HardwareConfig`` protocol."""
        return TARGET

    @classmethod
    def from_placement(
        cls,
        placement: Placement,
        *,
        src: Sequence[int],
        dst: Sequence[int],
        dendrite: Sequence[str],
        mask: Sequence[int],
        input_src: Sequence[int] = (),
        input_dst: Sequence[int] = (),
        input_dendrite: Sequence[str] = (),
        input_mask: Sequence[int] = (),
        core_biases: Callable[[int, int], CoreConfig] | None = None,
        neuron_names: Sequence[str] | None = None,
        dt: float = 1e-3,
    ) -> DynapseConfig:
        """The configuration of a placed network.

        Each connection ``src[i] -> dst[i]`` (and input ``input_src[i] ->
        input_dst[i]``) becomes a CAM entry of its target with the source's tag, its
        ``dendrite`` and ``mask``; SRAM entries and input routes come from the
        placement. ``core_biases(chip, core)`` gives each used core's ``CoreConfig``
        (default: no biases, base weights at code (0, 0)); ``neuron_names[i]`` is the
        ``"layer:index"`` key of neuron ``i`` (default ``"neuron:i"``).
        """
        n = placement.n_neurons
        cam: list[list[CamEntry]] = [[] for _ in range(n)]
        edges = (
            (src, dst, dendrite, mask, placement.neuron_tag),
            (input_src, input_dst, input_dendrite, input_mask, placement.input_tag),
        )
        for s_ids, d_ids, dends, masks, tags in edges:
            if not len(s_ids) == len(d_ids) == len(dends) == len(masks):
                raise ValueError(
                    "from_placement: sources, targets, dendrites and masks must have "
                    f"one entry per connection, got {len(s_ids)}, {len(d_ids)}, "
                    f"{len(dends)}, {len(masks)}"
                )
            for s, d, den, m in zip(s_ids, d_ids, dends, masks, strict=True):
                cam[int(d)].append(CamEntry(int(tags[int(s)]), str(den), int(m)))
        neurons = tuple(
            NeuronConfig(
                chip=int(placement.chip[i]),
                core=int(placement.core[i]),
                slot=int(placement.slot[i]),
                cam=tuple(sorted(cam[i])),
                sram=tuple(
                    SramEntry(c, m, int(placement.neuron_tag[i]))
                    for c, m in placement.sram[i]
                ),
            )
            for i in range(n)
        )
        used = sorted({(nc.chip, nc.core) for nc in neurons})
        make = core_biases or (lambda chip, core: CoreConfig(chip=chip, core=core))
        names = neuron_names or [f"neuron:{i}" for i in range(n)]
        return cls(
            system=placement.system,
            cores=tuple(make(chip, core) for chip, core in used),
            neurons=tuple(sorted(neurons, key=lambda nc: nc.at)),
            input_tags={c: int(t) for c, t in enumerate(placement.input_tag)},
            input_routes={
                c: tuple(r) for c, r in enumerate(placement.input_routes) if r
            },
            neuron_map={names[i]: neurons[i].at for i in range(n)},
            dt=dt,
        )

    # ----------------------------------------------------------------------------------
    # Validation

    def validate(self) -> list[str]:
        """Every violation of the system's limits, as messages (empty if valid)."""
        sysm: Any = self.system
        if not isinstance(sysm, DynapseSystem):
            return [f"system: {sysm!r} is not a DynapseSystem"]
        errors: list[str] = []
        if not (_is_number(self.dt) and math.isfinite(self.dt) and self.dt > 0):
            errors.append(f"dt: {self.dt!r} must be a positive number of seconds")
        configured: set[tuple[int, int]] = set()
        for i, cc in enumerate(self.cores):
            errors.extend(self._core_errors(i, cc, configured))
        placed: set[tuple[int, int, int]] = set()
        # (chip, core) -> tag -> sources sending it there; (chip, core) -> tags heard.
        sent: dict[tuple[int, int], dict[int, list[str]]] = {}
        heard: list[tuple[str, tuple[int, int], int]] = []
        for i, nc in enumerate(self.neurons):
            errors.extend(self._neuron_errors(i, nc, configured, placed, sent, heard))
        for channel, tag in sorted(self.input_tags.items()):
            what = f"input channel {channel!r}"
            if not _is_int(channel) or channel < 0:
                errors.append(f"input_tags: {what} is not an int >= 0")
            if not _in_range(tag, sysm.tags):
                errors.append(f"{what}: tag {tag!r} outside 0..{sysm.tags - 1}")
        for channel, routes in sorted(self.input_routes.items()):
            what = f"input channel {channel!r}"
            if channel not in self.input_tags:
                errors.append(f"input_routes: {what} has routes but no tag")
                continue
            for chip, core_mask in routes:
                errors.extend(self._route_errors(what, chip, core_mask))
                self._record(sent, what, chip, core_mask, self.input_tags[channel])
        for what, (chip, core), tag in heard:
            if tag not in sent.get((chip, core), {}):
                errors.append(
                    f"{what}: CAM tag {tag} is sent to chip {chip} core {core} by no "
                    "neuron or input channel"
                )
        for (chip, core), by_tag in sorted(sent.items()):
            for tag, sources in sorted(by_tag.items()):
                if len(sources) > 1:
                    errors.append(
                        f"tag {tag} reaches chip {chip} core {core} from "
                        f"{len(sources)} sources ({', '.join(sources[:4])}"
                        f"{', ...' if len(sources) > 4 else ''}); its synapses "
                        "cannot tell them apart"
                    )
        for key, at in sorted(self.neuron_map.items()):
            layer, _, index = str(key).rpartition(":")
            if not (isinstance(key, str) and layer and index.isdigit()):
                errors.append(f"neuron_map: key {key!r} is not 'layer:index'")
            loc = tuple(at) if isinstance(at, (tuple, list)) else None
            if loc not in placed:
                errors.append(
                    f"neuron_map[{key!r}]: {at!r} is not a configured neuron "
                    "[chip, core, slot]"
                )
        layers = {str(key).rpartition(":")[0] for key in self.neuron_map}
        for name in self.outputs:
            if name not in layers:
                errors.append(f"outputs: layer {name!r} is not in neuron_map")
        n_out = sum(
            1 for key in self.neuron_map if str(key).rpartition(":")[0] in self.outputs
        )
        if not (isinstance(self.output_copies, int) and self.output_copies >= 1):
            errors.append(f"output_copies: {self.output_copies!r} is not an int >= 1")
        elif n_out % self.output_copies:
            errors.append(
                f"output_copies: {n_out} output neurons are not {self.output_copies} "
                "equal copies"
            )
        return errors

    def _core_errors(
        self, i: int, cc: CoreConfig, configured: set[tuple[int, int]]
    ) -> list[str]:
        what = f"cores[{i}] (chip {cc.chip!r} core {cc.core!r})"
        errors = self._position_errors(what, (cc.chip, cc.core))
        if (cc.chip, cc.core) in configured:
            errors.append(f"{what}: configured twice")
        configured.add((cc.chip, cc.core))
        for name, code in sorted(cc.biases.items()):
            if name in BASE_WEIGHT_NAMES:
                errors.append(
                    f"{what}: {name} is a base weight; give it in base_weights"
                )
            elif name not in BIAS_NAMES:
                errors.append(
                    f"{what}: unknown bias {name!r}; known: {', '.join(BIAS_NAMES)}"
                )
            errors.extend(_code_errors(f"{what} {name}", code))
        if len(cc.base_weights) != MASK_BITS:
            errors.append(
                f"{what}: {len(cc.base_weights)} base weights, a core has {MASK_BITS}"
            )
        for k, code in enumerate(cc.base_weights):
            errors.extend(_code_errors(f"{what} base weight {k}", code))
        return errors

    def _neuron_errors(
        self,
        i: int,
        nc: NeuronConfig,
        configured: set[tuple[int, int]],
        placed: set[tuple[int, int, int]],
        sent: dict[tuple[int, int], dict[int, list[str]]],
        heard: list[tuple[str, tuple[int, int], int]],
    ) -> list[str]:
        sysm = self.system
        what = f"neuron at ({nc.chip!r}, {nc.core!r}, {nc.slot!r})"
        errors = self._position_errors(what, nc.at)
        if nc.at in placed:
            errors.append(f"{what}: slot used twice (neurons[{i}])")
        placed.add(nc.at)
        if (nc.chip, nc.core) not in configured:
            errors.append(f"{what}: its core has no entry in cores (no biases)")
        if len(nc.cam) > sysm.cam_entries:
            errors.append(
                f"{what}: {len(nc.cam)} CAM entries; a neuron has {sysm.cam_entries}"
            )
        for k, entry in enumerate(nc.cam):
            tag, dendrite, mask = entry
            if not _in_range(tag, sysm.tags):
                errors.append(f"{what} CAM {k}: tag {tag!r} outside 0..{sysm.tags - 1}")
            else:
                heard.append((f"{what} CAM {k}", (nc.chip, nc.core), tag))
            if dendrite not in DENDRITES:
                errors.append(
                    f"{what} CAM {k}: unknown synapse type {dendrite!r}; known: "
                    f"{', '.join(DENDRITES)}"
                )
            if not _in_range(mask, 2**MASK_BITS):
                errors.append(
                    f"{what} CAM {k}: weight mask {mask!r} outside 0..{2**MASK_BITS - 1}"
                )
        free = sysm.sram_entries - sysm.reserved_sram_entries
        if len(nc.sram) > free:
            reserved = (
                f" ({sysm.reserved_sram_entries} of {sysm.sram_entries} reserved)"
                if sysm.reserved_sram_entries
                else ""
            )
            errors.append(
                f"{what}: {len(nc.sram)} SRAM entries; a neuron has {free}{reserved}"
            )
        for k, (chip, core_mask, tag) in enumerate(nc.sram):
            errors.extend(self._route_errors(f"{what} SRAM {k}", chip, core_mask))
            if not _in_range(tag, sysm.tags):
                errors.append(
                    f"{what} SRAM {k}: tag {tag!r} outside 0..{sysm.tags - 1}"
                )
            else:
                self._record(sent, what, chip, core_mask, tag)
        return errors

    def _position_errors(self, what: str, position: tuple[Any, ...]) -> list[str]:
        """Range errors of a ``(chip, core)`` or ``(chip, core, slot)`` position."""
        sysm = self.system
        sizes = (
            ("chip", sysm.chips),
            ("core", sysm.cores_per_chip),
            ("slot", sysm.neurons_per_core),
        )
        return [
            f"{what}: {name} outside 0..{n - 1}"
            for value, (name, n) in zip(position, sizes, strict=False)
            if not _in_range(value, n)
        ]

    def _route_errors(self, what: str, chip: Any, core_mask: Any) -> list[str]:
        sysm = self.system
        errors = []
        if not _in_range(chip, sysm.chips):
            errors.append(f"{what}: chip {chip!r} outside 0..{sysm.chips - 1}")
        top = 2**sysm.cores_per_chip - 1
        if not (_is_int(core_mask) and 1 <= core_mask <= top):
            errors.append(f"{what}: core mask {core_mask!r} outside 1..{top}")
        return errors

    def _record(
        self,
        sent: dict[tuple[int, int], dict[int, list[str]]],
        what: str,
        chip: Any,
        core_mask: Any,
        tag: Any,
    ) -> None:
        if not (_is_int(chip) and _is_int(core_mask) and _is_int(tag)):
            return
        for core in range(self.system.cores_per_chip):
            if core_mask >> core & 1:
                sent.setdefault((chip, core), {}).setdefault(tag, []).append(what)

    def check(self) -> None:
        """Raise ``ConfigError`` listing every violation, if there is any."""
        errors = self.validate()
        if errors:
            raise ConfigError(problem_list("Dynap-SE2", errors))

    # ----------------------------------------------------------------------------------
    # Serialization

    def to_json(self) -> str:
        """The ``config.json`` text: sorted keys, one core or neuron per line."""
        meta: dict[str, Any] = {
            "format": CONFIG_FORMAT,
            "version": CONFIG_VERSION,
            "target": TARGET,  # `spikeforge run build/` finds the target by it
            "system": {
                f.name: getattr(self.system, f.name) for f in fields(self.system)
            },
            "dt": self.dt,
            "cores": [
                {
                    "chip": cc.chip,
                    "core": cc.core,
                    "biases": {k: list(v) for k, v in cc.biases.items()},
                    "base_weights": [list(c) for c in cc.base_weights],
                }
                for cc in self.cores
            ],
            "neurons": [
                {
                    "at": list(nc.at),
                    "cam": [list(e) for e in nc.cam],
                    "sram": [list(e) for e in nc.sram],
                }
                for nc in self.neurons
            ],
            "input_tags": {str(k): v for k, v in self.input_tags.items()},
            "input_routes": {
                str(k): [list(r) for r in v] for k, v in self.input_routes.items()
            },
            "neuron_map": {str(k): list(v) for k, v in self.neuron_map.items()},
            "outputs": list(self.outputs),
        }
        if self.output_copies != 1:  # absent: 1 (files without replicas unchanged)
            meta["output_copies"] = self.output_copies
        if self.io is not None:
            meta["io"] = self.io.to_json()
        lines = ["{"]
        keys = sorted(meta)
        for n, key in enumerate(keys):
            comma = "," if n < len(keys) - 1 else ""
            lines.append(f"  {_compact(key)}: {_block(meta[key])}{comma}")
        return "\n".join(lines) + "\n}\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``config.json`` into folder ``path``, atomically and deterministically."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / "config.json", self.to_json().encode("utf-8"))

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, system: DynapseSystem | None = None
    ) -> DynapseConfig:
        """Read a folder written by :meth:`save` and validate it.

        Args:
            path: the build folder.
            system: the limits to validate against (a target's); the file's
                ``"system"`` must then record the same ones. ``None``: the limits the
                file records (for reading a file, not for trusting it).

        Raises:
            ConfigError: a missing or malformed file, a ``"system"`` that disagrees
                with ``system`` (naming the field and both values), or an invalid
                configuration (the message lists every violation).
        """
        file = Path(path) / "config.json"
        meta = read_json_object(file, error=ConfigError)
        if not isinstance(meta, dict) or meta.get("format") != CONFIG_FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else None
            raise ConfigError(f"{file}: not a {CONFIG_FORMAT} file (format {found!r})")
        if meta.get("version") not in READ_VERSIONS:
            raise ConfigError(
                f"{file}: version {meta.get('version')!r}, this spikeforge reads "
                f"versions {', '.join(map(str, READ_VERSIONS))}"
            )
        if system is not None:
            _check_system(file, meta.get("system"), system)
        try:
            config = cls(
                system=system or DynapseSystem(**meta["system"]),
                dt=meta["dt"],
                cores=tuple(
                    CoreConfig(
                        chip=c["chip"],
                        core=c["core"],
                        biases={str(k): _pair(v) for k, v in c["biases"].items()},
                        base_weights=tuple(_pair(v) for v in c["base_weights"]),
                    )
                    for c in meta["cores"]
                ),
                neurons=tuple(
                    NeuronConfig(
                        chip=nc["at"][0],
                        core=nc["at"][1],
                        slot=nc["at"][2],
                        cam=tuple(CamEntry(*e) for e in nc["cam"]),
                        sram=tuple(SramEntry(*e) for e in nc["sram"]),
                    )
                    for nc in meta["neurons"]
                ),
                input_tags={int(k): v for k, v in meta["input_tags"].items()},
                input_routes={
                    int(k): tuple(_pair(r) for r in v)
                    for k, v in meta["input_routes"].items()
                },
                neuron_map={str(k): _triple(v) for k, v in meta["neuron_map"].items()},
                outputs=tuple(str(v) for v in meta.get("outputs", [])),
                output_copies=meta.get("output_copies", 1),
            )
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
            raise ConfigError(f"{file}: bad field {err!r}") from None
        return checked_with_saved_io(
            config, meta, where=str(file), legacy=config.derived_io, error=ConfigError
        )

    def derived_io(
        self, *, inputs: tuple[InputPort, ...] | None = None, output_name: str = ""
    ) -> GraphIO | None:
        """The graph I/O the configuration implies (``None`` without outputs).

        ``inputs`` default to one input ``"input"`` of the configured input channels;
        the output (named ``output_name``, default the output layer's) is every
        neuron of ``outputs``, columns ``0..n-1`` of the chip's output spikes; the hop
        delay is one step per layer before the output (recurrent spikes, and so
        spikes between layers, arrive one step later, reference §2.2).
        """
        if not self.outputs:
            return None
        channels = set(self.input_tags) | set(self.input_routes)
        if inputs is None:
            inputs = (InputPort("input", (max(channels, default=-1) + 1,)),)
        layers = {str(k).rpartition(":")[0] for k in self.neuron_map}
        out = [k for k in self.neuron_map if str(k).rpartition(":")[0] in self.outputs]
        return GraphIO(
            inputs=inputs,
            outputs=(
                OutputPort(
                    output_name or "+".join(self.outputs),
                    tuple(range(len(out) // max(self.output_copies, 1))),
                ),
            ),
            hop_delay=max(len(layers) - 1, 0),
        )


def _check_system(file: Path, recorded: Any, system: DynapseSystem) -> None:
    """The file's ``"system"`` must be the target's: limits come from the target."""
    if not isinstance(recorded, dict):
        raise ConfigError(f'{file}: "system" is {recorded!r}, not an object')
    expected = {f.name: getattr(system, f.name) for f in fields(system)}
    unknown = sorted(set(recorded) - set(expected))
    if unknown:
        raise ConfigError(f'{file}: "system" has unknown field(s) {unknown}')
    for name, value in expected.items():
        got = recorded.get(name)
        if type(got) is not type(value) or got != value:
            raise ConfigError(
                f'{file}: "system".{name} is {got!r}, but the target\'s is {value!r}; '
                "a build's limits come from its target: compile it again for this "
                "target"
            )


def _pair(value: Any) -> tuple[int, int]:
    a, b = value
    return (a, b)


def _triple(value: Any) -> tuple[int, int, int]:
    a, b, c = value
    return (a, b, c)


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), allow_nan=False)


def _block(value: Any) -> str:
    """A top-level value: a list or dict with one element per line, else compact."""
    if isinstance(value, list) and value:
        items = [f"    {_compact(v)}" for v in value]
        return "[\n" + ",\n".join(items) + "\n  ]"
    if isinstance(value, dict) and value:
        items = [f"    {_compact(k)}: {_compact(value[k])}" for k in sorted(value)]
        return "{\n" + ",\n".join(items) + "\n  }"
    return _compact(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _in_range(value: Any, n: int) -> bool:
    return _is_int(value) and 0 <= value < n


def _code_errors(what: str, code: Any) -> list[str]:
    if not (isinstance(code, (tuple, list)) and len(code) == 2):
        return [f"{what}: {code!r} is not a (coarse, fine) pair"]
    coarse, fine = code
    errors = []
    if not _in_range(coarse, N_COARSE):
        errors.append(f"{what}: coarse {coarse!r} outside 0..{N_COARSE - 1}")
    if not _in_range(fine, N_FINE):
        errors.append(f"{what}: fine {fine!r} outside 0..{N_FINE - 1}")
    return errors
