"""Core allocation: hard constraints on random instances, errors, the traffic metric
against a brute-force count, determinism, and the gain over index order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.allocation import (
    AllocationError,
    CoreModel,
    Network,
    allocate,
    allocate_in_order,
    allocate_random,
    traffic,
)


@st.composite
def instances(draw: st.DrawFn) -> tuple[Network, CoreModel]:
    cap = draw(st.integers(4, 32))
    cpc = draw(st.integers(1, 4))
    n = draw(st.integers(1, 300))
    n_groups = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    group = rng.integers(0, n_groups, n)
    e = draw(st.integers(0, 4 * n))
    src, dst = rng.integers(0, n, e), rng.integers(0, n, e)
    need = sum(-(-int(np.sum(group == g)) // cap) for g in np.unique(group))
    chips = -(-need // cpc) + draw(st.integers(0, 2))
    side = int(np.ceil(np.sqrt(chips)))
    model = CoreModel(
        neurons_per_core=cap, cores_per_chip=cpc, chips=chips, mesh=(side, side)
    )
    rates = rng.random(n) * 3
    return Network.build(n, src, dst, group=group, rates=rates), model


@settings(deadline=None)
@given(instances())
def test_hard_constraints_hold_on_random_instances(
    case: tuple[Network, CoreModel],
) -> None:
    net, model = case
    for placed in (allocate(net, model, seed=1), allocate_in_order(net, model)):
        g = placed.global_core
        assert np.all((placed.chip >= 0) & (placed.chip < model.chips))
        assert np.all((placed.core >= 0) & (placed.core < model.cores_per_chip))
        # Every neuron has its own (core, slot); no core over capacity.
        assert len(set(zip(g.tolist(), placed.slot.tolist(), strict=True))) == net.n
        assert np.all(placed.slot < model.neurons_per_core)
        assert np.bincount(g).max(initial=0) <= model.neurons_per_core
        # One parameter group per core.
        for c in np.unique(g):
            assert np.unique(net.group[g == c]).size == 1
        assert placed.report.cores_used == placed.report.cores_lower_bound


def brute_force(net: Network, chip: np.ndarray, core: np.ndarray, model: CoreModel):  # type: ignore[no-untyped-def]
    gcore = chip * model.cores_per_chip + core
    inter_core = inter_chip = hops = 0.0
    links: dict[tuple[int, int, int, int], float] = {}
    for s in range(net.n):
        targets = net.dst[net.src == s]
        cores = {int(gcore[t]) for t in targets} - {int(gcore[s])}
        chips = {int(chip[t]) for t in targets} - {int(chip[s])}
        inter_core += net.rates[s] * len(cores)
        inter_chip += net.rates[s] * len(chips)
        x0, y0 = model.position(int(chip[s]))
        for c in chips:
            x1, y1 = model.position(c)
            hops += net.rates[s] * (abs(x1 - x0) + abs(y1 - y0))
            x, y = x0, y0
            while x != x1:  # X first, then Y
                step = 1 if x1 > x else -1
                links[(x, y, x + step, y)] = (
                    links.get((x, y, x + step, y), 0) + net.rates[s]
                )
                x += step
            while y != y1:
                step = 1 if y1 > y else -1
                links[(x, y, x, y + step)] = (
                    links.get((x, y, x, y + step), 0) + net.rates[s]
                )
                y += step
    return inter_core, inter_chip, hops, max(links.values(), default=0.0)


@settings(deadline=None, max_examples=25)
@given(instances())
def test_traffic_equals_a_brute_force_count(case: tuple[Network, CoreModel]) -> None:
    net, model = case
    placed = allocate_random(net, model, seed=3)
    t = traffic(net, placed.chip, placed.core, model)
    core, chip, hops, busiest = brute_force(net, placed.chip, placed.core, model)
    assert t.inter_core == pytest.approx(core)
    assert t.inter_chip == pytest.approx(chip)
    assert t.spike_hops == pytest.approx(hops)
    assert t.busiest_link == pytest.approx(busiest)


def clustered(n_clusters: int, size: int, seed: int) -> Network:
    """Clusters of ``size`` with 95% of synapses inside, ids shuffled."""
    rng = np.random.default_rng(seed)
    n = n_clusters * size
    dst = np.repeat(np.arange(n), 12)
    local = rng.random(dst.size) < 0.95
    src = np.where(local, (dst // size) * size + rng.integers(0, size, dst.size),
                   rng.integers(0, n, dst.size))  # fmt: skip
    ids = rng.permutation(n)
    return Network.build(n, ids[src], ids[dst])


def test_partitioning_beats_index_order_and_is_deterministic() -> None:
    net = clustered(16, 64, seed=0)
    model = CoreModel(neurons_per_core=64, cores_per_chip=4, chips=4, mesh=(2, 2))
    ours = allocate(net, model, seed=0)
    again = allocate(net, model, seed=0)
    base = allocate_in_order(net, model)
    assert np.array_equal(ours.as_array(), again.as_array())
    assert ours.report.traffic.inter_core <= 0.5 * base.report.traffic.inter_core
    assert ours.report.traffic.inter_chip <= base.report.traffic.inter_chip
    assert "inter-core spikes" in str(ours.report)
    use = ours.utilisation(net)
    assert use["neurons"].sum() == net.n
    assert use["fan_in"].sum() == net.src.size
    assert np.all(use["neurons"] <= 64)


def test_infeasible_instances_say_which_limit_binds() -> None:
    model = CoreModel(neurons_per_core=8, cores_per_chip=2, chips=1, fan_in=3)
    # Fan-in: neuron 5 hears 4 synapses.
    net = Network.build(10, [0, 1, 2, 3], [5, 5, 5, 5], layers=[("h", 10)])
    with pytest.raises(
        AllocationError,
        match=r"layer 'h' neuron 5 has 4 incoming synapses; a neuron has 3",
    ):
        allocate(net, model)
    # Cores: 17 neurons of one group need 3 cores of 8; the system has 2.
    big = Network.build(17, [], [], layers=[("conv2", 17)])
    with pytest.raises(
        AllocationError,
        match=r"needs 3 cores of 8 neurons \(largest: layer\(s\) 'conv2'.*the system has 2",
    ):
        allocate(big, model)
    # Tags.
    tagged = CoreModel(neurons_per_core=8, cores_per_chip=2, chips=1, tags=5)
    with pytest.raises(
        AllocationError,
        match=r"6 sources \(4 neurons \+ 2 inputs\) need distinct tags; the system has 5",
    ):
        allocate(Network.build(4, [], [], n_inputs=2), tagged)
    # Fan-out: a hub reaching neurons on three chips, one entry per chip, two entries.
    spread = CoreModel(
        neurons_per_core=2, cores_per_chip=1, chips=3, mesh=(3, 1), fan_out=2
    )
    groups = [0, 0, 1, 1, 2, 2]
    hub = Network.build(6, [0, 0, 0], [1, 2, 4], group=groups)
    with pytest.raises(
        AllocationError, match=r"neuron 0 reaches 3 chips; a neuron has 2 fan-out"
    ):
        allocate(hub, spread)
