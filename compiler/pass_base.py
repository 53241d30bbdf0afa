"""The pass base class.

A pass is a value: a frozen dataclass with a kebab-case ``name`` and typed option
fields. ``run(graph, **inputs)`` returns a **new** graph and never mutates its input
(passes ``graph.copy()`` first); the pass manager verifies the result. Inputs that
are data rather than options (calibration tensors, labels) are keyword arguments
that the pass lists in ``inputs``.

Options are ``int``, ``float``, ``bool``, ``str``, tuples of these, or any of them
``| None``; in a pipeline string the option ``foo_bar`` is spelled ``foo-bar``.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

from compiler.errors import PipelineError
from ir import Graph

__all__ = ["OptionKind", "Pass", "check_minimum", "unknown_option"]


@dataclass(frozen=True)
class OptionKind:
    """How a pass option converts from pipeline text.

    Attributes:
        base: ``int``, ``float``, ``bool`` or ``str``.
        is_tuple: whether the option is a tuple of ``base``.
        optional: whether ``none`` is accepted.
        choices: the values allowed (a ``Literal[...]`` annotation), else empty.
    """

    base: type
    is_tuple: bool = False
    optional: bool = False
    choices: tuple[Any, ...] = ()

    @classmethod
    def of(cls, annotation: Any) -> OptionKind:
        """The kind of a field annotation (raises ``TypeError`` if unsupported)."""
        optional = False
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                raise TypeError(f"unsupported option type {annotation!r}")
            annotation, optional = args[0], True
        is_tuple = typing.get_origin(annotation) is tuple
        if is_tuple:
            annotation = typing.get_args(annotation)[0]
        choices: tuple[Any, ...] = ()
        if typing.get_origin(annotation) is typing.Literal:
            choices = typing.get_args(annotation)
            kinds = {type(c) for c in choices}
            if len(kinds) != 1:
                raise TypeError(f"unsupported option type {annotation!r}")
            (annotation,) = kinds
        if annotation not in (int, float, bool, str):
            raise TypeError(f"unsupported option type {annotation!r}")
        return cls(annotation, is_tuple, optional, choices)

    def describe(self) -> str:
        """The kind in words."""
        text = f"{self.base.__name__} list" if self.is_tuple else self.base.__name__
        if self.choices:
            text = f"{text}: {' | '.join(str(c) for c in self.choices)}"
        return f"{text} or none" if self.optional else text

    def convert(self, values: list[str]) -> Any:
        """Convert the option's text values.

        Raises:
            ValueError: with what was expected.
        """
        if self.optional and values == ["none"]:
            return None
        if not self.is_tuple:
            if len(values) != 1:
                raise ValueError(
                    f"expected one {self.describe()}, got {len(values)} values"
                )
            return self._one(values[0])
        return tuple(self._one(v) for v in values)

    def _one(self, text: str) -> Any:
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = json.loads(text)
        if self.base is bool:
            if text not in ("true", "false"):
                raise ValueError(f"expected true or false, got {text!r}")
            return text == "true"
        try:
            value = self.base(text)
        except ValueError:
            raise ValueError(f"expected {self.describe()}, got {text!r}") from None
        if self.choices and value not in self.choices:
            raise ValueError(f"expected {self.describe()}, got {text!r}")
        return value

    def format(self, value: Any) -> str:
        """Text of a value of this kind (inverse of :meth:`convert`)."""
        if value is None:
            return "none"
        items = value if self.is_tuple else (value,)
        return ",".join(_format_one(v) for v in items)


def _format_one(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and _needs_quotes(value):
        return json.dumps(value)
    return str(value) if not isinstance(value, float) else repr(value)


@dataclass(frozen=True)
class Pass:
    """Base of every pass. Subclasses set ``name`` and implement :meth:`run`."""

    name: ClassVar[str] = ""
    inputs: ClassVar[tuple[str, ...]] = ()
    """Keyword inputs ``run`` accepts (data, not options), e.g. ``calibration``."""

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        """Return a new graph; never mutate ``graph``."""
        raise NotImplementedError

    @classmethod
    def options(cls) -> dict[str, OptionKind]:
        """The pass's options by field name, in declaration order."""
        hints = typing.get_type_hints(cls)
        return {f.name: OptionKind.of(hints[f.name]) for f in dataclasses.fields(cls)}

    @classmethod
    def summary(cls) -> str:
        """First line of the docstring."""
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    @classmethod
    def create(cls, options: dict[str, Any]) -> Pass:
        """Instantiate with typed option values.

        Raises:
            PipelineError: an unknown option or a bad value.
        """
        known = cls.options()
        for key in options:
            if key not in known:
                raise PipelineError(unknown_option(cls, key))
        try:
            return cls(**options)
        except (TypeError, ValueError) as err:
            raise PipelineError(f"pass '{cls.name}': {err}") from None

    def spec(self) -> str:
        """Pipeline text for this instance: the name plus non-default options."""
        parts = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.default is not dataclasses.MISSING and value == field.default:
                continue
            kind = self.options()[field.name]
            parts.append(f"{field.name.replace('_', '-')}={kind.format(value)}")
        return f"{self.name}{{{' '.join(parts)}}}" if parts else self.name


def _needs_quotes(text: str) -> bool:
    if text in ("", "none", "true", "false") or text.startswith('"'):
        return True
    return any(c.isspace() or c in ',{}="\\' or not c.isprintable() for c in text)


def unknown_option(cls: type[Pass], key: str) -> str:
    """The error message for an option ``cls`` does not have, listing the valid ones."""
    valid = ", ".join(
        f"{k.replace('_', '-')} ({v.describe()})" for k, v in cls.options().items()
    )
    return (
        f"pass '{cls.name}' has no option '{key.replace('_', '-')}'; "
        f"valid options: {valid or '(none)'}"
    )


def check_minimum(
    options: object, minimum: float, *names: str, strict: bool = False
) -> None:
    """Raise unless each option in ``names`` is ``>= minimum`` (``> minimum`` when
    ``strict``; NaN fails either).

    Raises:
        ValueError: ``option NAME must be >= MINIMUM, got VALUE``, the first that fails.
    """
    for name in names:
        value = getattr(options, name)
        if not (value > minimum if strict else value >= minimum):
            raise ValueError(
                f"option {name} must be {'>' if strict else '>='} {minimum}, "
                f"got {value}"
            )
