"""Dynap-SE2 core placement: which chip, core and slot each neuron gets.

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

**Algorithm** (``place``); Rockpool's mapper instead cuts the neuron index range into
contiguous blocks with no regard to connectivity (§5.1 "Clustering into cores"), which
is ``place_in_order`` here.

1. Feasibility, before any search: fan-in per neuron against the CAM, sources against
   the tags (unique tags), and the cores each group needs, ``ceil(n_g / 256)``, against
   the system; a failure raises :class:`PlacementError` with the numbers.
2. Per group, in ascending key order, exactly that many cores are grown greedily: a
   core is seeded with the unplaced neuron of largest rate-weighted connection strength
   and grown, up to capacity, by the unplaced neuron with the largest rate-weighted
   connection to the neurons already in it (ties: the largest connection to all
   neurons placed so far, so a cluster that outgrows a core continues in the next;
   then strength; then the lower index).
3. Refinement with the exact objective: the change in inter-core traffic of moving
   each neuron to each other core of its group is computed for all pairs at once from
   per-source destination counts; the best moves are applied when the target core has
   room, otherwise the best swap with a neuron of the target core, each only if its
   exactly evaluated change is negative. Passes repeat until none improves (or
   ``max_passes``). Traffic never increases.
4. Cores go to chips (the fewest chips that hold them) by the same greedy growth on
   a core-to-core affinity (rate-weighted co-membership of a source's cores), then
   pairwise swaps of cores between chips while the exact inter-chip traffic (inputs'
   chip events included) falls.
5. Slots are given in ascending neuron index within a core; SRAM destinations are
   checked against the SRAM entries (raising :class:`PlacementError` naming the neuron).

Everything is deterministic: no randomness, ties broken by index.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "DynapseSystem",
    "NeuronNames",
    "Placement",
    "PlacementError",
    "PlacementReport",
    "Traffic",
    "edges_from_dense",
    "place",
    "place_in_order",
    "route",
    "traffic",
]

NeuronNames = Callable[[int], str] | Sequence[tuple[str, int]]
"""How error messages name neuron ``i``: a function, or ``(layer name, size)`` pairs
in index order (neuron 17 with layers ``[("h0", 14), ("h1", 10)]`` is ``h1`` index 3)."""

_EPS = 1e-12


class PlacementError(ValueError):
    """No placement exists within the system's limits; the message gives the numbers."""


@dataclass(frozen=True, kw_only=True)
class DynapseSystem:
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

    @property
    def cores(self) -> int:
        """Cores in the system."""
        return self.chips * self.cores_per_chip

    @property
    def neurons(self) -> int:
        """Neurons in the system."""
        return self.cores * self.neurons_per_core

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


def place(
    n_neurons: int,
    group: ArrayLike,
    src: ArrayLike,
    dst: ArrayLike,
    *,
    system: DynapseSystem | None = None,
    n_inputs: int = 0,
    input_src: ArrayLike = (),
    input_dst: ArrayLike = (),
    rates: ArrayLike | None = None,
    input_rates: ArrayLike | None = None,
    names: NeuronNames | None = None,
    tag_reuse: bool = False,
    max_passes: int = 20,
) -> Placement:
    """Connectivity-aware placement (see the module docstring for the algorithm).

    Args:
        n_neurons: neurons ``0..N-1``.
        group: ``(N,)`` int parameter-group key; only neurons of one key share a core.
        src, dst: neuron-to-neuron connections, one per CAM entry (repeat a pair for
            two dendrites).
        system: the hardware limits (default: one chip).
        n_inputs: external input channels ``0..n_inputs-1``.
        input_src, input_dst: input channel -> neuron connections.
        rates, input_rates: spikes per inference of each neuron / input channel
            (default 1).
        names: how messages name neurons.
        tag_reuse: share tags between sources that reach no common core.
        max_passes: refinement passes at most (0: greedy growth only).

    Raises:
        PlacementError: no placement fits the limits (the message names the neuron,
            group or core, the limit and the value).
        ValueError: malformed arguments.
    """
    net = _Network.build(
        n_neurons, group, src, dst, system, n_inputs, input_src, input_dst,
        rates, input_rates, names,
    )  # fmt: skip
    net.check_feasible(tag_reuse)
    where, core_group = _grow(net)
    if max_passes > 0:
        _refine(net, where, core_group, max_passes)
    slot_of_vcore = _pack_chips(net, where, core_group.size)
    return net.finish(where, slot_of_vcore, tag_reuse)


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
            limit ``place`` checks.
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


