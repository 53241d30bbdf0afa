"""Every code block in README.md and docs/*.md runs, so a snippet cannot rot.

How a block is treated depends on its info string (the text after the opening fence;
GitHub shows only its first word, the language):

* ``python``: executed. The blocks of one file share one namespace, in order, with
  the file's scratch folder as the working directory.
* ``console``: each ``$ `` line (with ``\\`` continuations) runs in bash in the
  scratch folder; the lines after it are the output it shows: each must appear in
  what the command printed (stdout and stderr, whitespace folded), ``...`` standing
  for any text.
* ``sh`` / ``bash``: every line that is not blank or a comment is a command (a
  leading ``$ `` is allowed), run likewise.
* ``text``, ``sfir`` and a bare fence: shown output or formats; not executed.
* ``toml`` and other languages only with ``file=PATH``.

Attributes after the language (``key=value``, space separated):

* ``file=PATH``: the block is a file; it is written to PATH in the scratch folder
  (any language) and not executed.
* ``exit=N``: every command of a console/sh block must exit with status N (an
  error the page shows on purpose); the default is 0.
* ``needs=MODULE``: the block runs only when MODULE is importable (an optional
  framework such as snntorch). It must say ``writes=A,B``: the files it writes,
  which ``tests/fixtures/docs/`` ships, so the blocks after it run either way.

Commands are ``spikeforge ...`` and ``python ...`` (optionally after ``NAME=value``
environment assignments). ``make demo`` and ``make test`` are not run (they install
a virtual environment and take minutes; CI runs them anyway): ``EXEMPT`` lists them
and a test checks that exactly those lines are exempt. Any other command fails the
test, so a new kind of line needs a decision here.

Each file's scratch folder starts with copies of ``examples/*.sfir`` and
``tests/fixtures/nir/`` under the same relative paths, so a command written for the
repository root runs as written.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
SHIPPED = ROOT / "tests" / "fixtures" / "docs"

EXECUTED = {"python", "console", "sh", "bash"}
SHOWN = {"text", "sfir", ""}
COMMANDS = ("spikeforge", "python")
EXEMPT = {
    ("README.md", "make demo"),
    ("README.md", "make test"),
    ("docs/getting-started.md", "make demo"),
    ("docs/getting-started.md", "make test"),
}
"""(file, command) lines that are shown but not run (see the module docstring)."""

OPTIONAL = {("docs/tutorial-snntorch-xylo.md", "snntorch")}
"""(file, module) of the blocks that may be skipped when the module is missing."""

COMMAND_TIMEOUT = 300


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    doc: str
    line: int
    lang: str
    attrs: dict[str, str]
    text: str

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


@dataclass
class Outcome:
    """What running one file did."""

    ran: list[Block] = field(default_factory=list)
    skipped: list[Block] = field(default_factory=list)
    exempt: list[str] = field(default_factory=list)
    warned: list[str] = field(default_factory=list)


_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")


def blocks(text: str, doc: str) -> list[Block]:
    """The fenced code blocks of ``text``, with the line each opens on."""
    found: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, info, start = match["fence"], match["info"].strip(), i + 1
        body: list[str] = []
        i += 1
        while i < len(lines) and not (
            lines[i].strip().startswith(fence) and not lines[i].strip(fence[0]).strip()
        ):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise ValueError(f"{doc}:{start}: code block is never closed")
        words = shlex.split(info)
        lang = words[0] if words and "=" not in words[0] else ""
        attrs: dict[str, str] = {}
        for word in words[1 if lang else 0 :]:
            key, sep, value = word.partition("=")
            if not sep:
                raise ValueError(f"{doc}:{start}: attribute {word!r} is not key=value")
            attrs[key] = value
        found.append(Block(doc, start, lang, attrs, "\n".join(body) + "\n"))
        i += 1
    return found


def commands(block: Block) -> list[str]:
    """The command lines of a console/sh block (continuations joined)."""
    return [command for command, _ in steps(block)]


def steps(block: Block) -> list[tuple[str, list[str]]]:
    """Each command of a console/sh block with the output lines shown after it."""
    out: list[tuple[str, list[str]]] = []
    pending = ""
    for raw in block.text.splitlines():
        line = raw.strip()
        if pending:
            pending += " " + line
        elif block.lang == "console":
            if not line.startswith("$ "):
                if out and line:
                    out[-1][1].append(line)
                continue
            pending = line[2:]
        else:
            if not line or line.startswith("#"):
                continue
            pending = line[2:] if line.startswith("$ ") else line
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        out.append((pending, []))
        pending = ""
    if pending:
        raise ValueError(f"{block.where}: a line ends with '\\' and nothing follows")
    return out


def _shown(lines: list[str], printed: str) -> str | None:
    """The first shown output line whose text is not in ``printed`` (``...``: any)."""
    flat = " ".join(printed.split())
    for line in lines:
        if any(" ".join(part.split()) not in flat for part in line.split("...")):
            return line
    return None


def _program(command: str) -> str:
    words = shlex.split(command, comments=True)
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        words = words[1:]
    return words[0] if words else ""


def _is_exempt(doc: str, command: str) -> bool:
    bare = " ".join(shlex.split(command, comments=True))
    return (doc, bare) in EXEMPT


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)  # spikeforge and python of this venv
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    env["PYTHONHASHSEED"] = "0"
    env.pop("COLUMNS", None)
    return env


def prepare(folder: Path) -> None:
    """The data every page may use, at the paths it has in the repository."""
    (folder / "examples").mkdir(parents=True)
    for sfir in (ROOT / "examples").glob("*.sfir"):
        shutil.copy2(sfir, folder / "examples" / sfir.name)
    shutil.copytree(ROOT / "tests" / "fixtures" / "nir", folder / "tests/fixtures/nir")


def run_doc(path: Path, folder: Path, *, doc: str | None = None) -> Outcome:
    """Run every block of the Markdown file ``path`` in ``folder``; raise on failure."""
    name = doc or path.relative_to(ROOT).as_posix()
    outcome = Outcome()
    namespace: dict[str, object] = {"__name__": "__docs__"}
    env = _environment()
    from compiler.registry import PASSES

    # What a page may change in this process is put back: the folder, sys.path,
    # modules it imported from its folder, passes it registered.
    cwd, path_before, passes_before = Path.cwd(), list(sys.path), dict(PASSES)
    modules_before = set(sys.modules)
    os.chdir(folder)
    # A page before may have put "." on sys.path: its cached finder lists the old
    # folder, and would miss this one's files when both folders share an mtime.
    sys.path_importer_cache.pop(".", None)
    importlib.invalidate_caches()
    try:
        for block in blocks(path.read_text(encoding="utf-8"), name):
            _run_block(block, path.resolve(), folder, namespace, env, outcome)
    finally:
        os.chdir(cwd)
        sys.path[:] = path_before
        sys.path_importer_cache.pop(".", None)
        PASSES.clear()
        PASSES.update(passes_before)
        for module in set(sys.modules) - modules_before:
            origin = getattr(sys.modules[module], "__file__", None) or ""
            if origin.startswith(str(folder)) or not os.path.isabs(origin or "/"):
                del sys.modules[module]
    return outcome


def _run_block(
    block: Block,
    source: Path,
    folder: Path,
    namespace: dict[str, object],
    env: dict[str, str],
    outcome: Outcome,
) -> None:
    if "file" in block.attrs:
        target = folder / block.attrs["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text, encoding="utf-8")
        return
    if block.lang in SHOWN:
        return
    if block.lang not in EXECUTED:
        raise AssertionError(
            f"{block.where}: a '{block.lang}' block must be a file (file=PATH) or one "
            f"of {sorted(EXECUTED | SHOWN)}"
        )
    needs = block.attrs.get("needs")
    if needs and importlib.util.find_spec(needs) is None:
        for name in block.attrs["writes"].split(","):
            shutil.copy2(SHIPPED / name, folder / name)
        outcome.skipped.append(block)
        return
    outcome.ran.append(block)
    if block.lang == "python":
        # Padded so that tracebacks name the page and its line numbers.
        code = compile("\n" * block.line + block.text, str(source), "exec")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # a page's warnings are what users see
            exec(code, namespace)
        outcome.warned += [f"{block.where}: {w.category.__name__}" for w in caught]
        return
    expected = int(block.attrs.get("exit", "0"))
    for command, shown in steps(block):
        if _is_exempt(block.doc, command):
            outcome.exempt.append(command)
            continue
        program = _program(command)
        if program not in COMMANDS:
            raise AssertionError(
                f"{block.where}: '{command}': the docs run only {COMMANDS} commands "
                "(make demo / make test are exempt by name)"
            )
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
        if done.returncode != expected:
            raise AssertionError(
                f"{block.where}: '{command}' exited with {done.returncode}, expected "
                f"{expected}\nstdout:\n{done.stdout[-3000:]}\nstderr:\n"
                f"{done.stderr[-3000:]}"
            )
        missing = _shown(shown, done.stdout + done.stderr)
        if missing is not None:
            raise AssertionError(
                f"{block.where}: '{command}' did not print what the page shows: "
                f"{missing!r}\nstdout:\n{done.stdout[-3000:]}\nstderr:\n"
                f"{done.stderr[-3000:]}"
            )


def _all_blocks() -> list[Block]:
    return [
        b
        for doc in DOCS
        for b in blocks(
            doc.read_text(encoding="utf-8"), doc.relative_to(ROOT).as_posix()
        )
    ]


# --------------------------------------------------------------------------- the pages


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_block_of_the_page_runs(doc: Path, tmp_path: Path) -> None:
    prepare(tmp_path)
    start = time.perf_counter()
    outcome = run_doc(doc, tmp_path)
    seconds = time.perf_counter() - start
    name = doc.relative_to(ROOT).as_posix()
    for block in outcome.skipped:
        assert (name, block.attrs["needs"]) in OPTIONAL, block.where
        print(f"skipped {block.where} (needs {block.attrs['needs']})")
    print(f"{name}: {len(outcome.ran)} blocks ran in {seconds:.1f} s")


def test_every_block_kind_is_known() -> None:
    found = _all_blocks()
    assert len(found) > 20  # the pages were found and parsed
    for block in found:
        if "file" in block.attrs:
            assert not Path(block.attrs["file"]).is_absolute(), block.where
            continue
        assert block.lang in EXECUTED | SHOWN, block.where
        if "needs" in block.attrs:
            assert (block.doc, block.attrs["needs"]) in OPTIONAL, block.where
            writes = block.attrs.get("writes", "")
            assert writes, f"{block.where}: needs= without writes="
            for name in writes.split(","):
                assert (SHIPPED / name).is_file(), f"{block.where}: ships {name}?"
        if block.lang in {"console", "sh", "bash"}:
            for command in commands(block):
                assert (
                    _is_exempt(block.doc, command) or _program(command) in COMMANDS
                ), f"{block.where}: {command}"


def test_exactly_the_listed_commands_are_exempt() -> None:
    exempt = {
        (b.doc, " ".join(shlex.split(c, comments=True)))
        for b in _all_blocks()
        if b.lang in {"console", "sh", "bash"}
        for c in commands(b)
        if _is_exempt(b.doc, c)
    }
    assert exempt == EXEMPT


def _anchors(text: str) -> set[str]:
    """GitHub's anchors for the headings of a Markdown text (outside code blocks)."""
    found: set[str] = set()
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def test_relative_links_and_anchors_resolve() -> None:
    link = re.compile(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)")
    checked = 0
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for target, anchor in link.findall(text):
            if "://" in target or target.startswith("mailto:"):
                continue
            path = doc.parent / target if target else doc
            assert path.exists(), f"{doc.name}: broken link {target}"
            if anchor:
                assert anchor in _anchors(path.read_text(encoding="utf-8")), (
                    f"{doc.name}: no heading '#{anchor}' in {path.name}"
                )
            checked += 1
    assert checked > 20


