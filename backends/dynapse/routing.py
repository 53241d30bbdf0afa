"""Dynap-SE2 routing: tags, SRAM routes and CAM use of neurons placed on cores.

A Dynap-SE2 system is chips of 4 cores x 256 neurons. Every bias of a core, the 4
base weights included, is shared by all its neurons, so only neurons of one
*parameter group* may share a core (``shared/reference/dynapse2.md`` §1 "Shared versus
per-neuron state"). A neuron listens to at most 64 CAM entries, one per incoming
connection (tag, dendrite, 4-bit weight mask), and sends through at most 4 SRAM
entries; the tag space has 2048 tags (§1 "Fan-in (CAM)", "Fan-out (SRAM)"). The limits
are data on :class:`DynapseSystem`.

**Routing model.** A source (a neuron, or an external input channel) has one tag.
One SRAM entry holds a tag, a target chip and a core mask "which cores of the target
chip receive the event" (§1), so a neuron uses one SRAM entry per distinct chip it
reaches (own chip included: recurrent events are routed too), and its spike arrives
once at every distinct destination core, whatever the number of synapses there.
Rockpool spends one extra SRAM entry per neuron on a monitor destination (§1); that is
``DynapseSystem.reserved_sram_entries``. Tags are unique per source by default
(input channel ``c`` gets tag ``c``, neuron ``j`` tag ``n_inputs + j``, Rockpool's
convention without its reserved output tags, §5.2); with ``tag_reuse=True`` sources
that reach no common core may share a tag (a greedy colouring), which lifts the
2048-source limit but makes a monitored spike's tag ambiguous.

**Traffic** (``traffic``), per inference, rate-weighted: a neuron's spike costs
``rate`` once per distinct destination core other than its own (``inter_core``) and
once per distinct destination chip other than its own (``inter_chip``). Input spikes
are counted apart (``input_core``, ``input_chip``: every destination counts).

Where neurons go is decided by ``allocate-cores`` (``compiler/allocation``); ``route``
turns that assignment into tags, SRAM routes and CAM counts for the configuration
(``DynapseConfig.from_placement``), checking every limit above. Deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from compiler.allocation.model import ChipGrid
from compiler.allocation.network import layer_index

__all__ = [
    "DynapseSystem",
    "NeuronNames",
    "Placement",
    "PlacementError",
    "PlacementReport",
    "Traffic",
    "edges_from_dense",
    "route",
    "traffic",
]

NeuronNames = Callable[[int], str] | Sequence[tuple[str, int]]
"""How error messages name neuron ``i``: a function, or ``(layer name, size)`` pairs
in index order (neuron 17 with layers ``[("h0", 14), ("h1", 10)]`` is ``h1`` index 3)."""


class PlacementError(ValueError):
    """No placement exists within the system's limits; the message gives the numbers."""


@dataclass(frozen=True, kw_only=True)
class DynapseSystem(ChipGrid):
    """Limits of a Dynap-SE2 system, as data (``dynapse2.md`` §1, §8.1).

    Attributes:
        neurons_per_core: neurons sharing one bias set (256).
        cores_per_chip: cores per chip (4); a core mask has this many bits.
        chips: chips in the system.
        cam_entries: CAM (fan-in) entries per neuron, one per incoming connection (64).
        sram_entries: SRAM (fan-out) entries per neuron, one per destination chip (4).
        tags: size of the tag space (2048, 11 bits).
        reserved_sram_entries: SRAM entries per neuron kept for other uses, e.g. 1 for
            Rockpool's monitor destination to the FPGA (§1); 0 by default.
    """

    neurons_per_core: int = 256
    cores_per_chip: int = 4
    chips: int = 1
    cam_entries: int = 64
    sram_entries: int = 4
    tags: int = 2048
    reserved_sram_entries: int = 0

    def __post_init__(self) -> None:
        for name in (
            "neurons_per_core",
            "cores_per_chip",
            "chips",
            "cam_entries",
            "sram_entries",
            "tags",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"DynapseSystem.{name} = {value!r}: must be an int >= 1"
                )
        r = self.reserved_sram_entries
        if (
            isinstance(r, bool)
            or not isinstance(r, int)
            or not 0 <= r < self.sram_entries
        ):
            raise ValueError(
                f"DynapseSystem.reserved_sram_entries = {r!r}: must be an int in "
                f"0..{self.sram_entries - 1}"
            )

    def describe(self) -> str:
        """``4 cores (1 chip)``, for messages."""
        return f"{_plural(self.cores, 'core')} ({_plural(self.chips, 'chip')})"


