"""Dynap-SE2 configuration: built from a placement, validation, save/load round trip."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.dynapse.config import (
    BIAS_NAMES,
    ConfigError,
    CoreConfig,
    DynapseConfig,
    NeuronConfig,
    SramEntry,
)
from backends.dynapse.routing import DynapseSystem, PlacementError
from tests.backends.dynapse.test_routing import place_in_order

seeds = st.integers(0, 2**32 - 1)


def placed_config(seed: int) -> DynapseConfig:
    """A small random network, placed, with random dendrites, masks and biases."""
    rng = np.random.default_rng(seed)
    system = DynapseSystem(
        neurons_per_core=int(rng.integers(2, 6)),
        cores_per_chip=int(rng.integers(1, 5)),
        chips=int(rng.integers(1, 4)),
        cam_entries=16,
        tags=128,
    )
    n = int(rng.integers(1, system.neurons // 2 + 2))
    n_in = int(rng.integers(0, 4))
    e = int(rng.integers(0, 2 * n + 1))
    ei = int(rng.integers(0, n + 1)) if n_in else 0
    src, dst = rng.integers(0, n, e), rng.integers(0, n, e)
    isrc, idst = rng.integers(0, max(n_in, 1), ei), rng.integers(0, n, ei)
    dendrites = ["AMPA", "NMDA", "GABA", "SHUNT"]

    def biases(chip: int, core: int) -> CoreConfig:
        names = rng.choice(BIAS_NAMES, int(rng.integers(0, 5)), replace=False)
        return CoreConfig(
            chip=chip,
            core=core,
            biases={
                str(k): (int(rng.integers(6)), int(rng.integers(256))) for k in names
            },
            base_weights=tuple(
                (int(rng.integers(6)), int(rng.integers(256))) for _ in range(4)
            ),
        )

    group = rng.integers(0, 2, n) if n <= system.neurons_per_core else np.zeros(n, int)
    try:
        p = place_in_order(
            n, group, src, dst, system=system, n_inputs=n_in, input_src=isrc,
            input_dst=idst,
        )  # fmt: skip
    except PlacementError:
        p = place_in_order(1, np.zeros(1, int), src[:0], dst[:0], system=system)
        src, dst, isrc, idst, n_in = src[:0], dst[:0], isrc[:0], idst[:0], 0
    return DynapseConfig.from_placement(
        p,
        src=src.tolist(),
        dst=dst.tolist(),
        dendrite=[dendrites[int(k)] for k in rng.integers(0, 4, src.size)],
        mask=rng.integers(0, 16, src.size).tolist(),
        input_src=isrc.tolist(),
        input_dst=idst.tolist(),
        input_dendrite=["AMPA"] * isrc.size,
        input_mask=rng.integers(0, 16, isrc.size).tolist(),
        core_biases=biases,
        neuron_names=[f"h{i % 3}:{i}" for i in range(p.n_neurons)],
        dt=float(rng.choice([1e-3, 1e-4, 0.1 + 0.2])),
    )


@settings(max_examples=40, deadline=None)
@given(seed=seeds)
def test_placed_config_is_valid_and_round_trips(seed, tmp_path_factory):
    config = placed_config(seed)
    assert config.validate() == []
    folder = tmp_path_factory.mktemp("cfg")
    config.save(folder)
    first = (folder / "config.json").read_bytes()
    loaded = DynapseConfig.load(folder)
    assert loaded == config
    loaded.save(folder)
    assert (folder / "config.json").read_bytes() == first
    meta = json.loads(first)
    assert meta["format"] == "spikeforge-dynapse-config"
    assert meta["version"] == 2
    assert list(meta) == sorted(meta)


def test_cam_and_sram_come_from_the_placement():
    system = DynapseSystem(neurons_per_core=2, cores_per_chip=2, chips=2)
    p = place_in_order(
        5, np.array([0, 0, 1, 1, 2]), np.array([0, 0, 4]), np.array([2, 3, 0]),
        system=system, n_inputs=1, input_src=np.array([0]), input_dst=np.array([4]),
    )  # fmt: skip
    config = DynapseConfig.from_placement(
        p, src=[0, 0, 4], dst=[2, 3, 0], dendrite=["AMPA", "GABA", "NMDA"],
        mask=[1, 2, 15], input_src=[0], input_dst=[4], input_dendrite=["SHUNT"],
        input_mask=[5],
    )  # fmt: skip
    assert config.validate() == []
    by_at = {nc.at: nc for nc in config.neurons}
    n0 = by_at[(int(p.chip[0]), int(p.core[0]), int(p.slot[0]))]
    tag0 = int(p.neuron_tag[0])
    assert [s.tag for s in n0.sram] == [tag0] * len(p.sram[0])
    n2 = by_at[(int(p.chip[2]), int(p.core[2]), int(p.slot[2]))]
    assert [tuple(e) for e in n2.cam] == [(tag0, "AMPA", 1)]
    n4 = by_at[(int(p.chip[4]), int(p.core[4]), int(p.slot[4]))]
    assert [tuple(e) for e in n4.cam] == [(int(p.input_tag[0]), "SHUNT", 5)]
    assert config.neuron_map["neuron:4"] == n4.at
    assert config.target == "dynapse2"


def broken_config() -> DynapseConfig:
    system = DynapseSystem(neurons_per_core=4, cores_per_chip=2, chips=1, cam_entries=2,
                           sram_entries=2, tags=16)  # fmt: skip
    good = CoreConfig(chip=0, core=0, biases={"SOIF_LEAK_N": (0, 29)})
    bad_core = CoreConfig(
        chip=0,
        core=1,
        biases={"SOIF_GAIN_N": (6, 10), "SOIF_SPKTHR_P": (4, 256), "NOPE": (0, 0),
                "SYAM_W0_P": (3, 31)},
        base_weights=((3, 31),) * 3,
    )  # fmt: skip
    n0 = NeuronConfig(
        chip=0, core=0, slot=0,
        cam=((1, "AMPA", 1), (1, "GABA", 16), (20, "AMPAR", 3)),
        sram=(SramEntry(0, 1, 1), SramEntry(0, 2, 1), SramEntry(0, 0, 99)),
    )  # fmt: skip
    n0_again = NeuronConfig(chip=0, core=0, slot=0)
    orphan = NeuronConfig(chip=0, core=1, slot=3, cam=((7, "NMDA", 1),))
    return DynapseConfig(
        system=system,
        cores=(good, bad_core),
        neurons=(n0, n0_again, orphan),
        input_tags={0: 1, 1: 40},
        input_routes={0: ((0, 1),), 5: ((0, 1),)},
        neuron_map={"h:0": (0, 0, 0), "h:1": (0, 1, 2), "bad": (0, 0, 0)},
        dt=-1.0,
    )


EXPECTED = [
    "dt: -1.0 must be a positive number",
    "coarse 6 outside 0..5",
    "fine 256 outside 0..255",
    "unknown bias 'NOPE'",
    "SYAM_W0_P is a base weight",
    "3 base weights, a core has 4",
    "3 CAM entries; a neuron has 2",
    "weight mask 16 outside 0..15",
    "tag 20 outside 0..15",
    "unknown synapse type 'AMPAR'",
    "3 SRAM entries; a neuron has 2",
    "core mask 0 outside 1..3",
    "tag 99 outside 0..15",
    "neuron at (0, 0, 0): slot used twice",
    "input channel 1: tag 40 outside 0..15",
    "input_routes: input channel 5 has routes but no tag",
    "CAM tag 7 is sent to chip 0 core 1 by no neuron or input channel",
    "tag 1 reaches chip 0 core 0 from 2 sources",
    "neuron_map['h:1']: (0, 1, 2) is not a configured neuron",
    "neuron_map: key 'bad' is not 'layer:index'",
]


def test_validate_lists_every_violation(tmp_path):
    config = broken_config()
    errors = config.validate()
    text = "\n".join(errors)
    for expected in EXPECTED:
        assert expected in text, expected
    config.save(tmp_path)
    with pytest.raises(ConfigError) as info:
        DynapseConfig.load(tmp_path)
    message = str(info.value)
    assert f"({len(errors)} problems)" in message
    for expected in EXPECTED:
        assert expected in message, expected


def test_save_is_deterministic_and_atomic(tmp_path):
    config = placed_config(3)
    config.save(tmp_path / "a")
    reordered = dataclasses.replace(
        config, neuron_map=dict(reversed(list(config.neuron_map.items())))
    )
    reordered.save(tmp_path / "b")
    assert (tmp_path / "a" / "config.json").read_bytes() == (
        tmp_path / "b" / "config.json"
    ).read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["config.json"]


def test_load_rejects_foreign_files(tmp_path):
    with pytest.raises(ConfigError, match=r"config\.json"):
        DynapseConfig.load(tmp_path)
    (tmp_path / "config.json").write_text('{"format": "spikeforge-xylo-config"}')
    with pytest.raises(ConfigError, match="not a spikeforge-dynapse-config file"):
        DynapseConfig.load(tmp_path)
    placed_config(1).save(tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    meta["version"] = 3
    (tmp_path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(
        ConfigError, match="version 3, this spikeforge reads versions 1, 2"
    ):
        DynapseConfig.load(tmp_path)
    meta["version"] = 1
    meta["neurons"] = [{"at": [0, 0]}]
    (tmp_path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="bad field"):
        DynapseConfig.load(tmp_path)
