"""The compiler's domain exceptions."""

from __future__ import annotations

__all__ = ["CompileError", "PassError", "PipelineError"]


class CompileError(Exception):
    """Base of the compiler's errors."""


class PipelineError(CompileError):
    """A malformed pipeline, or an unknown pass or option (lists the valid ones)."""


class PassError(CompileError):
    """A pass failed; the message names the pass and the passes that ran before it."""

    def __init__(self, message: str, *, pass_name: str, before: list[str]) -> None:
        self.pass_name = pass_name
        self.before = before
        super().__init__(message)
