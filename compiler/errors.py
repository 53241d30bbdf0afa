"""The compiler's domain exceptions."""

from __future__ import annotations

__all__ = ["AdapterWarning", "CompileError", "PassError", "PipelineError"]


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


class AdapterWarning(UserWarning):
    """A semantics adapter changed what the network computes to fit a target.

    The message names the node, the difference and how to refuse instead
    (``strict=true`` on the adapter pass, ``compile(..., strict=True)``,
    ``spikeforge compile --strict``).
    """
