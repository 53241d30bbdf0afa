"""Registries: every key equals the registered object's name."""

from __future__ import annotations

import pytest

import ir
from backends import TargetError, available_targets, get_target
from compiler import Pass, available_passes, get_pass
from compiler.registry import PASSES


def test_every_pass_key_is_the_pass_name() -> None:
    for key, cls in available_passes().items():
        assert cls.name == key
        assert issubclass(cls, Pass)
        assert cls.summary(), f"pass {key} has no docstring"
    for key in PASSES:
        assert get_pass(key).name == key


def test_every_target_key_is_the_target_name() -> None:
    assert "reference" in available_targets()
    for key in available_targets():
        assert get_target(key).name == key


def test_every_op_key_is_the_op_name() -> None:
    ops = list(ir.registered_ops())
    # The op set the foundation issue asks for, dialect by dialect.
    expected = {
        "io.input", "io.output",
        "nn.linear", "nn.affine", "nn.conv1d", "nn.conv2d", "nn.avgpool2d",
        "nn.maxpool2d", "nn.sumpool2d", "nn.flatten", "nn.relu", "nn.batchnorm",
        "nn.add", "nn.scale", "nn.clip",
        "snn.lif", "snn.cubalif", "snn.if", "snn.li", "snn.cubali", "snn.integrator",
        "snn.threshold", "snn.delay", "snn.rate_encode",
        "xylo.core",  # from the spikeforge.dialects entry point
    }  # fmt: skip
    assert {cls.name for cls in ops} == expected
    for cls in ops:
        assert ir.get_op(cls.name) is cls
        assert cls.__doc__, f"{cls.name} has no docstring"
        assert "IR:" in cls.__doc__, f"{cls.name} lacks an IR example"


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(
        TargetError, match=r"unknown target 'xylo-nope'; available targets: .*reference"
    ):
        get_target("xylo-nope")
    with pytest.raises(KeyError, match=r"dialect 'snn' has: .*snn.lif"):
        ir.get_op("snn.lfi")
    with pytest.raises(KeyError, match=r"no dialect 'foo' \(known: io, nn, snn"):
        ir.get_op("foo.bar")
