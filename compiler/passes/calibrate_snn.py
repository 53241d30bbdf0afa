"""The ``calibrate-snn`` pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from compiler.pass_base import Pass, check_minimum
from compiler.passes.ann_to_snn import load_calibration
from ir import Graph, interpret
from ir.ops import nn, snn

__all__ = ["CalibrateSnnPass"]

_DENSE = (nn.Linear, nn.Affine, nn.Conv1d, nn.Conv2d)


@dataclass(frozen=True)
class CalibrateSnnPass(Pass):
    """Light SNN calibration: bias and potential correction, layer by layer.

    After ``ann-to-snn``, each IF layer's spike rate over ``timesteps`` steps is
    compared, on unlabeled calibration samples, with the rate the converted network
    ideally has: ``relu(z) / theta`` computed in one analog pass of the same graph
    (every IF read as a ReLU scaled by ``1/theta``). Layer by layer in dependency order
    (so each layer sees its corrected predecessors), the mean error per channel
    ``delta`` is removed twice (Li et al., ICML 2021, "light" calibration):

    * bias correction: the bias of the linear or conv layer feeding the neurons gets
      ``theta * delta`` (a layer without bias gains one);
    * potential correction: re-measured, the remaining error moves the initial
      membrane potential by ``T * theta * delta``.

    Options:
        timesteps: steps to calibrate for (use the ``timesteps`` of ``ann-to-snn``).
        samples: how many calibration samples to use (the first ones).

    Inputs:
        calibration: ``(N, *input_shape)`` samples (tensor, array or ``.npy`` path).
    """

    name = "calibrate-snn"
    inputs = ("calibration",)

    timesteps: int = 32
    samples: int = 256

    def __post_init__(self) -> None:
        check_minimum(self, 1, "timesteps", "samples")

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        if inputs.get("calibration") is None:
            raise ValueError(
                "calibrate-snn needs calibration data (input 'calibration')"
            )
        x = load_calibration(graph, inputs["calibration"])[: self.samples]
        layers = [n for n in graph.topo_order() if isinstance(graph.op(n), snn.IF)]
        if not layers:
            raise ValueError(
                "calibrate-snn found no snn.if layers; run ann-to-snn first"
            )
        # NOTE: the targets come from the network as converted, once; re-deriving them
        # from the corrected graph would move them with each correction.
        ideal = _ideal_rates(graph, layers, x)
        out = graph.copy()
        for layer in layers:
            delta = self._rate_error(out, layer, x, ideal[layer])
            if _correct_bias(out, layer, delta):
                delta = self._rate_error(out, layer, x, ideal[layer])
            _correct_potential(out, layer, delta, self.timesteps)
        return out

    def _rate_error(
        self, graph: Graph, layer: str, x: torch.Tensor, ideal: torch.Tensor
    ) -> np.ndarray:
        """Mean (ideal rate - spike rate) per channel of ``layer``."""
        with torch.no_grad():
            _, rec = interpret(graph, x[:, None], steps=self.timesteps, record=True)
        rate = rec[layer]["output"].double().mean(1)
        diff = (ideal - rate).numpy()
        if diff.ndim == 1:
            return np.full((), diff.mean())
        return np.moveaxis(diff, 1, 0).reshape(diff.shape[1], -1).mean(1)


def _ideal_rates(
    graph: Graph, layers: list[str], x: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Each IF layer's ideal rate ``min(relu(z) / theta, 1)`` on the samples.

    One spike per step at most, so the rate the SNN can reach is clipped at 1.
    """
    model, probes = _rate_model(graph)
    with torch.no_grad():
        _, rec = interpret(model, x[:, None], record=True)
    return {n: rec[probes[n]]["output"][:, 0].double().clamp(max=1.0) for n in layers}


def _rate_model(graph: Graph) -> tuple[Graph, dict[str, str]]:
    """The analog network ``graph`` approximates, and the node holding each IF's rate.

    Every IF becomes a ReLU followed by a scale of ``1/theta`` (its ideal rate), the
    rate encoder its expected value, the readout integrator a mean.
    """
    model = graph.copy()
    probes: dict[str, str] = {}
    for name in graph.topo_order():
        op = graph.op(name)
        if isinstance(op, snn.IF):
            model.replace(name, nn.ReLU())
            rate = model.fresh_name(f"{name}.rate")
            users = model.out_edges(name)
            theta = op.v_threshold.astype(np.float64)
            model.add(rate, nn.Scale(scale=(1.0 / theta).astype(np.float32)), [name])
            for edge in users:
                model.disconnect(name, edge.dst)
                model.connect(rate, edge.dst, dst_port=edge.dst_port)
            probes[name] = rate
        elif isinstance(op, snn.RateEncode):
            model.replace(name, nn.Scale(scale=np.float32(op.gain)))
        elif isinstance(op, snn.Integrator):
            model.replace(name, nn.Scale(scale=np.float32(1.0)))
    return model, probes


def _per_channel(values: np.ndarray, channels: int) -> np.ndarray:
    flat = np.asarray(values, np.float64).reshape(-1)
    return np.broadcast_to(flat if flat.size == channels else flat[:1], (channels,))


def _correct_bias(graph: Graph, layer: str, delta: np.ndarray) -> bool:
    """Add ``theta * delta`` to the bias feeding ``layer``; False if there is none."""
    (src,) = graph.producers(layer)
    op = graph.op(src)
    if not isinstance(op, _DENSE) or graph.users(src) != [layer]:
        return False
    channels = op.weight.shape[0]
    theta = graph.op(layer).v_threshold  # type: ignore[attr-defined]
    step = _per_channel(theta, channels) * _per_channel(delta, channels)
    if isinstance(op, nn.Linear):
        graph.replace(
            src, nn.Affine(weight=op.weight, bias=step.astype(op.weight.dtype))
        )
        return True
    bias = np.zeros(channels) if op.bias is None else op.bias.astype(np.float64)
    graph.replace(src, op.replace(bias=(bias + step).astype(op.weight.dtype)))
    return True


def _correct_potential(graph: Graph, layer: str, delta: np.ndarray, steps: int) -> None:
    op = graph.op(layer)
    assert isinstance(op, snn.IF)
    shape = graph.shape(layer)
    theta = np.broadcast_to(op.v_threshold.astype(np.float64), shape)
    shift = delta.reshape((-1,) + (1,) * (len(shape) - 1)) if delta.ndim else delta
    v_init = (
        np.broadcast_to(op.v_init.astype(np.float64), shape) + steps * theta * shift
    )
    graph.replace(layer, op.replace(v_init=v_init.astype(np.float32)))
