"""Progress on stderr for long jobs: passes, retune, calibrate-chip, yield, allocation.

One helper for every long job. A :class:`Progress` draws a bar that redraws in place
(``label [#####.....] 12/40 loss 0.42 3s``) and prints result lines (an epoch's
loss). Whether anything shows:

- the bar shows only on a terminal (the stream's ``isatty()``): logs and pipes get
  no carriage-return noise;
- result lines (``line``) show on any stream: they are output worth keeping;
- ``quiet=True``, or ``progress_mode("off")`` around the job (``spikeforge ...
  --quiet``), silences both; ``progress_mode("on")`` forces the bar (tests, CI
  logs that want it).

Library code creates ``Progress(label, total)`` and calls ``update``/``line``/
``close`` (or uses it as a context manager); it never decides the mode itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Literal, TextIO

__all__ = ["PROGRESS_DELAY", "Mode", "Progress", "progress_mode"]

Mode = Literal["auto", "on", "off"]

PROGRESS_DELAY = 1.0
"""Seconds before the bar of a job that is usually quick (a pipeline, an
allocation) shows: quick ones stay silent."""

_MODE: contextvars.ContextVar[Mode] = contextvars.ContextVar(
    "spikeforge_progress", default="auto"
)


@contextlib.contextmanager
def progress_mode(mode: Mode) -> Iterator[None]:
    """Within the block: ``"auto"`` bars on terminals only (the default), ``"on"``
    bars always, ``"off"`` nothing at all (``--quiet``)."""
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"progress mode must be auto, on or off, not {mode!r}")
    token = _MODE.set(mode)
    try:
        yield
    finally:
        _MODE.reset(token)


class Progress:
    """A progress bar and result lines on ``stream`` (default stderr); see the
    module docstring for when they show.

    Args:
        label: what runs (``"retune dynapse2"``, ``"compile"``).
        total: the number of steps.
        quiet: show nothing (the job's own ``quiet`` option).
        stream: where to write (default ``sys.stderr`` at creation).
        width: the bar's width in characters.
        force: show the bar even when ``stream`` is not a terminal (``None``: the
            mode decides).
        delay: draw nothing until this many seconds have passed (jobs that are
            usually quick stay silent).
    """

    def __init__(
        self,
        label: str,
        total: int,
        *,
        quiet: bool = False,
        stream: TextIO | None = None,
        width: int = 24,
        force: bool | None = None,
        delay: float = 0.0,
    ) -> None:
        self.label = label
        self.total = max(int(total), 1)
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.done = 0
        self.start = time.perf_counter()
        self.history: list[dict[str, float]] = []
        mode = _MODE.get()
        self.quiet = quiet or mode == "off"
        if force is None:
            force = mode == "on"
        self.bar = not self.quiet and (force or _isatty(self.stream))
        self.delay = delay
        self._drawn = False

    def update(self, n: int = 1, note: str = "", **values: float) -> None:
        """Advance ``n`` steps; show ``note`` and ``values`` (``loss``, ``acc``:
        a name ending in ``acc`` shows as a percentage)."""
        self.done = min(self.done + n, self.total)
        if values:
            self.history.append({"step": float(self.done), **values})
        if not self.bar:
            return
        elapsed = time.perf_counter() - self.start
        if elapsed < self.delay:
            return
        filled = self.width * self.done // self.total
        bar = "#" * filled + "." * (self.width - filled)
        shown = " ".join(
            f"{k.replace('_', ' ')} {v:.1%}"
            if k.endswith("acc")
            else f"{k.replace('_', ' ')} {v:.4g}"
            for k, v in values.items()
        )
        text = " ".join(p for p in (note, shown) if p)
        self.stream.write(
            f"\r\x1b[K{self.label} [{bar}] {self.done}/{self.total} "
            f"{text}{' ' if text else ''}{elapsed:.0f}s"
        )
        self.stream.flush()
        self._drawn = True

    def line(self, text: str) -> None:
        """Print a line of its own (a per-epoch or per-iteration result)."""
        if self.quiet:
            return
        prefix = "\r\x1b[K" if self._drawn else ""
        self.stream.write(f"{prefix}{text}\n")
        self.stream.flush()
        self._drawn = False

    def close(self) -> None:
        """End the bar's line (nothing when no bar was drawn)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a file
        return False
