"""``split-dendrites``: each neuron's inputs of each sign over two dendrites, so a
chip's synapse mismatch averages over two circuits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import compiler
import ir
from backends.dynapse import decode
from backends.dynapse.calibrate import fit_readout
from backends.dynapse.lower import PAIRED_META
from backends.dynapse.target import DYNAPSE2
from compiler.errors import PassError, PipelineError
from compiler.retune import RetuneData, RetuneOptions
from tests.backends.dynapse.test_retune import classifier, compiled, samples

AMPA, NMDA, GABA, SHUNT = 0, 1, 2, 3


@pytest.fixture(scope="module")
def pair() -> tuple[ir.Graph, ir.Graph]:
    graph = compiled()
    return graph, compiler.run_pipeline(graph, "split-dendrites")


def test_each_neurons_inputs_alternate_over_two_dendrites_strongest_first(
    pair: tuple[ir.Graph, ir.Graph],
) -> None:
    graph, split = pair
    for node in ("fc1", "fc2"):
        before = np.asarray(graph.meta(node)["dendrites"])
        after = np.asarray(split.meta(node)["dendrites"])
        masks = np.asarray(split.meta(node)["masks"])
        np.testing.assert_array_equal(masks, graph.meta(node)["masks"])
        np.testing.assert_array_equal(
            split.op(node).weight, graph.op(node).weight
        )  # the graph computes what it did
        for row in range(after.shape[0]):
            for first, second in ((AMPA, NMDA), (GABA, SHUNT)):
                cols = np.flatnonzero(before[row] == first)
                got = after[row, cols]
                assert set(got) <= {first, second}
                # Strongest first, in turn: sorted by mask (stable), even places
                # stay, odd places move.
                ranked = cols[np.argsort(-masks[row, cols], kind="stable")]
                want = np.where(np.arange(ranked.size) % 2 == 0, first, second)
                np.testing.assert_array_equal(after[row, ranked], want)
        np.testing.assert_array_equal(after == -1, before == -1)
    assert (np.asarray(split.meta("fc1")["dendrites"]) == NMDA).any()
    assert (np.asarray(split.meta("fc2")["dendrites"]) == SHUNT).any()
    assert split.meta("h")[PAIRED_META] == 1
    assert split.meta("o")[PAIRED_META] == 1


def test_the_lowering_gives_the_second_dendrites_the_first_ones_currents(
    pair: tuple[ir.Graph, ir.Graph],
) -> None:
    graph, split = pair
    config = DYNAPSE2.lower(split)
    config.check()
    kinds = {entry.dendrite for n in config.neurons for entry in n.cam}
    assert kinds == {"AMPA", "NMDA", "GABA", "SHUNT"}
    params = decode.decode(config).params
    for second, first in (("nmda", "ampa"), ("shunt", "gaba")):
        for kind in ("itau", "igain"):
            np.testing.assert_allclose(
                np.asarray(getattr(params, f"{kind}_{second}")),
                np.asarray(getattr(params, f"{kind}_{first}")),
                rtol=0.01,  # each generator's own grid
            )
    # NMDA's gate as open as the chip allows: its bias at the generator's floor.
    assert np.all(np.asarray(params.if_nmda) <= 1e-12)
    unsplit = decode.decode(DYNAPSE2.lower(graph)).params
    assert not np.allclose(
        np.asarray(unsplit.itau_nmda), np.asarray(params.itau_nmda), rtol=0.01, atol=0
    )


DENDRITES = ("ampa", "nmda", "gaba", "shunt")
SYNAPSES = [f"{kind}_{syn}" for kind in ("igain", "itau") for syn in DENDRITES]


def _excitation(graph: ir.Graph, seeds: list[int] | None) -> np.ndarray:
    """Time-mean excitatory synaptic current (AMPA + NMDA) of each hidden neuron,
    ``(chips, neurons)``, on chips whose synapse gains and leaks are mismatched at
    20 % (``None``: the ideal chip), over the same samples."""
    config = DYNAPSE2.lower(graph)
    x, _ = samples(32, seed=3)
    hidden = decode.output_order(config, "h")
    chips = decode.population(
        config, seeds or [1], relative_std=0.2 if seeds else 0.0, fields=SYNAPSES
    )
    run = chips.run(torch.as_tensor(x), record=True)
    assert run.isyn is not None
    isyn = run.isyn[..., hidden, :]
    return (isyn[..., AMPA] + isyn[..., NMDA]).mean(dim=(1, 2)).numpy()


def test_two_dendrites_average_the_chips_synapse_mismatch(
    pair: tuple[ir.Graph, ir.Graph],
) -> None:
    graph, split = pair
    ideal = {name: _excitation(g, None)[0] for name, g in (("a", graph), ("b", split))}
    # The same mean current into each neuron on the ideal chip, within the grid.
    np.testing.assert_allclose(ideal["b"], ideal["a"], rtol=0.05)
    seeds = list(range(1, 33))
    spread = {}
    for name, g in (("unsplit", graph), ("split", split)):
        current = _excitation(g, seeds)
        spread[name] = float(np.mean(current.std(axis=0) / current.mean(axis=0)))
    # Two independent gain draws per sign: the spread falls by about sqrt(2).
    assert spread["split"] < 0.8 * spread["unsplit"], spread
    assert spread["split"] > 0.5 * spread["unsplit"], spread


def test_passes_that_model_two_dendrites_refuse_a_split_graph(
    pair: tuple[ir.Graph, ir.Graph],
) -> None:
    _, split = pair
    x, y = samples(32, seed=1)
    with pytest.raises(
        ValueError, match="run split-dendrites after fit-readout-dynapse"
    ):
        fit_readout(split, x, y)
    data = RetuneData(inputs=x, labels=y, teacher=None)
    target = DYNAPSE2
    with pytest.raises(ValueError, match="run split-dendrites after retune"):
        target.retune(split, data, RetuneOptions(epochs=1, quiet=True), None)
    with pytest.raises(
        (PassError, PipelineError), match="split-dendrites after retune"
    ):
        compiler.run_pipeline(
            split, "retune{epochs=1 quiet=true}", calibration=x, labels=y
        )


def test_an_unquantized_graph_is_refused() -> None:
    placed = compiler.run_pipeline(classifier(), "allocate-cores{target=dynapse2}")
    with pytest.raises((PassError, PipelineError), match="run quantize-dynapse first"):
        compiler.run_pipeline(placed, "split-dendrites")
