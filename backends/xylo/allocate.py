"""Hidden and output neuron ids on a Xylo core, and the resource checks that go with them.

A Xylo hidden population is a line of ids ``0..n_ids-1``. Two variants restrict where a
neuron may sit (reference ``xylo.md`` §1, "input projection (IEN)" / "output projection
(OEN)"):

* **input window**: on XyloAudio 3 and XyloIMU only the first 128 hidden ids receive
  input weights, so every neuron with a nonzero column in ``w_in`` needs an id below
  ``variant.input_window``;
* **output window**: only the last 128 hidden ids project to the readout, so every
  neuron with a nonzero row in ``w_out`` needs an id at or above
  ``n_ids - variant.output_window``.

NOTE: "last 128 ids" is counted back from the end of the configured population of
``n_ids`` hidden ids. XyloSim's ``from_specification`` reads the readout from ids
``[N - OEN, N)`` of the ``N`` neurons it is given, and rockpool's mapper allocates
compact ids with the output-projecting layer last (xylo.md §2 "Rockpool XyloSim
wrappers", §3 "Hardware ID assignment"): that is ``n_ids = N``, the default.
``XyloConfig`` pads every register to ``variant.n_hidden`` ids, which makes the
window absolute; pass ``n_ids=variant.n_hidden`` to allocate for that layout (then
no neuron can both take input and feed the readout on XyloAudio 3 or XyloIMU).

Each neuron thus needs an id in an interval ``[lo, hi)``; ids are assigned by
earliest-deadline-first over the slots (ascending id, the released neuron with the
smallest ``hi`` first, ties by ``lo`` then by logical index), which finds an assignment
whenever one exists (the window counts checked first are Hall's condition for these
intervals) and keeps the logical order inside each class. Without windows the
assignment is the identity.

Every limit that does not fit raises ``ResourceError`` naming the layer and neuron, the
limit and the value; nothing is truncated silently. Output neuron ``k`` is readout
channel ``k`` (ids are not windowed); aliases are not handled here.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from backends.xylo.variants import XyloVariant

__all__ = [
    "Allocation",
    "ResourceError",
    "allocate",
    "check_resources",
]


class ResourceError(ValueError):
    """A network does not fit a Xylo variant: too many neurons, a fan-out over the limit,
    a time constant out of range, a value that no scaling brings into its register.
    The message names the layer or neuron, the limit and the value."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Allocation:
    """Where each logical neuron sits on the core.

    Attributes:
        n_ids: hidden ids in the configuration (``>= N``; unused ids stay empty).
        hidden_ids: ``(N,)`` hardware id of logical hidden neuron ``j``.
        hidden_order: ``(n_ids,)`` logical hidden neuron at hardware id ``h``, or -1
            for an unused id.
        output_ids: ``(Nout,)`` readout channel of logical output neuron ``k``.
        fanout: ``(N,)`` recurrent fan-out (distinct nonzero targets) per logical neuron.
    """

    n_ids: int
    hidden_ids: np.ndarray
    hidden_order: np.ndarray
    output_ids: np.ndarray
    fanout: np.ndarray

    def permute_hidden(self, values: np.ndarray, fill: float = 0) -> np.ndarray:
        """Place a per-hidden-neuron array (first axis ``N``) at its ids (``n_ids``)."""
        values = np.asarray(values)
        out = np.full((self.n_ids, *values.shape[1:]), fill, dtype=values.dtype)
        out[self.hidden_ids] = values
        return out

    def permute(
        self, w_in: np.ndarray, w_rec: np.ndarray, w_out: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(w_in, w_rec, w_out)`` with hidden axes indexed by hardware id.

        Shapes become ``w_in (Nin, n_ids, nsyn)``, ``w_rec (n_ids, n_ids, nsyn)``,
        ``w_out (n_ids, Nout)``; unused ids get zero weights; output columns are in
        readout-channel order.
        """
        w_in, w_rec, w_out = np.asarray(w_in), np.asarray(w_rec), np.asarray(w_out)
        ids = self.hidden_ids
        hw_in = np.zeros((w_in.shape[0], self.n_ids, w_in.shape[2]), w_in.dtype)
        hw_in[:, ids] = w_in
        hw_rec = np.zeros((self.n_ids, self.n_ids, w_rec.shape[2]), w_rec.dtype)
        hw_rec[np.ix_(ids, ids)] = w_rec
        hw_out = np.zeros((self.n_ids, w_out.shape[1]), w_out.dtype)
        hw_out[np.ix_(ids, self.output_ids)] = w_out
        return hw_in, hw_rec, hw_out


def _namer(
    layers: Sequence[tuple[str, int]] | None, n: int, default: str
) -> Callable[[int], str]:
    """Return ``name(j)`` giving ``"layer 'x' neuron i"`` for logical index ``j``."""
    if layers is None:
        layers = [(default, n)]
    sizes = [size for _, size in layers]
    if sum(sizes) != n:
        raise ValueError(
            f"layer sizes {dict(layers)} sum to {sum(sizes)}, but there are {n} "
            f"{default} neurons"
        )
    starts = np.cumsum([0, *sizes])

    def name(j: int) -> str:
        k = int(np.searchsorted(starts, j, side="right")) - 1
        return f"layer '{layers[k][0]}' neuron {j - int(starts[k])}"

    return name


def _shapes(
    w_in: np.ndarray, w_rec: np.ndarray, w_out: np.ndarray
) -> tuple[int, int, int, int]:
    if w_in.ndim != 3 or w_rec.ndim != 3 or w_out.ndim != 2:
        raise ValueError(
            "expected w_in (Nin, N, nsyn), w_rec (N, N, nsyn), w_out (N, Nout); got "
            f"shapes {w_in.shape}, {w_rec.shape}, {w_out.shape}"
        )
    n_in, n, nsyn = w_in.shape
    if w_rec.shape != (n, n, nsyn) or w_out.shape[0] != n:
        raise ValueError(
            f"inconsistent shapes: w_in {w_in.shape}, w_rec {w_rec.shape}, "
            f"w_out {w_out.shape}"
        )
    return n_in, n, nsyn, w_out.shape[1]


def check_resources(
    variant: XyloVariant,
    w_in: np.ndarray,
    w_rec: np.ndarray,
    w_out: np.ndarray,
    *,
    layers: Sequence[tuple[str, int]] | None = None,
    output_layer: str = "output",
) -> np.ndarray:
    """Check counts, synapses and fan-out against ``variant``; return the fan-out.

    Args:
        variant: the target's limits.
        w_in: ``(Nin, N, nsyn)`` input weights (float or int; nonzero = connection).
        w_rec: ``(N, N, nsyn)`` recurrent weights, ``[source, target, synapse]``.
        w_out: ``(N, Nout)`` readout weights.
        layers: ordered ``(name, size)`` of the hidden layers, for messages.
        output_layer: name of the output layer, for messages.

    Returns:
        ``(N,)`` recurrent fan-out per hidden neuron (distinct nonzero targets; the
        hardware stores a fan-out list of ``(target, w_syn1, w_syn2)`` per source,
        xylo.md §1).

    Raises:
        ResourceError: a count, a synapse index or a fan-out over the variant's limit.
    """
    w_in, w_rec, w_out = np.asarray(w_in), np.asarray(w_rec), np.asarray(w_out)
    n_in, n, nsyn, n_out = _shapes(w_in, w_rec, w_out)
    name = _namer(layers, n, "hidden")
    where = f"on {variant.name}"
    if n_in > variant.n_inputs:
        raise ResourceError(
            f"{n_in} input channels {where}: the limit is {variant.n_inputs}"
        )
    if n > variant.n_hidden:
        counts = ", ".join(f"'{k}': {s}" for k, s in layers or [("hidden", n)])
        raise ResourceError(
            f"{n} hidden neurons ({counts}) {where}: the limit is {variant.n_hidden}"
        )
    if n_out > variant.n_outputs:
        raise ResourceError(
            f"{n_out} neurons in output layer '{output_layer}' {where}: the limit is "
            f"{variant.n_outputs}"
        )
    if nsyn > variant.n_syn:
        extra = np.any(w_in[:, :, variant.n_syn :] != 0, axis=(0, 2)) | np.any(
            w_rec[:, :, variant.n_syn :] != 0, axis=(0, 2)
        )
        used = np.flatnonzero(extra)
        if used.size:
            raise ResourceError(
                f"{name(int(used[0]))} uses synapse {variant.n_syn + 1} {where}: the "
                f"limit is {variant.n_syn} synapse(s) per neuron "
                f"({used.size} neuron(s) use more)"
            )
    fanout = np.count_nonzero(np.any(w_rec != 0, axis=2), axis=1)
    if variant.max_fanout is not None and n:
        worst = int(np.argmax(fanout))
        if fanout[worst] > variant.max_fanout:
            raise ResourceError(
                f"{name(worst)} has recurrent fan-out {int(fanout[worst])} {where}: the "
                f"limit is {variant.max_fanout} targets per neuron"
            )
    total = int(fanout.sum())
    if variant.rec_weight_entries is not None and total > variant.rec_weight_entries:
        raise ResourceError(
            f"{total} recurrent weight entries {where}: the recurrent weight memory "
            f"holds {variant.rec_weight_entries}"
        )
    return fanout


def _windows(
    variant: XyloVariant,
    n_ids: int,
    gets_input: np.ndarray,
    feeds_output: np.ndarray,
    name: Callable[[int], str],
) -> tuple[int, int]:
    """Return the (input, output) window sizes; raise if the neurons cannot fit them.

    With ``A``/``C`` the neurons needing the input/output window and ``B`` those
    needing both, an assignment exists iff ``|A| + |B| <= in``, ``|B| + |C| <= out``
    and ``|B|`` fits the ids the two windows share (the rest fit anywhere).
    """
    win_in = min(variant.input_ids, n_ids)
    win_out = min(variant.output_ids, n_ids)
    where = f"on {variant.name}"
    for needs, window, what in (
        (
            gets_input,
            win_in,
            f"receive input weights {where}: only the first {win_in} ids take input",
        ),
        (
            feeds_output,
            win_out,
            f"project to the readout {where}: only the last {win_out} ids do",
        ),
    ):
        ids = np.flatnonzero(needs)
        if ids.size > window:
            raise ResourceError(
                f"{ids.size} hidden neurons {what} (the {window + 1}th is "
                f"{name(int(ids[window]))})"
            )
    both = np.flatnonzero(gets_input & feeds_output)
    shared = max(0, win_in - (n_ids - win_out))
    if both.size > shared:
        raise ResourceError(
            f"{both.size} hidden neurons (first: {name(int(both[0]))}) both receive "
            f"input and project to the readout {where}: of {n_ids} hidden ids the "
            f"first {win_in} and the last {win_out} share only {shared}"
        )
    return win_in, win_out


def allocate(
    variant: XyloVariant,
    w_in: np.ndarray,
    w_rec: np.ndarray,
    w_out: np.ndarray,
    *,
    n_ids: int | None = None,
    layers: Sequence[tuple[str, int]] | None = None,
    output_layer: str = "output",
) -> Allocation:
    """Assign hardware ids to the hidden and output neurons of one Xylo core.

    Args:
        variant: the target's limits.
        w_in: ``(Nin, N, nsyn)`` input weights in logical neuron order.
        w_rec: ``(N, N, nsyn)`` recurrent weights ``[source, target, synapse]``.
        w_out: ``(N, Nout)`` readout weights.
        n_ids: hidden ids in the configuration, ``N..variant.n_hidden``; default
            ``N`` (compact, the windows count from both ends of the used ids).
        layers: ordered ``(name, size)`` of the hidden layers (logical order), used in
            messages; default one layer ``"hidden"``.
        output_layer: name of the output layer, for messages.

    Returns:
        The id assignment; it depends only on the sparsity patterns.

    Raises:
        ResourceError: counts, synapses, fan-out or windows over the variant's limits.
    """
    w_in, w_rec, w_out = np.asarray(w_in), np.asarray(w_rec), np.asarray(w_out)
    fanout = check_resources(
        variant, w_in, w_rec, w_out, layers=layers, output_layer=output_layer
    )
    n, n_out = w_rec.shape[0], w_out.shape[1]
    n_ids = n if n_ids is None else n_ids
    if not n <= n_ids <= variant.n_hidden:
        raise ResourceError(
            f"n_ids = {n_ids} hidden ids on {variant.name}: need between the {n} "
            f"neurons and the {variant.n_hidden} the core has"
        )
    name = _namer(layers, n, "hidden")
    gets_input = np.any(w_in != 0, axis=(0, 2))
    feeds_output = np.any(w_out != 0, axis=1)
    win_in, win_out = _windows(variant, n_ids, gets_input, feeds_output, name)

    lo = np.where(feeds_output, n_ids - win_out, 0)
    hi = np.where(gets_input, win_in, n_ids)
    # Earliest deadline first: at each id, among the neurons whose window has opened,
    # take the one whose window closes first (then the one released first, then the
    # lowest logical index, which keeps layers contiguous and the result stable).
    released = np.lexsort((np.arange(n), lo))
    hidden_ids = np.empty(n, dtype=np.int64)
    ready: list[tuple[int, int, int]] = []
    k = placed = 0
    for slot in range(n_ids):
        while k < n and lo[released[k]] <= slot:
            j = int(released[k])
            heapq.heappush(ready, (int(hi[j]), int(lo[j]), j))
            k += 1
        if not ready:
            continue
        if ready[0][0] <= slot:
            # Excluded by the window counts; kept so a bug cannot misplace a neuron.
            raise ResourceError(
                f"no id satisfies the windows (first {win_in}, last {win_out} of "
                f"{n_ids}) for {name(ready[0][2])} on {variant.name}"
            )
        hidden_ids[heapq.heappop(ready)[2]] = slot
        placed += 1
    if placed != n:
        raise ResourceError(
            f"only {placed} of {n} hidden neurons fit the windows (first {win_in}, "
            f"last {win_out} of {n_ids}) on {variant.name}"
        )
    hidden_order = np.full(n_ids, -1, dtype=np.int64)
    hidden_order[hidden_ids] = np.arange(n)
    return Allocation(
        n_ids=n_ids,
        hidden_ids=hidden_ids,
        hidden_order=hidden_order,
        output_ids=np.arange(n_out, dtype=np.int64),
        fanout=fanout,
    )
