"""Decoding a Dynap-SE2 configuration: biases, CAM/SRAM weights, emulators, layers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from backends.dynapse.biasgen import N_TYPE_FULL_SCALE, P_TYPE_FULL_SCALE
from backends.dynapse.config import (
    CamEntry,
    CoreConfig,
    DynapseConfig,
    NeuronConfig,
    SramEntry,
)
from backends.dynapse.decode import (
    decode,
    emulator,
    output_columns,
    output_order,
    population,
)
from backends.dynapse.params import DynapseParams
from tests.backends.dynapse.test_routing import place_in_order

# The dynapse2 pipeline adapts subtract resets and LIF synapses (adapt-dynapse) and
# warns; these tests are about other things (tests/backends/dynapse/test_adapt.py).
pytestmark = pytest.mark.filterwarnings(
    "ignore::backends.dynapse.adapt.DynapseAdapterWarning"
)

# samna bias -> DynapseParams field, written out here rather than taken from
# translate.BIAS_NAMES, so the test checks decode's table too.
FIELD_OF = {
    "SOIF_LEAK_N": "itau_mem",
    "SOIF_GAIN_N": "igain_mem",
    "SOIF_SPKTHR_P": "ispkthr",
    "SOIF_REFR_N": "iref",
    "SYPD_EXT_N": "ipulse",
    "SOIF_DC_P": "idc",
    "SOAD_TAU_P": "itau_ahp",
    "DEAM_ETAU_P": "itau_ampa",
    "DEGA_IGAIN_P": "igain_gaba",
    "DENM_NMREV_N": "if_nmda",
}
# The reference's scale factors (dynapse2.md §1); 1 for a bias it gives none.
SCALE = {
    "SOIF_LEAK_N": 0.61,
    "SOIF_GAIN_N": 1.05,
    "SOIF_SPKTHR_P": 0.38,
    "SOIF_DC_P": 0.38,
    "SYPD_EXT_N": 0.92,
    "DEAM_ETAU_P": 0.2,
    "SYAM_W0_P": 0.22,
}
AXIS = {"AMPA": 0, "NMDA": 1, "GABA": 2, "SHUNT": 3}


def lut_current(name: str, coarse: int, fine: int) -> float:
    """The bias generator's straight-line table, from the constants (biasgen.py)."""
    n_type = name.endswith("_N")
    full_scale = (N_TYPE_FULL_SCALE if n_type else P_TYPE_FULL_SCALE)[coarse]
    floor = 0.5e-12 if n_type else 0.4e-12
    return SCALE.get(name, 1.0) * (floor + (full_scale - floor) * fine / 255)


def base_weight(code: tuple[int, int]) -> float:
    return lut_current("SYAM_W0_P", *code)


CORE0_WEIGHTS = ((2, 40), (3, 10), (3, 200), (4, 7))
CORE1_WEIGHTS = ((1, 255), (2, 128), (3, 64), (4, 32))
CORE0_BIASES = {
    "SOIF_LEAK_N": (1, 20),
    "SOIF_SPKTHR_P": (4, 90),
    "SOIF_REFR_N": (2, 33),
    "DEAM_ETAU_P": (2, 100),
    "DEGA_IGAIN_P": (3, 17),
    "DENM_NMREV_N": (0, 0),
}
CORE1_BIASES = {"SOIF_GAIN_N": (2, 5), "SYPD_EXT_N": (3, 250), "SOAD_TAU_P": (0, 9)}

# Neurons listed out of location order: emulator neuron k is config.neurons[k].
C = NeuronConfig(
    chip=0,
    core=1,
    slot=5,
    cam=(CamEntry(20, "SHUNT", 0b1111), CamEntry(9, "AMPA", 0b0010)),
)
A = NeuronConfig(
    chip=0,
    core=0,
    slot=0,
    cam=(
        CamEntry(7, "AMPA", 0b0101),
        CamEntry(9, "NMDA", 0b0011),
        CamEntry(21, "AMPA", 0b0001),
    ),
    sram=(SramEntry(0, 0b0010, 20),),
)
B = NeuronConfig(
    chip=0,
    core=0,
    slot=1,
    cam=(CamEntry(9, "GABA", 0b1000), CamEntry(9, "GABA", 0b0001)),
    sram=(SramEntry(0, 0b0001, 21),),
)


def hand_config() -> DynapseConfig:
    """Two cores; inputs 0 (tag 7, core 0) and 1 (tag 9, cores 0 and 1); A -> C
    by tag 20, B -> A by tag 21."""
    config = DynapseConfig(
        cores=(
            CoreConfig(chip=0, core=0, biases=CORE0_BIASES, base_weights=CORE0_WEIGHTS),
            CoreConfig(chip=0, core=1, biases=CORE1_BIASES, base_weights=CORE1_WEIGHTS),
        ),
        neurons=(C, A, B),
        input_tags={0: 7, 1: 9},
        input_routes={0: ((0, 0b0001),), 1: ((0, 0b0011),)},
        neuron_map={"out:1": (0, 1, 5), "out:0": (0, 0, 1), "hid:0": (0, 0, 0)},
        dt=1e-3,
    )
    assert config.validate() == []
    return config