@dataclass(frozen=True, kw_only=True)
class Traffic:
    """Rate-weighted spike events per inference (see the module docstring).

    Attributes:
        inter_core: neuron spikes x distinct destination cores other than their own.
        inter_chip: neuron spikes x distinct destination chips other than their own.
        input_core: input spikes x distinct destination cores.
        input_chip: input spikes x distinct destination chips.
    """

    inter_core: float
    inter_chip: float
    input_core: float = 0.0
    input_chip: float = 0.0


@dataclass(frozen=True, kw_only=True)
class PlacementReport:
    """What a placement costs.

    Attributes:
        cores_used, chips_used: cores and chips holding at least one neuron.
        cores_lower_bound: ``sum_g ceil(n_g / neurons_per_core)`` over the groups.
        chips_lower_bound: ``ceil(cores_lower_bound / cores_per_chip)``.
        traffic: the spike traffic (``traffic``).
        core_load: neurons on each used ``(chip, core)``.
        max_cam, max_sram: the largest CAM and SRAM use of a neuron (SRAM including
            the reserved entries).
    """

    cores_used: int
    cores_lower_bound: int
    chips_used: int
    chips_lower_bound: int
    traffic: Traffic
    core_load: Mapping[tuple[int, int], int]
    max_cam: int
    max_sram: int
    neurons_per_core: int

    @property
    def utilisation(self) -> dict[tuple[int, int], float]:
        """Fraction of each used core's neurons that are placed."""
        return {k: n / self.neurons_per_core for k, n in self.core_load.items()}

    def __str__(self) -> str:
        t = self.traffic
        return (
            f"{self.cores_used} cores (lower bound {self.cores_lower_bound}), "
            f"{self.chips_used} chips (lower bound {self.chips_lower_bound}); "
            f"traffic per inference: inter-core {t.inter_core:g}, inter-chip "
            f"{t.inter_chip:g}, input->core {t.input_core:g}, input->chip "
            f"{t.input_chip:g}; max CAM {self.max_cam}, max SRAM {self.max_sram}"
        )


@dataclass(frozen=True, kw_only=True, eq=False)
class Placement:
    """Where every neuron sits and how its spikes are routed.

    Attributes:
        system: the limits it was placed under.
        chip, core, slot: ``(N,)`` int arrays (read-only): chip, core within the chip,
            and slot within the core of each neuron.
        neuron_tag: ``(N,)`` tag of each neuron's spikes.
        input_tag: ``(n_inputs,)`` tag of each input channel.
        sram: per neuron, its SRAM destinations ``(chip, core_mask)`` by ascending
            chip; bit ``k`` of ``core_mask`` is core ``k`` of that chip.
        input_routes: per input channel, its destinations ``(chip, core_mask)``.
        cam_used: ``(N,)`` CAM entries each neuron needs (its incoming connections).
        report: costs and bounds.
    """

    system: DynapseSystem
    chip: np.ndarray
    core: np.ndarray
    slot: np.ndarray
    neuron_tag: np.ndarray
    input_tag: np.ndarray
    sram: tuple[tuple[tuple[int, int], ...], ...]
    input_routes: tuple[tuple[tuple[int, int], ...], ...]
    cam_used: np.ndarray
    report: PlacementReport = field(repr=False)

    @property
    def n_neurons(self) -> int:
        return int(self.chip.size)

    @property
    def n_inputs(self) -> int:
        return int(self.input_tag.size)

    @property
    def global_core(self) -> np.ndarray:
        """``chip * cores_per_chip + core`` of each neuron."""
        return self.chip * self.system.cores_per_chip + self.core

    @property
    def sram_used(self) -> np.ndarray:
        """SRAM entries of each neuron, the reserved ones included."""
        used = [len(d) for d in self.sram]
        return np.asarray(used, np.int64) + self.system.reserved_sram_entries

    def neurons_on(self, chip: int, core: int) -> np.ndarray:
        """Neuron ids on ``(chip, core)``, in slot order."""
        ids = np.flatnonzero((self.chip == chip) & (self.core == core))
        return ids[np.argsort(self.slot[ids], kind="stable")]


