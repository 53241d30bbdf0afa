"""Running a pipeline: verification after each pass, IR printing, timing, errors."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from compiler.errors import PassError, PipelineError
from compiler.pipeline import Pipeline
from compiler.progress import PROGRESS_DELAY, Progress
from ir import Graph, IRError, to_text, verify

__all__ = ["PassManager", "PassTiming"]


@dataclass(frozen=True)
class PassTiming:
    """Wall-clock time of one pass (seconds)."""

    pass_spec: str
    seconds: float


@dataclass
class PassManager:
    """Runs a :class:`Pipeline` on a graph.

    Args:
        pipeline: the passes, or a pipeline string.
        verify: verify the graph before the first pass and after every pass.
        print_ir_after_all: print the IR after each pass to ``ir_sink``.
        ir_sink: receives ``(pass spec, text)`` after a pass and
            ``("before " + pass spec, text)`` before one; defaults to writing to
            stderr under a ``// ----- IR after <spec> -----`` line.
        print_ir_after: print the IR after each pass of these names
            (``canonicalize``); a name that is no pass, or not in the pipeline, is a
            ``PipelineError``.
        print_ir_before: the same, before the pass runs.
        print_ir_before_all: print the IR before each pass.
        elide_tensors_larger_than: print tensors with more elements than this as
            ``blob<f32[...]> "__elided__"`` (text for reading: ``ir.parse`` refuses
            it); ``None`` prints every element.
    """

    pipeline: Pipeline | str
    verify: bool = True
    print_ir_after_all: bool = False
    ir_sink: Callable[[str, str], None] | None = None
    timings: list[PassTiming] = field(default_factory=list)
    print_ir_after: Sequence[str] = ()
    print_ir_before: Sequence[str] = ()
    print_ir_before_all: bool = False
    elide_tensors_larger_than: int | None = None

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        """Run every pass in order and return the final graph (``graph`` is untouched).

        Raises:
            PipelineError: an input no pass of the pipeline takes.
            PassError: a pass raised, or produced a graph that does not verify; the
                message names the pass and those that ran before it.
        """
        pipeline = (
            Pipeline.parse(self.pipeline)
            if isinstance(self.pipeline, str)
            else self.pipeline
        )
        passes = [(str(spec), spec.create()) for spec in pipeline]
        self._check_inputs(passes, inputs)
        self._check_print_names(passes)
        if self.verify:
            verify(graph)
        done: list[str] = []
        self.timings = []
        bar = Progress(  # not between IR dumps on the same stream
            "passes", len(passes), delay=PROGRESS_DELAY, quiet=self.print_ir_after_all
        )
        for spec, pass_ in passes:
            if self.print_ir_before_all or pass_.name in self.print_ir_before:
                self._emit("before", spec, graph)
            kwargs = {k: inputs[k] for k in pass_.inputs if k in inputs}
            if "calibration" in kwargs:
                kwargs["calibration"] = _as_flattened(graph, kwargs["calibration"])
            start = time.perf_counter()
            bar.update(0, note=pass_.name)
            try:
                result: object = pass_.run(graph, **kwargs)
            except Exception as err:
                bar.close()
                raise _failure(spec, pass_.name, f"failed: {err}", done) from err
            self.timings.append(PassTiming(spec, time.perf_counter() - start))
            bar.update(1, note=pass_.name)
            if len(self.timings) == len(passes):
                bar.close()
            if not isinstance(result, Graph):
                what = f"returned {type(result).__name__}, not a Graph"
                raise _failure(spec, pass_.name, what, done)
            if self.verify:
                try:
                    verify(result)
                except IRError as err:
                    bar.close()
                    what = f"produced an invalid graph: {err}"
                    raise _failure(spec, pass_.name, what, done) from err
            done.append(spec)
            graph = result
            if self.print_ir_after_all or pass_.name in self.print_ir_after:
                self._emit("after", spec, graph)
        return graph

    def _emit(self, when: str, spec: str, graph: Graph) -> None:
        text = to_text(graph, elide_larger_than=self.elide_tensors_larger_than)
        if self.ir_sink is not None:
            self.ir_sink(spec if when == "after" else f"{when} {spec}", text)
            return
        sys.stderr.write(f"// ----- IR {when} {spec} -----\n{text}")

    def _check_print_names(self, passes: list[tuple[str, Any]]) -> None:
        in_pipeline = {p.name for _, p in passes}
        for flag, names in (
            ("print-ir-after", self.print_ir_after),
            ("print-ir-before", self.print_ir_before),
        ):
            for name in names:
                if name in in_pipeline:
                    continue
                from compiler.registry import available_passes

                known = available_passes()
                if name not in known:
                    raise PipelineError(
                        f"{flag}: unknown pass '{name}'; passes: {', '.join(known)}"
                    )
                raise PipelineError(
                    f"{flag}: pass '{name}' is not in the pipeline "
                    f"({', '.join(sorted(in_pipeline)) or 'empty'})"
                )

    @staticmethod
    def _check_inputs(passes: list[tuple[str, Any]], inputs: dict[str, Any]) -> None:
        accepted = {k for _, p in passes for k in p.inputs}
        unused = sorted(set(inputs) - accepted)
        if not unused:
            return
        takers = [f"{p.name} ({', '.join(p.inputs)})" for _, p in passes if p.inputs]
        raise PipelineError(
            "no pass in this pipeline takes input "
            f"{', '.join(repr(u) for u in unused)}; "
            f"passes that take inputs: {', '.join(takers) or 'none'}"
        )


def _as_flattened(graph: Graph, calibration: Any) -> Any:
    """``calibration`` spikes of the input's shape before ``expand-conv`` flattened
    it (meta ``flattened_from``), reshaped to ``(N, T, *input shape)`` now; anything
    else is returned as given (each pass checks its inputs)."""
    ins = graph.inputs()
    if len(ins) != 1 or not hasattr(calibration, "reshape"):
        return calibration
    before = graph.meta(ins[0]).get("flattened_from")
    shape = tuple(getattr(calibration, "shape", ()))
    if before is None or shape[2:] != tuple(before):
        return calibration
    return calibration.reshape(*shape[:2], *graph.shape(ins[0]))


def _failure(spec: str, name: str, what: str, done: list[str]) -> PassError:
    """The error for pass ``spec``, naming the passes that ran before it."""
    return PassError(
        f"pass '{spec}' {what} (passes run before it: {', '.join(done) or 'none'})",
        pass_name=name,
        before=list(done),
    )
