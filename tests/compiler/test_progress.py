"""``compiler.progress``: bars on terminals only, lines anywhere, --quiet silences."""

from __future__ import annotations

import argparse
import io
import sys

import numpy as np
import pytest

import compiler
import compiler.pass_manager
from compiler.chip_yield import chip_yield
from compiler.cli import _progress_from_flags
from compiler.progress import Progress, progress_mode
from tests.backends.xylo.snn_graphs import lif_graph, raster


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_bar_when_the_stream_is_not_a_terminal() -> None:
    stream = io.StringIO()
    bar = Progress("job", 4, stream=stream)
    bar.update(2, loss=0.5)
    assert stream.getvalue() == ""
    assert bar.history == [{"step": 2.0, "loss": 0.5}]  # still recorded
    bar.line("epoch 1: loss 0.5")  # result lines go to any stream
    bar.close()
    assert stream.getvalue() == "epoch 1: loss 0.5\n"


def test_bar_on_a_terminal_and_when_forced() -> None:
    tty = Terminal()
    bar = Progress("job", 4, stream=tty, width=8)
    bar.update(2, note="pass x", acc=0.5)
    bar.close()
    assert "job [####....] 2/4 pass x acc 50.0% 0s" in tty.getvalue()
    assert tty.getvalue().endswith("\n")
    for forced in (Progress("job", 2, stream=(log := io.StringIO()), force=True),):
        forced.update()
        assert "job [" in log.getvalue()
    with progress_mode("on"):
        log = io.StringIO()
        Progress("job", 2, stream=log).update()
    assert "1/2" in log.getvalue()


def test_quiet_and_mode_off_silence_everything() -> None:
    for bar in (
        Progress("job", 2, stream=Terminal(), quiet=True),
        Progress("job", 2, stream=Terminal(), force=True, quiet=True),
    ):
        bar.update()
        bar.line("result")
        bar.close()
        assert bar.stream.getvalue() == ""  # type: ignore[attr-defined]
    with progress_mode("off"):
        tty = Terminal()
        bar = Progress("job", 2, stream=tty)
        bar.update()
        bar.line("result")
    assert tty.getvalue() == ""
    with pytest.raises(ValueError, match="auto, on or off"):
        with progress_mode("loud"):  # type: ignore[arg-type]
            pass


def test_delay_keeps_quick_jobs_silent() -> None:
    tty = Terminal()
    bar = Progress("job", 2, stream=tty, delay=3600.0)
    bar.update(2)
    bar.close()
    assert tty.getvalue() == ""


def test_pass_manager_shows_each_pass_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tty = Terminal()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setattr(compiler.pass_manager, "PROGRESS_DELAY", 0.0)
    compiler.run_pipeline(lif_graph(0), "canonicalize,dce,infer-shapes")
    text = tty.getvalue()
    for done, name in enumerate(("canonicalize", "dce", "infer-shapes"), 1):
        assert f"] {done}/3 {name}" in text
    assert text.endswith("\n")
    quiet = Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    with progress_mode("off"):
        compiler.run_pipeline(lif_graph(0), "canonicalize,dce")
    assert quiet.getvalue() == ""


def test_yield_counts_chips(monkeypatch: pytest.MonkeyPatch) -> None:
    from backends import get_target

    target = get_target("xylo-audio2")
    config = compiler.compile(lif_graph(0), target="xylo-audio2").config
    x = raster(0, 16, steps=30, batch=4)  # the chip's own channels
    y = np.zeros(4, np.int64)
    tty = Terminal()
    monkeypatch.setattr(sys, "stderr", tty)
    chip_yield(target, config, x, y, chips=5, batch=2)
    assert "yield [" in tty.getvalue()
    assert "5/5 chips" in tty.getvalue()


def test_cli_quiet_turns_progress_off() -> None:
    seen = []

    @_progress_from_flags
    def command(args: argparse.Namespace) -> int:
        seen.append(Progress("job", 1, stream=Terminal()).bar)
        return 0

    command(argparse.Namespace(quiet=True))
    command(argparse.Namespace(quiet=False))
    assert seen == [False, True]
