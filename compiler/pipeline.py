"""Pipeline strings in MLIR syntax, parsed and printed.

``fold-bn,ann-to-snn{timesteps=32 percentile=99.9}``: passes separated by commas,
options inside braces separated by spaces, list values separated by commas, strings
with spaces or punctuation in double quotes. For a canonical string ``s`` (no spaces
but the single space between options), ``str(Pipeline.parse(s)) == s``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token, Tree, UnexpectedInput

from compiler.errors import PipelineError
from compiler.pass_base import Pass, unknown_option

__all__ = ["PassSpec", "Pipeline"]

_PARSER = Lark.open("pipeline.lark", rel_to=__file__, parser="lalr")


@dataclass(frozen=True)
class PassSpec:
    """One pass of a pipeline as written: its name and options in the given order.

    Attributes:
        name: the pass name.
        options: ``(option, values)`` pairs, option names with ``_`` (field names),
            values as written.
        pass_class: the registered class, resolved at parse time.
    """

    name: str
    options: tuple[tuple[str, tuple[str, ...]], ...]
    pass_class: type[Pass]

    def create(self) -> Pass:
        """Instantiate the pass with its typed options."""
        kinds = self.pass_class.options()
        typed: dict[str, Any] = {}
        for key, values in self.options:
            if key not in kinds:
                raise PipelineError(unknown_option(self.pass_class, key))
            if key in typed:
                raise PipelineError(
                    f"pass '{self.name}', option '{key.replace('_', '-')}' is "
                    "given twice; give it once"
                )
            try:
                typed[key] = kinds[key].convert(list(values))
            except ValueError as err:
                raise PipelineError(
                    f"pass '{self.name}', option '{key.replace('_', '-')}': {err}"
                ) from None
        return self.pass_class.create(typed)

    def __str__(self) -> str:
        if not self.options:
            return self.name
        opts = " ".join(f"{k.replace('_', '-')}={','.join(v)}" for k, v in self.options)
        return f"{self.name}{{{opts}}}"


@dataclass(frozen=True)
class Pipeline:
    """An ordered list of pass specs."""

    specs: tuple[PassSpec, ...]

    @classmethod
    def parse(
        cls, text: str, *, passes: Mapping[str, type[Pass]] | None = None
    ) -> Pipeline:
        """Parse and validate ``text``: pass names, option names and option values.

        Args:
            text: the pipeline string.
            passes: where pass names are looked up; default: the registry.

        Raises:
            PipelineError: with the column, and the valid names where one is unknown.
        """
        from compiler.registry import available_passes, get_pass

        lookup = get_pass if passes is None else passes.__getitem__

        try:
            tree = _PARSER.parse(text)
        except UnexpectedInput as err:
            col = getattr(err, "column", "?")
            token = getattr(err, "token", None)
            what = f"unexpected {str(token)!r}" if token is not None else "syntax error"
            raise PipelineError(
                f"pipeline {text!r}, column {col}: {what}; the syntax is "
                "'pass-a,pass-b{option=value other=v1,v2}'"
            ) from None
        specs = []
        for node in _subtrees(tree):
            name = str(node.children[0])
            try:
                pass_class = lookup(name)
            except KeyError:
                valid = ", ".join(
                    sorted(available_passes() if passes is None else passes)
                )
                raise PipelineError(
                    f"unknown pass '{name}'; available passes: {valid}"
                ) from None
            options = []
            for option_list in _subtrees(node):
                for option in _subtrees(option_list):
                    key = str(option.children[0]).replace("-", "_")
                    values = tuple(str(v.children[0]) for v in _subtrees(option))
                    options.append((key, values))
            spec = PassSpec(name, tuple(options), pass_class)
            spec.create()  # validate options now, not halfway through a run
            specs.append(spec)
        return cls(tuple(specs))

    @classmethod
    def of(cls, passes: Sequence[Pass]) -> Pipeline:
        """The pipeline that runs ``passes`` (instances, registered or not)."""
        table = {type(p).name: type(p) for p in passes}
        return cls.parse(",".join(p.spec() for p in passes), passes=table)

    def __iter__(self) -> Iterator[PassSpec]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def __str__(self) -> str:
        return ",".join(str(s) for s in self.specs)


def _subtrees(tree: Tree[Token]) -> list[Tree[Token]]:
    """The children of ``tree`` that are trees (tokens and absent parts skipped)."""
    return [c for c in tree.children if isinstance(c, Tree)]
