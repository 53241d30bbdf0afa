"""Figures the compiler writes (the placement picture, the yield histogram):
matplotlib loaded on demand with the headless backend, files written atomically."""

from __future__ import annotations

import io
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from ir.serialize import atomic_write

__all__ = ["pyplot", "save_figure"]


def pyplot(what: str) -> ModuleType:
    """``matplotlib.pyplot`` on the ``Agg`` backend.

    Raises:
        ImportError: matplotlib is missing; the message says that ``what`` needs it.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(
            f"{what} needs matplotlib: pip install 'spikeforge[plot]'"
        ) from err
    return plt


def save_figure(fig: Any, path: str | os.PathLike[str]) -> None:
    """Write ``fig`` to ``path`` (format from the suffix, else PNG) and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(
        buffer,
        format=Path(path).suffix.lstrip(".") or "png",
        bbox_inches="tight",
        dpi=100,
    )
    plt.close(fig)
    atomic_write(path, buffer.getvalue())
