"""The CLI reference (``docs/cli.md``), generated from the argparse definitions.

::

    python -m compiler.cli_docs > docs/cli.md

``tests/test_docs.py`` fails when the committed file differs from :func:`render`, so
the reference changes with the parser. The text is built from the parser's actions
(not ``format_help``, whose layout changes between Python versions and with the
terminal's width), so the file is the same on every machine.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main", "render"]

HEADER = """\
# CLI reference

Generated from the argparse definitions in `compiler/cli.py`; do not edit by hand.
Regenerate with `python -m compiler.cli_docs > docs/cli.md` (`tests/test_docs.py`
fails while this file is stale). `spikeforge COMMAND --help` prints the same.
"""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _metavar(action: argparse.Action) -> str:
    if action.metavar is not None:
        return str(action.metavar)
    if action.option_strings:
        return action.dest.upper()
    return action.dest.upper() if action.dest != "input" else "INPUT"


def _flag(action: argparse.Action) -> str:
    """``-o OUTPUT, --output OUTPUT`` as ``-o``, ``--output OUTPUT``."""
    if not action.option_strings:
        return _metavar(action)
    names = ", ".join(action.option_strings)
    if action.nargs == 0:
        return names
    if action.choices is not None and action.metavar is None:
        return f"{names} {{{','.join(str(c) for c in action.choices)}}}"
    return f"{names} {_metavar(action)}"


def _synopsis(name: str, parser: argparse.ArgumentParser) -> str:
    words = [name]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            words.append("COMMAND ...")
            continue
        if not action.option_strings:
            words.append(_metavar(action))
            continue
        if isinstance(action, argparse.BooleanOptionalAction):
            words.append(f"[{' | '.join(action.option_strings)}]")
            continue
        longs = [o for o in action.option_strings if o.startswith("--")]
        flag = (longs or action.option_strings)[0]
        if action.nargs != 0:
            flag += f" {_metavar(action)}"
        words.append(flag if action.required else f"[{flag}]")
    return " ".join(words)


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help or action.help == argparse.SUPPRESS:
        return ""
    return _cell(parser._get_formatter()._expand_help(action))


def _default(action: argparse.Action) -> str:
    if action.nargs == 0 or action.default in (None, argparse.SUPPRESS):
        return ""
    return f"`{action.default!r}`" if action.default == "" else f"`{action.default}`"


def _table(parser: argparse.ArgumentParser) -> list[str]:
    rows = ["| argument | default | description |", "|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        text = _help(parser, action)
        if action.required and action.option_strings:
            text = f"required; {text}" if text else "required"
        rows.append(f"| `{_flag(action)}` | {_default(action)} | {text} |")
    return rows if len(rows) > 2 else []


def render(parser: argparse.ArgumentParser | None = None) -> str:
    """``docs/cli.md`` for ``parser`` (default: the ``spikeforge`` parser)."""
    if parser is None:
        from compiler.cli import _parser

        parser = _parser()
    prog = parser.prog
    out = [HEADER, "```text", _synopsis(prog, parser), "```", ""]
    if parser.description:
        out += [_cell(parser.description), ""]
    out += ["## Options", "", *_table(parser), ""]
    subparsers = [
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    ]
    for group in subparsers:
        helps = {a.dest: a.help or "" for a in group._choices_actions}
        out += ["## Commands", ""]
        out += [
            f"* [`{name}`](#{prog}-{name}): {_cell(helps.get(name, ''))}"
            for name in group.choices
        ]
        out.append("")
        for name, sub in group.choices.items():
            out += [f"## {prog} {name}", ""]
            out += ["```text", _synopsis(f"{prog} {name}", sub), "```", ""]
            out += [_cell(sub.description or helps.get(name, "")), ""]
            table = _table(sub)
            if table:
                out += [*table, ""]
    return "\n".join(out).rstrip("\n") + "\n"


def main() -> int:
    """Print the reference to standard output."""
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