def edges_from_dense(weights: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``(src, dst)`` of the nonzero entries of a ``(pre, post)`` weight matrix.

    A ``(pre, post, k)`` array (one plane per synapse type) gives one edge per nonzero
    entry, so a pair connected through two dendrites takes two CAM entries.
    """
    w = np.asarray(weights)
    if w.ndim not in (2, 3):
        raise ValueError(f"weights: expected (pre, post[, k]), got shape {w.shape}")
    nz = np.nonzero(w)
    return nz[0].astype(np.int64), nz[1].astype(np.int64)


def traffic(
    placement: Placement,
    src: ArrayLike,
    dst: ArrayLike,
    rates: ArrayLike | None = None,
    *,
    input_src: ArrayLike = (),
    input_dst: ArrayLike = (),
    input_rates: ArrayLike | None = None,
) -> Traffic:
    """Spike traffic of ``placement`` for neuron edges ``src -> dst`` (and inputs).

    Computed from the edges and the neurons' locations alone (not from the SRAM
    tables), so it checks them. ``rates`` (per neuron) and ``input_rates`` (per input
    channel) default to 1: the result then counts events per spike.
    """
    n = placement.n_neurons
    s, d = _edges(src, dst, n, n, "src", "dst")
    si, di = _edges(
        input_src, input_dst, placement.n_inputs, n, "input_src", "input_dst"
    )
    return _count_traffic(
        placement.global_core,
        placement.system.cores_per_chip,
        (s, d, _rates(rates, n, "rates")),
        (si, di, _rates(input_rates, placement.n_inputs, "input_rates")),
    )


def _count_traffic(
    gcore: np.ndarray,
    cores_per_chip: int,
    neuron_edges: tuple[np.ndarray, np.ndarray, np.ndarray],
    input_edges: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> Traffic:
    """Traffic from each neuron's global core and ``(src, dst, source rates)``."""
    chip = gcore // cores_per_chip

    def count(
        src: np.ndarray, to: np.ndarray, home: np.ndarray | None, rate: np.ndarray
    ) -> float:
        pairs = np.unique(np.stack([src, to]), axis=1)
        if home is not None:
            pairs = pairs[:, home[pairs[0]] != pairs[1]]
        return float(rate[pairs[0]].sum())

    s, d, r = neuron_edges
    si, di, ri = input_edges
    return Traffic(
        inter_core=count(s, gcore[d], gcore, r),
        inter_chip=count(s, chip[d], chip, r),
        input_core=count(si, gcore[di], None, ri),
        input_chip=count(si, chip[di], None, ri),
    )


