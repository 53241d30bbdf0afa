"""The CLI's surface: start-up without PyTorch, global flags anywhere, ``passes NAME``,
``--print-ir-after/before=PASS`` and elided tensors."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ir
from compiler import cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "tiny_rsnn.sfir"

# Runs the CLI as `python -m spikeforge` does, then reports the heavy modules loaded.
PROBE = (
    "import runpy, sys\n"
    "sys.argv = ['spikeforge', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('spikeforge', run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "print('HEAVY', *[m for m in ('torch', 'numpy', 'networkx', 'lark')"
    " if m in sys.modules], file=sys.stderr)\n"
)


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    return subprocess.run(
        [sys.executable, "-m", "spikeforge", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["passes"],
        ["passes", "dce"],
        ["passes", "no-such-pass"],  # the error path too
        ["targets"],
        ["compile", "--help"],
        ["opt", "x.sfir", "--version"],
    ],
)
def test_quick_commands_import_neither_torch_nor_numpy(args: list[str]) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    heavy = [ln for ln in done.stderr.splitlines() if ln.startswith("HEAVY")]
    assert heavy == ["HEAVY"], done.stderr
    assert done.stdout.strip() or done.stderr.startswith("spikeforge: error:")


@pytest.mark.parametrize(
    ("before", "after"),
    [([], ["--debug"]), (["--debug"], [])],
    ids=["after", "before"],
)
def test_debug_goes_before_or_after_the_command(
    before: list[str], after: list[str]
) -> None:
    done = run(*before, "opt", "-", *after, stdin="sfir 1\ngraph @g {\n")
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "ParseError" in done.stderr
    plain = run("opt", "-", stdin="sfir 1\ngraph @g {\n")
    assert "Traceback" not in plain.stderr


def test_version_after_the_command() -> None:
    done = run("targets", "--version")
    assert done.returncode == 0
    assert done.stdout.startswith("spikeforge ")


def test_passes_name_shows_defaults_choices_and_help() -> None:
    done = run("passes", "ann-to-snn")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("ann-to-snn: Convert a ReLU network")
    assert "  normalization: str: max | percentile | none, default percentile" in out
    assert "      choices: max, percentile, none" in out
    assert "  timesteps: int, default 32\n      steps the readout averages" in out
    assert "inputs: calibration" in out
    assert "defined in: compiler.passes.ann_to_snn" in out
    listing = run("passes").stdout
    assert "    timesteps=32" in listing
    unknown = run("passes", "ann-to-sn")
    assert unknown.returncode == 1
    assert "unknown pass 'ann-to-sn'; passes: " in unknown.stderr
    assert "ann-to-snn" in unknown.stderr


def test_a_choice_outside_the_list_is_refused_naming_the_choices() -> None:
    from compiler import PipelineError
    from compiler.pipeline import Pipeline

    with pytest.raises(PipelineError, match=r"max \| percentile \| none.*'mean'"):
        Pipeline.parse("ann-to-snn{normalization=mean}")


def test_print_ir_after_and_before_a_named_pass(tmp_path: Path) -> None:
    done = run(
        "opt", str(EXAMPLE), "-p", "canonicalize,dce,infer-shapes",
        "--print-ir-after=dce,infer-shapes", "--print-ir-before", "canonicalize",
        "-o", str(tmp_path / "out.sfir"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    headers = [ln for ln in done.stderr.splitlines() if ln.startswith("// -----")]
    assert headers == [
        "// ----- IR before canonicalize -----",
        "// ----- IR after dce -----",
        "// ----- IR after infer-shapes -----",
    ]
    # Not a terminal: every element, as the file has.
    assert '"__elided__"' not in done.stderr
    assert (tmp_path / "out.sfir").read_text().split("\n", 1)[1] in done.stderr


def test_print_ir_names_a_pass_that_is_unknown_or_not_run() -> None:
    unknown = run("opt", str(EXAMPLE), "-p", "dce", "--print-ir-after", "dcee")
    assert unknown.returncode == 1
    assert "print-ir-after: unknown pass 'dcee'; passes: " in unknown.stderr
    missing = run("opt", str(EXAMPLE), "-p", "dce", "--print-ir-before=canonicalize")
    assert missing.returncode == 1
    assert (
        "print-ir-before: pass 'canonicalize' is not in the pipeline (dce)"
        in missing.stderr
    )


def test_elided_tensors_are_marked_and_refused_by_the_parser() -> None:
    graph = ir.load(EXAMPLE)
    text = ir.to_text(graph, elide_larger_than=4)
    assert 'weight = blob<f32[8,4]> "__elided__"' in text
    assert "scale = tensor<f32[]>[2.0]" in text  # small tensors stay
    assert ir.to_text(graph, elide_larger_than=None) == ir.to_text(graph)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "f32[8,4]" in ln)
    with pytest.raises(
        ir.ParseError, match=r"tensor<f32\[8,4\]> was elided when this IR was printed"
    ) as err:
        ir.parse(text, source_name="dump.sfir")
    assert f"dump.sfir:{line}:" in str(err.value)


def test_elision_on_the_command_line() -> None:
    done = run("opt", str(EXAMPLE), "--elide-tensors-larger-than", "4")
    assert done.returncode == 0, done.stderr
    assert 'blob<f32[8,4]> "__elided__"' in done.stdout
    # Not a terminal and no flag: the full text, which parses.
    full = run("opt", str(EXAMPLE))
    assert '"__elided__"' not in full.stdout
    assert ir.to_text(ir.parse(full.stdout)) == full.stdout
    bad = run("opt", str(EXAMPLE), "--elide-tensors-larger-than", "-3")
    assert bad.returncode == 2
    assert "expected a number of elements >= 0 or none" in bad.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_elided_tensors_by_default() -> None:
    auto = argparse.Namespace(elide_tensors_larger_than=None)
    assert cli._elision(auto, _Terminal()) == 16
    assert cli._elision(auto, io.StringIO()) is None
    given = argparse.Namespace(elide_tensors_larger_than=cli._elide_arg("none"))
    assert cli._elision(given, _Terminal()) is None
    given = argparse.Namespace(elide_tensors_larger_than=cli._elide_arg("3"))
    assert cli._elision(given, io.StringIO()) == 3
