"""compiler.compile and the reference target, end to end in-process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import compiler
import ir
from backends import TargetError, get_target
from ir.ops import io, nn, snn


def rsnn() -> ir.Graph:
    rng = np.random.default_rng(0)
    g = ir.Graph("rsnn", dt=1e-3)
    g.add("x", io.Input(shape=(3,)))
    g.add("w", nn.Linear(weight=rng.normal(size=(4, 3)).astype(np.float32)), ["x"])
    g.add("gain", nn.Scale(scale=np.float32(0.5)), ["w"])
    g.add(
        "lif",
        snn.LIF(tau=0.02, r=20.0, v_leak=0.0, v_threshold=1.0, reset="subtract"),
        ["gain"],
    )
    g.add(
        "rec",
        nn.Linear(weight=rng.normal(0, 0.3, size=(4, 4)).astype(np.float32)),
        ["lif"],
    )
    g.connect("rec", "lif", recurrent=True)
    g.add("y", io.Output(), ["lif"])
    return g


def test_compile_reference_runs_like_the_interpreter(tmp_path: Path) -> None:
    g = rsnn()
    result = compiler.compile(g, target="reference")
    # canonicalize folds the gain into the dense layer, which keeps its name.
    assert "w" in result.graph
    assert "gain" not in result.graph
    x = torch.bernoulli(
        torch.full((2, 25, 3), 0.5), generator=torch.Generator().manual_seed(1)
    )
    expected = ir.interpret(g, x)
    assert torch.equal(result.emulator(seed=0).run(x), expected)
    result.config.save(tmp_path / "build")
    target = get_target("reference")
    loaded = target.load_config(tmp_path / "build")
    assert loaded.graph.is_equivalent(result.graph)
    assert torch.equal(target.emulator(loaded).run(x), expected)
    text = str(result.report)
    assert "target    reference" in text
    assert "canonicalize" in text
    assert "snn.lif" in text
    assert result.report.nodes == len(result.graph)


def test_compile_takes_a_pipeline_and_rejects_other_things() -> None:
    result = compiler.compile(rsnn(), target="reference", pipeline="dce")
    assert "gain" in result.graph
    assert "w" in result.graph
    with pytest.raises(
        compiler.CompileError, match=r"takes an ir\.Graph or a torch\.nn\.Module"
    ):
        compiler.compile("model.pt", target="reference")
    with pytest.raises(TargetError, match="unknown target"):
        compiler.compile(rsnn(), target="loihi9")


def test_load_config_rejects_another_target(tmp_path: Path) -> None:
    folder = tmp_path / "build"
    compiler.compile(rsnn(), target="reference").config.save(folder)
    config = folder / "config.json"
    config.write_text(config.read_text().replace('"reference"', '"xylo-audio2"'))
    with pytest.raises(TargetError, match="expected target 'reference'"):
        get_target("reference").load_config(folder)


def test_compile_takes_a_torch_module() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2)
    ).eval()
    x = torch.randn(4, 6)
    result = compiler.compile(model, target="reference", example_input=x)
    assert {result.graph.op(n).name for n in result.graph.nodes()} >= {"nn.affine"}
    out = result.emulator().run(x[:, None])[:, 0]
    with torch.no_grad():
        assert torch.allclose(out, model(x), atol=1e-5)
    with pytest.raises(compiler.CompileError, match="needs example_input="):
        compiler.compile(model, target="reference")
