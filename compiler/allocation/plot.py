"""A picture of a placement: cores as a grid, coloured by layer, shaded by traffic.

Each chip is a block of its cores (``cores_per_chip`` in a near-square block), chips
at their mesh positions. A core's colour is the layer most of its neurons belong to;
its edge width grows with the spikes it sends to other cores (uniform rates); empty
cores are grey. Needs matplotlib (the ``plot`` extra); the file is written atomically.
"""

from __future__ import annotations

import math
import os

import numpy as np

from compiler.allocation.model import CoreModel
from compiler.allocation.network import from_graph
from compiler.allocation.traffic import unique
from compiler.figures import pyplot, save_figure
from ir import Graph

__all__ = ["plot_placement"]


def plot_placement(
    graph: Graph, model: CoreModel, path: str | os.PathLike[str]
) -> None:
    """Draw the ``placement`` meta of ``graph`` on ``model``'s cores into ``path``.

    Raises:
        ValueError: the graph has no placement (run ``allocate-cores``).
        ImportError: matplotlib is missing (``pip install spikeforge[plot]``).
    """
    plt = pyplot("--plot-placement")
    from matplotlib.patches import Rectangle

    net = from_graph(graph, model.shared_parameters)
    rows = []
    for name, _ in net.layers:
        meta = graph.meta(name)
        if "placement" not in meta:
            raise ValueError(
                f"node '{name}' has no placement; run allocate-cores first"
            )
        rows.append(np.asarray(meta["placement"], np.int64))
    where = np.concatenate(rows)
    layer_of = np.repeat(np.arange(len(net.layers)), [size for _, size in net.layers])
    gcore = where[:, 0] * model.cores_per_chip + where[:, 1]
    keys = unique(net.src * model.cores + gcore[net.dst])
    s, c = keys // model.cores, keys % model.cores
    sent = np.bincount(gcore[s[c != gcore[s]]], minlength=model.cores)
    side = math.ceil(math.sqrt(model.cores_per_chip))
    colours = plt.get_cmap("tab20")
    fig, ax = plt.subplots(figsize=(8, 8 * model.mesh[1] / max(model.mesh[0], 1) + 1))
    peak = max(int(sent.max(initial=0)), 1)
    for chip in range(model.chips):
        cx, cy = model.position(chip)
        for k in range(model.cores_per_chip):
            g = chip * model.cores_per_chip + k
            x = cx * (side + 0.5) + k % side
            y = cy * (side + 0.5) + k // side
            members = layer_of[gcore == g]
            face = (
                colours(int(np.bincount(members).argmax()) % 20)
                if members.size
                else "lightgrey"
            )
            width = 0.5 + 4.0 * sent[g] / peak
            ax.add_patch(
                Rectangle((x, y), 0.9, 0.9, facecolor=face, edgecolor="black", lw=width)
            )
    for i, (name, _) in enumerate(net.layers):
        ax.plot([], [], "s", color=colours(i % 20), label=name)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    ax.set_xlim(-0.2, model.mesh[0] * (side + 0.5))
    ax.set_ylim(-0.2, model.mesh[1] * (side + 0.5))
    ax.set_aspect("equal")
    ax.invert_yaxis()
    ax.set_title("cores by layer (edge width: spikes sent to other cores)")
    ax.axis("off")
    save_figure(fig, path)
