"""Importing model files by extension: ``.nir``, ``.pt``/``.pth``, ``.sfir``.

``.pt`` files hold either a whole pickled module (``torch.save(model, path)``) or a
TorchScript module (``torch.jit.script(model).save(path)``). A state dict alone has
no architecture, so it is refused with a message that says what to save instead.
TorchScript cannot be traced by ``torch.fx``; a scripted ``nn.Sequential`` of
supported layers is rebuilt as an eager module, anything else is refused.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ir
from frontends.errors import FrontendError

__all__ = ["SUFFIXES", "import_file", "load_torch_module"]

SUFFIXES = (".nir", ".pt", ".pth", ".sfir")
"""File types :func:`import_file` reads."""


def import_file(
    path: str | os.PathLike[str],
    *,
    input_shape: Sequence[int] | None = None,
    dt: float | None = None,
    reset: str | None = None,
    convention: str | None = None,
    norse_tau: str | None = None,
    reset_delay: bool | None = None,
    v_min: float | str | None = None,
) -> ir.Graph:
    """Import a model file into a verified graph, choosing the frontend by extension.

    Args:
        path: ``.nir``, ``.pt``/``.pth`` or ``.sfir``.
        input_shape: feature shape of one sample (no batch), needed for ``.pt``.
        dt: time step for ``.nir`` (see ``frontends.nir.from_nir``).
        reset: reset mode for ``.nir``.
        convention: the exporter's convention for ``.nir``.
        norse_tau: ``"dt-scaled"`` or ``"true"`` for a Norse ``.nir``.
        reset_delay: snnTorch's ``reset_delay`` for ``.nir``.
        v_min: membrane floor for ``.nir`` (a number, ``"-threshold"``, ``"none"``).

    Raises:
        FrontendError: unknown extension, unreadable file, or a model that cannot be
            imported (the message says what is needed).
    """
    source = Path(path)
    suffix = source.suffix.lower()
    if suffix not in SUFFIXES:
        raise FrontendError(
            f"{source}: unknown model file type '{suffix}'; spikeforge imports "
            f"{', '.join(SUFFIXES)}"
        )
    if not source.is_file():
        raise FrontendError(f"{source}: no such file")
    if suffix == ".sfir":
        return ir.load(source)
    if suffix == ".nir":
        from frontends import nir as nir_frontend

        return nir_frontend.from_nir(
            source,
            dt=dt,
            reset=reset,
            convention=convention,
            norse_tau=norse_tau,
            reset_delay=reset_delay,
            v_min=v_min,
        )
    import torch

    from frontends import pytorch

    if input_shape is None:
        raise FrontendError(
            f"{source}: a PyTorch model needs the shape of one input sample "
            "(without the batch dimension), e.g. --input-shape 1,28,28"
        )
    if any(int(d) < 1 for d in input_shape):
        raise FrontendError(
            f"{source}: input shape {tuple(input_shape)}: every dimension must be >= 1"
        )
    module = load_torch_module(source)
    dtype = _parameter_dtype(module)
    if dtype in (torch.float16, torch.bfloat16):
        warnings.warn(
            f"{source}: the model's parameters are {dtype}; the IR holds float32 and "
            "float64, so they are widened to float32 (exactly) and the graph computes "
            "in float32",
            UserWarning,
            stacklevel=2,
        )
        module = module.float()
        dtype = torch.float32
    # NOTE: the example input takes the parameters' dtype: a float64 model cannot
    # run on a float32 input.
    example = torch.zeros((1, *input_shape), dtype=dtype)
    return pytorch.from_module(module, example, name=source.stem)


def _parameter_dtype(module: Any) -> Any:
    """The dtype of the model's first floating-point parameter (float32 if none)."""
    import torch

    for tensor in (*module.parameters(), *module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def load_torch_module(path: str | os.PathLike[str]) -> Any:
    """Load a whole pickled module or a TorchScript ``nn.Sequential`` from ``path``.

    Raises:
        FrontendError: a state dict, an unreadable file, or unsupported TorchScript.
    """
    import torch

    source = Path(path)
    if _is_torchscript(source):
        with warnings.catch_warnings():
            # Reading TorchScript is what was asked for; torch's deprecation of
            # torch.jit is not the user's to act on here.
            warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated")
            try:
                scripted = torch.jit.load(str(source), map_location="cpu")
            except Exception as err:  # torch raises RuntimeError on a bad archive
                raise FrontendError(
                    f"{source}: has a code/ folder but is not a TorchScript archive "
                    f"torch can read: {str(err).splitlines()[0]}"
                ) from None
        return _from_torchscript(source, scripted)
    try:
        # NOTE: a whole pickled module needs weights_only=False, which runs the file's
        # pickle code: only import files you trust (the same holds for torch.load).
        obj = torch.load(source, map_location="cpu", weights_only=False)
    except (AttributeError, ModuleNotFoundError) as err:
        raise FrontendError(
            f"{source}: the pickled model needs its class definitions to be importable "
            f"({err}); run from the project that defines the model, or save it as "
            "TorchScript"
        ) from None
    except Exception as err:
        raise FrontendError(f"{source}: cannot read as a PyTorch file: {err}") from None
    if isinstance(obj, torch.nn.Module):
        return obj
    if isinstance(obj, Mapping):
        raise FrontendError(
            f"{source} holds a state_dict (parameters only, no architecture); "
            "spikeforge needs the model itself: save it with torch.save(model, path) "
            "or torch.jit.script(model).save(path)"
        )
    raise FrontendError(
        f"{source} holds a {type(obj).__name__}, not a torch.nn.Module; save the model "
        "with torch.save(model, path)"
    )


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        # TorchScript archives keep the module's code under <archive>/code/.
        return any("/code/" in name for name in archive.namelist())


def _from_torchscript(path: Path, scripted: Any) -> Any:
    import torch

    if scripted.original_name != "Sequential":
        raise FrontendError(
            f"{path}: TorchScript module '{scripted.original_name}' cannot be traced; "
            "spikeforge reads scripted nn.Sequential models of "
            f"{', '.join(_SCRIPTED_LAYERS)} only. Save the model with "
            "torch.save(model, path) instead"
        )
    layers = []
    for name, child in scripted.named_children():
        build = _SCRIPTED_LAYERS.get(child.original_name)
        if build is None:
            raise FrontendError(
                f"{path}: scripted layer '{name}' is {child.original_name}; scripted "
                f"models may hold {', '.join(_SCRIPTED_LAYERS)}. Save the model with "
                "torch.save(model, path) instead"
            )
        layers.append(build(child))
    return torch.nn.Sequential(*layers).eval()


def _rebuild_linear(scripted: Any) -> Any:
    import torch

    weight = scripted.weight.detach()
    bias = getattr(scripted, "bias", None)
    layer = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    _copy_parameters(layer, weight, bias)
    return layer


def _rebuild_conv(scripted: Any) -> Any:
    import torch

    weight = scripted.weight.detach()
    bias = getattr(scripted, "bias", None)
    cls = torch.nn.Conv1d if weight.ndim == 3 else torch.nn.Conv2d
    layer = cls(
        weight.shape[1] * scripted.groups,
        weight.shape[0],
        tuple(weight.shape[2:]),
        stride=tuple(scripted.stride),
        padding=tuple(scripted.padding),
        dilation=tuple(scripted.dilation),
        groups=scripted.groups,
        bias=bias is not None,
    )
    _copy_parameters(layer, weight, bias)
    return layer


def _copy_parameters(layer: Any, weight: Any, bias: Any) -> None:
    import torch

    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias.detach())


def _rebuild_stateless(scripted: Any) -> Any:
    import torch

    kind = {"ReLU": torch.nn.ReLU, "Flatten": torch.nn.Flatten}.get(
        scripted.original_name,
        torch.nn.Identity,  # Identity, Dropout (eval: identity)
    )
    return kind()


_SCRIPTED_LAYERS = {
    "Linear": _rebuild_linear,
    "Conv1d": _rebuild_conv,
    "Conv2d": _rebuild_conv,
    "ReLU": _rebuild_stateless,
    "Flatten": _rebuild_stateless,
    "Identity": _rebuild_stateless,
    "Dropout": _rebuild_stateless,
}
"""Layers of a scripted ``nn.Sequential`` that can be rebuilt as eager modules."""
