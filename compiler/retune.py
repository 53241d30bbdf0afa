"""Shared parts of retuning: the options, the training data, the teacher, progress.

``retune`` (offline, for a population of chips) and ``calibrate-chip`` (in the loop,
for one chip) are target-independent passes (``compiler/passes``) that hand the work
to the target: ``target.retune(graph, data, options, progress)`` and
``target.calibrate_chip(graph, data, chip, options, progress)``. This module holds
what every target's implementation shares:

* ``RetuneOptions``: the hyperparameters (epochs, learning rate, batch, seed, the
  mismatch drawn per step, the adversarial parameter-attack term).
* ``RetuneData``: the calibration samples ``(N, T, *input)`` and their targets: the
  labels when given, else the *teacher's* class probabilities, from the pre-retuning
  float network (``teacher_probabilities``: the reference interpreter's output spike
  counts, softened), so unlabeled data is enough.
* ``Progress``: re-exported from ``compiler.progress`` (the one progress helper):
  a bar on stderr with the loss and the robust accuracy (the accuracy on the chips
  of the last step) on a terminal, result lines on any stream, silent with
  ``quiet``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from compiler.pass_base import check_minimum
from compiler.progress import Progress
from ir import Graph, interpret

__all__ = [
    "Progress",
    "RetuneData",
    "RetuneOptions",
    "VALIDATION_SEEDS",
    "load_array",
    "load_labels",
    "retune_data",
    "teacher_probabilities",
]


@dataclass(frozen=True, kw_only=True)
class RetuneOptions:
    """Hyperparameters of ``retune`` and ``calibrate-chip``.

    Attributes:
        epochs: passes over the calibration data (``retune``); iterations
            (``calibrate-chip``).
        lr: Adam learning rate at the start, decaying (cosine) to 0 by the end (on
            Dynap-SE2's log-magnitudes 0.02 moves a weight about 2 % a step).
        batch: samples per step.
        seed: seeds the batch order and the chips drawn for training (chip seeds
            from ``1_000_000 + seed * 100_000`` up, away from the yield report's;
            seeds from 10 on skip the block of ``VALIDATION_SEEDS``).
        chips: mismatched chips drawn per step (analog targets).
        restarts: ``retune`` runs, from seeds ``seed``, ``seed + 1``, ...; the one
            whose result is most accurate on the validation chips is kept (analog
            targets; each run takes the time of one).
        relative_std: the mismatch drawn for training, relative (analog targets).
        beta: weight of the adversarial term ``KL(clean || attacked)`` (0: off).
        attack_steps: sign-gradient ascent steps of the parameter attack.
        attack_strength: the attack's bound on each relative perturbation.
        temperature: logits per unit of readout (spikes per step, or nA).
        quiet: no progress bar.
    """

    epochs: int = 10
    lr: float = 0.02
    batch: int = 32
    seed: int = 0
    chips: int = 8
    restarts: int = 1
    relative_std: float = 0.1
    beta: float = 0.0
    attack_steps: int = 3
    attack_strength: float = 0.1
    temperature: float = 1.0
    quiet: bool = False

    def __post_init__(self) -> None:
        check_minimum(self, 1, "epochs", "batch", "chips", "restarts", "attack_steps")
        check_minimum(self, 0, "lr", "temperature", strict=True)
        check_minimum(self, 0, "seed", "relative_std", "beta", "attack_strength")

    def chip_seed(self, step: int, k: int) -> int:
        """The seed of training chip ``k`` of step ``step``: in seed ``seed``'s block of
        100,000, which is never ``VALIDATION_SEEDS``'s block."""
        block = self.seed + (self.seed >= _VALIDATION_BLOCK)
        return 1_000_000 + block * 100_000 + (step * self.chips + k) % 100_000


_VALIDATION_BLOCK = 10
VALIDATION_SEEDS = tuple(1_000_000 + _VALIDATION_BLOCK * 100_000 + k for k in range(8))
"""The chips an analog ``retune`` scores its candidates on: in block 10 of the training
seeds' blocks of 100,000 (from 1,000,000), which ``chip_seed`` skips, so no training
step draws them; the yield report's chips are seeds ``seed .. seed + chips - 1`` (from 1
by default)."""


@dataclass(frozen=True)
class RetuneData:
    """Calibration samples and what the network should output on them.

    Attributes:
        inputs: ``(N, T, *input)`` float32 samples over time.
        labels: ``(N,)`` classes, or ``None``.
        teacher: ``(N, classes)`` class probabilities of the pre-retuning float
            network when there are no labels, else ``None``.
    """

    inputs: np.ndarray
    labels: np.ndarray | None
    teacher: np.ndarray | None

    @property
    def size(self) -> int:
        return int(self.inputs.shape[0])

    def loss(self, logits: torch.Tensor, index: np.ndarray) -> torch.Tensor:
        """Cross-entropy of ``(..., B, classes)`` logits against the targets of
        samples ``index`` (labels, or the teacher's probabilities)."""
        classes = logits.shape[-1]
        flat = logits.reshape(-1, logits.shape[-2], classes)
        if self.labels is not None:
            y = torch.as_tensor(self.labels[index], dtype=torch.long)
            return torch.nn.functional.cross_entropy(
                flat.reshape(-1, classes), y.repeat(flat.shape[0])
            )
        assert self.teacher is not None
        p = torch.as_tensor(self.teacher[index], dtype=logits.dtype)
        log_q = torch.log_softmax(flat, dim=-1)
        return -(p * log_q).sum(-1).mean()

    def accuracy(self, outputs: np.ndarray, index: np.ndarray) -> float:
        """Accuracy of ``(..., B, classes)`` scores against the labels (or the
        teacher's classes) of samples ``index``."""
        want = self.labels if self.labels is not None else self.teacher_classes
        assert want is not None
        return float(np.mean(np.asarray(outputs).argmax(-1) == want[index]))

    @property
    def teacher_classes(self) -> np.ndarray | None:
        return None if self.teacher is None else self.teacher.argmax(-1)


def load_array(value: Any) -> np.ndarray:
    """A pass input as a numpy array: a ``.npy`` path (no pickles), a tensor or an
    array-like."""
    if isinstance(value, (str, Path)):
        value = np.load(value, allow_pickle=False)
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def load_labels(labels: Any, samples: int, pass_name: str) -> np.ndarray:
    """A pass's ``labels`` input, checked: one class index (an integer >= 0) for
    each of the ``samples`` calibration samples.

    Raises:
        ValueError: naming the pass, the counts or the dtype.
    """
    y = load_array(labels).reshape(-1)
    if y.shape[0] != samples:
        raise ValueError(
            f"{pass_name}: {samples} calibration samples but {y.shape[0]} labels"
        )
    if not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
        raise ValueError(
            f"{pass_name}: labels must be class indices >= 0 (integers), got "
            f"dtype {y.dtype}"
        )
    return y.astype(np.int64)


def teacher_probabilities(
    graph: Graph, inputs: np.ndarray, temperature: float = 1.0, batch: int = 256
) -> np.ndarray:
    """Class probabilities of ``graph`` (interpreted) on ``inputs``:
    ``softmax(temperature * spikes per step * 100)`` of the output's spike counts.

    NOTE: counts are scaled per 100 steps so that the softening does not depend on
    the sample length.
    """
    steps = max(int(inputs.shape[1]), 1)
    rows = []
    for start in range(0, inputs.shape[0], batch):
        x = torch.as_tensor(inputs[start : start + batch], dtype=torch.float32)
        out = interpret(graph, x)
        if isinstance(out, dict):
            (out,) = out.values()
        counts = out.detach().double().sum(1).reshape(x.shape[0], -1)
        rows.append(torch.softmax(counts * (100.0 / steps) * temperature, -1).numpy())
    return np.concatenate(rows)


def retune_data(
    graph: Graph, inputs: Any, labels: Any, *, pass_name: str, temperature: float = 1.0
) -> RetuneData:
    """Check and load a pass's ``calibration`` and ``labels`` inputs; with no
    labels, the teacher is ``graph`` itself (the pre-retuning float network).

    Raises:
        ValueError: missing or misshapen data, naming the pass and the shapes.
    """
    if inputs is None:
        raise ValueError(
            f"pass '{pass_name}' needs calibration data: the input 'calibration' "
            "(N, T, *input) spike trains (CLI: --calibration FILE.npy)"
        )
    x = load_array(inputs).astype(np.float32, copy=False)
    (inp,) = graph.inputs()
    want = tuple(graph.shape(inp))
    if x.ndim != len(want) + 2 or tuple(x.shape[2:]) != want:
        raise ValueError(
            f"input 'calibration' for {pass_name} must be (N, T, "
            f"{', '.join(map(str, want))}) samples over time, got shape {x.shape}"
        )
    if x.shape[0] < 1:
        raise ValueError(f"input 'calibration' for {pass_name} has no samples")
    if labels is None:
        teacher = teacher_probabilities(graph, x, temperature)
        return RetuneData(x, None, teacher)
    return RetuneData(x, load_labels(labels, x.shape[0], pass_name), None)