def place_in_order(
    n_neurons: int,
    group: ArrayLike,
    src: ArrayLike,
    dst: ArrayLike,
    *,
    system: DynapseSystem | None = None,
    n_inputs: int = 0,
    input_src: ArrayLike = (),
    input_dst: ArrayLike = (),
    rates: ArrayLike | None = None,
    input_rates: ArrayLike | None = None,
    names: NeuronNames | None = None,
    tag_reuse: bool = False,
) -> Placement:
    """The naive baseline, Rockpool's style (§5.1): neurons in index order fill cores
    as they come (a group's next neuron goes to the group's open core, or opens the
    next free core, chip 0 core 0 first). Same arguments and errors as ``place``.
    """
    net = _Network.build(
        n_neurons, group, src, dst, system, n_inputs, input_src, input_dst,
        rates, input_rates, names,
    )  # fmt: skip
    net.check_feasible(tag_reuse)
    cap = net.system.neurons_per_core
    where = np.empty(net.n, np.int64)
    open_core: dict[int, tuple[int, int]] = {}
    next_core = 0
    for i, g in enumerate(net.group.tolist()):
        core, load = open_core.get(g, (-1, cap))
        if load == cap:
            core, load, next_core = next_core, 0, next_core + 1
        where[i] = core
        open_core[g] = (core, load + 1)
    return net.finish(where, np.arange(next_core, dtype=np.int64), tag_reuse)


# --------------------------------------------------------------------------------------
# The network, its checks, and turning core assignments into a Placement


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
    # Unique (source, target) pairs with multiplicity, sorted by target.
    pair_s: np.ndarray = field(init=False)
    pair_d: np.ndarray = field(init=False)
    pair_m: np.ndarray = field(init=False)
    in_ptr: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        s_count = self.n + self.n_inputs
        key = self.dst * s_count + self.src
        uniq, mult = np.unique(key, return_counts=True)
        self.pair_d, self.pair_s = np.divmod(uniq, max(s_count, 1))
        self.pair_m = mult.astype(np.int64)
        self.in_ptr = np.searchsorted(self.pair_d, np.arange(self.n + 1))

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
        start = 0
        for layer, size in self.names:
            if i < start + size:
                return f"neuron {i} (layer '{layer}' index {i - start})"
            start += size
        return f"neuron {i}"

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
# Step 2: greedy growth of cores within each group


def _grow(net: _Network) -> tuple[np.ndarray, np.ndarray]:
    """Virtual core of each neuron and the group key of each virtual core."""
    n, cap = net.n, net.system.neurons_per_core
    neuron_edge = net.pair_s < n
    u = net.pair_s[neuron_edge]
    v = net.pair_d[neuron_edge]
    w = net.rate[u] * net.pair_m[neuron_edge]
    keep = u != v
    # Symmetric affinity: a spike u -> v is as local whichever of the two moves.
    a = np.concatenate([u[keep], v[keep]])
    b = np.concatenate([v[keep], u[keep]])
    wt = np.concatenate([w[keep], w[keep]])
    order = np.argsort(a, kind="stable")
    a, b, wt = a[order], b[order], wt[order]
    ptr = np.searchsorted(a, np.arange(n + 1))
    strength = np.bincount(a, weights=wt, minlength=n)

    where = np.full(n, -1, np.int64)
    core_group: list[int] = []
    gain = np.zeros(n)
    # Connection to every neuron placed so far: keeps a cluster that outgrew one core
    # going into the next core, so consecutive cores (hence chips) stay related.
    placed_gain = np.zeros(n)
    for key, n_cores in net.cores_needed().items():
        members = np.flatnonzero(net.group == key)
        free = np.ones(members.size, bool)
        for _ in range(n_cores):
            core_id = len(core_group)
            core_group.append(key)
            gain[members] = 0.0
            for _ in range(min(cap, int(free.sum()))):
                cand = members[free]
                g = gain[cand]
                best = cand[g == g.max()]
                pg = placed_gain[best]
                best = best[pg == pg.max()]
                pick = int(best[np.argmax(strength[best])])
                where[pick] = core_id
                free[np.searchsorted(members, pick)] = False
                lo, hi = ptr[pick], ptr[pick + 1]
                np.add.at(gain, b[lo:hi], wt[lo:hi])
                np.add.at(placed_gain, b[lo:hi], wt[lo:hi])
    return where, np.asarray(core_group, np.int64)


