"""spikeforge's compiler: passes, the pass manager, pipelines, the API and the CLI.

Public names (``__all__``), by group:

* compiling: ``compile``, ``run_pipeline``, ``CompileResult``, ``CompileReport``;
* passes and pipelines: ``Pass``, ``Pipeline``, ``PassSpec``, ``PassManager``,
  ``PassTiming``, ``available_passes``, ``get_pass``;
* errors and warnings: ``CompileError``, ``PassError``, ``PipelineError``,
  ``AdapterWarning``, ``FidelityWarning``.

Submodules hold the rest: ``compiler.chip_yield``, ``compiler.energy``,
``compiler.fidelity``, ``compiler.progress``, ``compiler.retune``,
``compiler.allocation``, ``compiler.catalog``, ``compiler.cli``.

Names are imported on first use (PEP 562): ``compiler.cli`` and ``compiler.registry``
start without PyTorch, so ``spikeforge --help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ir.lazy import lazy_attributes

if TYPE_CHECKING:
    from compiler.api import (
        CompileReport,
        CompileResult,
        FidelityWarning,
        compile,
        run_pipeline,
    )
    from compiler.errors import AdapterWarning, CompileError, PassError, PipelineError
    from compiler.pass_base import Pass
    from compiler.pass_manager import PassManager, PassTiming
    from compiler.pipeline import PassSpec, Pipeline
    from compiler.registry import available_passes, get_pass

__all__ = [
    "AdapterWarning",
    "CompileError",
    "CompileReport",
    "CompileResult",
    "FidelityWarning",
    "Pass",
    "PassError",
    "PassManager",
    "PassSpec",
    "PassTiming",
    "Pipeline",
    "PipelineError",
    "available_passes",
    "compile",
    "get_pass",
    "run_pipeline",
]

#: public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "AdapterWarning": "compiler.errors",
    "CompileError": "compiler.errors",
    "CompileReport": "compiler.api",
    "CompileResult": "compiler.api",
    "FidelityWarning": "compiler.api",
    "Pass": "compiler.pass_base",
    "PassError": "compiler.errors",
    "PassManager": "compiler.pass_manager",
    "PassSpec": "compiler.pipeline",
    "PassTiming": "compiler.pass_manager",
    "Pipeline": "compiler.pipeline",
    "PipelineError": "compiler.errors",
    "available_passes": "compiler.registry",
    "compile": "compiler.api",
    "get_pass": "compiler.registry",
    "run_pipeline": "compiler.api",
}


__getattr__, __dir__ = lazy_attributes(globals(), _EXPORTS)
