"""Importing model files by extension: ``.nir``, ``.pt``/``.pth``, ``.sfir``.

Loading a ``.pt`` file never runs code from it by default. What loads safely:

* a TorchScript archive (``torch.jit.script(model).save(path)``) of an
  ``nn.Sequential`` of supported layers, rebuilt as an eager module (TorchScript cannot
  be traced by ``torch.fx``);
* a state dict (``torch.save(model.state_dict(), path)``), read with
  ``torch.load(..., weights_only=True)``, together with the model class the user names
  (``model_class="pkg.mod:Net"``, ``--model-class``): the class is imported and built
  with no arguments, and the weights are loaded into it.

A whole pickled module (``torch.save(model, path)``) can only be unpickled by running
code the file names, which a crafted file can abuse (``__reduce__``); it is refused
unless the caller says it trusts the file (``trusted=True``, ``--trust-pickle``), and
then loaded with a ``TrustedPickleWarning`` saying so.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ir
from frontends.errors import FrontendError

if TYPE_CHECKING:  # typing_extensions: Python 3.11's typing.Unpack, for mypy
    from typing_extensions import Unpack

    from frontends.nir.reader import NIROptions

__all__ = ["SUFFIXES", "TrustedPickleWarning", "import_file", "load_torch_module"]

SUFFIXES = (".nir", ".pt", ".pth", ".sfir")
"""File types :func:`import_file` reads."""

_SAFE_FORMATS = (
    "save the weights (torch.save(model.state_dict(), path)) and name the model "
    "class (--model-class pkg.module:Net, model_class=), or save a scripted "
    "nn.Sequential (torch.jit.script(model).save(path))"
)


class TrustedPickleWarning(UserWarning):
    """A whole pickled module was loaded (``trusted=True``): that ran its code."""


def import_file(
    path: str | os.PathLike[str],
    *,
    input_shape: Sequence[int] | None = None,
    model_class: str | type | None = None,
    trusted: bool = False,
    **nir_options: Unpack[NIROptions],
) -> ir.Graph:
    """Import a model file into a verified graph, choosing the frontend by extension.

    Args:
        path: ``.nir``, ``.pt``/``.pth`` or ``.sfir``.
        input_shape: feature shape of one sample (no batch), needed for ``.pt``.
        model_class: for a ``.pt`` state dict, the ``nn.Module`` class to load it into
            (a class, or ``"pkg.module:Class"``); built with no arguments.
        trusted: unpickle a whole pickled module from a ``.pt`` file, which runs code
            from the file (see :func:`load_torch_module`).
        nir_options: for a ``.nir``, ``frontends.nir.from_nir``'s keywords:
            ``dt`` (time step), ``reset`` (reset mode), ``convention`` (the
            exporter's), ``norse_tau`` (``"dt-scaled"`` or ``"true"`` for Norse),
            ``reset_delay`` (snnTorch's) and ``v_min`` (membrane floor: a number,
            ``"-threshold"``, ``"none"``).

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

        return nir_frontend.from_nir(source, **nir_options)
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
    module = load_torch_module(source, model_class=model_class, trusted=trusted)
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


def load_torch_module(
    path: str | os.PathLike[str],
    *,
    model_class: str | type | None = None,
    trusted: bool = False,
) -> Any:
    """Load a model from a ``.pt`` file without running code from it (by default).

    Args:
        path: a TorchScript ``nn.Sequential``, a state dict (with ``model_class``), or
            a whole pickled module (with ``trusted``).
        model_class: the class a state dict's weights are loaded into: an
            ``nn.Module`` subclass or ``"pkg.module:Class"`` (imported, so its code
            runs: it is the caller's code, not the file's), built with no arguments.
        trusted: allow unpickling a whole module. Unpickling runs whatever code the
            file names, so pass it only for files you made or trust; a
            ``TrustedPickleWarning`` says it happened.

    Raises:
        FrontendError: a whole pickled module without ``trusted``, a state dict without
            ``model_class`` or that does not fit it, an unreadable file, or
            unsupported TorchScript.
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
        obj = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as err:
        if not _is_pickled_objects(err):
            raise FrontendError(
                f"{source}: cannot read as a PyTorch file: {err}"
            ) from None
        if not trusted:
            raise FrontendError(
                f"{source} holds pickled Python objects (a whole module, "
                "torch.save(model, path)); unpickling them runs code named by the "
                "file, so spikeforge does not do it unless told to. If you made or "
                "trust the file, pass --trust-pickle (trusted=True); otherwise "
                f"{_SAFE_FORMATS}"
            ) from None
        obj = _load_trusted(source)
    if isinstance(obj, torch.nn.Module):
        return obj
    if isinstance(obj, Mapping):
        if model_class is None:
            raise FrontendError(
                f"{source} holds a state_dict (parameters only, no architecture); "
                "name the model class to load it into with --model-class "
                "pkg.module:Net (model_class=), or save the model itself: "
                "torch.jit.script(model).save(path), or torch.save(model, path) "
                "and --trust-pickle"
            )
        return _into_class(source, obj, model_class)
    raise FrontendError(
        f"{source} holds a {type(obj).__name__}, not a torch.nn.Module or a "
        f"state_dict; {_SAFE_FORMATS}"
    )


def _is_pickled_objects(err: Exception) -> bool:
    """Whether ``torch.load(weights_only=True)`` refused globals it does not allow."""
    import pickle

    return isinstance(err, pickle.UnpicklingError) and "weights_only" in str(err)


def _load_trusted(source: Path) -> Any:
    import torch

    warnings.warn(
        f"{source}: unpickling a whole module because it is trusted (--trust-pickle, "
        "trusted=True); this ran code named by the file. Never do this for a file "
        f"from an untrusted source; to avoid it, {_SAFE_FORMATS}",
        TrustedPickleWarning,
        stacklevel=3,
    )
    try:
        return torch.load(source, map_location="cpu", weights_only=False)
    except (AttributeError, ModuleNotFoundError) as err:
        raise FrontendError(
            f"{source}: the pickled model needs its class definitions to be importable "
            f"({err}); run from the project that defines the model, or {_SAFE_FORMATS}"
        ) from None
    except Exception as err:
        raise FrontendError(f"{source}: cannot read as a PyTorch file: {err}") from None


def _resolve_class(spec: str | type) -> type:
    if isinstance(spec, type):
        return spec
    module_name, _, class_name = str(spec).partition(":")
    if not module_name or not class_name:
        raise FrontendError(
            f"model class {spec!r}: expected 'package.module:Class', e.g. mymodels:Net"
        )
    # Like `python -m`, the current folder is searched for the module too.
    added = os.getcwd() not in sys.path
    if added:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise FrontendError(f"model class {spec!r}: cannot import: {err}") from None
    finally:
        if added:
            sys.path.remove(os.getcwd())
    found: Any = module
    for part in class_name.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise FrontendError(
                f"model class {spec!r}: module '{module_name}' has no '{class_name}'"
            )
    if not isinstance(found, type):
        raise FrontendError(f"model class {spec!r} is not a class")
    return found


def _into_class(source: Path, state: Mapping[str, Any], spec: str | type) -> Any:
    import torch

    cls = _resolve_class(spec)
    if not issubclass(cls, torch.nn.Module):
        raise FrontendError(f"model class {cls.__name__} is not a torch.nn.Module")
    try:
        model = cls()
    except Exception as err:
        raise FrontendError(
            f"model class {cls.__name__}: cannot build it with no arguments ({err}); "
            "give a class (or a subclass with defaults) that needs none"
        ) from None
    try:
        model.load_state_dict(dict(state), strict=True)
    except (RuntimeError, TypeError, KeyError) as err:
        detail = " ".join(str(err).split())  # torch's message spans lines
        raise FrontendError(
            f"{source}: the state_dict does not fit {cls.__name__}: {detail}"
        ) from None
    return model.eval()


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
            f"{', '.join(_SCRIPTED_LAYERS)} only. Save a state_dict and pass "
            "--model-class instead"
        )
    layers = []
    for name, child in scripted.named_children():
        build = _SCRIPTED_LAYERS.get(child.original_name)
        if build is None:
            raise FrontendError(
                f"{path}: scripted layer '{name}' is {child.original_name}; scripted "
                f"models may hold {', '.join(_SCRIPTED_LAYERS)}. Save a state_dict "
                "and pass --model-class instead"
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
