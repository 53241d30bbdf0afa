"""Dynap-SE2 routing (``route``): hard limits, routing tables, traffic, errors.

Where neurons go is ``allocate-cores``' job (tests/compiler/allocation); here a core
assignment is given and ``route`` turns it into tags, SRAM routes and CAM counts.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.dynapse.routing import (
    DynapseSystem,
    Placement,
    PlacementError,
    edges_from_dense,
    route,
    traffic,
)

seeds = st.integers(0, 2**32 - 1)


def place_in_order(
    n_neurons: int,
    group: Any,
    src: Any,
    dst: Any,
    *,
    system: DynapseSystem | None = None,
    **options: Any,
) -> Placement:
    """Route neurons placed in index order, Rockpool's style: a group's next neuron
    goes to the group's open core, or opens the next free core (chip 0 core 0 first).
    Cores past the system's end are left to ``route``'s feasibility check."""
    sysm = system if system is not None else DynapseSystem()
    cap = sysm.neurons_per_core
    where = np.zeros(n_neurons, np.int64)
    open_core: dict[int, tuple[int, int]] = {}
    next_core = 0
    for i, g in enumerate(np.asarray(group).tolist()):
        core, load = open_core.get(g, (-1, cap))
        if load == cap:
            core, load, next_core = next_core, 0, next_core + 1
        where[i] = core
        open_core[g] = (core, load + 1)
    chip, core = np.divmod(where, sysm.cores_per_chip)
    return route(
        n_neurons, group, src, dst, chip=chip, core=core, system=sysm, **options
    )


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
    """Reasons an instance cannot be placed at all (independent of the placement)."""
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
    if infeasibility(inst):
        with pytest.raises(PlacementError, match=r"CAM entries|cores|tags"):
            place_in_order(**inst)
        return
    try:
        p = place_in_order(**inst)
    except PlacementError as err:
        message = str(err)
    else:
        check_placement(p, inst)
        return
    # Only limits that depend on the placement are left: SRAM entries (chips per
    # neuron) or tags exhausted under reuse; each names its limit.
    assert re.search(r"SRAM entr|tags", message), message


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


def test_route_refuses_a_bad_assignment():
    sysm = DynapseSystem(neurons_per_core=2, cores_per_chip=2)
    none = np.zeros(0, int)
    with pytest.raises(PlacementError, match="chip 0 core 0 holds 3 neurons"):
        route(3, np.zeros(3, int), none, none, chip=[0, 0, 0], core=[0, 0, 0],
              system=sysm)  # fmt: skip
    with pytest.raises(PlacementError, match=r"parameter groups \[0, 1\]"):
        route(2, np.array([0, 1]), none, none, chip=[0, 0], core=[1, 1],
              system=sysm)  # fmt: skip
    with pytest.raises(PlacementError, match="neuron 1 is on chip 1 core 0"):
        route(2, np.zeros(2, int), none, none, chip=[0, 1], core=[0, 0],
              system=sysm)  # fmt: skip
    with pytest.raises(ValueError, match="chip and core must have 2 entries"):
        route(2, np.zeros(2, int), none, none, chip=[0], core=[0], system=sysm)
    # Slots follow neuron index within a core.
    p = route(3, np.zeros(3, int), none, none, chip=[0, 0, 0], core=[1, 0, 1],
              system=DynapseSystem())  # fmt: skip
    assert p.slot.tolist() == [0, 0, 1]
    assert p.neurons_on(0, 1).tolist() == [0, 2]


def test_cam_overflow_names_the_neuron():
    sysm = DynapseSystem()
    n = 30
    src = np.tile(np.arange(n), 3)[:80]
    dst = np.full(80, 17)
    layers = [("h0", 14), ("h1", 16)]
    msg = "neuron 17 (layer 'h1' index 3) has 80 incoming connections; a neuron has 64 CAM entries"
    with pytest.raises(PlacementError, match=re.escape(msg)):
        place_in_order(n, np.zeros(n, int), src, dst, system=sysm, names=layers)
    with pytest.raises(PlacementError, match=re.escape("neuron 17 (x17) has 80")):
        place_in_order(n, np.zeros(n, int), src, dst, names=lambda i: f"x{i}")
    # Input connections count too.
    with pytest.raises(PlacementError, match="neuron 2 has 65 incoming"):
        place_in_order(
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
        place_in_order(1100, group, np.zeros(0, int), np.zeros(0, int))
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
    p = place_in_order(
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
        place_in_order(
            2048, group, none, none, system=DynapseSystem(chips=2), n_inputs=1
        )
    # With reuse, sources that reach no common core share tags.
    sysm = DynapseSystem(neurons_per_core=2, cores_per_chip=2, tags=2)
    p = place_in_order(
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
        place_in_order(
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
        place_in_order(3, np.arange(3), np.array([0, 0]), np.array([1, 2]), system=sysm)


def test_bad_arguments_are_value_errors():
    none = np.zeros(0, int)
    zeros = np.zeros(3, int)
    with pytest.raises(ValueError, match=r"dst\[0\] = 5: outside 0..2"):
        route(3, zeros, np.array([0]), np.array([5]), chip=zeros, core=zeros)
    with pytest.raises(ValueError, match="group: expected"):
        route(3, np.zeros(2, int), none, none, chip=zeros, core=zeros)
    with pytest.raises(ValueError, match="must be an int >= 1"):
        DynapseSystem(cam_entries=0)
    with pytest.raises(ValueError, match="layer sizes"):
        route(3, zeros, none, none, chip=zeros, core=zeros, names=[("a", 2)])


def test_edges_from_dense_and_report():
    w = np.zeros((3, 3, 2))
    w[0, 1, 0] = w[0, 1, 1] = w[2, 0, 0] = 0.5
    src, dst = edges_from_dense(w)
    assert sorted(zip(src.tolist(), dst.tolist(), strict=True)) == [
        (0, 1),
        (0, 1),
        (2, 0),
    ]
    p = place_in_order(3, np.zeros(3, int), src, dst)
    assert p.cam_used.tolist() == [1, 2, 0]
    assert p.report.core_load == {(0, 0): 3}
    assert p.report.utilisation == {(0, 0): 3 / 256}
    assert "1 chips (lower bound 1)" in str(p.report)
    assert p.neurons_on(0, 0).tolist() == [0, 1, 2]