# --------------------------------------------------------------------------------------
# Step 3: refinement with the exact inter-core objective


class _CoreState:
    """Per-source destination counts over virtual cores, for exact move deltas."""

    def __init__(self, net: _Network, where: np.ndarray, n_cores: int) -> None:
        self.net = net
        self.where = where
        self.own = np.concatenate([where, np.full(net.n_inputs, -1, np.int64)])
        self.cnt = np.zeros((net.n + net.n_inputs, n_cores), np.int64)
        np.add.at(self.cnt, (net.pair_s, where[net.pair_d]), net.pair_m)
        self.load = np.bincount(where, minlength=n_cores)
        self.self_m = np.zeros(net.n, np.int64)
        loops = net.pair_s == net.pair_d
        self.self_m[net.pair_d[loops]] = net.pair_m[loops]

    def cost(self, sources: np.ndarray) -> float:
        """Inter-core traffic of ``sources`` (input sources: all their cores)."""
        c = self.cnt[sources] > 0
        own = self.own[sources]
        at_home = np.zeros(sources.size, bool)
        mine = own >= 0
        at_home[mine] = c[mine, own[mine]]
        return float(self.net.rate[sources] @ (c.sum(axis=1) - at_home))

    def move_deltas(self) -> np.ndarray:
        """``(N, K)`` change in traffic when neuron ``v`` alone moves to core ``k``."""
        net, cnt = self.net, self.cnt
        n, k = net.n, cnt.shape[1]
        a = self.where
        rate = net.rate
        rows = np.arange(n)
        # v as a source: its home core changes.
        delta = rate[:n, None] * (
            (cnt[rows, a] - self.self_m > 0)[:, None].astype(float) - (cnt[:n] > 0)
        )
        other = net.pair_s != net.pair_d
        ps, pd, pm = net.pair_s[other], net.pair_d[other], net.pair_m[other]
        home = self.own[ps]
        cores = np.arange(k)
        gained = (cnt[ps] == 0) & (cores[None, :] != home[:, None])
        ad = a[pd]
        lost = (cnt[ps, ad] == pm) & (ad != home)
        contrib = rate[ps, None] * (gained.astype(float) - lost[:, None])
        np.add.at(delta, pd, contrib)
        return delta

    def apply(self, v: int, b: int) -> None:
        net = self.net
        a = int(self.where[v])
        lo, hi = net.in_ptr[v], net.in_ptr[v + 1]
        ps, pm = net.pair_s[lo:hi], net.pair_m[lo:hi]
        self.cnt[ps, a] -= pm
        self.cnt[ps, b] += pm
        self.where[v] = b
        self.own[v] = b
        self.load[a] -= 1
        self.load[b] += 1

    def try_moves(self, moves: list[tuple[int, int]]) -> float:
        """Apply ``moves`` if they lower the traffic; return the (applied) change."""
        net = self.net
        touched = [np.asarray([v for v, _ in moves])]
        for v, _ in moves:
            touched.append(net.pair_s[net.in_ptr[v] : net.in_ptr[v + 1]])
        sources = np.unique(np.concatenate(touched))
        before = self.cost(sources)
        undo = [(v, int(self.where[v])) for v, _ in moves]
        for v, b in moves:
            self.apply(v, b)
        change = self.cost(sources) - before
        if change < -_EPS * (1.0 + abs(before)):
            return change
        for v, a in reversed(undo):
            self.apply(v, a)
        return 0.0


