"""Dynap-SE2 placement: hard limits, routing tables, traffic, errors, quality."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.dynapse.placement import (
    DynapseSystem,
    Placement,
    PlacementError,
    edges_from_dense,
    place,
    place_in_order,
    traffic,
)

seeds = st.integers(0, 2**32 - 1)


def random_instance(seed: int) -> dict:
    """A small random network and system; may be infeasible."""
    rng = np.random.default_rng(seed)
    system = DynapseSystem(
        neurons_per_core=int(rng.integers(2, 9)),
        cores_per_chip=int(rng.integers(1, 5)),
        chips=int(rng.integers(1, 4)),
        cam_entries=int(rng.integers(3, 12)),
        sram_entries=int(rng.integers(1, 5)),
        tags=int(rng.choice([8, 64, 2048])),
    )
    n = int(rng.integers(1, 40))
    n_inputs = int(rng.integers(0, 4))
    n_edges = int(rng.integers(0, 3 * n + 1))
    n_in_edges = int(rng.integers(0, n + 1)) if n_inputs else 0
    return dict(
        n_neurons=n,
        group=rng.integers(0, int(rng.integers(1, 4)), n),
        src=rng.integers(0, n, n_edges),
        dst=rng.integers(0, n, n_edges),
        system=system,
        n_inputs=n_inputs,
        input_src=rng.integers(0, max(n_inputs, 1), n_in_edges),
        input_dst=rng.integers(0, n, n_in_edges),
        rates=rng.uniform(0, 5, n) if rng.random() < 0.5 else None,
        input_rates=rng.uniform(0, 5, n_inputs) if rng.random() < 0.5 else None,
        tag_reuse=bool(rng.random() < 0.3),
    )


def brute_traffic(p: Placement, inst: dict) -> tuple[float, float, float, float]:
    """The traffic metric by definition, with Python sets."""
    n = inst["n_neurons"]
    rates = inst["rates"] if inst["rates"] is not None else np.ones(n)
    in_rates = inst["input_rates"]
    if in_rates is None:
        in_rates = np.ones(inst["n_inputs"])
    loc = {i: (int(p.chip[i]), int(p.core[i])) for i in range(n)}
    core_sets: dict[int, set] = {}
    chip_sets: dict[int, set] = {}
    for s, d in zip(inst["src"].tolist(), inst["dst"].tolist(), strict=True):
        if loc[d] != loc[s]:
            core_sets.setdefault(s, set()).add(loc[d])
        if loc[d][0] != loc[s][0]:
            chip_sets.setdefault(s, set()).add(loc[d][0])
    in_cores: dict[int, set] = {}
    in_chips: dict[int, set] = {}
    for c, d in zip(
        inst["input_src"].tolist(), inst["input_dst"].tolist(), strict=True
    ):
        in_cores.setdefault(c, set()).add(loc[d])
        in_chips.setdefault(c, set()).add(loc[d][0])
    return (
        sum(rates[s] * len(v) for s, v in core_sets.items()),
        sum(rates[s] * len(v) for s, v in chip_sets.items()),
        sum(in_rates[c] * len(v) for c, v in in_cores.items()),
        sum(in_rates[c] * len(v) for c, v in in_chips.items()),
    )


def infeasibility(inst: dict) -> list[str]:
    """Reasons an instance cannot be placed at all (independent of the algorithm)."""
    sysm: DynapseSystem = inst["system"]
    n = inst["n_neurons"]
    reasons = []
    fan_in = np.bincount(
        np.concatenate([inst["dst"], inst["input_dst"]]).astype(int), minlength=n
    )
    if fan_in.max() > sysm.cam_entries:
        reasons.append("CAM")
    _, sizes = np.unique(inst["group"], return_counts=True)
    if sum(-(-int(k) // sysm.neurons_per_core) for k in sizes) > sysm.cores:
        reasons.append("cores")
    if not inst["tag_reuse"] and n + inst["n_inputs"] > sysm.tags:
        reasons.append("tags")
    return reasons


def check_placement(p: Placement, inst: dict) -> None:
    sysm: DynapseSystem = inst["system"]
    n = inst["n_neurons"]
    src, dst = inst["src"], inst["dst"]
    # Every neuron placed exactly once, inside the system.
    assert p.n_neurons == n
    assert np.all((0 <= p.chip) & (p.chip < sysm.chips))
    assert np.all((0 <= p.core) & (p.core < sysm.cores_per_chip))
    assert np.all((0 <= p.slot) & (p.slot < sysm.neurons_per_core))
    locs = set(zip(p.chip.tolist(), p.core.tolist(), p.slot.tolist(), strict=True))
    assert len(locs) == n
    # Core capacity and parameter groups.
    by_core: dict[tuple[int, int], list[int]] = {}
    for i in range(n):
        by_core.setdefault((int(p.chip[i]), int(p.core[i])), []).append(i)
    for members in by_core.values():
        assert len(members) <= sysm.neurons_per_core
        assert len({int(inst["group"][i]) for i in members}) == 1
        assert sorted(int(p.slot[i]) for i in members) == list(range(len(members)))
    assert p.report.cores_used == len(by_core) == p.report.cores_lower_bound
    # CAM: one entry per incoming connection.
    fan_in = np.bincount(np.concatenate([dst, inst["input_dst"]]), minlength=n)
    assert np.array_equal(p.cam_used, fan_in)
    assert p.cam_used.max(initial=0) <= sysm.cam_entries
    # SRAM: one entry per destination chip, its mask the destination cores.
    for i in range(n):
        want: dict[int, int] = {}
        for d in dst[src == i].tolist():
            want[int(p.chip[d])] = want.get(int(p.chip[d]), 0) | 1 << int(p.core[d])
        assert p.sram[i] == tuple(sorted(want.items()))
        assert len(p.sram[i]) <= sysm.sram_entries - sysm.reserved_sram_entries
    # Tags: in range; unique, or (with reuse) never two on one core.
    tags = np.concatenate([p.neuron_tag, p.input_tag])
    assert np.all((0 <= tags) & (tags < sysm.tags))
    if not inst["tag_reuse"]:
        assert len(set(tags.tolist())) == tags.size
    else:
        heard: dict[tuple[int, int], dict[int, int]] = {}
        all_src = np.concatenate([src, inst["input_src"] + n])
        all_dst = np.concatenate([dst, inst["input_dst"]])
        for s, d in zip(all_src.tolist(), all_dst.tolist(), strict=True):
            core = (int(p.chip[d]), int(p.core[d]))
            prev = heard.setdefault(core, {}).setdefault(int(tags[s]), s)
            assert prev == s, f"sources {prev} and {s} share tag {tags[s]} on {core}"
    # Traffic: the report, the function, and the definition agree.
    t = traffic(
        p,
        src,
        dst,
        inst["rates"],
        input_src=inst["input_src"],
        input_dst=inst["input_dst"],
        input_rates=inst["input_rates"],
    )
    assert t == p.report.traffic
    expected = brute_traffic(p, inst)
    got = (t.inter_core, t.inter_chip, t.input_core, t.input_chip)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(seeds)
def test_random_instances_respect_every_limit(seed):
    inst = random_instance(seed)
    reasons = infeasibility(inst)
    for placer in (place, place_in_order):
        if reasons:
            with pytest.raises(PlacementError, match=r"CAM entries|cores|tags"):
                placer(**inst)
            continue
        try:
            p = placer(**inst)
        except PlacementError as err:
            # Only limits that depend on the placement are left: SRAM entries (chips
            # per neuron) or tags exhausted under reuse; each names its limit.
            message = str(err)
        else:
            check_placement(p, inst)
            continue
        assert re.search(r"SRAM entr|tags", message), message


@settings(max_examples=30, deadline=None)
@given(seeds)
def test_deterministic_and_refinement_never_hurts(seed):
    inst = random_instance(seed)
    if infeasibility(inst):
        return
    try:
        a = place(**inst)
    except PlacementError:
        return
    b = place(**inst)
    greedy = place(**inst, max_passes=0)
    for name in ("chip", "core", "slot", "neuron_tag", "input_tag"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert a.sram == b.sram
    assert a.report == b.report
    assert a.report.traffic.inter_core <= greedy.report.traffic.inter_core + 1e-9


def test_traffic_counts_once_per_distinct_core():
    # 4 neurons, 2 per core: 0,1 on one core and 2,3 on the next (index order).
    sysm = DynapseSystem(neurons_per_core=2, cores_per_chip=1, chips=2)
    src = np.array([0, 0, 0, 0, 2, 3])
    dst = np.array([1, 2, 3, 3, 3, 0])
    p = place_in_order(4, np.zeros(4, int), src, dst, system=sysm)
    assert p.core.tolist() == [0, 0, 0, 0]
    assert p.chip.tolist() == [0, 0, 1, 1]
    t = traffic(p, src, dst, np.array([2.0, 1.0, 1.0, 5.0]))
    # Neuron 0 reaches the other core once (x2); 2 -> 3 is local; 3 -> 0 once (x5).
    assert t.inter_core == 7.0
    assert t.inter_chip == 7.0
    assert p.sram[0] == ((0, 1), (1, 1))
    assert p.report.max_sram == 2


def interleaved_clusters(
    n_clusters: int, size: int, fan_in: int, p_cross: float, seed: int
) -> tuple[int, np.ndarray, np.ndarray]:
    """Dense clusters whose members are interleaved in index order (i % n_clusters)."""
    rng = np.random.default_rng(seed)
    n = n_clusters * size
    cluster = np.arange(n) % n_clusters
    src: list[int] = []
    for d in range(n):
        same = np.flatnonzero(cluster == cluster[d])
        other = np.flatnonzero(cluster != cluster[d])
        k_cross = int(rng.binomial(fan_in, p_cross))
        src += rng.choice(same, fan_in - k_cross, replace=False).tolist()
        src += rng.choice(other, k_cross, replace=False).tolist()
    return n, np.array(src), np.repeat(np.arange(n), fan_in)


def test_beats_index_order_on_interleaved_clusters():
    n, src, dst = interleaved_clusters(8, 64, 16, 0.05, seed=1)
    sysm = DynapseSystem(neurons_per_core=128, cores_per_chip=2, chips=2)
    group = np.zeros(n, int)
    aware = place(n, group, src, dst, system=sysm).report
    naive = place_in_order(n, group, src, dst, system=sysm).report
    assert aware.cores_used == naive.cores_used == 4
    assert 2 * aware.traffic.inter_core <= naive.traffic.inter_core
    assert 2 * aware.traffic.inter_chip <= naive.traffic.inter_chip
    # Without cross-cluster edges the clusters land on cores exactly: no traffic.
    n, src, dst = interleaved_clusters(8, 64, 16, 0.0, seed=2)
    assert place(n, group, src, dst, system=sysm).report.traffic.inter_core == 0


def test_rates_steer_placement():
    # 0 and 1 both talk to 2 and 3; one core of 2 each: which pair shares a core
    # depends on which neuron fires more.
    sysm = DynapseSystem(neurons_per_core=2, cores_per_chip=2)
    src = np.array([0, 1])
    dst = np.array([2, 3])
    p = place(4, np.zeros(4, int), src, dst, system=sysm, rates=[1.0, 1.0, 0, 0])
    assert p.report.traffic.inter_core == 0
    assert p.core[0] == p.core[2]
    assert p.core[1] == p.core[3]


def test_groups_get_their_own_cores():
    sysm = DynapseSystem(neurons_per_core=4, cores_per_chip=4)
    group = np.array([7, 3] * 4)
    p = place(8, group, np.array([0, 1]), np.array([1, 0]), system=sysm)
    for g in (3, 7):
        assert len(set(p.core[group == g].tolist())) == 1
    assert p.core[0] != p.core[1]


def test_cam_overflow_names_the_neuron():
    sysm = DynapseSystem()
    n = 30
    src = np.tile(np.arange(n), 3)[:80]
    dst = np.full(80, 17)
    layers = [("h0", 14), ("h1", 16)]
    msg = "neuron 17 (layer 'h1' index 3) has 80 incoming connections; a neuron has 64 CAM entries"
    with pytest.raises(PlacementError, match=re.escape(msg)):
        place(n, np.zeros(n, int), src, dst, system=sysm, names=layers)
    with pytest.raises(PlacementError, match=re.escape("neuron 17 (x17) has 80")):
        place_in_order(n, np.zeros(n, int), src, dst, names=lambda i: f"x{i}")
    # Input connections count too.
    with pytest.raises(PlacementError, match="neuron 2 has 65 incoming"):
        place(
            3,
            np.zeros(3, int),
            np.zeros(0, int),
            np.zeros(0, int),
            n_inputs=65,
            input_src=np.arange(65),
            input_dst=np.full(65, 2),
        )


def test_too_many_cores_for_a_group():
    group = np.full(1100, 2)
    msg = (
        "group 2 needs 5 cores (1100 neurons, 256 per core); the system has 4 cores "
        "(1 chip)"
    )
    with pytest.raises(PlacementError, match=re.escape(msg)):
        place(1100, group, np.zeros(0, int), np.zeros(0, int))
    assert isinstance(PlacementError("x"), ValueError)


def test_too_many_cores_for_all_groups():
    group = np.repeat([0, 1], [600, 300])
    msg = (
        "the 2 parameter groups need 5 cores (group 0: 3, group 1: 2); the system "
        "has 4 cores (1 chip)"
    )
    with pytest.raises(PlacementError, match=re.escape(msg)):
        place_in_order(900, group, np.zeros(0, int), np.zeros(0, int))
    # Two chips hold it.
    p = place(
        900, group, np.zeros(0, int), np.zeros(0, int), system=DynapseSystem(chips=2)
    )
    assert p.report.cores_used == 5
    assert p.report.chips_used == 2


def test_tag_space():
    msg = (
        "the network has 2049 sources (1 input channels + 2048 neurons), each with its "
        "own tag; the system has 2048 tags"
    )
    none = np.zeros(0, int)
    group = np.arange(2048) // 256
    with pytest.raises(PlacementError, match=re.escape(msg)):
        place(2048, group, none, none, system=DynapseSystem(chips=2), n_inputs=1)
    # With reuse, sources that reach no common core share tags.
    sysm = DynapseSystem(neurons_per_core=2, cores_per_chip=2, tags=2)
    p = place(
        4,
        np.zeros(4, int),
        np.array([0, 2]),
        np.array([1, 3]),
        system=sysm,
        tag_reuse=True,
    )
    assert set(p.neuron_tag.tolist()) <= {0, 1}
    # Three sources into one core cannot share 2 tags.
    with pytest.raises(
        PlacementError, match=r"already hear 2 distinct tags.*has 2 tags"
    ):
        place(
            3, np.zeros(3, int), np.array([0, 1, 2]), np.array([0, 0, 0]),
            system=sysm, tag_reuse=True,
        )  # fmt: skip


def test_sram_overflow_names_the_neuron():
    # One neuron per chip: neuron 0 must reach chips 1 and 2.
    sysm = DynapseSystem(
        neurons_per_core=1, cores_per_chip=1, chips=3, sram_entries=2,
        reserved_sram_entries=1,
    )  # fmt: skip
    with pytest.raises(
        PlacementError,
        match=re.escape(
            "neuron 0 sends to 2 chips (1, 2) and 1 entry is reserved; a neuron has "
            "2 SRAM entries"
        ),
    ):
        place(3, np.arange(3), np.array([0, 0]), np.array([1, 2]), system=sysm)


def test_bad_arguments_are_value_errors():
    none = np.zeros(0, int)
    with pytest.raises(ValueError, match=r"dst\[0\] = 5: outside 0..2"):
        place(3, np.zeros(3, int), np.array([0]), np.array([5]))
    with pytest.raises(ValueError, match="group: expected"):
        place(3, np.zeros(2, int), none, none)
    with pytest.raises(ValueError, match="must be an int >= 1"):
        DynapseSystem(cam_entries=0)
    with pytest.raises(ValueError, match="layer sizes"):
        place(3, np.zeros(3, int), none, none, names=[("a", 2)])


def test_edges_from_dense_and_report():
    w = np.zeros((3, 3, 2))
    w[0, 1, 0] = w[0, 1, 1] = w[2, 0, 0] = 0.5
    src, dst = edges_from_dense(w)
    assert sorted(zip(src.tolist(), dst.tolist(), strict=True)) == [
        (0, 1),
        (0, 1),
        (2, 0),
    ]
    p = place(3, np.zeros(3, int), src, dst)
    assert p.cam_used.tolist() == [1, 2, 0]
    assert p.report.core_load == {(0, 0): 3}
    assert p.report.utilisation == {(0, 0): 3 / 256}
    assert "1 chips (lower bound 1)" in str(p.report)
    assert p.neurons_on(0, 0).tolist() == [0, 1, 2]


def test_multi_chip_packing_keeps_clusters_on_chip():
    # 4 clusters of 2 cores each (8 cores, 2 chips of 4): no inter-chip traffic
    # needed once cluster pairs share a chip.
    sysm = DynapseSystem(neurons_per_core=8, cores_per_chip=4, chips=2)
    n = 64
    cluster = np.arange(n) % 2
    pairs = [(s, d) for s, d in itertools.product(range(n), repeat=2)]
    rng = np.random.default_rng(0)
    keep = [
        (s, d)
        for s, d in pairs
        if cluster[s] == cluster[d] and s != d and rng.random() < 0.1
    ]
    src = np.array([s for s, _ in keep])
    dst = np.array([d for _, d in keep])
    p = place(n, np.zeros(n, int), src, dst, system=sysm)
    assert p.report.traffic.inter_chip == 0
    assert (
        place_in_order(
            n, np.zeros(n, int), src, dst, system=sysm
        ).report.traffic.inter_chip
        > 0
    )
