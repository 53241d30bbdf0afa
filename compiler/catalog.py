"""What ``spikeforge passes`` and ``spikeforge targets`` print, without importing them.

The passes and targets import PyTorch, NumPy and their own modules; listing them
that way takes seconds. Their descriptions (name, summary, options with kind,
default, choices and help, inputs; a target's description, default pipeline and
passes) are data, so the built-in ones are written once to ``catalog.json`` beside
this module and read from there: ``spikeforge passes`` then starts in a fraction of
a second. The file is generated, never edited::

    python -m compiler.catalog          # rewrite compiler/catalog.json
    python -m compiler.catalog --check  # exit 1 if it differs from the code

A test runs the check, so the file cannot fall behind the code unnoticed. Where it
lacks a registered name (a pass added since), the name is described from its class,
and installed plugins are always described from their classes.

An option's help is its entry in the pass docstring's ``Options:`` section
(Google style: ``name: text``, continuation lines indented; ``a, b: text`` documents
several options at once).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

if TYPE_CHECKING:
    from backends.base import Target
    from compiler.pass_base import Pass

__all__ = [
    "CATALOG_PATH",
    "OptionInfo",
    "PassInfo",
    "TargetInfo",
    "describe_pass",
    "describe_target",
    "option_help",
    "pass_infos",
    "target_infos",
]

CATALOG_PATH = Path(__file__).with_name("catalog.json")
_FORMAT = 1


# NOTE: named tuples, not dataclasses: ``dataclasses`` imports ``inspect``, a tenth of
# the start-up budget of ``spikeforge passes``.
class OptionInfo(NamedTuple):
    """One pass option as ``spikeforge passes`` shows it.

    Attributes:
        name: as written in a pipeline (kebab-case).
        kind: the kind in words (``int``, ``float or none``, ``str: a | b``).
        default: the default in pipeline syntax, or ``None`` when the option is
            required.
        choices: the allowed values in pipeline syntax (empty: any of the kind).
        help: the option's entry in the pass docstring (one line), or ``""``.
    """

    name: str
    kind: str
    default: str | None
    choices: tuple[str, ...]
    help: str


class PassInfo(NamedTuple):
    """A pass as ``spikeforge passes`` shows it.

    Attributes:
        name: the registry name (``fold-bn``).
        summary: first line of the docstring.
        description: the docstring up to its ``Options:``/``Inputs:`` sections.
        options: in declaration order.
        inputs: data keyword inputs (``calibration``...).
        module: the module that defines the pass.
    """

    name: str
    summary: str
    description: str
    options: tuple[OptionInfo, ...]
    inputs: tuple[str, ...]
    module: str


class TargetInfo(NamedTuple):
    """A target as ``spikeforge targets`` shows it."""

    name: str
    description: str
    default_pipeline: str
    passes: tuple[str, ...]
    module: str


_SECTION = re.compile(r"^[A-Z][A-Za-z -]*:(\s.*)?$")
_ENTRY = re.compile(r"^(\w+(?:\s*,\s*\w+)*):\s*(.*)$")


def _sections(doc: str) -> tuple[str, dict[str, list[str]]]:
    """The docstring's text before its first section, and each section's lines."""
    import inspect

    lines = inspect.cleandoc(doc).splitlines()
    head: list[str] = []
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    inline = False  # "Options: text" whose text goes on at the same indent
    for line in lines:
        if _SECTION.match(line) and not line.startswith(" "):
            title, _, rest = line.partition(":")
            current = sections.setdefault(title, [])
            inline = bool(rest.strip())
            if inline:
                current.append("    " + rest.strip())
            continue
        if current is not None and inline and line.strip():
            current.append("        " + line.strip())
            continue
        inline = False
        if current is None:
            head.append(line)
        elif line and not line.startswith(" "):
            current = None
            head.append(line)
        else:
            current.append(line)
    return "\n".join(head).strip(), sections


def _plain(text: str) -> str:
    """Docstring markup for a terminal: ````x```` -> ``x``, one line."""
    return " ".join(text.replace("``", "").split())


def option_help(doc: str | None) -> dict[str, str]:
    """Each option's entry in the docstring's ``Options:`` (or ``Attributes:``)
    section, on one line."""
    if not doc:
        return {}
    _, sections = _sections(doc)
    found: dict[str, list[str]] = {}
    names: list[str] = []
    for line in sections.get("Options", []) + sections.get("Attributes", []):
        indent = len(line) - len(line.lstrip())
        match = _ENTRY.match(line.strip())
        if indent <= 4 and match:
            names = [n.strip() for n in match.group(1).split(",")]
            for name in names:
                found[name] = [match.group(2)]
        elif names and line.strip():
            for name in names:
                found[name].append(line.strip())
    return {name: _plain(" ".join(parts)) for name, parts in found.items()}


def describe_pass(cls: type[Pass]) -> PassInfo:
    """A pass class's :class:`PassInfo` (imports nothing new)."""
    import dataclasses

    kinds = cls.options()
    helps: dict[str, str] = {}
    for klass in reversed(cls.__mro__):  # a subclass's entry wins
        if klass.__doc__ and klass.__module__ != "builtins":
            helps.update(option_help(klass.__doc__))
    options = []
    for field in dataclasses.fields(cls):
        kind = kinds[field.name]
        if field.default is not dataclasses.MISSING:
            default: str | None = kind.format(field.default)
        elif field.default_factory is not dataclasses.MISSING:
            default = kind.format(field.default_factory())
        else:
            default = None
        options.append(
            OptionInfo(
                name=field.name.replace("_", "-"),
                kind=kind.describe(),
                default=default,
                choices=tuple(str(c) for c in kind.choices),
                help=helps.get(field.name, ""),
            )
        )
    head, _ = _sections(cls.__doc__ or "")
    return PassInfo(
        name=cls.name,
        summary=cls.summary(),
        description=head,
        options=tuple(options),
        inputs=tuple(cls.inputs),
        module=cls.__module__,
    )


