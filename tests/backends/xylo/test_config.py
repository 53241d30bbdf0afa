"""XyloConfig: defaults, validation (every violation at once), save/load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from backends.xylo import VARIANTS, ConfigError, XyloConfig
from backends.xylo.config import ARRAY_NAMES


def test_variant_table() -> None:
    rows = {
        name: (v.part_number, v.n_inputs, v.n_hidden, v.n_outputs, v.n_syn)
        for name, v in VARIANTS.items()
    }
    assert rows == {
        "xylo-audio2": ("SYNS61201", 16, 1000, 8, 2),
        "xylo-audio3": ("SYNS65302", 16, 992, 32, 2),
        "xylo-imu": ("SYNS63300", 16, 496, 16, 1),
        "xylo-v1": ("SYNS61300", 16, 1000, 8, 2),
    }
    assert VARIANTS["xylo-imu"].max_fanout == 512
    assert VARIANTS["xylo-audio3"].input_window == 128
    assert VARIANTS["xylo-audio3"].output_window == 128
    assert VARIANTS["xylo-audio2"].input_window is None
    assert not VARIANTS["xylo-v1"].has_bias
    assert VARIANTS["xylo-v1"].sim_version == 1
    assert VARIANTS["xylo-audio2"].sim_version == 2
    for name, variant in VARIANTS.items():
        assert variant.name == name


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_defaults_are_valid(variant: str) -> None:
    spec = VARIANTS[variant]
    cfg = XyloConfig.from_registers(variant)
    assert cfg.validate() == []
    assert cfg.weights_in.shape == (16, spec.n_hidden, spec.n_syn)
    assert cfg.weights_in.dtype == np.int8
    assert cfg.weights_out.shape == (spec.n_hidden, spec.n_outputs)
    assert np.all(cfg.dash_syn == 1)
    assert np.all(cfg.aliases == -1)
    assert cfg.target == variant


def test_windowed_weights_are_expanded() -> None:
    w_out = np.arange(128 * 32).reshape(128, 32) % 255 - 127
    w_in = np.ones((16, 128), np.int8)
    cfg = XyloConfig.from_registers("xylo-audio3", weights_out=w_out, weights_in=w_in)
    assert cfg.validate() == []
    assert cfg.weights_out.shape == (992, 32)
    np.testing.assert_array_equal(cfg.weights_out[992 - 128 :], w_out)
    assert not np.any(cfg.weights_out[: 992 - 128])
    assert cfg.weights_in.shape == (16, 992, 2)
    assert np.all(cfg.weights_in[:, :128, 0] == 1)
    assert not np.any(cfg.weights_in[:, 128:])
    assert not np.any(cfg.weights_in[:, :, 1])


def test_non_integer_registers_are_rejected() -> None:
    with pytest.raises(ConfigError, match="weights_in"):
        XyloConfig.from_registers("xylo-audio2", weights_in=np.full((16, 1000), 0.5))
    with pytest.raises(ConfigError, match="unknown register"):
        XyloConfig.from_registers("xylo-audio2", weights=np.zeros(3))
    with pytest.raises(ConfigError, match="unknown Xylo variant"):
        XyloConfig.from_registers("xylo-audio9")


def test_every_violation_is_listed() -> None:
    w_rec = np.zeros((1000, 1000, 2), np.int64)
    w_rec[0, :65, 0] = 1  # fan-out 65 > 64
    w_rec[1:, :, 1] = np.tile(np.arange(1000) < 33, (999, 1))  # 32,967 entries
    cfg = XyloConfig.from_registers(
        "xylo-audio2",
        weights_rec=w_rec,
        weights_in=np.full((16, 1000), 200),
        dash_mem=np.full(1000, 16),
        threshold=np.zeros(1000),
        bias_out=np.full(8, -129),
        aliases=np.full(1000, 1000),
        weight_shift_rec=9,
    )
    errors = cfg.validate()
    expected = [
        "weights_in: 16000 value(s) outside -128..127",
        "dash_mem: 1000 value(s) outside 0..15",
        "threshold: 1000 value(s) outside 1..32767",
        "bias_out: 8 value(s) outside -128..127",
        "aliases: 1000 value(s) outside -1..999",
        "recurrent fan-out over 64",
        "recurrent weight entries",
        "weight_shift_rec: 9",
    ]
    assert len(errors) == len(expected), errors
    for text in expected:
        assert sum(text in error for error in errors) == 1, (text, errors)
    with pytest.raises(ConfigError) as info:
        cfg.check()
    for text in expected:
        assert text in str(info.value)


def test_windows_bias_synapses_and_shapes() -> None:
    w_in = np.zeros((16, 496, 2), np.int8)
    w_in[3, 200, 0] = 1  # outside the input window
    w_in[0, 0, 1] = 1  # synapse 2 on a one-synapse chip
    w_out = np.zeros((496, 16), np.int8)
    w_out[5, 2] = 1  # outside the output window
    cfg = XyloConfig.from_registers(
        "xylo-imu",
        weights_in=w_in,
        weights_rec=np.zeros((496, 496)),
        weights_out=w_out,
        dash_syn=np.ones(3),
    )
    errors = cfg.validate()
    assert any("input window 0..127" in e and "200" in e for e in errors), errors
    assert any("output window 368..495" in e and "5" in e for e in errors), errors
    assert any("weights_in: synapse 2" in e for e in errors), errors
    assert any("dash_syn: shape (3,)" in e for e in errors), errors
    assert len(errors) == 4, errors
    v1 = XyloConfig.from_registers("xylo-v1", bias=np.full(1000, 3))
    assert v1.validate() == ["bias: xylo-v1 (SYNS61300) has no bias, but it is nonzero"]


def random_config(seed: int = 0) -> XyloConfig:
    rng = np.random.default_rng(seed)
    w_rec = rng.integers(-128, 128, (1000, 1000, 2)) * (rng.random((1000, 1)) < 0.03)
    w_rec[:, 32:] = 0
    return XyloConfig.from_registers(
        "xylo-audio2",
        weights_in=rng.integers(-128, 128, (16, 1000, 2)),
        weights_rec=w_rec,
        weights_out=rng.integers(-128, 128, (1000, 8)),
        dash_mem=rng.integers(0, 16, 1000),
        dash_syn_2=rng.integers(0, 16, 1000),
        threshold=rng.integers(1, 32768, 1000),
        bias=rng.integers(-128, 128, 1000),
        aliases=rng.integers(-1, 1000, 1000),
        weight_shift_out=3,
        dt=1e-3 / 3,
        neuron_map={"lif1[0]": ["hidden", 0], "out[2]": ["output", 2]},
    )


def test_save_load_round_trip(tmp_path: Path) -> None:
    cfg = random_config()
    assert cfg.validate() == []
    cfg.save(tmp_path / "a")
    cfg.save(tmp_path / "b")
    for name in ("config.json", "registers.npz"):
        assert (tmp_path / "a" / name).read_bytes() == (
            tmp_path / "b" / name
        ).read_bytes()
    meta = json.loads((tmp_path / "a" / "config.json").read_text())
    assert meta["format"] == "spikeforge-xylo-config"
    assert meta["version"] == 2
    assert meta["arrays"] == "registers.npz"
    back = XyloConfig.load(tmp_path / "a")
    for name in ARRAY_NAMES:
        assert getattr(back, name).dtype == getattr(cfg, name).dtype, name
        np.testing.assert_array_equal(getattr(back, name), getattr(cfg, name))
    assert back.dt == cfg.dt
    assert back.weight_shift_out == 3
    assert back.variant == "xylo-audio2"
    assert dict(back.neuron_map) == dict(cfg.neuron_map)


def test_load_reports_every_violation(tmp_path: Path) -> None:
    cfg = XyloConfig.from_registers(
        "xylo-audio2", threshold=np.zeros(1000), weight_shift_in=12
    )
    cfg.save(tmp_path)
    with pytest.raises(ConfigError) as info:
        XyloConfig.load(tmp_path)
    message = str(info.value)
    assert "2 problems" in message
    assert "threshold" in message
    assert "weight_shift_in" in message


def test_load_rejects_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config\.json"):
        XyloConfig.load(tmp_path)
    (tmp_path / "config.json").write_text('{"format": "something-else"}')
    with pytest.raises(ConfigError, match="not a spikeforge-xylo-config"):
        XyloConfig.load(tmp_path)


def test_compact_configuration_counts_windows_from_its_last_id() -> None:
    # 100 hidden neurons on xylo-audio3: every one may take input (ids < 128) and
    # feed the readout (the last 128 of 100 ids), as XyloSim's from_specification.
    n = 100
    cfg = XyloConfig.from_registers(
        "xylo-audio3",
        weights_in=np.ones((16, n, 2)),
        weights_rec=np.zeros((n, n, 2)),
        weights_out=np.ones((n, 32)),
    )
    assert cfg.n_hidden == n
    assert cfg.validate() == []
    assert cfg.threshold.shape == (n,)
    big = XyloConfig.from_registers("xylo-audio3", weights_rec=np.zeros((993, 993)))
    assert any(
        "993 hidden neurons, xylo-audio3 has 1..992" in e for e in big.validate()
    )
    wide = XyloConfig.from_registers(
        "xylo-audio3",
        weights_in=np.ones((16, 200)),
        weights_rec=np.zeros((200, 200)),
        weights_out=np.ones((200, 32)),
    )
    errors = wide.validate()
    assert any("input window 0..127" in e for e in errors), errors
    assert any("output window 72..199" in e for e in errors), errors
