"""The pass manager: ordering, verification, IR printing, timing, error wrapping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import ir
from compiler import Pass, PassError, PassManager, Pipeline, PipelineError, run_pipeline
from ir.ops import io, nn


def small_graph() -> ir.Graph:
    g = ir.Graph("g")
    g.add("x", io.Input(shape=(2,)))
    g.add("s", nn.Scale(scale=np.float32(3.0)), ["x"])
    g.add("y", io.Output(), ["s"])
    return g


@dataclass(frozen=True)
class AppendScale(Pass):
    """Appends a scale node before the output (fixture)."""

    name = "append-scale"
    factor: float = 2.0

    def run(self, graph: ir.Graph, /, **inputs: Any) -> ir.Graph:
        out = graph.copy()
        (y,) = out.outputs()
        (src,) = out.producers(y)
        node = out.fresh_name("scaled")
        out.disconnect(src, y)
        out.add(node, nn.Scale(scale=np.float32(self.factor)), [src])
        out.connect(node, y)
        return out


@dataclass(frozen=True)
class Explodes(Pass):
    """Raises (fixture)."""

    name = "explodes"

    def run(self, graph: ir.Graph, /, **inputs: Any) -> ir.Graph:
        raise ValueError("boom")


@dataclass(frozen=True)
class BreaksGraph(Pass):
    """Returns a graph that does not verify (fixture)."""

    name = "breaks-graph"

    def run(self, graph: ir.Graph, /, **inputs: Any) -> ir.Graph:
        out = graph.copy()
        out.remove(out.outputs()[0])
        return out


@dataclass(frozen=True)
class TakesCalibration(Pass):
    """Records the calibration input in meta (fixture)."""

    name = "takes-calibration"
    inputs = ("calibration",)

    def run(self, graph: ir.Graph, /, **inputs: Any) -> ir.Graph:
        out = graph.copy()
        out.meta("x")["calibration_rows"] = int(inputs["calibration"].shape[0])
        return out


TABLE: dict[str, type[Pass]] = {
    p.name: p for p in (AppendScale, Explodes, BreaksGraph, TakesCalibration)
}


def manager(text: str, **kwargs: Any) -> PassManager:
    return PassManager(Pipeline.parse(text, passes=TABLE), **kwargs)


def test_passes_run_in_order_without_touching_the_input() -> None:
    g = small_graph()
    before = ir.to_text(g)
    out = manager("append-scale{factor=2.0},append-scale{factor=5.0}").run(g)
    assert ir.to_text(g) == before
    assert out.producers("y") == ["scaled_1"]
    assert out.producers("scaled_1") == ["scaled"]
    x = np.ones((1, 1, 2), np.float32)
    assert ir.interpret(out, x)[0, 0].tolist() == [30.0, 30.0]


def test_exception_names_the_pass_and_those_before_it() -> None:
    with pytest.raises(PassError) as err:
        manager("append-scale,append-scale{factor=3.0},explodes").run(small_graph())
    message = str(err.value)
    assert message.startswith("pass 'explodes' failed: boom")
    assert "passes run before it: append-scale, append-scale{factor=3.0}" in message
    assert err.value.pass_name == "explodes"
    assert isinstance(err.value.__cause__, ValueError)


def test_first_pass_failure_says_none_ran_before() -> None:
    with pytest.raises(PassError, match=r"passes run before it: none"):
        manager("explodes").run(small_graph())


def test_invalid_result_is_caught_by_verification() -> None:
    with pytest.raises(
        PassError,
        match=r"pass 'breaks-graph' produced an invalid graph: .*no io.output",
    ):
        manager("append-scale,breaks-graph").run(small_graph())
    # Without verification the broken graph comes back.
    out = manager("breaks-graph", verify=False).run(small_graph())
    assert out.outputs() == []


def test_print_ir_after_all_and_timings() -> None:
    seen: list[tuple[str, str]] = []
    pm = manager(
        "append-scale,append-scale{factor=4.0}",
        print_ir_after_all=True,
        ir_sink=lambda spec, text: seen.append((spec, text)),
    )
    out = pm.run(small_graph())
    assert [s for s, _ in seen] == ["append-scale", "append-scale{factor=4.0}"]
    assert seen[-1][1] == ir.to_text(out)
    assert "%scaled = nn.scale" in seen[0][1]
    assert "%scaled_1" not in seen[0][1]
    assert [t.pass_spec for t in pm.timings] == [
        "append-scale",
        "append-scale{factor=4.0}",
    ]
    assert all(t.seconds >= 0 for t in pm.timings)


def test_inputs_reach_the_passes_that_take_them() -> None:
    out = manager("append-scale,takes-calibration").run(
        small_graph(), calibration=np.zeros((7, 2))
    )
    assert out.meta("x")["calibration_rows"] == 7


def test_an_input_no_pass_takes_is_an_error() -> None:
    with pytest.raises(
        PipelineError, match=r"no pass in this pipeline takes input 'calibraton'"
    ):
        manager("takes-calibration").run(small_graph(), calibraton=1)


def test_run_pipeline_uses_the_registry() -> None:
    g = small_graph()
    out = run_pipeline(g, "canonicalize,dce,infer-shapes")
    assert out.meta("s")["shape"] == (2,)
    with pytest.raises(PipelineError, match="unknown pass"):
        run_pipeline(g, "canonicalise")


def test_print_ir_before_and_after_named_passes_elided() -> None:
    seen: list[tuple[str, str]] = []
    pm = manager(
        "append-scale,append-scale{factor=4.0}",
        print_ir_before=["append-scale"],
        print_ir_after=("append-scale",),
        elide_tensors_larger_than=0,
        ir_sink=lambda spec, text: seen.append((spec, text)),
    )
    out = pm.run(small_graph())
    assert [s for s, _ in seen] == [
        "before append-scale",
        "append-scale",
        "before append-scale{factor=4.0}",
        "append-scale{factor=4.0}",
    ]
    assert seen[-1][1] == ir.to_text(out, elide_larger_than=0)
    assert 'blob<f32[]> "__elided__"' in seen[-1][1]
    with pytest.raises(PipelineError, match="print-ir-after: unknown pass 'nope'"):
        manager("append-scale", print_ir_after=["nope"]).run(small_graph())
