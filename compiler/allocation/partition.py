"""Core allocation: which chip, core and slot each neuron gets.

**Objective.** Fewest spikes between cores, by the connectivity metric
(``compiler/allocation/traffic.py``: one event per distinct destination core, rate
weighted), then fewest between chips and hops between them. **Hard constraints**
(never violated; when none can hold, ``AllocationError`` says which binds and by how
much): core capacity, one parameter group per core, fan-in entries per neuron, fan-out
entries per neuron (one per destination chip), the tag space, the system's cores.

**Method.**

1. Feasibility from counts (fan-in, tags, and the cores each parameter group needs,
   ``ceil(n_g / neurons_per_core)``, whose sum is the lower bound on cores).
2. Each group with more than one core is partitioned into exactly that many cores by
   METIS (``pymetis``, k-way, seeded: deterministic) on its synapse graph,
   symmetrised, each synapse weighted by its source's rate. NOTE: METIS minimises the
   edge cut, a proxy of the connectivity metric; it is used because it partitions a
   million-neuron graph in seconds where hypergraph partitioners (KaHyPar, Mt-KaHyPar)
   took minutes on a tenth of it on this machine (notes in ``bench/allocation.py``).
3. Constraint repair: cores over capacity (METIS balances within a tolerance) hand
   their least-attached neurons to the cores of the group with room that they are
   most connected to.
4. Refinement, our own, on the exact metric: each neuron may move to the core of its
   group holding most of its (rate-weighted) synapses if that core has room; a pass is
   kept only if the exact inter-core traffic falls (``refine`` passes).
5. Cores onto chips: the fewest chips that hold them, by METIS on the core graph
   (cores joined by the traffic between them), repaired to ``cores_per_chip``; chips
   onto mesh positions in that order (row-major).
6. Slots in ascending neuron index within each core; fan-out entries (distinct
   destination chips per neuron) checked.

Baselines in the same terms: ``allocate_in_order`` (neurons in index order fill cores
of their group: what Rockpool's mapper does) and ``allocate_random``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pymetis

from compiler.allocation.model import CoreModel
from compiler.allocation.network import Network
from compiler.allocation.traffic import (
    Traffic,
    inter_core,
    traffic,
    unique,
    unique_inverse,
)
from compiler.progress import PROGRESS_DELAY, Progress

__all__ = [
    "Allocation",
    "AllocationError",
    "AllocationReport",
    "allocate",
    "allocate_in_order",
    "allocate_random",
]


METIS_DEGREE = 16
"""In-synapses per neuron METIS partitions on (a seeded sample; see ``_sample``)."""


EXACT_COMPARISON = 20_000_000
"""Synapses up to which the METIS/index-order start is chosen on the exact metric."""


class AllocationError(ValueError):
    """No placement satisfies the hard constraints; the message says which binds."""


@dataclass(frozen=True)
class AllocationReport:
    """What an allocation used and cost.

    Attributes:
        method: ``partition``, ``index-order`` or ``random``.
        cores_used, cores_lower_bound: cores holding neurons, and the fewest possible.
        chips_used, chips_lower_bound: likewise for chips.
        max_core_load, mean_core_load: neurons per used core.
        max_fan_in: largest fan-in (entries) of a neuron; ``max_fan_out`` its
            destination chips.
        traffic: spikes per inference between cores and chips, hops, busiest link.
        seconds: time taken.
    """

    method: str
    cores_used: int
    cores_lower_bound: int
    chips_used: int
    chips_lower_bound: int
    max_core_load: int
    mean_core_load: float
    max_fan_in: int
    max_fan_out: int
    traffic: Traffic
    seconds: float

    def __str__(self) -> str:
        t = self.traffic
        rows = [
            ("method", self.method),
            (
                "cores used / lower bound",
                f"{self.cores_used:,} / {self.cores_lower_bound:,}",
            ),
            (
                "chips used / lower bound",
                f"{self.chips_used:,} / {self.chips_lower_bound:,}",
            ),
            (
                "neurons per core (max, mean)",
                f"{self.max_core_load}, {self.mean_core_load:.1f}",
            ),
            ("max fan-in, fan-out entries", f"{self.max_fan_in}, {self.max_fan_out}"),
            ("inter-core spikes / inference", f"{t.inter_core:,.0f}"),
            ("inter-chip spikes / inference", f"{t.inter_chip:,.0f}"),
            ("spike-hops / inference", f"{t.spike_hops:,.0f}"),
            ("busiest link (spikes)", f"{t.busiest_link:,.0f}"),
            ("input events to cores", f"{t.input_cores:,.0f}"),
            ("time (s)", f"{self.seconds:.2f}"),
        ]
        return "\n".join(f"{k:<32} {v}" for k, v in rows)


@dataclass(frozen=True, eq=False)
class Allocation:
    """Every neuron's chip, core (within the chip) and slot, and the report."""

    model: CoreModel
    chip: np.ndarray
    core: np.ndarray
    slot: np.ndarray
    report: AllocationReport

    @property
    def global_core(self) -> np.ndarray:
        """``chip * cores_per_chip + core`` per neuron."""
        return self.chip * self.model.cores_per_chip + self.core

    def utilisation(self, net: Network) -> dict[str, np.ndarray]:
        """Per used core (ascending global core id): ``core``, its ``neurons``, and the
        ``fan_in`` and ``fan_out`` entries its neurons use (fan-out: destination chips
        per neuron, summed)."""
        g = self.global_core
        used = np.unique(g)
        index = np.searchsorted(used, g)
        fan_in = _fan_in(net)
        chips = self.model.chips
        keys = unique(net.src.astype(np.int64) * chips + self.chip[net.dst])
        fan_out = np.bincount(keys // chips, minlength=net.n)
        return {
            "core": used,
            "neurons": np.bincount(index, minlength=used.size),
            "fan_in": np.bincount(index, weights=fan_in, minlength=used.size),
            "fan_out": np.bincount(index, weights=fan_out, minlength=used.size),
        }

    def as_array(self) -> np.ndarray:
        """``(n, 3)`` int64 rows ``(chip, core, slot)``."""
        return np.stack([self.chip, self.core, self.slot], axis=1).astype(np.int64)


# ---------------------------------------------------------------------------------
# Feasibility


def _fan_in(net: Network) -> np.ndarray:
    counts = np.bincount(net.dst, minlength=net.n)
    if net.input_dst is not None and net.input_dst.size:
        counts = counts + np.bincount(net.input_dst, minlength=net.n)
    return counts


def _check(net: Network, model: CoreModel) -> dict[int, int]:
    """Cores needed per group; raise ``AllocationError`` on a binding limit."""
    if model.fan_in is not None and net.n:
        fan_in = _fan_in(net)
        worst = int(np.argmax(fan_in))
        if fan_in[worst] > model.fan_in:
            over = int(np.count_nonzero(fan_in > model.fan_in))
            raise AllocationError(
                f"{net.name(worst)} has {fan_in[worst]} incoming synapses; a neuron has "
                f"{model.fan_in} fan-in entries ({over} neuron(s) over the limit)"
            )
    sources = net.n + net.n_inputs
    if model.tags is not None and sources > model.tags:
        raise AllocationError(
            f"{sources:,} sources ({net.n:,} neurons + {net.n_inputs:,} inputs) need "
            f"distinct tags; the system has {model.tags:,}"
        )
    groups, sizes = np.unique(net.group, return_counts=True)
    cap = model.neurons_per_core
    need = {int(g): -(-int(s) // cap) for g, s in zip(groups, sizes, strict=True)}
    total = sum(need.values())
    if total > model.cores:
        g = max(need, key=lambda k: need[k])
        layers = ", ".join(f"'{name}'" for name in net.layer_of_group(g))
        raise AllocationError(
            f"the network needs {total:,} cores of {cap} neurons (largest: layer(s) "
            f"{layers}, parameter group {g}, {need[g]:,} cores); the system has "
            f"{model.cores:,} ({model.chips:,} chip(s) of {model.cores_per_chip})"
        )
    return need


# ---------------------------------------------------------------------------------
# Partitioning with METIS and repair


def _csr(
    n: int, a: np.ndarray, b: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric CSR of the edges ``a - b`` (integer weights ``w`` in 1..127),
    self-loops dropped.

    NOTE: one ``np.sort`` of packed ``(row, column, weight)`` keys instead of an
    ``argsort``, several times faster on tens of millions of edges.
    """
    keep = a != b
    a, b, w = a[keep], b[keep], np.clip(w[keep], 1, 127)
    rows = np.concatenate([a, b]).astype(np.int64)
    cols = np.concatenate([b, a]).astype(np.int64)
    keys = np.sort((rows * n + cols) * 128 + np.concatenate([w, w]))
    pair, weights = keys // 128, keys % 128
    rows, cols = pair // n, pair % n
    dtype = pymetis.zero_copy_dtype()
    xadj = np.searchsorted(rows, np.arange(n + 1)).astype(dtype)
    return xadj, cols.astype(dtype), weights.astype(dtype)


def _metis(
    n: int, k: int, a: np.ndarray, b: np.ndarray, w: np.ndarray, cap: int, seed: int
) -> np.ndarray:
    """``k``-way METIS partition of ``n`` vertices, repaired to at most ``cap`` each."""
    if k <= 1:
        return np.zeros(n, np.int64)
    csr = _csr(n, a, b, w)
    xadj, adj, weights = csr
    # NOTE: a near-zero imbalance makes METIS several times slower (65 s against
    # 22 s at a million neurons, 3,907 parts); allow 3% and repair the overflow.
    slack = cap * k / n - 1.0
    ufactor = int(np.clip(np.floor(1000 * slack), 30, 1000))
    options = pymetis.Options(seed=seed, ufactor=ufactor)
    result = pymetis.part_graph(
        k, pymetis.CSRAdjacency(xadj, adj), eweights=weights if adj.size else None,
        options=options,
    )  # fmt: skip
    part = np.asarray(result.vertex_part, np.int64)
    return _repair(part, k, cap, csr)


def _repair(
    part: np.ndarray,
    k: int,
    cap: int,
    csr: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """Move neurons out of parts over ``cap`` into the parts they are most tied to."""
    load = np.bincount(part, minlength=k)
    if load.max(initial=0) <= cap:
        return part
    part = part.copy()
    xadj, adj, weights = (np.asarray(x, np.int64) for x in csr)
    n = part.size
    rows = np.repeat(np.arange(n), np.diff(xadj))
    # Attachment of every vertex to its own part.
    own = np.bincount(rows, weights=weights * (part[rows] == part[adj]), minlength=n)
    for p in np.flatnonzero(load > cap).tolist():
        members = np.flatnonzero(part == p)
        leaving = members[np.argsort(own[members], kind="stable")[: load[p] - cap]]
        for v in leaving.tolist():
            nb = adj[xadj[v] : xadj[v + 1]]
            nw = weights[xadj[v] : xadj[v + 1]].astype(float)
            tie = np.bincount(part[nb], weights=nw, minlength=k)
            tie[load >= cap] = -1.0
            tie[p] = -1.0
            target = int(np.argmax(tie))
            part[v] = target
            load[p] -= 1
            load[target] += 1
    return part


def _refine(
    net: Network,
    gcore: np.ndarray,
    n_cores: int,
    cap: int,
    edges: tuple[np.ndarray, np.ndarray, np.ndarray],
    passes: int,
) -> np.ndarray:
    """Moves toward the core holding most of a neuron's synapses (among ``edges``,
    both directions, rate weighted), kept only when the exact inter-core traffic
    falls."""
    src, dst, weight = edges
    a = np.concatenate([src, dst])
    b = np.concatenate([dst, src])
    w = np.concatenate([weight, weight])
    keep = (a != b) & (net.group[a] == net.group[b])
    a, b, w = a[keep], b[keep], w[keep]
    best = inter_core(net, gcore, n_cores)
    w = np.clip(np.rint(w), 1, 127).astype(np.int64)
    if a.size == 0:
        return gcore
    for _ in range(passes):
        # Weight of each (neuron, core) pair, from one sort of packed keys
        # ((neuron, core), weight), and the neuron's weight to its own core.
        packed = np.sort((a * n_cores + gcore[b]) * 128 + w)
        pair = packed // 128
        starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
        tie = np.add.reduceat(packed % 128, starts).astype(float)
        keys = pair[starts]
        v, c = keys // n_cores, keys % n_cores
        own = np.zeros(net.n)
        home = c == gcore[v]
        own[v[home]] = tie[home]
        gain = tie - own[v]
        cand = np.flatnonzero((~home) & (gain > 0))
        cand = cand[np.argsort(-gain[cand], kind="stable")]
        trial = gcore.copy()
        load = np.bincount(trial, minlength=n_cores)
        moved = np.zeros(net.n, bool)
        for i in cand.tolist():
            vi, ci = int(v[i]), int(c[i])
            if moved[vi] or load[ci] >= cap:
                continue
            load[trial[vi]] -= 1
            load[ci] += 1
            trial[vi] = ci
            moved[vi] = True
        if not moved.any():
            break
        cost = inter_core(net, trial, n_cores)
        if cost >= best:
            break
        best, gcore = cost, trial
    return gcore


def _sample(
    net: Network, degree: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At most about ``degree`` in-synapses per neuron (seeded), with rate weights.

    NOTE: METIS's time and memory grow with the synapses it sees; a random sample of
    each neuron's inputs keeps the structure the partition needs at a fraction of the
    cost, and the exact metric on all synapses guides every later choice.
    """
    indegree = np.bincount(net.dst, minlength=net.n)
    keep_p = np.minimum(1.0, degree / np.maximum(indegree, 1))[net.dst]
    rng = np.random.default_rng(seed)
    keep = rng.random(net.dst.size) < keep_p
    src, dst = net.src[keep], net.dst[keep]
    scale = max(float(net.rates.max(initial=1.0)), 1e-12)
    weight = np.maximum(1, np.rint(100 * net.rates[src] / scale)).astype(np.int64)
    return src, dst, weight


def _chips(
    net: Network, gcore_virtual: np.ndarray, n_cores: int, model: CoreModel, seed: int
) -> np.ndarray:
    """Chip of each virtual core: the fewest chips, cores joined by their traffic."""
    cpc = model.cores_per_chip
    n_chips = -(-n_cores // cpc)
    if n_chips <= 1:
        return np.zeros(n_cores, np.int64)
    keys = unique(net.src.astype(np.int64) * n_cores + gcore_virtual[net.dst])
    s, c = keys // n_cores, keys % n_cores
    home = gcore_virtual[s]
    far = home != c
    pair = unique_inverse(home[far] * n_cores + c[far])
    weight = np.bincount(pair[1], weights=net.rates[s[far]])
    a, b = pair[0] // n_cores, pair[0] % n_cores
    part = _agglomerate(n_cores, cpc, a, b, weight)
    # The same choice as for cores: the cores in order, when that is better.
    in_order = np.arange(n_cores, dtype=np.int64) // cpc

    def chip_traffic(chip_of_core: np.ndarray) -> float:
        # From the distinct (source, core) pairs: fewer keys than synapses to sort.
        pairs = unique(s * n_chips + chip_of_core[c])
        src_of, chip_to = pairs // n_chips, pairs % n_chips
        home_chip = chip_of_core[gcore_virtual[src_of]]
        return float(net.rates[src_of[chip_to != home_chip]].sum())

    return in_order if chip_traffic(in_order) < chip_traffic(part) else part


def _agglomerate(
    n: int, size: int, a: np.ndarray, b: np.ndarray, weight: np.ndarray
) -> np.ndarray:
    """Group ``n`` items into bins of ``size``, heaviest ties first.

    Greedy agglomeration: edges in descending weight join their two groups when the
    union fits a bin; the groups are then packed into bins first-fit decreasing.
    NOTE: METIS is slow when parts hold only a few vertices (21 s for 3,907 cores
    into 977 chips); this takes well under a second.
    """
    parent = np.arange(n)
    count = np.ones(n, np.int64)

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = int(parent[x])
        return x

    order = np.lexsort((b, a, -weight))
    for i in order.tolist():
        x, y = root(int(a[i])), root(int(b[i]))
        if x != y and count[x] + count[y] <= size:
            if x > y:
                x, y = y, x
            parent[y] = x
            count[x] += count[y]
    roots = np.array([root(i) for i in range(n)])
    groups = np.unique(roots)
    sizes = count[groups]
    bins: list[int] = []  # fill of each bin
    bin_of_group = np.empty(groups.size, np.int64)
    for j in np.lexsort((groups, -sizes)).tolist():
        for k, fill in enumerate(bins):
            if fill + sizes[j] <= size:
                bins[k] += int(sizes[j])
                bin_of_group[j] = k
                break
        else:
            bins.append(int(sizes[j]))
            bin_of_group[j] = len(bins) - 1
    bin_of = bin_of_group[np.searchsorted(groups, roots)]
    # Items in bin order, cut into full bins: the fewest bins, ceil(n / size), even
    # when first-fit left some part-empty.
    chip = np.empty(n, np.int64)
    chip[np.lexsort((np.arange(n), bin_of))] = np.arange(n) // size
    return chip


def _finish(
    net: Network,
    model: CoreModel,
    virtual: np.ndarray,
    chip_of_core: np.ndarray,
    method: str,
    lower: int,
    started: float,
) -> Allocation:
    """Number cores within chips, give slots, check fan-out, build the report."""
    cpc = model.cores_per_chip
    n_cores = int(virtual.max(initial=-1)) + 1
    index_in_chip = np.zeros(n_cores, np.int64)
    for ch in np.unique(chip_of_core).tolist():
        members = np.flatnonzero(chip_of_core == ch)
        index_in_chip[members] = np.arange(members.size)
    chip = chip_of_core[virtual]
    core = index_in_chip[virtual]
    gcore = chip * cpc + core
    order = np.lexsort((np.arange(net.n), gcore))
    slot = np.empty(net.n, np.int64)
    starts = np.searchsorted(gcore[order], gcore[order], side="left")
    slot[order] = np.arange(net.n) - starts
    fan_out = np.zeros(net.n, np.int64)
    if net.src.size:
        pairs = unique(net.src.astype(np.int64) * model.cores + gcore[net.dst])
        s, c = pairs // model.cores, pairs % model.cores
        keys = unique(s * model.chips + c // cpc)
        fan_out = np.bincount(keys // model.chips, minlength=net.n)
    if model.fan_out is not None and fan_out.max(initial=0) > model.fan_out:
        v = int(np.argmax(fan_out))
        raise AllocationError(
            f"{net.name(v)} reaches {fan_out[v]} chips; a neuron has {model.fan_out} "
            "fan-out entries (one per destination chip)"
        )
    used, load = np.unique(gcore, return_counts=True)
    report = AllocationReport(
        method=method,
        cores_used=int(used.size),
        cores_lower_bound=lower,
        chips_used=int(np.unique(chip).size),
        chips_lower_bound=-(-lower // cpc),
        max_core_load=int(load.max(initial=0)),
        mean_core_load=float(load.mean()) if load.size else 0.0,
        max_fan_in=int(_fan_in(net).max(initial=0)),
        max_fan_out=int(fan_out.max(initial=0)),
        traffic=traffic(net, chip, core, model),
        seconds=time.perf_counter() - started,
    )
    return Allocation(model=model, chip=chip, core=core, slot=slot, report=report)


def allocate(
    net: Network,
    model: CoreModel,
    *,
    seed: int = 0,
    refine: int = 2,
    metis_degree: int = METIS_DEGREE,
) -> Allocation:
    """Traffic-aware allocation (see the module docstring).

    ``metis_degree``: in-synapses per neuron the partitioner sees (a seeded sample).

    Raises:
        AllocationError: a hard constraint no placement satisfies.
    """
    started = time.perf_counter()
    need = _check(net, model)
    cap = model.neurons_per_core
    virtual = np.zeros(net.n, np.int64)
    base = 0
    src, dst, w_all = _sample(net, metis_degree, seed)
    same = net.group[src] == net.group[dst]
    bar = Progress("allocate-cores", len(need) + 2, delay=PROGRESS_DELAY)
    for g in sorted(need):
        bar.update(0, note=f"partition group {g} into {need[g]} cores")
        members = np.flatnonzero(net.group == g)
        k = need[g]
        local = np.full(net.n, -1, np.int64)
        local[members] = np.arange(members.size)
        inside = same & (local[src] >= 0)
        a, b, w = local[src[inside]], local[dst[inside]], w_all[inside]
        part = _metis(members.size, k, a, b, w, cap, seed)
        virtual[members] = base + part
        base += k
        bar.update(1)
    bar.update(0, note="refine")
    if base > 1:
        # NOTE: METIS minimises the edge cut; on nets whose index order already
        # follows their structure (conv layers in channel-major order) the index-order
        # fill can be better on the connectivity metric. Start from the better one.
        # On large nets the comparison uses the inputs METIS saw (a sample of every
        # neuron's inputs): a fraction of the cost of the exact metric, the same
        # ranking when the two differ by more than noise.
        seen = net
        if net.src.size > EXACT_COMPARISON:
            seen = Network.build(net.n, src, dst, group=net.group, rates=net.rates)
        ordered = _fill_virtual(net, need, np.arange(net.n), cap)
        if inter_core(seen, ordered, base) < inter_core(seen, virtual, base):
            virtual = ordered
        if refine > 0:
            virtual = _refine(net, virtual, base, cap, (src, dst, w_all), refine)
    bar.update(1, note="chips")
    chip_of_core = _chips(net, virtual, base, model, seed)
    bar.update(1)
    bar.close()
    return _finish(net, model, virtual, chip_of_core, "partition", base, started)


def _fill_virtual(
    net: Network, need: dict[int, int], order: np.ndarray, cap: int
) -> np.ndarray:
    """Each group's neurons, in ``order``, fill that group's cores (numbered group by
    group, as ``allocate`` numbers them)."""
    virtual = np.empty(net.n, np.int64)
    groups = net.group[order]
    base = 0
    for g in sorted(need):
        members = order[groups == g]
        virtual[members] = base + np.arange(members.size) // cap
        base += need[g]
    return virtual


def _fill(
    net: Network, model: CoreModel, order: np.ndarray, method: str, started: float
) -> Allocation:
    need = _check(net, model)
    cap = model.neurons_per_core
    virtual = np.empty(net.n, np.int64)
    open_core: dict[int, tuple[int, int]] = {}
    next_core = 0
    for i in order.tolist():
        g = int(net.group[i])
        c, load = open_core.get(g, (-1, cap))
        if load == cap:
            c, load, next_core = next_core, 0, next_core + 1
        virtual[i] = c
        open_core[g] = (c, load + 1)
    chip_of_core = np.arange(next_core, dtype=np.int64) // model.cores_per_chip
    return _finish(
        net, model, virtual, chip_of_core, method, sum(need.values()), started
    )


def allocate_in_order(net: Network, model: CoreModel) -> Allocation:
    """Baseline: neurons in index order fill their group's cores, cores fill chips."""
    return _fill(net, model, np.arange(net.n), "index-order", time.perf_counter())


def allocate_random(net: Network, model: CoreModel, *, seed: int = 0) -> Allocation:
    """Baseline: a seeded random order fills cores as ``allocate_in_order`` does."""
    order = np.random.default_rng(seed).permutation(net.n)
    return _fill(net, model, order, "random", time.perf_counter())
