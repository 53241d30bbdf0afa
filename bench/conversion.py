"""Benchmark: ANN-to-SNN conversion accuracy and synaptic operations on digits.

Trains two ANNs on scikit-learn's 8x8 digits (1797 images, bundled with the package, a
stratified 70/30 split), an MLP 64-128-64-10 and a small CNN (two Conv2d + BatchNorm2d
+ ReLU, AvgPool2d, Linear), imports each with ``frontends.pytorch.from_module``,
converts it with three pipelines (max normalization, 99.9th-percentile normalization,
percentile plus ``calibrate-snn``) at each number of time steps ``T``, and runs the
SNN in the reference interpreter on the test set, the input current held for ``T``
steps; the class is the argmax of the last step's readout.

Prints one table per network: test accuracy (%) of the ANN and of each conversion at
each ``T``, then the SNN's operations per inference (averaged over the test set) next to
the ANN's multiply-accumulates. Synaptic operations (synops) count each spike entering a
weight layer times that layer's fan-out (``out_features`` for a dense layer,
``C_out * kh * kw / stride`` for a convolution, borders ignored); the analog input
entering the first layer costs a MAC per weight per step. The baseline measured in the
same run is the ANN itself and, where it is installed, sinabs (``from_model`` +
``normalize_weights`` at the same percentile, on the same trained weights, BatchNorm
folded first, the class the argmax of the readout summed over time).

    python bench/conversion.py [--timesteps 4,8,16,32,64,128] [--quick] [--seed 0]

Needs scikit-learn (``load_digits``); downloads nothing.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

import compiler
import ir
from compiler.energy import dense_macs
from frontends import pytorch

GAP_AT_32 = 0.5
"""Goal: accuracy points lost at T = 32 (with calibration)."""
GAP_AT_8 = 1.5
"""Goal: accuracy points lost at T = 8 (with calibration)."""
PERCENTILE = 99.9
CALIBRATION_IMAGES = 512
STEPS_PER_BATCH = 8192
"""Batch size times time steps per interpreter call (bounds the recording's memory)."""

METHODS = {
    "max norm": "fold-bn,ann-to-snn{{timesteps={T} normalization=max}}",
    "percentile norm": (
        "fold-bn,ann-to-snn{{timesteps={T} normalization=percentile percentile={p}}}"
    ),
    "percentile + calibration": (
        "fold-bn,ann-to-snn{{timesteps={T} normalization=percentile "
        "percentile={p}}},calibrate-snn{{timesteps={T}}}"
    ),
}
CALIBRATED = "percentile + calibration"

WEIGHT_OPS = ("nn.linear", "nn.affine", "nn.conv1d", "nn.conv2d")
SPIKING_OPS = ("snn.if", "snn.lif", "snn.cubalif", "snn.threshold")
# Ops a spike passes through without being multiplied by a weight: a spike into a pool
# or a reshape reaches one unit of the next weight layer.
TRANSPARENT_OPS = (
    "nn.flatten",
    "nn.avgpool2d",
    "nn.sumpool2d",
    "nn.scale",
    "nn.add",
    "snn.delay",
)


@dataclass(frozen=True)
class Data:
    """Digits scaled to [0, 1], flat ``(N, 64)``; labels ``(N,)``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


@dataclass(frozen=True)
class SNNResult:
    """Test accuracy (%) and per-inference operations of one converted graph."""

    accuracy: float
    synops: float
    input_macs: float


def load_data(seed: int) -> Data:
    """The 1797 digits, pixels 0..16 scaled to [0, 1], stratified 70/30 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=0.3, stratify=y, random_state=seed
    )
    return Data(*(torch.from_numpy(a) for a in (x_tr, y_tr, x_te, y_te)))