def mask_current(mask: int, weights: tuple[tuple[int, int], ...]) -> float:
    return sum(base_weight(weights[k]) for k in range(4) if mask >> k & 1)


def test_biases_decode_to_their_codes_and_missing_keep_defaults() -> None:
    net = decode(hand_config())
    default = DynapseParams()
    for k, biases in ((1, CORE0_BIASES), (2, CORE0_BIASES), (0, CORE1_BIASES)):
        for name, field in FIELD_OF.items():
            got = np.asarray(getattr(net.params, field))
            assert got.shape == (3,)
            expected = (
                lut_current(name, *biases[name])
                if name in biases
                else getattr(default, field)
            )
            assert got[k] == pytest.approx(expected, rel=1e-12), (k, name)
    # A layout constant is never decoded.
    assert net.params.c_mem == default.c_mem


def test_input_cam_entries_give_mask_sums_on_their_synapse() -> None:
    net = decode(hand_config())
    w = net.weights_in
    assert w.shape == (2, 3, 4)
    expected = np.zeros((2, 3, 4))
    expected[0, 1, AXIS["AMPA"]] = mask_current(0b0101, CORE0_WEIGHTS)  # A
    expected[1, 1, AXIS["NMDA"]] = mask_current(0b0011, CORE0_WEIGHTS)  # A
    # B: two GABA entries on one tag add up.
    expected[1, 2, AXIS["GABA"]] = base_weight(CORE0_WEIGHTS[3]) + base_weight(
        CORE0_WEIGHTS[0]
    )
    # C sits on core 1: its weight is core 1's base weight.
    expected[1, 0, AXIS["AMPA"]] = base_weight(CORE1_WEIGHTS[1])
    np.testing.assert_allclose(w, expected, rtol=1e-12, atol=0)


def test_recurrent_connections_resolve_through_sram() -> None:
    net = decode(hand_config())
    expected = np.zeros((3, 3, 4))
    expected[1, 0, AXIS["SHUNT"]] = mask_current(0b1111, CORE1_WEIGHTS)  # A -> C
    expected[2, 1, AXIS["AMPA"]] = base_weight(CORE0_WEIGHTS[0])  # B -> A
    np.testing.assert_allclose(net.weights_rec, expected, rtol=1e-12, atol=0)


def test_index_and_names_follow_config_order() -> None:
    net = decode(hand_config())
    assert net.index_of == {(0, 1, 5): 0, (0, 0, 0): 1, (0, 0, 1): 2}
    assert net.names == ["out:1", "hid:0", "out:0"]
    unnamed = dataclasses.replace(hand_config(), neuron_map={"out:0": (0, 0, 1)})
    assert decode(unnamed).names == ["", "", "out:0"]


def test_output_order() -> None:
    config = hand_config()
    np.testing.assert_array_equal(output_order(config, "out"), [2, 0])
    np.testing.assert_array_equal(output_order(config, "hid"), [1])
    with pytest.raises(ValueError, match=r"'nope'.*'hid', 'out'"):
        output_order(config, "nope")
    gap = dataclasses.replace(config, neuron_map={"out:1": (0, 1, 5)})
    with pytest.raises(ValueError, match=r"index\(es\) \[0\]"):
        output_order(gap, "out")
    both = dataclasses.replace(config, outputs=("out", "hid"))
    np.testing.assert_array_equal(output_columns(both), [2, 0, 1])
    with pytest.raises(ValueError, match="names no output layer"):
        output_columns(dataclasses.replace(config, outputs=()))


def test_unresolvable_tag_names_the_neuron() -> None:
    config = hand_config()
    # Tag 20 exists, but only on core 1: a core-0 neuron listening to it hears nothing.
    deaf = dataclasses.replace(B, cam=(CamEntry(20, "AMPA", 1),))
    bad = dataclasses.replace(config, neurons=(C, A, deaf))
    with pytest.raises(ValueError, match=r"\(0, 0, 1\).*tag 20"):
        decode(bad)


