"""spikeforge's intermediate representation.

The graph (:class:`Graph`), the op dialects (``io``, ``nn``, ``snn``), the verifier,
shape inference, the textual format ``.sfir`` and the reference interpreter that
defines what every op means.

Public names (``__all__``), by group:

* the graph: ``Graph``, ``Edge``, ``ops`` (the dialects), ``verify``, ``infer_shapes``;
* the text format and files: ``parse``, ``to_text``, ``FORMAT_VERSION``, ``load``,
  ``save``;
* running a graph: ``interpret``, ``check_input``;
* defining ops: ``Op``, ``Params``, ``register_op``, ``get_op``, ``registered_ops``,
  ``dialect_ops``, the field kinds ``FloatTensor``, ``IntTensor``, ``AnyTensor``;
* errors: ``IRError`` and its kinds ``ParseError``, ``VerifyError``, ``InputError``.

The rest (``ir.literals``, ``ir.plugins``, ``ir.serialize.atomic_write``, ...) stays
importable from its module. Names are imported on first use (PEP 562,
``ir.lazy``), so ``import ir`` does not import PyTorch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ir.lazy import lazy_attributes

if TYPE_CHECKING:
    from ir import ops
    from ir.errors import InputError, IRError, ParseError, VerifyError
    from ir.graph import Edge, Graph
    from ir.inputs import check_input
    from ir.interpreter import interpret
    from ir.op import (
        AnyTensor,
        FloatTensor,
        IntTensor,
        Op,
        Params,
        dialect_ops,
        get_op,
        register_op,
        registered_ops,
    )
    from ir.parser import parse
    from ir.printer import FORMAT_VERSION, to_text
    from ir.serialize import load, save
    from ir.shapes import infer_shapes
    from ir.verifier import verify

__all__ = [
    "FORMAT_VERSION",
    "AnyTensor",
    "Edge",
    "FloatTensor",
    "Graph",
    "IRError",
    "InputError",
    "IntTensor",
    "Op",
    "ParseError",
    "Params",
    "VerifyError",
    "check_input",
    "dialect_ops",
    "get_op",
    "infer_shapes",
    "interpret",
    "load",
    "ops",
    "parse",
    "register_op",
    "registered_ops",
    "save",
    "to_text",
    "verify",
]

#: public name -> the module that defines it (``ops`` is the submodule).
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        ("IRError", "InputError", "ParseError", "VerifyError"), "ir.errors"
    ),
    **dict.fromkeys(("Edge", "Graph"), "ir.graph"),
    "check_input": "ir.inputs",
    "interpret": "ir.interpreter",
    **dict.fromkeys(
        (
            "AnyTensor",
            "FloatTensor",
            "IntTensor",
            "Op",
            "Params",
            "dialect_ops",
            "get_op",
            "register_op",
            "registered_ops",
        ),
        "ir.op",
    ),
    "parse": "ir.parser",
    **dict.fromkeys(("FORMAT_VERSION", "to_text"), "ir.printer"),
    **dict.fromkeys(("load", "save"), "ir.serialize"),
    "infer_shapes": "ir.shapes",
    "verify": "ir.verifier",
}

__getattr__, __dir__ = lazy_attributes(globals(), _EXPORTS)