def mlp() -> nn.Sequential:
    """64-128-64-10, ReLU."""
    return nn.Sequential(
        nn.Linear(64, 128),
        nn.ReLU(),
        nn.Linear(128, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def cnn() -> nn.Sequential:
    """(1, 8, 8) -> conv 16 -> conv 32 (3x3, BatchNorm, ReLU) -> avgpool 2 -> 10."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 10),
    )


def train(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int
) -> None:
    """Adam, cross-entropy, batches of 32, shuffled by a seeded generator."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for batch in order.split(32):
            optimizer.zero_grad()
            loss_fn(model(x[batch]), y[batch]).backward()
            optimizer.step()
        scheduler.step()
    model.eval()


def percent(pred: torch.Tensor, y: torch.Tensor) -> float:
    return 100.0 * (pred == y).double().mean().item()


def fan_out(op: ir.Op) -> float:
    """Synaptic operations one input event costs in weight layer ``op``."""
    weight = np.asarray(op.weight)  # type: ignore[attr-defined]
    if op.name in ("nn.linear", "nn.affine"):
        return float(weight.shape[0])
    stride = np.atleast_1d(op.stride)  # type: ignore[attr-defined]
    return float(weight.shape[0] * np.prod(weight.shape[2:]) / np.prod(stride))


def event_sources(graph: ir.Graph, name: str) -> tuple[list[str], list[str]]:
    """The spiking neurons and the analog nodes whose values reach ``name``'s weights.

    Walks up through ops that move values without weighting them (pools, reshapes,
    scalings, sums). Returns ``(spiking, analog)``; an analog source is named by the
    node that feeds the weight layer, whose size is the per-step MAC count.
    """
    spiking: list[str] = []
    analog: list[str] = []

    def walk(node: str, feeder: str) -> None:
        kind = graph.op(node).name
        if kind in SPIKING_OPS:
            spiking.append(node)
        elif kind in TRANSPARENT_OPS:
            for up in graph.producers(node):
                walk(up, feeder)
        elif feeder not in analog:
            analog.append(feeder)

    for producer in graph.producers(name):
        walk(producer, producer)
    return spiking, analog


def evaluate_snn(
    snn: ir.Graph, x: torch.Tensor, y: torch.Tensor, steps: int
) -> SNNResult:
    """Accuracy and per-inference synops / input MACs over ``x``, held ``steps``."""
    costs = []
    for name in snn.nodes():
        op = snn.op(name)
        if op.name in WEIGHT_OPS:
            spiking, analog = event_sources(snn, name)
            costs.append((fan_out(op), spiking, analog))
    correct = 0
    synops = 0.0
    input_macs = 0.0
    batch = max(1, STEPS_PER_BATCH // steps)
    with torch.no_grad():
        for start in range(0, len(x), batch):
            xb = x[start : start + batch]
            out, rec = ir.interpret(snn, xb[:, None], steps=steps, record=True)
            correct += int((out[:, -1].argmax(-1) == y[start : start + batch]).sum())
            for fan, spiking, analog in costs:
                for node in spiking:
                    synops += fan * rec[node]["output"].sum().item()
                for node in analog:
                    size = int(np.prod(snn.shape(node)))
                    input_macs += fan * size * steps * len(xb)
    n = len(x)
    return SNNResult(100.0 * correct / n, synops / n, input_macs / n)


def sinabs_accuracies(
    model: nn.Sequential,
    x_cal: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    timesteps: Sequence[int],
) -> list[float] | None:
    """sinabs conversion of the same ANN; ``None`` when sinabs is not installed."""
    try:
        import sinabs
        import sinabs.utils
    except ImportError:
        return None
    # sinabs rescales the layer before each ReLU; a BatchNorm there would undo the
    # scale of its input (its running mean does not scale), so fold it first.
    layers: list[nn.Module] = []
    for layer in model:
        if isinstance(layer, nn.BatchNorm2d):
            layers[-1] = fuse_conv_bn_eval(layers[-1], layer)  # type: ignore[arg-type]
        else:
            layers.append(copy.deepcopy(layer))
    ann = nn.Sequential(*layers).eval()
    relus = [str(i) for i, m in enumerate(layers) if isinstance(m, nn.ReLU)]
    sinabs.utils.normalize_weights(
        ann,
        x_cal,
        output_layers=relus,
        param_layers=[str(int(i) - 1) for i in relus],
        percentile=PERCENTILE,
    )
    result = []
    for steps in timesteps:
        batch = max(1, STEPS_PER_BATCH // steps)
        correct = 0
        for start in range(0, len(x_test), batch):
            xb = x_test[start : start + batch]
            net = sinabs.from_model(ann, batch_size=len(xb)).spiking_model.eval()
            sinabs.reset_states(net)
            held = xb[:, None].expand(len(xb), steps, *xb.shape[1:])
            with torch.no_grad():
                out = net(held.flatten(0, 1)).unflatten(0, (len(xb), steps))
            pred = out.sum(1).argmax(-1)
            correct += int((pred == y_test[start : start + batch]).sum())
        result.append(100.0 * correct / len(x_test))
    return result


def benchmark(
    title: str,
    make_model: Callable[[], nn.Sequential],
    shape: tuple[int, ...],
    data: Data,
    epochs: int,
    timesteps: Sequence[int],
    seed: int,
) -> None:
    """Train, convert, evaluate one network and print its table."""
    start = time.perf_counter()
    x_train = data.x_train.reshape(-1, *shape)
    x_test = data.x_test.reshape(-1, *shape)
    x_cal = x_train[:CALIBRATION_IMAGES].contiguous()
    torch.manual_seed(seed)
    model = make_model()
    train(model, x_train, data.y_train, epochs, seed)
    with torch.no_grad():
        ann_pred = model(x_test).argmax(-1)
    ann_acc = percent(ann_pred, data.y_test)
    graph = pytorch.from_module(model, x_train[:8])
    imported = ir.interpret(graph, x_test[:, None], steps=1)[:, -1].argmax(-1)
    assert torch.equal(imported, ann_pred), "imported graph disagrees with the ANN"
    macs = dense_macs(graph)

    results: dict[str, list[SNNResult]] = {}
    for method, template in METHODS.items():
        results[method] = []
        for steps in timesteps:
            pipeline = template.format(T=steps, p=PERCENTILE)
            snn = compiler.run_pipeline(graph, pipeline, calibration=x_cal)
            results[method].append(evaluate_snn(snn, x_test, data.y_test, steps))
    baseline = sinabs_accuracies(model, x_cal, x_test, data.y_test, timesteps)
    seconds = time.perf_counter() - start

    print(
        f"\n### {title}: test accuracy (%), {len(x_test)} test images, "
        f"ANN trained {epochs} epochs ({seconds:.0f} s incl. training)\n"
    )
    head = "".join(f" {'T=' + str(t):>7} |" for t in timesteps)
    print(f"| {'method':<36} |{head}")
    print(f"|{'-' * 38}|" + f"{'-' * 8}:|" * len(timesteps))
    print(f"| {'ANN':<36} |" + f" {ann_acc:>7.2f} |" * len(timesteps))
    for method, row in results.items():
        cells = "".join(f" {r.accuracy:>7.2f} |" for r in row)
        print(f"| {'SNN ' + method:<36} |{cells}")
    if baseline is not None:
        cells = "".join(f" {a:>7.2f} |" for a in baseline)
        label = f"baseline: sinabs p{PERCENTILE}"
        print(f"| {label:<36} |{cells}")
    calibrated = results[CALIBRATED]
    rows = [
        ("ANN MACs (k)", [macs / 1e3] * len(timesteps)),
        ("SNN synops, spikes (k)", [r.synops / 1e3 for r in calibrated]),
        ("SNN MACs, analog input (k)", [r.input_macs / 1e3 for r in calibrated]),
        (
            "SNN total / ANN MACs",
            [(r.synops + r.input_macs) / macs for r in calibrated],
        ),
    ]
    for label, values in rows:
        print(f"| {label:<36} |" + "".join(f" {v:>7.1f} |" for v in values))
    if baseline is None:
        print("\nsinabs is not installed: no sinabs baseline row")
    else:
        print(
            "\nsinabs: BatchNorm folded first (torch fuse_conv_bn_eval); its "
            "normalize_weights scales each layer's weight and bias by 1/lambda_l but "
            "leaves the bias unadjusted for lambda_{l-1} and the readout unscaled, "
            "which is exact only for bias-free layers"
        )
    print(f"\noperations per inference: {CALIBRATED}, averaged over the test set")
    goals = []
    for steps, limit in ((32, GAP_AT_32), (8, GAP_AT_8)):
        if steps not in timesteps:
            goals.append(f"T={steps}: not run")
            continue
        gap = ann_acc - calibrated[list(timesteps).index(steps)].accuracy
        verdict = "PASS" if gap <= limit else "FAIL"
        goals.append(f"T={steps} gap {gap:+.2f} (<= {limit}) {verdict}")
    print(f"goals ({CALIBRATED}): " + "; ".join(goals))


def main() -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--timesteps",
        type=lambda s: [int(t) for t in s.split(",")],
        default=[4, 8, 16, 32, 64, 128],
    )
    parser.add_argument(
        "--quick", action="store_true", help="few epochs, T = 8 and 32 only"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    timesteps = [8, 32] if args.quick else args.timesteps
    data = load_data(args.seed)
    start = time.perf_counter()
    epochs = 5 if args.quick else 40
    benchmark("MLP 64-128-64-10", mlp, (64,), data, epochs, timesteps, args.seed)
    epochs = 5 if args.quick else 20
    benchmark("CNN", cnn, (1, 8, 8), data, epochs, timesteps, args.seed)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
