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
from backends.dynapse.mismatch import draw_chips
from backends.dynapse.retune import _model
from backends.dynapse.target import DYNAPSE2
from compiler.errors import PassError, PipelineError
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


def _ideal_counts(graph: ir.Graph, x: np.ndarray, *, as_unsplit: bool = False):
    """Output spike counts ``(B, n)`` on the ideal chip: ``retune``'s model of
    ``graph`` and the lowered configuration's emulation (``as_unsplit``: the model
    without its dendrite assignment and paired currents)."""
    model = _model(graph)
    if as_unsplit:
        model.dendrite, model.paired = None, None
    chips = draw_chips(model.params(), model.n_neurons, [1], relative_std=0.0)
    _, modelled = model.readout(chips, torch.as_tensor(x), 1.0)
    config = DYNAPSE2.lower(graph)
    out = decode.output_order(config, "o")
    run = decode.population(config, [1], relative_std=0.0).run(torch.as_tensor(x))
    chip = run.spikes[0][..., out].sum(dim=1).numpy()
    return modelled[0], chip


@pytest.mark.parametrize("which", ["unsplit", "split"])
def test_retunes_model_runs_a_split_graph_as_the_chip_does(
    pair: tuple[ir.Graph, ir.Graph], which: str
) -> None:
    graph = pair[("unsplit", "split").index(which)]
    x, _ = samples(32, seed=4)
    modelled, chip = _ideal_counts(graph, x)
    assert chip.sum() > 0
    np.testing.assert_allclose(modelled, chip, atol=1.0)
    if which == "split":
        # The model must follow the split: read as unsplit it is another network.
        wrong, _ = _ideal_counts(graph, x, as_unsplit=True)
        assert np.abs(wrong - chip).max() > 2.0


def _check_lowers_with_dendrites_where_masks(graph: ir.Graph) -> None:
    assert graph.meta("h")[PAIRED_META] == 1
    assert graph.meta("o")[PAIRED_META] == 1
    DYNAPSE2.lower(graph).check()
    for node in ("fc1", "fc2"):
        dend = np.asarray(graph.meta(node)["dendrites"])
        masks = np.asarray(graph.meta(node)["masks"])
        np.testing.assert_array_equal(dend == -1, masks == 0)


RETUNE = "retune{relative-std=0.1 epochs=2 batch=16 lr=0.05 quiet=true}"


def test_retune_trains_a_split_graph_and_keeps_its_dendrites(
    pair: tuple[ir.Graph, ir.Graph],
) -> None:
    _, split = pair
    x, y = samples(96, seed=1)
    retuned = compiler.run_pipeline(split, RETUNE, calibration=x, labels=y)
    _check_lowers_with_dendrites_where_masks(retuned)
    assert not np.array_equal(retuned.op("fc1").weight, split.op("fc1").weight)
    # Each connection stays on the dendrite it was trained on.
    for node in ("fc1", "fc2"):
        before = np.asarray(split.meta(node)["dendrites"])
        after = np.asarray(retuned.meta(node)["dendrites"])
        both = (before >= 0) & (after >= 0)
        np.testing.assert_array_equal(after[both], before[both])
    assert (np.asarray(retuned.meta("fc1")["dendrites"]) == NMDA).any()
    assert (np.asarray(retuned.meta("fc2")["dendrites"]) == SHUNT).any()


def test_the_readout_refit_of_a_split_graph_splits_its_new_weights() -> None:
    weak = compiler.run_pipeline(compiled(4e-09), "split-dendrites")
    x, y = samples(256, seed=6)
    fitted, fit = fit_readout(weak, x, y, iterations=3)
    _check_lowers_with_dendrites_where_masks(fitted)
    # Each iterate's accuracy (emulating the last layer on its dendrites) is what
    # the whole (ideal) chip gives: iterate 0, the graph, and the one kept.
    assert fit.chosen > 0, fit
    for graph, accuracy in ((weak, fit.accuracy[0]), (fitted, max(fit.accuracy))):
        config = DYNAPSE2.lower(graph)
        out = decode.output_order(config, "o")
        chip = decode.population(config, [1], relative_std=0.0)
        run = chip.run(torch.as_tensor(x))
        decision = run.spikes[0][..., out].sum(dim=1).numpy().argmax(axis=1)
        assert accuracy == pytest.approx(np.mean(decision == y), abs=1e-6)
    assert fit.accuracy[fit.chosen] > fit.accuracy[0], fit
    # Only the last layer changes; its new weights are split by magnitude.
    np.testing.assert_array_equal(
        fitted.meta("fc1")["dendrites"], weak.meta("fc1")["dendrites"]
    )
    w = np.asarray(fitted.op("fc2").weight)
    dend = np.asarray(fitted.meta("fc2")["dendrites"])
    for row in range(w.shape[0]):
        for first, second, sign in ((AMPA, NMDA, 1), (GABA, SHUNT, -1)):
            cols = np.flatnonzero(np.sign(w[row]) == sign)
            ranked = cols[np.argsort(-np.abs(w[row, cols]), kind="stable")]
            want = np.where(np.arange(ranked.size) % 2 == 0, first, second)
            np.testing.assert_array_equal(dend[row, ranked], want)


def test_calibrate_chip_refuses_a_split_graph(
    pair: tuple[ir.Graph, ir.Graph],
) -> None:
    _, split = pair
    x, y = samples(32, seed=1)
    with pytest.raises(
        (PassError, PipelineError), match="run split-dendrites after calibrate-chip"
    ):
        compiler.run_pipeline(
            split,
            "calibrate-chip{iterations=1 method=readout quiet=true}",
            calibration=x,
            labels=y,
        )


def test_an_unquantized_graph_is_refused() -> None:
    placed = compiler.run_pipeline(classifier(), "allocate-cores{target=dynapse2}")
    with pytest.raises((PassError, PipelineError), match="run quantize-dynapse first"):
        compiler.run_pipeline(placed, "split-dendrites")
