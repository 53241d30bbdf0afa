"""Xylo neuron ids: windows, fan-out and count limits, named errors, determinism."""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.xylo.allocate import Allocation, ResourceError, allocate, check_resources
from backends.xylo.variants import VARIANTS, XyloVariant

A2, A3, IMU = VARIANTS["xylo-audio2"], VARIANTS["xylo-audio3"], VARIANTS["xylo-imu"]


def weights(
    gets_input: np.ndarray, feeds_output: np.ndarray, n_in: int = 2, nsyn: int = 1
):
    n = len(gets_input)
    w_in = np.zeros((n_in, n, nsyn))
    w_in[0, gets_input] = 0.5
    w_out = np.zeros((n, 3))
    w_out[feeds_output, 1] = -0.25
    w_rec = np.zeros((n, n, nsyn))
    return w_in, w_rec, w_out


def chain(sizes: list[int], n_in: int = 2, n_out: int = 3):
    """Feed-forward layers in -> sizes[0] -> ... -> out, as recurrent blocks."""
    n = sum(sizes)
    starts = np.cumsum([0, *sizes])
    w_in = np.zeros((n_in, n, 1))
    w_in[:, : sizes[0]] = 1.0
    w_rec = np.zeros((n, n, 1))
    for k in range(len(sizes) - 1):
        w_rec[starts[k] : starts[k + 1], starts[k + 1] : starts[k + 2]] = 1.0
    w_out = np.zeros((n, n_out))
    w_out[starts[-2] :] = 1.0
    return w_in, w_rec, w_out


def check_windows(
    alloc: Allocation, variant: XyloVariant, w_in: np.ndarray, w_out: np.ndarray
) -> None:
    n = w_in.shape[1]
    ids = alloc.hidden_ids
    assert sorted(ids.tolist()) == sorted(set(ids.tolist()))
    assert ids.min(initial=0) >= 0
    assert ids.max(initial=-1) < alloc.n_ids
    np.testing.assert_array_equal(alloc.hidden_order[ids], np.arange(n))
    gets_input = np.any(w_in != 0, axis=(0, 2))
    feeds_output = np.any(w_out != 0, axis=1)
    assert np.all(ids[gets_input] < variant.input_ids)
    assert np.all(ids[feeds_output] >= alloc.n_ids - variant.output_ids)


def test_no_windows_is_the_identity() -> None:
    w_in, w_rec, w_out = chain([5, 7, 4])
    alloc = allocate(A2, w_in, w_rec, w_out)
    np.testing.assert_array_equal(alloc.hidden_ids, np.arange(16))
    np.testing.assert_array_equal(alloc.output_ids, np.arange(3))
    assert alloc.n_ids == 16


def test_windowed_layers_go_to_both_ends() -> None:
    sizes = [100, 100, 90]
    w_in, w_rec, w_out = chain(sizes)
    alloc = allocate(IMU, w_in, w_rec, w_out)
    check_windows(alloc, IMU, w_in, w_out)
    # Layer order is kept: input layer first, output layer last.
    np.testing.assert_array_equal(alloc.hidden_ids, np.arange(290))
    # A layer that projects to the readout but is listed first moves to the end.
    w_in2, w_rec2, w_out2 = weights(np.arange(200) >= 150, np.arange(200) < 50)
    alloc = allocate(IMU, w_in2, w_rec2, w_out2)
    check_windows(alloc, IMU, w_in2, w_out2)
    np.testing.assert_array_equal(alloc.hidden_ids[:50], np.arange(150, 200))
    np.testing.assert_array_equal(alloc.hidden_ids[150:], np.arange(50))


def test_single_hidden_layer_uses_the_shared_ids() -> None:
    w_in, w_rec, w_out = chain([100])
    alloc = allocate(A3, w_in, w_rec, w_out)
    check_windows(alloc, A3, w_in, w_out)
    with pytest.raises(ResourceError, match=r"100 hidden neurons .* share only 0"):
        allocate(A3, w_in, w_rec, w_out, n_ids=A3.n_hidden)


