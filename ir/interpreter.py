"""The reference interpreter: what every graph means, on torch tensors.

Tensors are ``(batch, time, *features)``. Nodes run in dependency order. A node outside
any cycle runs over the whole sequence at once (stateless ops in one call on
``(batch * time, *features)``, stateful ops in a loop over time); the nodes of a cycle
(closed by recurrent edges) are stepped together, one time step at a time. An edge
marked recurrent delivers its source's output from the previous step (zeros at the
first step). Every op's meaning is its own ``apply`` / ``step`` method.

The computation is differentiable: pass trainable tensors through ``params`` to get
gradients for op parameters; spikes use a surrogate gradient.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ir.errors import VerifyError
from ir.graph import Edge, Graph
from ir.inputs import check_input, check_steps
from ir.op import Params
from ir.verifier import verify

__all__ = ["interpret"]

Recording = dict[str, dict[str, torch.Tensor]]


def interpret(
    graph: Graph,
    inputs: torch.Tensor | np.ndarray | Mapping[str, torch.Tensor | np.ndarray],
    *,
    steps: int | None = None,
    record: bool = False,
    params: Mapping[str, Mapping[str, torch.Tensor]] | None = None,
) -> Any:
    """Run ``graph`` on ``inputs``.

    Args:
        graph: a graph that passes ``ir.verify``.
        inputs: ``(batch, time, *features)`` for a graph with one ``io.input``, or a
            dict by input node name. NumPy arrays are accepted.
        steps: number of time steps; an input with ``time == 1`` is held for all
            steps. ``None`` takes the inputs' time length.
        record: also return every node's output and internal states over time.
        params: per-node overrides of tensor fields (``{node: {field: tensor}}``),
            e.g. trainable tensors for gradient-based passes.

    Returns:
        The output tensor ``(batch, steps, *features)`` for a single-output graph, else
        a dict by output node name; with ``record=True``, a pair ``(outputs,
        recording)`` where ``recording[node]`` maps ``"output"`` and each state name
        to a ``(batch, steps, *shape)`` tensor.

    Raises:
        VerifyError: the graph is malformed or the inputs do not fit it.
        InputError: an input holds no values, complex or non-finite values, or
            ``steps`` is below 1 (see :func:`ir.inputs.check_input`).
    """
    verify(graph)
    feeds = _feeds(graph, inputs, steps)
    dtype = _float_dtype(feeds)
    run = _Run(graph, feeds, params or {}, dtype, record)
    for component in graph.components():
        run.component(component)
    outs = {name: run.values[name] for name in graph.outputs()}
    result: Any = next(iter(outs.values())) if len(outs) == 1 else outs
    return (result, run.recording) if record else result


def _feeds(
    graph: Graph,
    inputs: torch.Tensor | np.ndarray | Mapping[str, torch.Tensor | np.ndarray],
    steps: int | None,
) -> dict[str, torch.Tensor]:
    names = graph.inputs()
    if steps is not None:
        check_steps(steps)
    if isinstance(inputs, Mapping):
        given = dict(inputs)
    else:
        if len(names) != 1:
            raise VerifyError(
                f"graph @{graph.name} has inputs {', '.join(names) or '(none)'}; pass a "
                "dict by input name"
            )
        given = {names[0]: inputs}
    unknown = sorted(set(given) - set(names))
    missing = [n for n in names if n not in given]
    if unknown or missing:
        raise VerifyError(
            f"inputs do not match graph @{graph.name}: expected {', '.join(names)}; "
            + (
                f"unknown {', '.join(unknown)}"
                if unknown
                else f"missing {', '.join(missing)}"
            )
        )
    feeds: dict[str, torch.Tensor] = {}
    lengths = set()
    for name in names:
        value: Any = given[name]
        if not isinstance(value, torch.Tensor):
            value = np.asarray(value)
        x = torch.as_tensor(check_input(value, source=f"input '{name}'"))
        if not x.is_floating_point():
            x = x.to(torch.float32)
        want = graph.shape(name)
        if x.ndim != len(want) + 2 or tuple(x.shape[2:]) != want:
            raise VerifyError(
                f"input must be (batch, time, {', '.join(map(str, want))}), "
                f"got shape {tuple(x.shape)}",
                node=name,
            )
        if steps is not None and x.shape[1] not in (1, steps):
            raise VerifyError(
                f"input has {x.shape[1]} time steps; steps={steps} needs 1 or {steps}",
                node=name,
            )
        if steps is not None and x.shape[1] == 1:
            x = x.expand(x.shape[0], steps, *x.shape[2:])
        lengths.add(int(x.shape[1]))
        feeds[name] = x
    if len(lengths) > 1:
        raise VerifyError(f"inputs have different time lengths: {sorted(lengths)}")
    return feeds


def _float_dtype(feeds: Mapping[str, torch.Tensor]) -> torch.dtype:
    dtypes = {x.dtype for x in feeds.values()}
    return torch.float64 if torch.float64 in dtypes else torch.float32


class _Run:
    """State of one interpretation: node outputs over the whole sequence."""

    def __init__(
        self,
        graph: Graph,
        feeds: dict[str, torch.Tensor],
        overrides: Mapping[str, Mapping[str, torch.Tensor]],
        dtype: torch.dtype,
        record: bool,
    ) -> None:
        self.graph = graph
        self.feeds = feeds
        self.dtype = dtype
        self.record = record
        self.values: dict[str, torch.Tensor] = {}
        self.recording: Recording = {}
        self.params = {n: self._params(n, overrides.get(n, {})) for n in graph.nodes()}
        x = next(iter(feeds.values()), None)
        self.batch = int(x.shape[0]) if x is not None else 1
        self.steps = int(x.shape[1]) if x is not None else 1

    def _params(self, name: str, override: Mapping[str, torch.Tensor]) -> Params:
        op = self.graph.op(name)
        unknown = sorted(set(override) - set(op.fields_))
        if unknown:
            raise VerifyError(
                f"params override unknown field(s) {', '.join(unknown)}; "
                f"{op.name} has {', '.join(op.fields_)}",
                node=name,
            )
        values: dict[str, Any] = {}
        for field, value in op.params().items():
            if field in override:
                values[field] = override[field]
            elif isinstance(value, np.ndarray):
                t = torch.from_numpy(np.array(value))
                values[field] = t.to(self.dtype) if t.is_floating_point() else t
            else:
                values[field] = value
        return Params(values, self.graph.dt)

    def _gather(self, edges: list[Edge]) -> torch.Tensor:
        """Sum the edges' whole sequences (recurrent edges shifted by one step)."""
        total = torch.zeros(())
        for edge in edges:
            value = self.values[edge.src]
            if edge.recurrent:
                value = torch.cat(
                    [torch.zeros_like(value[:, :1]), value[:, :-1]], dim=1
                )
            total = total + value
        return total

    def _gather_step(
        self,
        edges: list[Edge],
        t: int,
        current: Mapping[str, torch.Tensor],
        prev: Mapping[str, torch.Tensor],
    ) -> torch.Tensor:
        """Sum the edges' values at step ``t`` inside a cycle being stepped."""
        total = torch.zeros(())
        for edge in edges:
            seq = self.values.get(edge.src)
            if seq is not None:  # outside the cycle: the whole sequence is known
                if not edge.recurrent:
                    value = seq[:, t]
                else:
                    value = seq[:, t - 1] if t > 0 else torch.zeros_like(seq[:, 0])
            else:
                value = prev[edge.src] if edge.recurrent else current[edge.src]
            total = total + value
        return total

    def component(self, nodes: list[str]) -> None:
        single = nodes[0]
        cyclic = len(nodes) > 1 or any(
            e.src == single for e in self.graph.in_edges(single)
        )
        if not cyclic:
            self._whole(single)
        else:
            self._stepped(nodes)

    def _whole(self, name: str) -> None:
        op = self.graph.op(name)
        p = self.params[name]
        if name in self.feeds:
            x = self.feeds[name].to(self.dtype)
        else:
            x = self._gather(self.graph.in_edges(name))
        if not op.stateful:
            b, t = x.shape[:2]
            y = op.apply(p, x.reshape(b * t, *x.shape[2:]))
            y = y.reshape(b, t, *y.shape[1:])
            self._store(name, y, {})
            return
        state = op.init_state(p, x[:, 0])
        outs, states = [], []
        for t in range(x.shape[1]):
            y, state = op.step(p, x[:, t], state)
            outs.append(y)
            if self.record:
                states.append(state)
        self._store(name, torch.stack(outs, 1), _stack(states))

    def _stepped(self, nodes: list[str]) -> None:
        edges = {n: self.graph.in_edges(n) for n in nodes}
        states: dict[str, dict[str, torch.Tensor]] = {}
        outs: dict[str, list[torch.Tensor]] = {n: [] for n in nodes}
        kept: dict[str, list[dict[str, torch.Tensor]]] = {n: [] for n in nodes}
        # Recurrent inputs from inside the cycle read zeros at the first step.
        prev = {
            n: torch.zeros((self.batch, *self.graph.shape(n)), dtype=self.dtype)
            for n in nodes
        }
        for t in range(self.steps):
            current: dict[str, torch.Tensor] = {}
            for name in nodes:
                x = self._gather_step(edges[name], t, current, prev)
                op = self.graph.op(name)
                p = self.params[name]
                if not op.stateful:
                    y = op.apply(p, x)
                else:
                    if name not in states:
                        states[name] = op.init_state(p, x)
                    y, states[name] = op.step(p, x, states[name])
                    if self.record:
                        kept[name].append(states[name])
                current[name] = y
                outs[name].append(y)
            prev = current
        for name in nodes:
            self._store(name, torch.stack(outs[name], 1), _stack(kept[name]))

    def _store(
        self, name: str, y: torch.Tensor, states: dict[str, torch.Tensor]
    ) -> None:
        self.values[name] = y
        if self.record:
            self.recording[name] = {"output": y, **states}


def _stack(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    if not states:
        return {}
    return {k: torch.stack([s[k] for s in states], 1) for k in states[0]}