def _refine(
    net: _Network, where: np.ndarray, core_group: np.ndarray, max_passes: int
) -> None:
    cap = net.system.neurons_per_core
    state = _CoreState(net, where, core_group.size)
    allowed = net.group[:, None] == core_group[None, :]
    for _ in range(max_passes):
        delta = state.move_deltas()
        delta[~allowed] = np.inf
        delta[np.arange(net.n), where] = np.inf
        vs, bs = np.nonzero(delta < 0)
        if vs.size == 0:
            return
        order = np.lexsort((bs, vs, delta[vs, bs]))
        locked = np.zeros(net.n, bool)
        improved = False
        for v, b in zip(vs[order].tolist(), bs[order].tolist(), strict=True):
            if locked[v] or where[v] == b:
                continue
            a = int(where[v])
            if state.load[b] < cap and state.try_moves([(v, b)]) < 0:
                locked[v] = improved = True
                continue
            partners = np.flatnonzero((where == b) & ~locked)
            if partners.size == 0:
                continue
            best = partners[np.argsort(delta[partners, a], kind="stable")[:3]]
            for u in best.tolist():
                if delta[v, b] + delta[u, a] >= _EPS * 1e3 * (1 + abs(delta[v, b])):
                    break
                if state.try_moves([(v, b), (u, a)]) < 0:
                    locked[v] = locked[u] = improved = True
                    break
        if not improved:
            return


# --------------------------------------------------------------------------------------
# Step 4: cores onto chips


def _pack_chips(net: _Network, where: np.ndarray, n_cores: int) -> np.ndarray:
    """Physical global core of each virtual core, on the fewest chips."""
    cpc = net.system.cores_per_chip
    n_chips = -(-n_cores // cpc)
    if n_chips <= 1:
        return np.arange(n_cores, dtype=np.int64)
    state = _CoreState(net, where, n_cores)
    present = state.cnt > 0
    has_home = state.own >= 0
    present[np.flatnonzero(has_home), state.own[has_home]] = True
    weighted = present * net.rate[:, None]
    affinity = weighted.T @ present.astype(float)
    np.fill_diagonal(affinity, 0.0)
    total = affinity.sum(axis=1)

    # Greedy growth: slot j of chip c holds virtual core slots[c * cpc + j] (-1: empty).
    slots = np.full(n_chips * cpc, -1, np.int64)
    free = np.ones(n_cores, bool)
    for c in range(n_chips):
        members: list[int] = []
        for j in range(cpc):
            cand = np.flatnonzero(free)
            if cand.size == 0:
                break
            if members:
                g = affinity[np.ix_(cand, np.asarray(members))].sum(axis=1)
                best = cand[g == g.max()]
            else:
                best = cand
            pick = int(best[np.argmax(total[best])])
            members.append(pick)
            free[pick] = False
            slots[c * cpc + j] = pick

    src_idx, core_idx = np.nonzero(state.cnt)

    def chip_cost(slots: np.ndarray) -> float:
        chip_of = np.empty(n_cores, np.int64)
        filled = slots >= 0
        chip_of[slots[filled]] = np.flatnonzero(filled) // cpc
        on_chip = np.zeros((present.shape[0], n_chips), bool)
        on_chip[src_idx, chip_of[core_idx]] = True
        home = np.full(present.shape[0], -1)
        home[has_home] = chip_of[state.own[has_home]]
        at_home = np.zeros(present.shape[0], bool)
        at_home[has_home] = on_chip[np.flatnonzero(has_home), home[has_home]]
        return float(net.rate @ (on_chip.sum(axis=1) - at_home))

    best_cost = chip_cost(slots)
    for _ in range(10):
        improved = False
        for i in range(slots.size):
            for j in range(i + 1, slots.size):
                if i // cpc == j // cpc or (slots[i] < 0 and slots[j] < 0):
                    continue
                slots[[i, j]] = slots[[j, i]]
                cost = chip_cost(slots)
                if cost < best_cost - _EPS * (1.0 + best_cost):
                    best_cost, improved = cost, True
                else:
                    slots[[i, j]] = slots[[j, i]]
        if not improved:
            break
    # Within a chip, cores keep their virtual order (deterministic numbering).
    out = np.empty(n_cores, np.int64)
    for c in range(n_chips):
        chip_slots = slots[c * cpc : (c + 1) * cpc]
        held = np.sort(chip_slots[chip_slots >= 0])
        out[held] = c * cpc + np.arange(held.size)
    return out


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