def test_absolute_layout_puts_readout_sources_at_the_top() -> None:
    w_in, w_rec, w_out = chain([20, 10])
    alloc = allocate(IMU, w_in, w_rec, w_out, n_ids=IMU.n_hidden)
    check_windows(alloc, IMU, w_in, w_out)
    np.testing.assert_array_equal(alloc.hidden_ids[20:], np.arange(368, 378))
    hw_in, hw_rec, hw_out = alloc.permute(w_in, w_rec, w_out)
    assert hw_in.shape == (2, 496, 1)
    assert hw_rec.shape == (496, 496, 1)
    assert hw_out.shape == (496, 3)
    assert not np.any(hw_in[:, 128:])
    assert not np.any(hw_out[: 496 - 128])
    # Every weight lands at its neurons' ids.
    src, tgt = np.nonzero(w_rec[:, :, 0])
    ids = alloc.hidden_ids
    np.testing.assert_array_equal(hw_rec[ids[src], ids[tgt], 0], w_rec[src, tgt, 0])
    assert np.count_nonzero(hw_rec) == np.count_nonzero(w_rec)
    thresholds = alloc.permute_hidden(np.arange(30.0) + 1, fill=32767)
    assert thresholds[ids[7]] == 8
    assert thresholds[200] == 32767


def small(variant: XyloVariant) -> XyloVariant:
    return dataclasses.replace(variant, n_hidden=40, input_window=8, output_window=8)


def feasible(n_ids: int, win_in: int, win_out: int, gets_input, feeds_output) -> bool:
    """Independent oracle: a perfect matching of neurons into allowed ids."""
    graph = nx.Graph()
    neurons = [("n", j) for j in range(len(gets_input))]
    graph.add_nodes_from(neurons)
    for j, (a, b) in enumerate(zip(gets_input, feeds_output, strict=True)):
        for slot in range(n_ids):
            if (not a or slot < win_in) and (not b or slot >= n_ids - win_out):
                graph.add_edge(("n", j), ("id", slot))
    matching = nx.bipartite.hopcroft_karp_matching(graph, top_nodes=neurons)
    return all(node in matching for node in neurons)


@given(
    st.integers(1, 30).flatmap(
        lambda n: st.tuples(
            st.lists(st.booleans(), min_size=n, max_size=n),
            st.lists(st.booleans(), min_size=n, max_size=n),
            st.integers(n, 40),
        )
    ),
    st.sampled_from(["xylo-imu", "xylo-audio3"]),
)
def test_windows_respected_on_random_sparsity(case, name: str) -> None:
    gets_input, feeds_output, n_ids = case
    variant = small(VARIANTS[name])
    a, b = np.array(gets_input), np.array(feeds_output)
    w_in, w_rec, w_out = weights(a, b)
    ok = feasible(n_ids, 8, 8, a, b)
    if not ok:
        with pytest.raises(ResourceError, match=r"hidden neurons .* on xylo-"):
            allocate(variant, w_in, w_rec, w_out, n_ids=n_ids)
        return
    alloc = allocate(variant, w_in, w_rec, w_out, n_ids=n_ids)
    check_windows(alloc, variant, w_in, w_out)
    again = allocate(variant, w_in, w_rec, w_out, n_ids=n_ids)
    np.testing.assert_array_equal(alloc.hidden_ids, again.hidden_ids)
    # Inside each class (input / output / both / free) logical order is kept.
    for cls in {(x, y) for x, y in zip(gets_input, feeds_output, strict=True)}:
        members = np.flatnonzero((a == cls[0]) & (b == cls[1]))
        assert np.all(np.diff(alloc.hidden_ids[members]) > 0)


def test_too_many_hidden_neurons() -> None:
    w_in, w_rec, w_out = chain([300, 200])
    with pytest.raises(
        ResourceError,
        match=r"500 hidden neurons \('a': 300, 'b': 200\) on xylo-imu: the limit is 496",
    ):
        allocate(IMU, w_in, w_rec, w_out, layers=[("a", 300), ("b", 200)])


def test_too_many_input_channels() -> None:
    w_in, w_rec, w_out = chain([4], n_in=17)
    with pytest.raises(
        ResourceError, match=r"17 input channels on xylo-audio2: the limit is 16"
    ):
        allocate(A2, w_in, w_rec, w_out)


def test_too_many_outputs() -> None:
    w_in, w_rec, w_out = chain([4], n_out=9)
    with pytest.raises(
        ResourceError,
        match=r"9 neurons in output layer 'readout' on xylo-audio2: the limit is 8",
    ):
        allocate(A2, w_in, w_rec, w_out, output_layer="readout")