def describe_target(target: Target) -> TargetInfo:
    """A target's :class:`TargetInfo`."""
    return TargetInfo(
        name=target.name,
        description=target.description,
        default_pipeline=target.default_pipeline,
        passes=tuple(sorted(target.passes)),
        module=type(target).__module__,
    )


def _built_in_live() -> tuple[dict[str, PassInfo], dict[str, TargetInfo]]:
    """The built-in passes and targets, described from their classes (slow)."""
    from backends.base import TARGETS, get_target
    from compiler.registry import PASSES, get_pass

    targets = {name: describe_target(get_target(name)) for name in sorted(TARGETS)}
    passes = {name: describe_pass(get_pass(name)) for name in PASSES}
    for name in targets:
        for pass_name, cls in get_target(name).passes.items():
            passes.setdefault(pass_name, describe_pass(cls))
    return dict(sorted(passes.items())), targets


def _as_json(info: Any) -> Any:
    """A named tuple (and those inside it) as a JSON object."""
    if hasattr(info, "_asdict"):
        return {k: _as_json(v) for k, v in info._asdict().items()}
    if isinstance(info, tuple):
        return [_as_json(v) for v in info]
    return info


def _to_json(passes: Mapping[str, PassInfo], targets: Mapping[str, TargetInfo]) -> str:
    data = {
        "format": _FORMAT,
        "generated_by": "python -m compiler.catalog",
        "passes": {k: _as_json(v) for k, v in passes.items()},
        "targets": {k: _as_json(v) for k, v in targets.items()},
    }
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def _read() -> tuple[dict[str, PassInfo], dict[str, TargetInfo]]:
    """The catalog file's passes and targets; empty when absent or unreadable."""
    try:
        data = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
        if data.get("format") != _FORMAT:
            return {}, {}
        passes = {
            name: PassInfo(
                **{
                    **info,
                    "options": tuple(
                        OptionInfo(**{**o, "choices": tuple(o["choices"])})
                        for o in info["options"]
                    ),
                    "inputs": tuple(info["inputs"]),
                }
            )
            for name, info in data["passes"].items()
        }
        targets = {
            name: TargetInfo(**{**info, "passes": tuple(info["passes"])})
            for name, info in data["targets"].items()
        }
    except (OSError, ValueError, KeyError, TypeError):
        return {}, {}
    return passes, targets


def _has_plugins() -> bool:
    """Whether an installed package adds a pass or a target (not spikeforge itself)."""
    from backends.base import ENTRY_POINT_GROUP, TARGETS
    from compiler.registry import ENTRY_POINT_GROUP as PASS_GROUP
    from compiler.registry import PASSES

    own = {ENTRY_POINT_GROUP: TARGETS, PASS_GROUP: PASSES}
    return any(
        own[group].get(ep.name) != ep.value
        for group in own
        for ep in metadata.entry_points(group=group)
    )


def _built_in() -> tuple[dict[str, PassInfo], dict[str, TargetInfo]]:
    from backends.base import TARGETS
    from compiler.registry import PASSES

    passes, targets = _read()
    if set(PASSES) <= set(passes) and set(TARGETS) <= set(targets):
        return passes, targets
    return _built_in_live()  # a name the file lacks: describe everything anew


def pass_infos() -> dict[str, PassInfo]:
    """Every registered pass's description, by name, sorted.

    Built-in passes come from ``catalog.json``; with plugins installed, the registry
    is asked which passes exist (a broken plugin is reported and skipped there).
    """
    passes, _ = _built_in()
    if not _has_plugins():
        return passes
    from compiler.registry import available_passes

    return _described(passes, available_passes(), describe_pass)


def target_infos() -> dict[str, TargetInfo]:
    """Every registered target's description, by name, sorted (broken plugins
    reported and skipped)."""
    _, targets = _built_in()
    if not _has_plugins():
        return targets
    from backends.base import loaded_targets

    return _described(targets, loaded_targets(), describe_target)


Info = TypeVar("Info", PassInfo, TargetInfo)


def _described(
    built_in: Mapping[str, Info],
    loaded: Mapping[str, Any],
    describe: Callable[..., Info],
) -> dict[str, Info]:
    """Each loaded pass or target's description: the catalog's for a built-in one."""
    return {
        name: built_in[name] if name in built_in else describe(value)
        for name, value in loaded.items()
    }


def main(argv: list[str] | None = None) -> int:
    """Write ``catalog.json`` from the code, or with ``--check`` compare them."""
    args = sys.argv[1:] if argv is None else argv
    text = _to_json(*_built_in_live())
    if args == ["--check"]:
        if CATALOG_PATH.is_file() and CATALOG_PATH.read_text(encoding="utf-8") == text:
            return 0
        print(
            f"{CATALOG_PATH} is out of date: run 'python -m compiler.catalog'",
            file=sys.stderr,
        )
        return 1
    if args:
        print("usage: python -m compiler.catalog [--check]", file=sys.stderr)
        return 2
    from ir.serialize import atomic_write

    atomic_write(CATALOG_PATH, text.encode())
    print(f"wrote {CATALOG_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
