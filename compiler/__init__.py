"""spikeforge's compiler: passes, the pass manager, pipelines, the API and the CLI."""

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
