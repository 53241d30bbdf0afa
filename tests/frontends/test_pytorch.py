"""The PyTorch frontend: real architectures in, the same function out, and back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ir
from frontends import FrontendError, pytorch
from ir.ops import io, snn
from ir.ops import nn as irnn


def randomize_bn(model: nn.Module) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen))
            m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            m.weight.data.copy_(torch.randn(c, generator=gen))
            m.bias.data.copy_(torch.randn(c, generator=gen))
    return model


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(16, 32),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(32, 10, bias=False),
    )


def lenet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )


class BasicBlock(nn.Module):
    """torchvision's ResNet basic block: a shared in-place ReLU, ``out += identity``."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding="same", bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 16, stride=2))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer1(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


class Functional(nn.Module):
    """Functional calls, a reused layer, a constant factor and two outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 3, padding="same")
        self.bn = nn.BatchNorm1d(4)
        self.fc = nn.Linear(4 * 8, 5)
        self.head = nn.Linear(5, 3)

    def forward(self, signal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.bn(self.conv(signal)))
        h = F.dropout(h, 0.3, training=self.training)
        y = torch.relu(self.fc(h.view(h.size(0), -1))) * 0.5
        z = self.head(y).relu()
        w = torch.flatten(h, 1).reshape(h.shape[0], -1)
        return z, 0.25 * self.fc(w) / 2


def build(factory: object) -> nn.Module:
    torch.manual_seed(0)
    model = factory()  # type: ignore[operator]
    return randomize_bn(model).eval()


CASES = {
    "mlp": (mlp, (4, 1, 4, 4)),
    "lenet": (lenet, (4, 1, 28, 28)),
    "resnet": (ResNet, (3, 3, 16, 16)),
    "functional": (Functional, (4, 2, 8)),
}


def outputs(y: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return y if isinstance(y, tuple) else (y,)


def interpreted(graph: ir.Graph, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    out = ir.interpret(graph, x[:, None])
    if isinstance(out, dict):
        names = sorted(out, key=lambda n: int(n.rsplit("_", 1)[1]))
        return tuple(out[n][:, 0] for n in names)
    return (out[:, 0],)


@pytest.mark.parametrize("case", sorted(CASES))
def test_imported_graph_computes_what_the_model_computes(case: str) -> None:
    factory, shape = CASES[case]
    model = build(factory)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(2))
    graph = pytorch.from_module(model, x)
    ir.verify(graph)
    with torch.no_grad():
        want = outputs(model(x))
        back = outputs(pytorch.to_module(graph)(x))
    got = interpreted(graph, x)
    assert len(got) == len(want) == len(back)
    for g, b, w in zip(got, back, want, strict=True):
        assert g.shape == w.shape
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(b, w, rtol=1e-5, atol=1e-5)
    assert ir.parse(ir.to_text(graph)).is_equivalent(graph)
    assert graph.op(graph.inputs()[0]).shape == tuple(shape[1:])
    assert graph.dt is None


@pytest.mark.parametrize("case", sorted(CASES))
def test_weights_are_copied_bit_exactly(case: str) -> None:
    factory, shape = CASES[case]
    model = build(factory)
    graph = pytorch.from_module(model, torch.zeros(shape))
    fields = {
        nn.Linear: {"weight": "weight", "bias": "bias"},
        nn.Conv1d: {"weight": "weight", "bias": "bias"},
        nn.Conv2d: {"weight": "weight", "bias": "bias"},
        nn.BatchNorm1d: {
            "weight": "weight",
            "bias": "bias",
            "running_mean": "mean",
            "running_var": "var",
        },
        nn.BatchNorm2d: {
            "weight": "weight",
            "bias": "bias",
            "running_mean": "mean",
            "running_var": "var",
        },
    }
    checked = 0
    for path, module in model.named_modules():
        for attr, field in fields.get(type(module), {}).items():  # type: ignore[call-overload]
            tensor = getattr(module, attr)
            value = getattr(graph.op(path), field, None)  # nn.linear has no bias
            if tensor is None:
                assert value is None
                continue
            expected = tensor.detach().numpy()
            assert value.dtype == expected.dtype == np.float32
            assert value.shape == expected.shape
            assert value.tobytes() == expected.tobytes()
            checked += 1
    assert checked >= 3


def test_names_follow_the_model() -> None:
    model = build(ResNet)
    graph = pytorch.from_module(model, torch.zeros(1, 3, 16, 16))
    assert graph.name == "ResNet"
    assert graph.inputs() == ["x"]
    assert graph.outputs() == ["output"]
    for path in ("conv1", "layer1.0.conv1", "layer1.1.conv2", "layer1.1.downsample.0"):
        assert path in graph
    assert isinstance(graph.op("layer1.1.downsample.1"), irnn.BatchNorm)
    # The shared ReLU is called twice per block: the second call gets a suffix.
    assert isinstance(graph.op("layer1.0.relu_1"), irnn.ReLU)
    # out += identity becomes an nn.add fed by both branches.
    adds = [n for n in graph.nodes() if isinstance(graph.op(n), irnn.Add)]
    assert len(adds) == 2
    assert sorted(graph.producers(adds[1])) == [
        "layer1.1.bn2",
        "layer1.1.downsample.1",
    ]
    pool = graph.op("avgpool")
    assert isinstance(pool, irnn.AvgPool2d)
    assert pool.kernel_size == pool.stride == (8, 8)
    assert graph.shape("fc") == (10,)


def test_functional_calls_become_ops() -> None:
    model = build(Functional)
    graph = pytorch.from_module(model, torch.zeros(2, 2, 8), name="func")
    assert graph.name == "func"
    assert graph.inputs() == ["signal"]
    assert sorted(graph.outputs()) == ["output_0", "output_1"]
    assert graph.op("conv").padding == 1
    # Dropout vanishes; the reused fc is named fc, then fc_1.
    assert not [n for n in graph.nodes() if "dropout" in n]
    assert isinstance(graph.op("fc_1"), irnn.Affine)
    kinds = sorted(graph.op(n).name for n in graph.nodes())
    assert kinds.count("nn.relu") == 3
    # The reshape of the already flat tensor is the identity and vanishes.
    assert kinds.count("nn.flatten") == 2
    scales = sorted(
        float(graph.op(n).scale)
        for n in graph.nodes()
        if graph.op(n).name == "nn.scale"
    )
    assert scales == [0.25, 0.5, 0.5]
    (view,) = [n for n in graph.nodes() if n.startswith("view")]
    assert (graph.op(view).start_dim, graph.op(view).end_dim) == (0, 1)


def test_x_plus_x_scales_by_two() -> None:
    class Double(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = F.dropout(x, training=False)
            return x + y

    graph = pytorch.from_module(Double().eval(), torch.zeros(1, 3))
    (node,) = [n for n in graph.nodes() if graph.op(n).name == "nn.scale"]
    assert float(graph.op(node).scale) == 2.0
    x = torch.randn(2, 3)
    torch.testing.assert_close(ir.interpret(graph, x[:, None])[:, 0], 2 * x)


def test_float64_model_keeps_its_dtype() -> None:
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU()).double().eval()
    x = torch.randn(4, 3, dtype=torch.float64)
    graph = pytorch.from_module(model, x)
    assert graph.op("0").weight.dtype == np.float64
    assert graph.op("0").weight.tobytes() == model[0].weight.detach().numpy().tobytes()
    with torch.no_grad():
        torch.testing.assert_close(pytorch.to_module(graph)(x), model(x))


def test_ceil_mode_is_accepted_when_it_adds_no_window() -> None:
    model = nn.Sequential(nn.MaxPool2d(2, ceil_mode=True)).eval()
    graph = pytorch.from_module(model, torch.zeros(1, 1, 4, 4))
    assert graph.shape("0") == (1, 2, 2)
    with pytest.raises(FrontendError, match=r"0 \(MaxPool2d\): ceil_mode=True"):
        pytorch.from_module(model, torch.zeros(1, 1, 5, 5))


# -- errors ----------------------------------------------------------------------------


class Encoder(nn.Module):
    def __init__(self, act: nn.Module) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(x))


@pytest.mark.parametrize(
    ("layer", "type_name"),
    [(nn.Sigmoid(), "torch.nn.Sigmoid"), (nn.LSTM(4, 4), "torch.nn.LSTM")],
)
def test_unsupported_module_is_named_by_path_and_type(
    layer: nn.Module, type_name: str
) -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU(), Encoder(layer)))
    with pytest.raises(FrontendError) as info:
        pytorch.from_module(model.eval(), torch.zeros(2, 4))
    message = str(info.value)
    assert "'1.1.act'" in message
    assert type_name in message
    assert "supported modules: AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d" in message
    assert "Linear" in message


def test_unsupported_call_is_named_with_its_module() -> None:
    class Gate(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(x)

    model = nn.Sequential(nn.Linear(4, 4), Gate()).eval()
    with pytest.raises(FrontendError) as info:
        pytorch.from_module(model, torch.zeros(2, 4))
    message = str(info.value)
    assert "unsupported call torch.sigmoid" in message
    assert "'1' (Gate)" in message
    assert "supported calls:" in message
    assert "torch.flatten" in message


@pytest.mark.parametrize(
    ("forward", "match"),
    [
        (lambda x: x * x, "only multiplication of a tensor by a constant"),
        (lambda x: x + 1.0, "only the sum of two tensors"),
        (lambda x: x.view(x.size(0), 2, -1), "is not a flatten"),
        (lambda x: torch.flatten(x), "merges the batch dimension"),
        (lambda x: F.dropout(x, 0.5), "training=True"),
        (lambda x: x[:, 0], "unsupported call operator.getitem"),
    ],
)
def test_unsupported_uses_of_supported_calls(forward: object, match: str) -> None:
    class Model(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return forward(x)  # type: ignore[operator, no-any-return]

    with pytest.raises(FrontendError, match=match):
        pytorch.from_module(Model().eval(), torch.zeros(2, 4, 3))


def test_bare_parameters_are_refused() -> None:
    class Gain(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gain = nn.Parameter(torch.ones(3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.gain

    with pytest.raises(FrontendError, match="tensor attribute 'gain'"):
        pytorch.from_module(Gain().eval(), torch.zeros(2, 3))


@pytest.mark.parametrize(
    ("layer", "shape", "match"),
    [
        (
            nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"),
            (1, 1, 5, 5),
            "reflect",
        ),
        pytest.param(
            nn.Conv2d(1, 1, 2, padding="same"),
            (1, 1, 5, 5),
            "pads unevenly",
            # torch itself warns that it pads an even kernel with a copy.
            marks=pytest.mark.filterwarnings("ignore:Using padding='same'"),
        ),
        (nn.BatchNorm2d(1, track_running_stats=False), (2, 1, 3, 3), "no running stat"),
        (nn.AvgPool2d(3, padding=1, count_include_pad=False), (1, 1, 6, 6), "count_"),
        (nn.AvgPool2d(2, divisor_override=3), (1, 1, 4, 4), "divisor_override"),
        (nn.MaxPool2d(2, dilation=2), (1, 1, 6, 6), "dilation"),
        (nn.AdaptiveAvgPool2d(3), (1, 1, 8, 8), "divisible"),
    ],
)
def test_unsupported_settings_are_explained(
    layer: nn.Module, shape: tuple[int, ...], match: str
) -> None:
    with pytest.raises(FrontendError, match=match) as info:
        pytorch.from_module(nn.Sequential(layer).eval(), torch.zeros(shape))
    assert str(info.value).startswith("0 (")


def test_data_dependent_control_flow_is_a_frontend_error() -> None:
    class Branchy(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x if x.sum() > 0 else -x

    with pytest.raises(FrontendError, match=r"cannot trace Branchy.*control flow"):
        pytorch.from_module(Branchy().eval(), torch.zeros(1, 3))


def test_training_mode_warns_and_is_restored() -> None:
    model = build(ResNet).train()
    model.layer1[0].bn1.eval()  # a mixed state must come back as it was
    before = {name: m.training for name, m in model.named_modules()}
    stats = model.bn1.running_mean.clone()
    x = torch.randn(2, 3, 16, 16)
    with pytest.warns(UserWarning, match="training mode; it is traced in eval mode"):
        graph = pytorch.from_module(model, x)
    assert {name: m.training for name, m in model.named_modules()} == before
    assert torch.equal(model.bn1.running_mean, stats)  # no batch statistics taken
    with torch.no_grad():
        want = model.eval()(x)
    torch.testing.assert_close(ir.interpret(graph, x[:, None])[:, 0], want)


def test_eval_model_does_not_warn() -> None:
    # pytest turns warnings into errors, so a stray warning fails this test.
    pytorch.from_module(build(mlp), torch.zeros(1, 1, 4, 4))


def test_to_module_refuses_snn_ops_by_node() -> None:
    g = ir.Graph("snn", dt=1e-3)
    g.add("x", io.Input(shape=(2,)))
    g.add("fc", irnn.Linear(weight=np.eye(2, dtype=np.float32)), ["x"])
    g.add("lif1", snn.LIF(tau=0.02, r=1.0, v_leak=0.0, v_threshold=1.0), ["fc"])
    g.add("y", io.Output(), ["lif1"])
    with pytest.raises(FrontendError, match=r"node 'lif1' runs snn\.lif"):
        pytorch.to_module(g)


def test_to_module_builds_every_ann_op() -> None:
    rng = np.random.default_rng(0)

    def f32(*shape: int) -> np.ndarray:
        return rng.normal(size=shape).astype(np.float32)

    g = ir.Graph("all")
    g.add("x", io.Input(shape=(2, 6, 6)))
    g.add("sum", irnn.SumPool2d(kernel_size=(2, 2)), ["x"])
    g.add("clip", irnn.Clip(threshold=np.float32(1.5), levels=4), ["sum"])
    g.add("x_scaled", irnn.Scale(scale=f32(2, 1, 1)), ["x"])
    g.add("pool", irnn.AvgPool2d(kernel_size=(2, 2)), ["x_scaled"])
    g.add("add", irnn.Add(), ["clip", "pool"])
    g.add("flat", irnn.Flatten(start_dim=1), ["add"])
    g.add("fc", irnn.Linear(weight=f32(4, 9)), ["flat"])
    g.add("relu", irnn.ReLU(), ["fc"])
    g.add("y", io.Output(), ["relu"])
    g.add("y2", io.Output(), ["clip", "pool"])
    module = pytorch.to_module(g)
    x = torch.from_numpy(f32(5, 2, 6, 6))
    want = ir.interpret(g, x[:, None])
    got = module(x)
    assert isinstance(got, tuple)
    torch.testing.assert_close(got[0], want["y"][:, 0])
    torch.testing.assert_close(got[1], want["y2"][:, 0])