def route(
    n_neurons: int,
    group: ArrayLike,
    src: ArrayLike,
    dst: ArrayLike,
    *,
    chip: ArrayLike,
    core: ArrayLike,
    system: DynapseSystem | None = None,
    n_inputs: int = 0,
    input_src: ArrayLike = (),
    input_dst: ArrayLike = (),
    rates: ArrayLike | None = None,
    input_rates: ArrayLike | None = None,
    names: NeuronNames | None = None,
    tag_reuse: bool = False,
) -> Placement:
    """The placement of a given assignment of neurons to ``(chip, core)``: tags, SRAM
    routes, CAM counts and the report (slots in index order within each core), e.g.
    to rebuild the routing of a placement read back from a graph's ``meta``.

    Raises:
        PlacementError: a core over capacity or holding two parameter groups, or any
            limit of the system (CAM, SRAM, tags).
    """
    net = _Network.build(
        n_neurons, group, src, dst, system, n_inputs, input_src, input_dst,
        rates, input_rates, names,
    )  # fmt: skip
    net.check_feasible(tag_reuse)
    sysm = net.system
    chips = np.asarray(chip, np.int64).reshape(-1)
    cores = np.asarray(core, np.int64).reshape(-1)
    if chips.shape != (net.n,) or cores.shape != (net.n,):
        raise ValueError(f"chip and core must have {net.n} entries each")
    bad = np.flatnonzero(
        (chips < 0)
        | (chips >= sysm.chips)
        | (cores < 0)
        | (cores >= sysm.cores_per_chip)
    )
    if bad.size:
        i = int(bad[0])
        raise PlacementError(
            f"{net.name(i)} is on chip {chips[i]} core {cores[i]}; the system has "
            f"{sysm.chips} chip(s) of {sysm.cores_per_chip} cores"
        )
    gcore = chips * sysm.cores_per_chip + cores
    load = np.bincount(gcore, minlength=sysm.cores)
    over = np.flatnonzero(load > sysm.neurons_per_core)
    if over.size:
        c = int(over[0])
        raise PlacementError(
            f"chip {c // sysm.cores_per_chip} core {c % sysm.cores_per_chip} holds "
            f"{load[c]} neurons; a core has {sysm.neurons_per_core}"
        )
    for c in np.unique(gcore).tolist():
        groups = np.unique(net.group[gcore == c])
        if groups.size > 1:
            raise PlacementError(
                f"chip {c // sysm.cores_per_chip} core {c % sysm.cores_per_chip} holds "
                f"parameter groups {groups.tolist()}; a core shares one parameter set"
            )
    return net.finish(gcore, np.arange(sysm.cores, dtype=np.int64), tag_reuse)


# --------------------------------------------------------------------------------------
# The network, its checks, and turning a core assignment into a Placement