def test_anchor_slugs_follow_github() -> None:
    text = "## Float graph vs chip (fidelity)\n```sh\n# not a heading\n```\n# A, b\n"
    assert _anchors(text) == {"float-graph-vs-chip-fidelity", "a-b"}


def test_cli_reference_matches_the_parser() -> None:
    from compiler import cli_docs

    committed = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert committed == cli_docs.render(), (
        "docs/cli.md is stale: run `python -m compiler.cli_docs > docs/cli.md`"
    )


# --------------------------------------------------------------------- the test itself


def _page(tmp_path: Path, text: str) -> Path:
    page = tmp_path / "page.md"
    page.write_text(text, encoding="utf-8")
    (tmp_path / "run").mkdir()
    return page


def test_a_failing_python_block_fails(tmp_path: Path) -> None:
    page = _page(tmp_path, "```python\nx = 1\n```\n\n```python\nprint(y)\n```\n")
    with pytest.raises(NameError, match="'y'"):
        run_doc(page, tmp_path / "run", doc="page.md")


def test_python_blocks_of_one_page_share_state(tmp_path: Path) -> None:
    page = _page(
        tmp_path,
        "```python\nx = 41\n```\n\n```python\nopen('x.txt', 'w').write(str(x + 1))\n```\n",
    )
    outcome = run_doc(page, tmp_path / "run", doc="page.md")
    assert len(outcome.ran) == 2
    assert (tmp_path / "run" / "x.txt").read_text() == "42"