def test_placed_network_round_trips_its_connections() -> None:
    rng = np.random.default_rng(5)
    n, n_in = 12, 3
    src, dst = rng.integers(0, n, 20), rng.integers(0, n, 20)
    isrc, idst = rng.integers(0, n_in, 8), rng.integers(0, n, 8)
    dendrites = ["AMPA", "NMDA", "GABA", "SHUNT"]
    den = [dendrites[k] for k in rng.integers(0, 4, 20)]
    mask = rng.integers(1, 16, 20)
    imask = rng.integers(1, 16, 8)
    p = place_in_order(n, np.arange(n) % 2, src, dst, n_inputs=n_in,
                       input_src=isrc, input_dst=idst)  # fmt: skip
    codes = {
        core: tuple((int(rng.integers(1, 5)), int(rng.integers(256))) for _ in "0123")
        for core in range(4)
    }
    config = DynapseConfig.from_placement(
        p, src=src.tolist(), dst=dst.tolist(), dendrite=den, mask=mask.tolist(),
        input_src=isrc.tolist(), input_dst=idst.tolist(),
        input_dendrite=["AMPA"] * 8, input_mask=imask.tolist(),
        core_biases=lambda chip, core: CoreConfig(
            chip=chip, core=core, base_weights=codes[core]
        ),
        neuron_names=[f"h:{i}" for i in range(n)],
    )  # fmt: skip
    assert config.validate() == []
    net = decode(config)
    col = output_order(config, "h")  # graph neuron i -> emulator neuron col[i]
    expected_rec = np.zeros((n, n, 4))
    for s, d, dd, m in zip(src, dst, den, mask, strict=True):
        expected_rec[col[s], col[d], AXIS[dd]] += mask_current(
            int(m), codes[int(p.core[d])]
        )
    expected_in = np.zeros((n_in, n, 4))
    for s, d, m in zip(isrc, idst, imask, strict=True):
        expected_in[s, col[d], 0] += mask_current(int(m), codes[int(p.core[d])])
    np.testing.assert_allclose(net.weights_rec, expected_rec, rtol=1e-12, atol=0)
    np.testing.assert_allclose(net.weights_in, expected_in, rtol=1e-12, atol=0)


def driven_config() -> DynapseConfig:
    """Neuron 0 hears input 0 on AMPA, neuron 1 on GABA, both at the full mask."""
    return DynapseConfig(
        cores=(CoreConfig(chip=0, core=0, base_weights=((4, 60),) * 4),),
        neurons=(
            NeuronConfig(chip=0, core=0, slot=0, cam=(CamEntry(3, "AMPA", 15),)),
            NeuronConfig(chip=0, core=0, slot=1, cam=(CamEntry(3, "GABA", 15),)),
        ),
        input_tags={0: 3},
        input_routes={0: ((0, 1),)},
        neuron_map={"exc:0": (0, 0, 0), "inh:0": (0, 0, 1)},
    )


def drive(steps: int = 200, batch: int = 2) -> np.ndarray:
    x = np.zeros((batch, steps, 1), np.float32)
    x[:, ::2, 0] = 1.0
    x[1, 100:, 0] = 0.0  # the second sample stops halfway: different counts
    return x


def test_ampa_drive_spikes_gaba_drive_does_not() -> None:
    config = driven_config()
    spikes = emulator(config, seed=None).run(drive()).spikes.numpy()
    assert spikes.shape == (1, 2, 200, 2)
    assert spikes[0, :, :, output_order(config, "exc")[0]].sum(axis=1).min() >= 5
    assert spikes[0, :, :, output_order(config, "inh")[0]].sum() == 0


def test_seeds_name_chips() -> None:
    config = hand_config()
    ideal = emulator(config, seed=None).params
    nominal = decode(config).params
    chip3, again = emulator(config, seed=3).params, emulator(config, seed=3).params
    chip4 = emulator(config, seed=4).params
    for name in DynapseParams.names():
        np.testing.assert_array_equal(getattr(ideal, name), getattr(nominal, name))
        np.testing.assert_array_equal(getattr(chip3, name), getattr(again, name))
        assert not np.array_equal(getattr(chip3, name), getattr(ideal, name)), name
        assert not np.array_equal(getattr(chip3, name), getattr(chip4, name)), name
    assert np.shape(chip3.itau_mem) == (3,)


def test_population_runs_each_chip_as_alone() -> None:
    config = driven_config()
    x = drive()
    pop = population(config, [1, 2], relative_std=0.2)
    assert np.shape(pop.params.itau_mem) == (2, 2)
    together = pop.run(x).spikes.numpy()
    assert together.shape == (2, 2, 200, 2)
    for c, seed in enumerate([1, 2]):
        alone = emulator(config, seed=seed, relative_std=0.2).run(x).spikes.numpy()
        np.testing.assert_array_equal(together[c], alone[0])
    assert together.sum() > 0
    # The two chips' mismatch shows in their spike counts.
    assert not np.array_equal(together[0].sum(axis=1), together[1].sum(axis=1))


def test_population_mismatch_on_some_neurons_leaves_the_others_ideal() -> None:
    both = NeuronConfig(chip=0, core=0, slot=1, cam=(CamEntry(3, "AMPA", 15),))
    config = dataclasses.replace(
        driven_config(), neurons=(driven_config().neurons[0], both)
    )
    x = drive()
    ideal = emulator(config, seed=None).run(x).spikes.numpy()[0]
    assert ideal[..., 1].sum() > 0
    pop = population(config, [1, 2], relative_std=0.2, neurons=[0])
    spikes = pop.run(x).spikes.numpy()
    for c in range(2):
        # Both neurons read only the input: neuron 1, its parameters ideal, spikes
        # as on the ideal chip; neuron 0 carries chip c's mismatch.
        np.testing.assert_array_equal(spikes[c, ..., 1], ideal[..., 1])
        assert not np.array_equal(spikes[c, ..., 0], ideal[..., 0])
    none = population(config, [1, 2], relative_std=0.2, fields=[])
    np.testing.assert_array_equal(none.run(x).spikes.numpy(), [ideal, ideal])