@dataclass(kw_only=True, eq=False)
class _Network:
    """Validated inputs. Sources are neurons ``0..N-1`` then inputs ``N..N+n_in-1``."""

    n: int
    n_inputs: int
    group: np.ndarray
    system: DynapseSystem
    src: np.ndarray  # all edges, sources in the joint numbering
    dst: np.ndarray
    rate: np.ndarray  # (S,)
    names: NeuronNames | None

    @classmethod
    def build(
        cls,
        n_neurons: int,
        group: ArrayLike,
        src: ArrayLike,
        dst: ArrayLike,
        system: DynapseSystem | None,
        n_inputs: int,
        input_src: ArrayLike,
        input_dst: ArrayLike,
        rates: ArrayLike | None,
        input_rates: ArrayLike | None,
        names: NeuronNames | None,
    ) -> _Network:
        if isinstance(n_neurons, bool) or not isinstance(n_neurons, (int, np.integer)):
            raise ValueError(f"n_neurons = {n_neurons!r}: must be an int")
        if n_neurons < 0 or n_inputs < 0:
            raise ValueError(
                f"n_neurons = {n_neurons}, n_inputs = {n_inputs}: must be >= 0"
            )
        n, n_in = int(n_neurons), int(n_inputs)
        g = np.asarray(group)
        if g.shape != (n,) or (n and g.dtype.kind not in "iu"):
            raise ValueError(
                f"group: expected ({n},) integer keys, got {g.dtype} {g.shape}"
            )
        s, d = _edges(src, dst, n, n, "src", "dst")
        si, di = _edges(input_src, input_dst, n_in, n, "input_src", "input_dst")
        rate = np.concatenate(
            [_rates(rates, n, "rates"), _rates(input_rates, n_in, "input_rates")]
        )
        if isinstance(names, Sequence):
            sizes = [int(size) for _, size in names]
            if sum(sizes) != n or min(sizes, default=0) < 0:
                raise ValueError(
                    f"names: the layer sizes {sizes} sum to {sum(sizes)}, not {n} neurons"
                )
        return cls(
            n=n,
            n_inputs=n_in,
            group=g.astype(np.int64),
            system=system if system is not None else DynapseSystem(),
            src=np.concatenate([s, si + n]),
            dst=np.concatenate([d, di]),
            rate=rate,
            names=names,
        )

    def name(self, i: int) -> str:
        """``neuron 17 (layer 'h1' index 3)`` or ``input channel 4`` (joint id)."""
        if i >= self.n:
            return f"input channel {i - self.n}"
        if self.names is None:
            return f"neuron {i}"
        if callable(self.names):
            return f"neuron {i} ({self.names(i)})"
        found = layer_index(self.names, i)
        if found is None:
            return f"neuron {i}"
        layer, k = found
        return f"neuron {i} (layer '{layer}' index {k})"

    def cores_needed(self) -> dict[int, int]:
        keys, counts = np.unique(self.group, return_counts=True)
        cap = self.system.neurons_per_core
        return {int(k): -(-int(c) // cap) for k, c in zip(keys, counts, strict=True)}

    def check_feasible(self, tag_reuse: bool) -> None:
        sysm = self.system
        fan_in = np.bincount(self.dst, minlength=self.n)
        over = np.flatnonzero(fan_in > sysm.cam_entries)
        if over.size:
            i = int(over[np.argmax(fan_in[over])])
            others = (
                ""
                if over.size == 1
                else f" ({over.size} neurons are over: {_ids(over)})"
            )
            raise PlacementError(
                f"{self.name(i)} has {int(fan_in[i])} incoming connections; a neuron "
                f"has {sysm.cam_entries} CAM entries{others}"
            )
        need = self.cores_needed()
        total = sum(need.values())
        if total > sysm.cores:
            worst = max(need, key=lambda k: (need[k], -k))
            if need[worst] > sysm.cores or len(need) == 1:
                raise PlacementError(
                    f"group {worst} needs {need[worst]} cores "
                    f"({int(np.count_nonzero(self.group == worst))} neurons, "
                    f"{sysm.neurons_per_core} per core); the system has "
                    f"{sysm.describe()}"
                )
            parts = ", ".join(f"group {k}: {v}" for k, v in need.items())
            raise PlacementError(
                f"the {len(need)} parameter groups need {total} cores ({parts}); "
                f"the system has {sysm.describe()}"
            )
        sources = self.n + self.n_inputs
        if not tag_reuse and sources > sysm.tags:
            raise PlacementError(
                f"the network has {sources} sources ({self.n_inputs} input channels + "
                f"{self.n} neurons), each with its own tag; the system has "
                f"{sysm.tags} tags (tag_reuse=True shares tags between sources that "
                "reach no common core)"
            )

    def finish(
        self, where: np.ndarray, slot_of_vcore: np.ndarray, tag_reuse: bool
    ) -> Placement:
        """Placement from virtual cores ``where`` and their physical slots."""
        sysm = self.system
        cpc = sysm.cores_per_chip
        gcore = slot_of_vcore[where] if self.n else np.zeros(0, np.int64)
        chip, core = np.divmod(gcore, cpc)
        order = np.lexsort((np.arange(self.n), gcore))
        slot = np.empty(self.n, np.int64)
        starts = np.searchsorted(gcore[order], gcore[order], side="left")
        slot[order] = np.arange(self.n) - starts
        # Destination cores of every source, as sorted unique (source, core) pairs.
        pairs = np.unique(np.stack([self.src, gcore[self.dst]]), axis=1)
        routes: list[list[tuple[int, int]]] = [
            [] for _ in range(self.n + self.n_inputs)
        ]
        dest_cores: list[list[int]] = [[] for _ in range(self.n + self.n_inputs)]
        for s, c in zip(pairs[0].tolist(), pairs[1].tolist(), strict=True):
            dest_cores[s].append(c)
            ch, k = divmod(c, cpc)
            r = routes[s]
            if r and r[-1][0] == ch:
                r[-1] = (ch, r[-1][1] | (1 << k))
            else:
                r.append((ch, 1 << k))
        free = sysm.sram_entries - sysm.reserved_sram_entries
        for i in range(self.n):
            if len(routes[i]) > free:
                reserved = (
                    f" and {_plural(sysm.reserved_sram_entries, 'entry is', 'entries are')}"
                    " reserved"
                    if sysm.reserved_sram_entries
                    else ""
                )
                chips = ", ".join(str(c) for c, _ in routes[i])
                raise PlacementError(
                    f"{self.name(i)} sends to {len(routes[i])} chips ({chips}){reserved}; "
                    f"a neuron has {_plural(sysm.sram_entries, 'SRAM entry', 'SRAM entries')}"
                )
        tags = self._tags(dest_cores, tag_reuse)
        used_cores, load = np.unique(gcore, return_counts=True)
        lower = sum(self.cores_needed().values())
        cam_used = np.bincount(self.dst, minlength=self.n)
        from_neuron = self.src < self.n
        t = _count_traffic(
            gcore,
            cpc,
            (self.src[from_neuron], self.dst[from_neuron], self.rate[: self.n]),
            (
                self.src[~from_neuron] - self.n,
                self.dst[~from_neuron],
                self.rate[self.n :],
            ),
        )
        sram_used = [len(r) + sysm.reserved_sram_entries for r in routes[: self.n]]
        report = PlacementReport(
            cores_used=int(used_cores.size),
            cores_lower_bound=lower,
            chips_used=int(np.unique(chip).size),
            chips_lower_bound=-(-lower // cpc),
            traffic=t,
            core_load={
                (int(c) // cpc, int(c) % cpc): int(m)
                for c, m in zip(used_cores, load, strict=True)
            },
            max_cam=int(cam_used.max(initial=0)),
            max_sram=max(sram_used, default=0),
            neurons_per_core=sysm.neurons_per_core,
        )
        return Placement(
            system=sysm,
            chip=_frozen(chip),
            core=_frozen(core),
            slot=_frozen(slot),
            neuron_tag=_frozen(tags[: self.n]),
            input_tag=_frozen(tags[self.n :]),
            sram=tuple(tuple(r) for r in routes[: self.n]),
            input_routes=tuple(tuple(r) for r in routes[self.n :]),
            cam_used=_frozen(cam_used),
            report=report,
        )

    def _tags(self, dest_cores: list[list[int]], tag_reuse: bool) -> np.ndarray:
        s_count = self.n + self.n_inputs
        # Rockpool's order: input channels first, then neurons.
        order = list(range(self.n, s_count)) + list(range(self.n))
        tags = np.empty(s_count, np.int64)
        if not tag_reuse:
            tags[order] = np.arange(s_count)
            return tags
        heard: dict[int, set[int]] = {}
        for s in order:
            taken: set[int] = set()
            for c in dest_cores[s]:
                taken |= heard.setdefault(c, set())
            tag = next(t for t in range(len(taken) + 1) if t not in taken)
            if tag >= self.system.tags:
                raise PlacementError(
                    f"{self.name(s)} reaches {_plural(len(dest_cores[s]), 'core')} "
                    f"that already hear {len(taken)} distinct tags between them; the "
                    f"system has {self.system.tags} tags"
                )
            tags[s] = tag
            for c in dest_cores[s]:
                heard[c].add(tag)
        return tags


# --------------------------------------------------------------------------------------
# Helpers


def _edges(
    src: ArrayLike, dst: ArrayLike, n_src: int, n_dst: int, src_name: str, dst_name: str
) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(src)
    d = np.asarray(dst)
    if s.shape != d.shape or s.ndim != 1:
        raise ValueError(
            f"{src_name}, {dst_name}: expected two 1-D arrays of equal length, got "
            f"shapes {s.shape} and {d.shape}"
        )
    if s.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    for arr, name, size in ((s, src_name, n_src), (d, dst_name, n_dst)):
        if arr.dtype.kind not in "iu":
            raise ValueError(f"{name}: expected integer ids, got {arr.dtype}")
        bad = np.flatnonzero((arr < 0) | (arr >= size))
        if bad.size:
            raise ValueError(
                f"{name}[{int(bad[0])}] = {int(arr[bad[0]])}: outside 0..{size - 1}"
            )
    return s.astype(np.int64), d.astype(np.int64)


def _rates(rates: ArrayLike | None, n: int, name: str) -> np.ndarray:
    if rates is None:
        return np.ones(n)
    r = np.asarray(rates, dtype=float)
    if r.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},), got {r.shape}")
    bad = np.flatnonzero(~np.isfinite(r) | (r < 0))
    if bad.size:
        raise ValueError(
            f"{name}[{int(bad[0])}] = {r[bad[0]]!r}: must be finite and >= 0"
        )
    return r


def _frozen(arr: np.ndarray) -> np.ndarray:
    out = np.array(arr, dtype=np.int64)
    out.flags.writeable = False
    return out


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _ids(ids: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(int(i)) for i in ids[:limit])
    return shown + (", ..." if ids.size > limit else "")