def test_second_synapse_on_xylo_imu() -> None:
    w_in, _, w_out = weights(np.ones(6, bool), np.ones(6, bool), nsyn=2)
    w_rec = np.zeros((6, 6, 2))
    w_in[:, :, 1] = 0.0
    # An unused second synapse is fine; a used one names the neuron.
    allocate(IMU, w_in, w_rec, w_out)
    w_in[0, 4, 1] = 0.1
    with pytest.raises(
        ResourceError,
        match=r"layer 'lif' neuron 4 uses synapse 2 on xylo-imu: the limit is 1 synapse",
    ):
        allocate(IMU, w_in, w_rec, w_out, layers=[("lif", 6)])
    allocate(A3, w_in, w_rec, w_out)


def test_fanout_over_the_limit_names_the_neuron() -> None:
    sizes = [10, 70]
    w_in, w_rec, w_out = chain(sizes)
    w_rec[3, 10:, 0] = 0.0  # neuron 3 keeps no targets; others have 70
    w_rec[3, 10, 0] = 0.0
    w_rec[2, 10:, 0] = 0.0
    w_rec[2, 5, 0] = 1.0  # a recurrent edge inside the layer
    with pytest.raises(
        ResourceError,
        match=r"layer 'l1' neuron 0 has recurrent fan-out 70 on xylo-audio2: the limit is 64",
    ):
        allocate(A2, w_in, w_rec, w_out, layers=[("l1", 10), ("l2", 70)])
    fanout = check_resources(A3, w_in, w_rec, w_out)
    assert fanout[0] == 70
    assert fanout[2] == 1
    assert fanout[3] == 0


def test_fanout_counts_targets_not_synapses() -> None:
    w_in, w_rec, w_out = chain([1, 64])
    w_rec = np.concatenate([w_rec, w_rec], axis=2)
    w_in = np.concatenate([w_in, w_in], axis=2)
    assert check_resources(A2, w_in, w_rec, w_out)[0] == 64


def test_recurrent_weight_memory_is_limited() -> None:
    tight = dataclasses.replace(A2, rec_weight_entries=100)
    w_in, w_rec, w_out = chain([10, 11])
    with pytest.raises(
        ResourceError,
        match=r"110 recurrent weight entries on xylo-audio2: .* holds 100",
    ):
        allocate(tight, w_in, w_rec, w_out)


def test_input_window_overflow_names_the_first_neuron_outside() -> None:
    w_in, w_rec, w_out = weights(np.arange(200) < 130, np.zeros(200, bool))
    with pytest.raises(
        ResourceError,
        match=r"130 hidden neurons receive input weights on xylo-imu: only the first 128 "
        r"ids take input \(the 129th is layer 'enc' neuron 128\)",
    ):
        allocate(IMU, w_in, w_rec, w_out, layers=[("enc", 200)])


def test_output_window_overflow() -> None:
    w_in, w_rec, w_out = weights(np.zeros(300, bool), np.arange(300) >= 100)
    with pytest.raises(
        ResourceError,
        match=r"200 hidden neurons project to the readout on xylo-audio3: only the last 128",
    ):
        allocate(A3, w_in, w_rec, w_out)


def test_n_ids_out_of_range() -> None:
    w_in, w_rec, w_out = chain([10])
    with pytest.raises(ResourceError, match=r"n_ids = 5 .* between the 10 neurons"):
        allocate(A2, w_in, w_rec, w_out, n_ids=5)
    with pytest.raises(ResourceError, match=r"n_ids = 2000 .* the 1000 the core has"):
        allocate(A2, w_in, w_rec, w_out, n_ids=2000)


def test_layer_sizes_must_add_up() -> None:
    w_in, w_rec, w_out = chain([10])
    with pytest.raises(ValueError, match="sum to 9"):
        allocate(A2, w_in, w_rec, w_out, layers=[("a", 9)])


def test_shapes_must_agree() -> None:
    w_in, w_rec, w_out = chain([10])
    with pytest.raises(ValueError, match="inconsistent shapes"):
        allocate(A2, w_in, w_rec[:9, :9], w_out)