def test_a_failing_command_fails_and_exit_is_checked(tmp_path: Path) -> None:
    bad = "```console\n$ python -c 'raise SystemExit(1)'\n```\n"
    with pytest.raises(AssertionError, match="exited with 1, expected 0"):
        run_doc(_page(tmp_path, bad), tmp_path / "run", doc="page.md")
    ok = bad.replace("```console", "```console exit=1")
    (tmp_path / "run").rmdir()
    run_doc(_page(tmp_path, ok), tmp_path / "run", doc="page.md")


def test_shown_output_is_checked(tmp_path: Path) -> None:
    page = "```console\n$ python -c \"print('a b  c')\"\na b ... c\n```\n"
    run_doc(_page(tmp_path, page), tmp_path / "run", doc="page.md")
    (tmp_path / "run").rmdir()
    wrong = page.replace("a b ... c", "a x")
    with pytest.raises(AssertionError, match="did not print what the page shows"):
        run_doc(_page(tmp_path, wrong), tmp_path / "run", doc="page.md")


def test_unknown_commands_and_languages_fail(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="'ls -l'"):
        run_doc(_page(tmp_path, "```sh\nls -l\n```\n"), tmp_path / "run", doc="p.md")
    (tmp_path / "run").rmdir()
    with pytest.raises(AssertionError, match="'py' block"):
        run_doc(_page(tmp_path, "```py\n1\n```\n"), tmp_path / "run", doc="p.md")


