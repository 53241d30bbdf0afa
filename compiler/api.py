"""The public API: run a pipeline, compile for a target."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backends import Emulator, HardwareConfig, Target, get_target
from compiler.errors import CompileError
from compiler.pass_manager import PassManager, PassTiming
from compiler.pipeline import Pipeline
from ir import Graph

__all__ = ["CompileReport", "CompileResult", "compile", "run_pipeline"]


def run_pipeline(
    graph: Graph,
    pipeline: str | Pipeline,
    *,
    verify: bool = True,
    print_ir_after_all: bool = False,
    ir_sink: Callable[[str, str], None] | None = None,
    **pass_inputs: Any,
) -> Graph:
    """Run ``pipeline`` (e.g. ``"canonicalize,dce"``) on ``graph``; return the result.

    Args:
        graph: the input graph (not modified).
        pipeline: a pipeline string or a parsed :class:`Pipeline`.
        verify: verify before the first pass and after each pass.
        print_ir_after_all: print the IR after each pass (to ``ir_sink`` or stderr).
        ir_sink: receives ``(pass spec, IR text)`` when printing.
        **pass_inputs: data for the passes that take it (e.g. ``calibration=x``).

    Raises:
        PipelineError: a bad pipeline string or an input no pass takes.
        PassError: a pass failed or produced an invalid graph.
    """
    manager = PassManager(
        pipeline, verify=verify, print_ir_after_all=print_ir_after_all, ir_sink=ir_sink
    )
    return manager.run(graph, **pass_inputs)


@dataclass(frozen=True)
class CompileReport:
    """What a compilation did: the pipeline, each pass's time, and the result's size."""

    target: str
    pipeline: str
    timings: tuple[PassTiming, ...]
    nodes: int
    ops: dict[str, int]
    limits: dict[str, int | float] = field(default_factory=dict)
    resources: dict[str, str] = field(default_factory=dict)
    """What the configuration uses, from the target's optional ``report(config)``."""

    def __str__(self) -> str:
        lines = [f"target    {self.target}", f"pipeline  {self.pipeline}", "passes:"]
        lines += [
            f"  {t.pass_spec:<40} {t.seconds * 1e3:9.2f} ms" for t in self.timings
        ]
        lines.append(f"nodes     {self.nodes}")
        lines += [
            f"  {name:<38} {count:>5}" for name, count in sorted(self.ops.items())
        ]
        if self.resources:
            lines.append("resources:")
            lines += [f"  {k:<38} {v}" for k, v in self.resources.items()]
        elif self.limits:
            lines.append("limits:")
            lines += [f"  {k:<38} {v}" for k, v in self.limits.items()]
        return "\n".join(lines)


@dataclass(frozen=True)
class CompileResult:
    """The output of :func:`compile`.

    Attributes:
        graph: the graph after the target's pipeline.
        config: the hardware configuration (``config.save(folder)``).
        report: a :class:`CompileReport` (``print(result.report)``).
        target: the target object.
    """

    graph: Graph
    config: HardwareConfig
    report: CompileReport
    target: Target

    def emulator(self, seed: int = 0) -> Emulator:
        """An emulator running ``config``; ``seed`` picks a chip instance."""
        return self.target.emulator(self.config, seed=seed)


def compile(
    graph_or_module: Any,
    target: str,
    *,
    pipeline: str | None = None,
    example_input: Any = None,
    verify: bool = True,
    strict: bool = False,
    **pass_inputs: Any,
) -> CompileResult:
    """Compile a graph (or a PyTorch module) for ``target``.

    Args:
        graph_or_module: an ``ir.Graph``, or a ``torch.nn.Module`` (with
            ``example_input``) imported through ``frontends.pytorch``.
        target: a registered target name (see ``backends.available_targets()``).
        pipeline: replaces the target's default pipeline.
        example_input: example input for tracing a module.
        verify: verify after every pass.
        strict: sets ``strict=true`` on every pass of the pipeline that has that
            option (the semantics adapters, e.g. ``adapt-xylo``): they refuse,
            naming each node and difference, instead of approximating and warning.
        **pass_inputs: data for the passes that take it (``calibration=...``).

    Raises:
        CompileError, PipelineError, PassError, TargetError: naming what failed.
    """
    graph = _as_graph(graph_or_module, example_input)
    chosen = get_target(target)
    text = chosen.default_pipeline if pipeline is None else pipeline
    if strict:
        text = str(_strict(Pipeline.parse(text)))
    manager = PassManager(text, verify=verify)
    lowered = manager.run(graph, **pass_inputs)
    config = chosen.lower(lowered)
    ops: dict[str, int] = {}
    for name in lowered.nodes():
        key = lowered.op(name).name
        ops[key] = ops.get(key, 0) + 1
    report = CompileReport(
        target=chosen.name,
        pipeline=text,
        timings=tuple(manager.timings),
        nodes=len(lowered),
        ops=ops,
        limits=dict(chosen.limits),
        resources=_resources(chosen, config, lowered),
    )
    return CompileResult(lowered, config, report, chosen)


def _strict(pipeline: Pipeline) -> Pipeline:
    """``pipeline`` with ``strict=true`` on each pass that has a ``strict`` option."""
    specs = []
    for spec in pipeline:
        if "strict" in spec.pass_class.options():
            options = tuple(o for o in spec.options if o[0] != "strict")
            spec = dataclasses.replace(spec, options=(*options, ("strict", ("true",))))
        specs.append(spec)
    return Pipeline(tuple(specs))


def _resources(target: Target, config: HardwareConfig, graph: Graph) -> dict[str, str]:
    # NOTE: ``report`` is optional in the Target protocol; targets without resources
    # to speak of (the reference) leave it out. ``report(config, graph=...)`` also
    # sees the lowered graph (its analyses' meta), when it takes that argument.
    report = getattr(target, "report", None)
    if report is None:
        return {}
    if "graph" in inspect.signature(report).parameters:
        rows = report(config, graph=graph)
    else:
        rows = report(config)
    return {str(k): str(v) for k, v in rows.items()}


def _as_graph(source: Any, example_input: Any) -> Graph:
    if isinstance(source, Graph):
        return source
    import torch

    if isinstance(source, torch.nn.Module):
        try:
            from frontends import pytorch
        except ImportError as err:
            raise CompileError(
                "compiling a torch.nn.Module needs the PyTorch frontend "
                "(frontends.pytorch), which is not installed in this build"
            ) from err
        if example_input is None:
            raise CompileError("compiling a torch.nn.Module needs example_input=")
        graph: Graph = pytorch.from_module(source, example_input)
        return graph
    raise CompileError(
        f"compile() takes an ir.Graph or a torch.nn.Module, not {type(source).__name__}"
    )
