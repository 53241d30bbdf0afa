"""The iterates of an in-the-loop calibration on one chip, and the choice among them.

``retune.calibrate_graph`` (gradient steps) and ``calibrate.calibrate_readout``
(last-layer refits) share this bookkeeping: the first calibration samples are held
out, every iterate is programmed on the chip and run on a training batch together
with the held-out samples (one chip run), and the result is the iterate with the best
held-out accuracy on the chip (the latest among equals), so calibrating never lowers
it; or, when every iterate runs the same training samples (``calibrate_readout``),
the best accuracy on all the samples it ran (``best(every=True)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from backends.dynapse.config import DynapseConfig
from backends.dynapse.lower import config_from_graph
from compiler.retune import Progress, RetuneData
from ir import Graph

__all__ = ["Iterates"]


class _Programmable(Protocol):
    def program(self, config: DynapseConfig, /) -> None: ...


@dataclass(eq=False)
class Iterates:
    """The iterates run on ``chip`` so far and their held-out accuracies.

    Attributes:
        chip: the chip in the loop.
        data: the calibration samples.
        held: indices of the held-out samples (the first ones).
        pool: indices the training batches are drawn from (the rest; all of one
            sample when there is only one).
        rng: draws the training batches.
        evaluate: ``evaluate(iteration, config)`` with every configuration the chip
            runs and then, as the last iteration, with the result's.
        graphs: the iterates in the order they ran.
        history: the held-out accuracy of each iterate.
        every: the accuracy of each iterate on every sample it ran (its training
            samples and the held-out ones).
    """

    chip: _Programmable
    data: RetuneData
    held: np.ndarray
    pool: np.ndarray
    rng: np.random.Generator
    evaluate: Callable[[int, DynapseConfig], Any] | None
    graphs: list[Graph] = field(default_factory=list)
    history: list[float] = field(default_factory=list)
    every: list[float] = field(default_factory=list)

    @classmethod
    def holding_out(
        cls,
        chip: _Programmable,
        data: RetuneData,
        *,
        most: int,
        fraction: int,
        seed: int,
        evaluate: Callable[[int, DynapseConfig], Any] | None,
    ) -> Iterates:
        """Hold out the first ``most`` samples, at most ``1 / fraction`` of them."""
        held = np.arange(min(most, max(data.size // fraction, 1)))
        pool = np.arange(held.size, data.size) if data.size > 1 else held
        return cls(chip, data, held, pool, np.random.default_rng(seed), evaluate)

    def batch(self, size: int) -> np.ndarray:
        """A sorted random training batch of ``size`` samples (fewer if the pool is
        smaller)."""
        size = min(size, self.pool.size)
        return np.sort(self.rng.choice(self.pool, size, replace=False))

    def program(
        self, graph: Graph, index: np.ndarray
    ) -> tuple[DynapseConfig, np.ndarray]:
        """Program ``graph`` as the next iterate; its configuration and the samples
        to run: ``index``, then the held-out ones."""
        self.graphs.append(graph)
        config = config_from_graph(graph)
        if self.evaluate is not None:
            self.evaluate(len(self.graphs) - 1, config)
        self.chip.program(config)
        return config, np.concatenate([index, self.held])

    def score(self, counts: np.ndarray, index: np.ndarray) -> None:
        """Record the held-out accuracy of output ``counts`` on the samples that
        ``program`` returned for ``index``, and the accuracy on all of them."""
        self.history.append(self.data.accuracy(counts[index.size :], self.held))
        both = np.concatenate([index, self.held])
        self.every.append(self.data.accuracy(counts, both))

    def best(self, node: str, progress: Progress, *, every: bool = False) -> Graph:
        """The iterate with the best held-out accuracy, or with ``every`` the best
        accuracy on all the samples it ran (the latest among equals).

        NOTE: ``every`` is for iterates that all ran the same training samples; on
        the digits bench (``calibrate_readout`` from the robust network, the 10 worst
        of 50 chips at 10 %) it chose a better iterate for 2 chips and the same for
        8: 433 held-out samples could not tell iterates 0.5 point apart.

        ``node``'s meta records ``calibration_accuracy`` (each iterate's held-out
        accuracy), ``calibration_every`` (on all the samples it ran) and
        ``calibration_chosen``.
        """
        history = self.history
        score = self.every if every else history
        best = max(range(len(score)), key=lambda i: (score[i], i))
        result = self.graphs[best].copy()
        if self.evaluate is not None:
            self.evaluate(len(self.graphs), config_from_graph(result))
        meta = result.meta(node)
        meta["calibration_accuracy"] = np.round(np.asarray(history), 6)
        meta["calibration_every"] = np.round(np.asarray(self.every), 6)
        meta["calibration_chosen"] = best
        progress.line(
            f"calibrate-chip: iterate {best} chosen, held-out accuracy on the chip "
            f"{history[0]:.1%} -> {history[best]:.1%}"
            + (f" (all samples {score[0]:.1%} -> {score[best]:.1%})" if every else "")
        )
        return result
