"""The IR's domain exceptions.

Every error a user can trigger from the IR is one of these, and each names the place:
a node (``VerifyError``) or a file position (``ParseError``).
"""

from __future__ import annotations

__all__ = ["IRError", "InputError", "ParseError", "VerifyError"]


class IRError(Exception):
    """Base of every error raised by the ``ir`` package."""


class VerifyError(IRError):
    """A graph or op breaks an invariant.

    Attributes:
        node: name of the offending node, or ``None`` for graph-level errors.
        detail: the message without the node prefix.
    """

    def __init__(self, message: str, *, node: str | None = None) -> None:
        self.node = node
        self.detail = message
        super().__init__(f"node '{node}': {message}" if node is not None else message)


class InputError(IRError):
    """Runtime input that no graph or chip can run on (NaN, complex, no time steps...).

    Attributes:
        source: what held the input (a file name, or ``input 'x'`` for a node).
        index: the first offending element's index, or ``None``.
        detail: the message without the source.
    """

    def __init__(
        self, message: str, *, source: str, index: tuple[int, ...] | None = None
    ) -> None:
        self.source = source
        self.index = index
        self.detail = message
        super().__init__(f"{source}: {message}")


class ParseError(IRError):
    """Text that is not valid ``.sfir`` (or pipeline) syntax.

    The first line of the message is self-contained
    (``file:line:col: what went wrong``); when the source line is known, it follows with
    a caret under the column.

    Attributes:
        line: 1-based line, or ``None`` when unknown.
        column: 1-based column, or ``None`` when unknown.
        source_name: file name (or ``<string>``).
        detail: the message without location and context.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        source_name: str = "<string>",
        source_line: str | None = None,
    ) -> None:
        self.line = line
        self.column = column
        self.source_name = source_name
        self.detail = message
        if line is None:
            head = f"{source_name}: {message}"
        else:
            head = f"{source_name}:{line}:{column}: {message}"
        if source_line is not None and column is not None:
            caret = " " * (column - 1) + "^"
            head = f"{head}\n    {source_line}\n    {caret}"
        super().__init__(head)
