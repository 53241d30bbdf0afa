"""The public API: run a pipeline, compile for a target."""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backends import Emulator, HardwareConfig, Target, get_target, graph_emulator
from compiler import fidelity as fidelity_check
from compiler.energy import EnergyEstimate, check_figures, measure_for_build
from compiler.errors import CompileError
from compiler.fidelity import Fidelity
from compiler.pass_manager import PassManager, PassTiming
from compiler.pipeline import Pipeline
from ir import Graph

__all__ = [
    "CompileReport",
    "CompileResult",
    "FidelityWarning",
    "compile",
    "run_pipeline",
]

FidelityWarning = fidelity_check.FidelityWarning


def run_pipeline(
    graph: Graph,
    pipeline: str | Pipeline,
    *,
    verify: bool = True,
    print_ir_after_all: bool = False,
    ir_sink: Callable[[str, str], None] | None = None,
    print_ir_after: Sequence[str] = (),
    print_ir_before: Sequence[str] = (),
    elide_tensors_larger_than: int | None = None,
    **pass_inputs: Any,
) -> Graph:
    """Run ``pipeline`` (e.g. ``"canonicalize,dce"``) on ``graph``; return the result.

    Args:
        graph: the input graph (not modified).
        pipeline: a pipeline string or a parsed :class:`Pipeline`.
        verify: verify before the first pass and after each pass.
        print_ir_after_all: print the IR after each pass (to ``ir_sink`` or stderr).
        ir_sink: receives ``(pass spec, IR text)`` when printing (``("before "
            + pass spec, IR text)`` before a pass).
        print_ir_after: pass names to print the IR after (``print_ir_before``:
            before); see :class:`compiler.PassManager`.
        elide_tensors_larger_than: elide tensors over this many elements in the
            printed IR (``None``: print every element).
        **pass_inputs: data for the passes that take it (e.g. ``calibration=x``).

    Raises:
        PipelineError: a bad pipeline string or an input no pass takes.
        PassError: a pass failed or produced an invalid graph.
    """
    manager = PassManager(
        pipeline,
        verify=verify,
        print_ir_after_all=print_ir_after_all,
        ir_sink=ir_sink,
        print_ir_after=print_ir_after,
        print_ir_before=print_ir_before,
        elide_tensors_larger_than=elide_tensors_larger_than,
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
    fidelity: Fidelity | None = None
    """The ideal chip against the float graph (``compiler.fidelity``), when measured."""
    fidelity_note: str = ""
    """Why fidelity was not measured, when it was not."""
    energy: EnergyEstimate | None = None
    """Energy per inference from published figures (``compiler.energy``)."""
    energy_note: str = ""
    """Why energy was not estimated, when it was not."""

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
        if self.fidelity is not None:
            low = self.fidelity.problems()
            lines.append(
                f"fidelity  ideal chip vs float graph: {self.fidelity}"
                + ("  ** LOW: " + "; ".join(low) + " **" if low else "")
            )
        elif self.fidelity_note:
            lines.append(f"fidelity  {self.fidelity_note}")
        if self.energy is not None:
            lines.append(self.energy.header() + ":")
            lines += [f"  {k:<38} {v}" for k, v in self.energy.lines()]
        elif self.energy_note:
            lines.append(f"energy    {self.energy_note}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        total = sum(t.seconds for t in self.timings)
        return (
            f"<CompileReport {self.target}: {self.nodes} nodes, "
            f"{len(self.timings)} passes in {total:.3g} s>"
        )

    def _repr_html_(self) -> str:
        """The report as tables (Jupyter): passes, ops, resources, fidelity, energy."""
        from html import escape

        def table(title: str, rows: list[tuple[str, str]]) -> str:
            body = "".join(
                f"<tr><td style='text-align:left'>{escape(k)}</td>"
                f"<td style='text-align:left'>{escape(v)}</td></tr>"
                for k, v in rows
            )
            return f"<details open><summary><b>{escape(title)}</b></summary>" + (
                f"<table>{body}</table></details>"
            )

        parts = [
            f"<p><b>{escape(self.target)}</b>: {self.nodes} nodes; pipeline "
            f"<code>{escape(self.pipeline)}</code></p>",
            table(
                "passes",
                [(t.pass_spec, f"{t.seconds * 1e3:.2f} ms") for t in self.timings],
            ),
            table("ops", [(k, str(v)) for k, v in sorted(self.ops.items())]),
        ]
        if self.resources:
            parts.append(table("resources", list(self.resources.items())))
        elif self.limits:
            parts.append(table("limits", [(k, str(v)) for k, v in self.limits.items()]))
        fidelity = (
            str(self.fidelity) if self.fidelity is not None else self.fidelity_note
        )
        if fidelity:
            parts.append(table("fidelity", [("ideal chip vs float graph", fidelity)]))
        if self.energy is not None:
            parts.append(table(self.energy.header(), self.energy.lines()))
        elif self.energy_note:
            parts.append(table("energy", [("", self.energy_note)]))
        return "".join(parts)


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

    def emulator(
        self, seed: int | None = None, *, chip: int | None = None, raw: bool = False
    ) -> Emulator:
        """An emulator running ``config`` on the graph's own I/O.

        Its ``run(x, *, steps=None, align=True)`` takes the compiled graph's inputs
        and returns its outputs as ``ir.interpret`` does (``backends.graph_io``).

        Args:
            seed, chip: the chip instance (one name for it; give at most one):
                ``None`` (default) is the ideal chip, without mismatch; ``k`` the
                sampled chip ``k`` (``target.emulator(config, seed=k)``'s chip).
                Digital targets (Xylo) run every chip alike.
            raw: the chip emulator itself, on the chip's own channels and timing
                (``target.emulator(config, seed=...)``, seed ``None`` the ideal
                chip).
        """
        if seed is not None and chip is not None and seed != chip:
            raise CompileError(f"emulator(): seed={seed} and chip={chip} disagree")
        which = chip if chip is not None else seed
        if raw:
            return self.target.emulator(self.config, seed=which)  # type: ignore[arg-type]
        return graph_emulator(self.target, self.config, chip=which)


def compile(
    graph_or_module: Any,
    target: str,
    *,
    pipeline: str | None = None,
    example_input: Any = None,
    verify: bool = True,
    strict: bool = False,
    fidelity: bool = True,
    energy: bool | Mapping[str, float] = True,
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
        fidelity: measure how well the ideal chip agrees with ``graph`` (the float
            graph, ``ir.interpret``) on ``calibration`` spike trains of its input
            (accepted for this even when no pass takes them), or else seeded random
            spikes (``compiler.fidelity``); the report shows it, and a low
            agreement warns (``FidelityWarning``). ``False`` skips it.
        energy: estimate the energy per inference from the target's published
            per-event figures (``compiler.energy``; the report shows it, with
            ``no published figure`` where there is none); a mapping supplies your
            own figures by kind (``{"synaptic_event": 2e-12, "static_power":
            1e-4, "ann_mac": 0.23e-12}``, SI units); ``False`` skips it.
        **pass_inputs: data for the passes that take it (``calibration=...``).

    Warns:
        FidelityWarning: the build disagrees with the float graph, or could not be
            compared with it.

    Raises:
        CompileError, PipelineError, PassError, TargetError: naming what failed.
    """
    figures = check_figures(energy) if isinstance(energy, Mapping) else {}
    graph = _as_graph(graph_or_module, example_input)
    chosen = get_target(target)
    text = chosen.default_pipeline if pipeline is None else pipeline
    if strict:
        text = str(_strict(Pipeline.parse(text)))
    manager = PassManager(text, verify=verify)
    to_passes = dict(pass_inputs)
    if fidelity and "calibration" in to_passes:
        # NOTE: calibration spike trains also feed the fidelity check, so a pipeline
        # with no pass that takes them accepts them for that alone.
        takers = {k for spec in Pipeline.parse(text) for k in spec.create().inputs}
        if "calibration" not in takers:
            del to_passes["calibration"]
    lowered = manager.run(graph, **to_passes)
    config = chosen.lower(lowered)
    ops: dict[str, int] = {}
    for name in lowered.nodes():
        key = lowered.op(name).name
        ops[key] = ops.get(key, 0) + 1
    measured, note = None, "not measured (fidelity=False)"
    if fidelity:
        measured, note = _fidelity(graph, chosen, config, pass_inputs)
    estimated, energy_note = None, "not estimated (energy=False)"
    if energy is not False:
        estimated, energy_note = _energy(graph, chosen, config, pass_inputs, figures)
    report = CompileReport(
        target=chosen.name,
        pipeline=text,
        timings=tuple(manager.timings),
        nodes=len(lowered),
        ops=ops,
        limits=dict(chosen.limits),
        resources=_resources(chosen, config, lowered),
        fidelity=measured,
        fidelity_note=note,
        energy=estimated,
        energy_note=energy_note,
    )
    if measured is not None:
        fidelity_check.warn_if_low(measured, chosen.name, stacklevel=2)
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


def _runs_graph_io(target: Target, config: HardwareConfig) -> bool:
    """Whether the build records its graph I/O, so it runs on the graph's inputs."""
    return getattr(config, "io", None) is not None and hasattr(target, "graph_emulator")


def _inputs(
    graph: Graph, pass_inputs: dict[str, Any], calibration: str
) -> tuple[Any, str]:
    """The calibration inputs (called ``calibration``), else the fidelity probe's
    seeded random spikes; with what they are."""
    inputs = fidelity_check.calibration_inputs(graph, pass_inputs.get("calibration"))
    if inputs is not None:
        return inputs, calibration
    source = f"random spikes p={fidelity_check.PROBE_RATE}"
    return fidelity_check.probe_inputs(graph), source


def _fidelity(
    graph: Graph, target: Target, config: HardwareConfig, pass_inputs: dict[str, Any]
) -> tuple[Fidelity | None, str]:
    """Measure the ideal chip against ``graph``; or say why not (a warning when it
    should have been possible)."""
    # NOTE: only builds that record their graph I/O run on the graph's inputs;
    # the reference target's configuration is the graph itself (nothing to compare),
    # and a plugin without ``graph_emulator`` defines its own I/O.
    if not _runs_graph_io(target, config):
        return None, f"not measured ({target.name} builds run the graph's I/O as is)"
    inputs, source = _inputs(graph, pass_inputs, "calibration")
    try:
        return fidelity_check.measure(
            graph, graph_emulator(target, config), inputs, source=source
        ), ""
    except Exception as err:  # a measurement must not fail a compile: warn instead
        note = f"not measured: {type(err).__name__}: {err}"
        warnings.warn(
            f"the {target.name} build could not be compared with the float graph "
            f"({note}); check it with 'spikeforge run build/' on your data",
            fidelity_check.FidelityWarning,
            stacklevel=3,
        )
        return None, note


def _energy(
    graph: Graph,
    target: Target,
    config: HardwareConfig,
    pass_inputs: dict[str, Any],
    figures: Mapping[str, float],
) -> tuple[EnergyEstimate | None, str]:
    """The energy estimate on the calibration spikes (else the fidelity probe's
    seeded random spikes); or why there is none."""
    if getattr(target, "energy_model", None) is None:
        return None, f"not estimated ({target.name} declares no energy figures)"
    if not _runs_graph_io(target, config):
        return None, "not estimated (the build records no graph I/O to run on)"
    inputs, source = _inputs(graph, pass_inputs, "calibration spikes")
    try:
        return measure_for_build(
            target, config, graph, inputs, figures=figures, source=source
        ), ""
    except Exception as err:  # an estimate must not fail a compile: say why
        return None, f"not estimated: {type(err).__name__}: {err}"


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