def test_files_and_continuations(tmp_path: Path) -> None:
    page = _page(
        tmp_path,
        "```toml file=sub/a.toml\nk = 1\n```\n\n"
        "```sh\npython -c \\\n  \"open('b', 'w').write(open('sub/a.toml').read())\"\n```\n",
    )
    run_doc(page, tmp_path / "run", doc="page.md")
    assert (tmp_path / "run" / "b").read_text() == "k = 1\n"


def test_cli_reference_shows_defaults_choices_and_required() -> None:
    import argparse

    from compiler import cli_docs

    parser = argparse.ArgumentParser(prog="tool", description="Does things.")
    sub = parser.add_subparsers(dest="command")
    go = sub.add_parser("go", help="go somewhere")
    go.add_argument("where", help="a place")
    go.add_argument("-n", "--times", type=int, default=3, help="how often")
    go.add_argument("--mode", choices=("fast", "slow"), required=True, help="pace")
    go.add_argument("--loud", action=argparse.BooleanOptionalAction, help="noise")
    text = cli_docs.render(parser)
    assert "tool go WHERE [--times TIMES] --mode MODE [--loud | --no-loud]" in text
    assert "| `-n, --times TIMES` | `3` | how often |" in text
    assert "| `--mode {fast,slow}` |  | required; pace |" in text
    assert "* [`go`](#tool-go): go somewhere" in text
    assert "## tool go" in text
